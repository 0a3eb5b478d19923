//! Checks on the paths a run writes, made before any work starts, so that a mistake costs no
//! time and never costs the input: the output must not be the input (under any name: hard
//! links, symbolic links, `./`), must not be a directory, must go into an existing writable
//! directory, and replaces an existing file only if the caller allows it.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{Error, Result};

/// Checks that `output` (for the option `option`, e.g. `-o`) may be written by a run reading
/// `input`; `replace` allows replacing an existing file.
pub fn check_output(option: &str, output: &Path, input: &Path, replace: bool) -> Result<()> {
    let bad = |why: String| Error::InvalidOption(format!("{option} {}: {why}", output.display()));
    if let Ok(meta) = std::fs::metadata(output) {
        if meta.is_dir() {
            return Err(bad("is a directory".into()));
        }
        let same =
            std::fs::metadata(input).is_ok_and(|i| i.dev() == meta.dev() && i.ino() == meta.ino());
        if same {
            return Err(bad(format!(
                "is the input file {}; choose another output",
                input.display()
            )));
        }
        if !replace {
            return Err(bad("exists, and --no-clobber forbids replacing it".into()));
        }
    }
    check_directory(option, output)
}

/// Checks that the directory of `path` exists and accepts new files (by creating and removing
/// a temporary one, which also catches read-only mounts).
pub fn check_directory(option: &str, path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(Error::InvalidOption(format!(
            "{option} {}: directory {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    tempfile::Builder::new()
        .prefix(".bigstyle-probe")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| {
            Error::InvalidOption(format!(
                "{option} {}: cannot write in {}: {e}",
                path.display(),
                dir.display()
            ))
        })
}
