//! Temporary files and folders a run would leave behind only if it were killed: registered
//! while they exist, so that the binary's SIGINT/SIGTERM handler can remove them before exiting
//! (a normal exit, or an error, removes them by dropping them).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records a temporary file or folder.
pub fn register(path: &Path) {
    live().push(path.into());
}

/// Forgets a temporary path that became the output (or was removed).
pub fn unregister(path: &Path) {
    live().retain(|p| p != path);
}

static KEPT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Records a folder of finished work that an interrupt must leave for `--resume`.
pub fn keep(path: &Path) {
    KEPT.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path.into());
}

/// Forgets a kept folder (its run finished and removed it).
pub fn release(path: &Path) {
    KEPT.lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|p| p != path);
}

/// The folders of finished work left for `--resume`.
pub fn kept() -> Vec<PathBuf> {
    KEPT.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Removes every registered temporary file and folder (on an interrupt).
pub fn remove_all() {
    for path in live().drain(..) {
        if path.is_dir() {
            let _ = std::fs::remove_dir_all(&path);
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
}
