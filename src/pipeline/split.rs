//! A run split over machines: a shard's part file (its header names the run, the rows and what
//! the merge needs to write the output as one machine would), and what a team of processes
//! computing exact statistics together (`--mpi`) requires of a run.

use std::path::{Path, PathBuf};

use super::{run_description, Options};
use crate::colour::ColourOptions;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::io::part::PartHeader;
use crate::io::resample::SizeRequest;
use crate::io::tiff_out::Compression;
use crate::io::InputImage;
use crate::stats::team::Team;
use crate::stats::StatsMode;
use crate::tiling::{Shard, TilePlan};

/// What `bigstyle merge` needs to write the output of a sharded run as the run itself would
/// have: the input (its metadata gives the output's colour space, depth and resolution) and
/// the output options. Carried in every part's header.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MergeJob {
    /// The input image.
    pub input: PathBuf,
    /// The output the shards were run for.
    pub output: PathBuf,
    /// TIFF compression.
    pub compression: Compression,
    /// Gray input written as gray.
    pub keep_gray: bool,
    /// BigTIFF forced or forbidden.
    pub bigtiff: Option<bool>,
    /// JPEG quality.
    pub quality: u8,
    /// Colour handling of the input.
    pub colour: ColourOptions,
    /// Size and resolution the input was read at.
    pub size: SizeRequest,
}

impl MergeJob {
    /// The job of a run of `opts` from `input` to `output`.
    pub fn new(input: &Path, output: &Path, opts: &Options) -> Result<Self> {
        Ok(Self {
            input: std::fs::canonicalize(input).map_err(|e| Error::io(input, e))?,
            output: output.into(),
            compression: opts.compression,
            keep_gray: opts.keep_gray,
            bigtiff: opts.bigtiff,
            quality: opts.quality,
            colour: opts.colour,
            size: opts.size,
        })
    }

    /// The options that write the output as the sharded run would have, within `mem_budget`.
    pub fn options(&self, mem_budget: u64, no_clobber: bool) -> Options {
        Options {
            compression: self.compression,
            keep_gray: self.keep_gray,
            bigtiff: self.bigtiff,
            quality: self.quality,
            colour: self.colour,
            size: self.size,
            mem_budget,
            no_clobber,
            ..Options::default()
        }
    }
}

/// Where a shard writes its band: `OUT.shard-I-of-N` beside the output.
pub fn part_path(output: &Path, shard: Shard) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(format!(".shard-{}-of-{}", shard.index, shard.count));
    PathBuf::from(name)
}

/// What a team run needs: exact statistics, no other split, nothing to resume, and bands tall
/// enough that every halo comes from the next process.
pub(super) fn check_team(team: Option<&dyn Team>, opts: &Options, plan: &TilePlan) -> Result<()> {
    let Some(team) = team else {
        return Ok(());
    };
    let refuse = |text: &str| Err(Error::InvalidOption(format!("--mpi {text}")));
    if opts.stats != StatsMode::Exact {
        return refuse("computes exact statistics: it does not combine with --stats thumbnail or --stats-file (use --shard for those)");
    }
    if opts.shard.is_some() || opts.resume {
        return refuse("does not combine with --shard or --resume");
    }
    let g = plan.geometry;
    let need = g.receptive_radius + 2 * g.stride;
    for index in 0..team.size() {
        let rows = plan.shard_tile_rows(Shard {
            index,
            count: team.size(),
        });
        if rows.is_empty() || plan.y_edges[rows.end] - plan.y_edges[rows.start] < need {
            return refuse(&format!(
                "with {} processes: a band of this image would have fewer than {need} rows (the network's reach); use fewer processes or a smaller --tile",
                team.size()
            ));
        }
    }
    Ok(())
}

/// The header of `shard`'s part: the rows it holds, what every part of the run must share
/// (the run's description and its statistics file), and the merge job.
pub(super) fn part_header<E: Engine>(
    input: &Path,
    output: &Path,
    opts: &Options,
    shard: Shard,
    image: &InputImage,
    engine: &E,
    plan: &TilePlan,
) -> Result<PartHeader> {
    let info = image.info();
    let stats = match &opts.stats {
        StatsMode::File(path) => std::fs::read(path).map_err(|e| Error::io(path, e))?,
        _ => Vec::new(),
    };
    let run = format!(
        "{}; overlap {}; look {:?}; statistics crc {:08x}",
        run_description(input, image, engine, opts, plan)?,
        plan.overlap,
        opts.look,
        crc32fast::hash(&stats)
    );
    let job = MergeJob::new(input, output, opts)?;
    Ok(PartHeader {
        run,
        index: shard.index,
        count: shard.count,
        width: info.width,
        height: info.height,
        // What the output format keeps of alpha decides; the render sets it.
        channels: 3 + usize::from(info.layout.has_alpha()),
        rows: plan.shard_rows(shard, info.height),
        job: serde_json::to_value(&job).map_err(|e| Error::io(output, e.into()))?,
    })
}
