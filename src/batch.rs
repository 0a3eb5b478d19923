//! Batch runs: several inputs — files and folders, folders walked recursively — each stylized
//! to its own output. With an output folder, each output lies at its input's path relative to
//! the folder it was found in (or at its file name, for a file named directly), with the same
//! stem and the output format's extension; without one, beside its input as `<stem>.styled.<ext>`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// File extensions a folder walk picks up (case-insensitive).
pub const IMAGE_EXTENSIONS: [&str; 5] = ["tif", "tiff", "png", "jpg", "jpeg"];

/// One input and the output it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The input image.
    pub input: PathBuf,
    /// Where its result goes.
    pub output: PathBuf,
}

/// Whether a command line names a batch: several inputs, a folder, or an output folder
/// (`-o OUT/`, with the trailing slash).
pub fn is_batch(inputs: &[PathBuf], output: Option<&Path>) -> bool {
    inputs.len() > 1
        || inputs.iter().any(|p| p.is_dir())
        || output.is_some_and(|o| o.as_os_str().to_string_lossy().ends_with('/'))
}

/// The jobs for `inputs`, outputs in `out_dir` (or beside the inputs) with `extension`;
/// refuses two inputs that would write the same output.
pub fn jobs(inputs: &[PathBuf], out_dir: Option<&Path>, extension: &str) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for input in inputs {
        if input.is_dir() {
            if out_dir.is_none() {
                return Err(Error::InvalidOption(format!(
                    "{}: a folder of inputs needs an output folder (-o OUT/)",
                    input.display()
                )));
            }
            let mut files = Vec::new();
            walk(input, &mut files)?;
            files.sort();
            for file in files {
                let relative = file.strip_prefix(input).unwrap_or(&file).to_path_buf();
                jobs.push(job(&file, &relative, out_dir, extension));
            }
        } else {
            let name = PathBuf::from(input.file_name().unwrap_or(input.as_os_str()));
            jobs.push(job(input, &name, out_dir, extension));
        }
    }
    let mut seen: HashMap<&Path, &Path> = HashMap::new();
    for j in &jobs {
        if let Some(first) = seen.insert(&j.output, &j.input) {
            return Err(Error::InvalidOption(format!(
                "{} and {} would both write {}",
                first.display(),
                j.input.display(),
                j.output.display()
            )));
        }
    }
    Ok(jobs)
}

fn job(input: &Path, relative: &Path, out_dir: Option<&Path>, extension: &str) -> Job {
    let output = match out_dir {
        Some(dir) => dir.join(relative).with_extension(extension),
        None => {
            let stem = input
                .file_stem()
                .map_or("output".into(), |s| s.to_string_lossy().into_owned());
            input.with_file_name(format!("{stem}.styled.{extension}"))
        }
    };
    Job {
        input: input.into(),
        output,
    }
}

/// Image files under `dir`, recursively (symbolic links to folders are not followed).
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let kind = std::fs::symlink_metadata(&path).map_err(|e| Error::io(&path, e))?;
        if kind.is_dir() {
            walk(&path, files)?;
        } else if is_image(&path) {
            files.push(path);
        }
    }
    Ok(())
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_mirror_the_tree_and_collisions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("in");
        std::fs::create_dir_all(tree.join("sub")).unwrap();
        for f in ["a.tif", "sub/b.png", "notes.txt"] {
            std::fs::write(tree.join(f), "x").unwrap();
        }
        let out = dir.path().join("out");
        let jobs = jobs(std::slice::from_ref(&tree), Some(&out), "tif").unwrap();
        let outputs: Vec<_> = jobs.iter().map(|j| j.output.clone()).collect();
        assert_eq!(outputs, [out.join("a.tif"), out.join("sub/b.tif")]);
        let twice = [tree.join("a.tif"), tree.join("a.tif")];
        assert!(super::jobs(&twice, Some(&out), "tif").is_err());
        assert!(is_batch(std::slice::from_ref(&tree), None));
        assert!(!is_batch(&[tree.join("a.tif")], None));
    }
}
