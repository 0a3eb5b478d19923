//! Fuzzes the input path: any bytes, opened as an image and read window by window, must give
//! an image or an error, never a panic, a hang or an allocation past the budget.
//! Run with `cargo +nightly fuzz run read_input` from the repository root.
#![no_main]

use bigstyle::io::InputImage;
use bigstyle::geom::Rect;
use libfuzzer_sys::fuzz_target;

/// A small budget keeps lying headers from asking for much memory.
const BUDGET: u64 = 256 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = tempfile::NamedTempFile::new() else {
        return;
    };
    if std::fs::write(file.path(), data).is_err() {
        return;
    }
    let Ok(mut image) = InputImage::open_within(file.path(), BUDGET) else {
        return;
    };
    let (w, h) = (image.info().width, image.info().height);
    if w == 0 || h == 0 || w > 4096 || h > 4096 {
        return;
    }
    let _ = image.read_window(Rect {
        x0: 0,
        y0: 0,
        x1: w.min(64),
        y1: h.min(64),
    });
    let _ = image.read_window(Rect {
        x0: w.saturating_sub(64),
        y0: h.saturating_sub(64),
        x1: w,
        y1: h,
    });
});
