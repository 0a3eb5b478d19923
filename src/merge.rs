//! `bigstyle merge`: the parts of a sharded run (`--shard I/N`) assembled into its output. The
//! parts hold the blended rows the output writer would have been given, so writing them in
//! order through the same writer, with the same output specification (rebuilt from the input's
//! metadata and the options recorded in every part), is the one-machine run's file byte for
//! byte. Streamed: a few MiB of rows at a time.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::part::PartReader;
use crate::io::Output;
use crate::pipeline::{
    check_paths, open_input, output_spec, part_path, MergeJob, OutputPlan, Written,
};
use crate::progress::Progress;
use crate::stats::team::Team;
use crate::tiling::Shard;

/// What a merge wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Merged {
    /// The output file.
    pub output: PathBuf,
    /// Parts assembled.
    pub parts: usize,
    /// Image width (px).
    pub width: usize,
    /// Image height (px).
    pub height: usize,
    /// The file actually written.
    pub written: Written,
}

/// Assembles `parts` (any order) into `output` (default: the output the shards were run for),
/// within `mem_budget`; with `no_clobber` an existing output is kept.
pub fn merge(
    parts: &[PathBuf],
    output: Option<&Path>,
    mem_budget: u64,
    no_clobber: bool,
    progress: &mut dyn Progress,
) -> Result<Merged> {
    let mut readers = parts
        .iter()
        .map(|p| PartReader::open(p))
        .collect::<Result<Vec<_>>>()?;
    readers.sort_by_key(|r| r.header.index);
    check_complete(&readers, parts)?;
    let first = readers[0].header.clone();
    let job: MergeJob = serde_json::from_value(first.job.clone()).map_err(|e| Error::Decode {
        path: parts[0].clone(),
        reason: format!("part header: {e}"),
    })?;
    let output = output.unwrap_or(&job.output).to_path_buf();
    let opts = job.options(mem_budget, no_clobber);
    check_paths(&job.input, &output, &opts)?;
    let image = open_input(&job.input, &opts)?;
    if (image.info().width, image.info().height) != (first.width, first.height) {
        return Err(Error::InvalidOption(format!(
            "{}: the input is {}x{}, the parts are {}x{}: it changed since the shards ran",
            job.input.display(),
            image.info().width,
            image.info().height,
            first.width,
            first.height
        )));
    }
    let OutputPlan { spec, forced, .. } = output_spec(&image, &output, &opts)?;
    forced.iter().for_each(|text| progress.warn(text));
    drop(image);
    let mut out = Output::create(&output, spec.clone())?;
    progress.stage("merging", readers.len());
    for reader in &mut readers {
        reader.write_into(&mut out, &mut || {})?;
        progress.step();
    }
    let written_to = out.finish()?;
    Ok(Merged {
        written: Written::of(&written_to, &spec)?,
        output: written_to,
        parts: readers.len(),
        width: first.width,
        height: first.height,
    })
}

/// After a team's run, in which every process wrote the part of its band: process 0 merges the
/// parts into `output` and removes them (the other processes return `None` at once).
pub fn merge_team(
    team: &dyn Team,
    output: &Path,
    mem_budget: u64,
    no_clobber: bool,
    progress: &mut dyn Progress,
) -> Result<Option<Merged>> {
    team.barrier();
    if team.rank() != 0 {
        return Ok(None);
    }
    let parts: Vec<PathBuf> = (0..team.size())
        .map(|index| {
            part_path(
                output,
                Shard {
                    index,
                    count: team.size(),
                },
            )
        })
        .collect();
    let merged = merge(&parts, Some(output), mem_budget, no_clobber, progress)?;
    for part in &parts {
        std::fs::remove_file(part).map_err(|e| Error::io(part, e))?;
    }
    Ok(Some(merged))
}

/// Every part belongs to the same run, each index appears once, and their rows tile the image.
fn check_complete(readers: &[PartReader], paths: &[PathBuf]) -> Result<()> {
    let bad = |reason: String| Error::InvalidOption(format!("merge: {reason}"));
    let Some(first) = readers.first().map(|r| &r.header) else {
        return Err(bad("no parts given".into()));
    };
    for (r, path) in readers.iter().zip(paths) {
        if r.header.run != first.run || r.header.count != first.count {
            return Err(bad(format!(
                "{} belongs to another run than shard {} (other input, options or statistics)",
                path.display(),
                first.index
            )));
        }
    }
    for pair in readers.windows(2) {
        if pair[0].header.index == pair[1].header.index {
            return Err(bad(format!(
                "shard {} is given twice",
                pair[0].header.index
            )));
        }
    }
    let missing: Vec<String> = (0..first.count)
        .filter(|i| !readers.iter().any(|r| r.header.index == *i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(bad(format!(
            "missing shard {} of {}",
            missing.join(", "),
            first.count
        )));
    }
    for pair in readers.windows(2) {
        if pair[0].header.rows.1 != pair[1].header.rows.0 {
            return Err(bad(format!(
                "shards {} and {} do not meet",
                pair[0].header.index, pair[1].header.index
            )));
        }
    }
    let last = &readers[readers.len() - 1].header;
    if first.rows.0 != 0 || last.rows.1 != first.height {
        return Err(bad("the parts do not cover the image".into()));
    }
    Ok(())
}
