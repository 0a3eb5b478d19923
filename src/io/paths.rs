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

/// What a run needs to know about the filesystem of a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filesystem {
    /// Bytes available to this user.
    pub free: u64,
    /// Whether its files live in RAM (tmpfs, ramfs): scratch there is memory.
    pub in_memory: bool,
}

/// The filesystem holding `dir` (statfs).
pub fn filesystem(dir: &Path) -> Result<Filesystem> {
    use std::os::unix::ffi::OsStrExt;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| Error::InvalidOption(format!("{}: not a usable path", dir.display())))?;
    let mut stat = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: a NUL-terminated path and a buffer of the right type; read only on success.
    let stat = unsafe {
        if libc::statfs(path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return Err(Error::io(dir, std::io::Error::last_os_error()));
        }
        stat.assume_init()
    };
    let kind = stat.f_type as i64;
    Ok(Filesystem {
        free: (stat.f_bavail as u64).saturating_mul(stat.f_bsize as u64),
        in_memory: kind == TMPFS_MAGIC || kind == RAMFS_MAGIC,
    })
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
