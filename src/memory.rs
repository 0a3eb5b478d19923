//! The memory model: what a run holds in RAM for a given tile size, and the largest tile that
//! fits a budget. Nothing here grows with the image's height; only the row buffers grow with
//! its width. See docs/MEMORY.md for the measurements behind the constants.

use crate::error::{Error, Result};
use crate::io::ImageInfo;
use crate::tiling::MIN_TILE;

/// Process overhead that does not depend on the image: code, weights, allocator, thread stacks.
pub const BASE_BYTES: u64 = 64 << 20;
/// Bytes per window pixel outside the network: up to three input windows (4 planes of f32: two
/// queued for the network, one in it) and three outputs (3 planes: one leaving the network, two
/// queued for the blender), as the render pipeline's bounded queues allow.
const WINDOW_IO_BYTES_PER_PX: u64 = 3 * 16 + 3 * 12;

/// Where the bytes of a run go, for a tile size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MemoryEstimate {
    /// Network activations of one tile window.
    pub network: u64,
    /// Input window and output copies of one tile.
    pub window: u64,
    /// Decoded input rows kept for the current tile row.
    pub input_rows: u64,
    /// Blend band (f32 rows of the current tile row) and the output rows being written.
    pub output_rows: u64,
    /// Fixed process overhead.
    pub base: u64,
}

impl MemoryEstimate {
    /// Total bytes.
    pub fn total(&self) -> u64 {
        self.network + self.window + self.input_rows + self.output_rows + self.base
    }
}

/// Estimates a run's peak memory with tiles of `tile` px and `overlap` px of context on an
/// image described by `info`, for an engine needing `network_bpp` bytes per window pixel.
pub fn estimate(info: &ImageInfo, tile: usize, overlap: usize, network_bpp: u64) -> MemoryEstimate {
    let side = (tile + 2 * overlap).min(info.width.max(info.height) + 3) as u64;
    let window_px = side * side.min(info.height as u64 + 3);
    let width = info.width as u64;
    let samples = info.layout.samples() as u64;
    let out_channels = if info.layout.has_alpha() { 4 } else { 3 };
    let band_rows = (tile + 2 * overlap) as u64;
    MemoryEstimate {
        network: network_bpp * window_px,
        window: WINDOW_IO_BYTES_PER_PX * window_px,
        // Decoded rows as u16 samples, plus up to two partially used strips or tile rows.
        // A resized read's source strip comes on top.
        input_rows: (band_rows + 2 * 256) * width * samples * 2 + info.reader_bytes,
        // f32 blend band of about one tile row plus the same rows quantised for output.
        output_rows: band_rows * width * out_channels * (4 + u64::from(info.bits / 8)),
        base: BASE_BYTES,
    }
}

/// The largest tile (multiple of 4, at least the minimum tile) whose estimate fits `budget`.
pub fn largest_tile(
    info: &ImageInfo,
    overlap: usize,
    network_bpp: u64,
    budget: u64,
) -> Option<usize> {
    let longest = info
        .width
        .max(info.height)
        .next_multiple_of(4)
        .max(MIN_TILE);
    let fits = |t: usize| estimate(info, t, overlap, network_bpp).total() <= budget;
    if !fits(MIN_TILE) {
        return None;
    }
    // The estimate grows with the tile: binary search over multiples of 4.
    let (mut lo, mut hi) = (MIN_TILE / 4, longest / 4);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(mid * 4) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Some(lo * 4)
}

/// Chooses the tile: the requested one if it fits the budget (error otherwise, naming the
/// largest that fits), else the largest that fits.
pub fn choose_tile(
    info: &ImageInfo,
    requested: Option<usize>,
    overlap: usize,
    network_bpp: u64,
    budget: u64,
) -> Result<usize> {
    let largest = largest_tile(info, overlap, network_bpp, budget);
    match (requested, largest) {
        (_, None) => Err(Error::InvalidOption(format!(
            "--mem-budget {}: too small for this image (a {MIN_TILE} px tile needs about {})",
            format_size(budget),
            format_size(estimate(info, MIN_TILE, overlap, network_bpp).total())
        ))),
        (Some(tile), Some(largest)) => {
            let need = estimate(info, tile, overlap, network_bpp).total();
            if need > budget {
                Err(Error::InvalidOption(format!(
                    "--tile {tile} needs about {} with --overlap {overlap}, over --mem-budget {}; \
                     the largest tile that fits is {largest}",
                    format_size(need),
                    format_size(budget)
                )))
            } else {
                Ok(tile)
            }
        }
        (None, Some(largest)) => Ok(largest),
    }
}

/// Parses a size such as `512MiB`, `4GiB`, `1.5G`, `800M` or a plain number of bytes.
/// Decimal (`MB`, `GB`) and binary (`MiB`, `GiB`, `M`, `G`) units are both accepted.
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| Error::InvalidOption(format!("size {text:?}: use e.g. 512MiB or 4GiB")))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "kb" => 1e3,
        "m" | "mib" => 1024.0 * 1024.0,
        "mb" => 1e6,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "gb" => 1e9,
        "t" | "tib" => 1024.0f64.powi(4),
        "tb" => 1e12,
        _ => {
            return Err(Error::InvalidOption(format!(
                "size {text:?}: unknown unit {unit:?}"
            )))
        }
    };
    Ok((value * scale) as u64)
}

/// Human-readable binary size (`512.0 MiB`).
pub fn format_size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", units[unit])
}

/// A `Key:  N kB` line of a /proc file, in bytes (Linux); `None` elsewhere or if absent.
pub fn proc_bytes(file: &str, key: &str) -> Option<u64> {
    std::fs::read_to_string(file).ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    })
}

/// The dirty page cache above which the kernel starts writing files back to disk in the
/// background (Linux: `vm.dirty_background_bytes`, or `vm.dirty_background_ratio` percent of
/// the available memory); `None` where the system does not say.
pub fn background_writeback_bytes() -> Option<u64> {
    let setting = |name: &str| -> Option<u64> {
        std::fs::read_to_string(format!("/proc/sys/vm/{name}"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    };
    match setting("dirty_background_bytes") {
        Some(bytes) if bytes > 0 => Some(bytes),
        _ => {
            let ratio = setting("dirty_background_ratio")?;
            let available = proc_bytes("/proc/meminfo", "MemAvailable")?;
            Some(available / 100 * ratio)
        }
    }
}

/// Default budget: half of the memory the system reports available, at least 256 MiB.
pub fn default_budget() -> u64 {
    let available = proc_bytes("/proc/meminfo", "MemAvailable").unwrap_or(4 << 30);
    (available / 2).max(256 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::ColorLayout;

    fn info(width: usize, height: usize) -> ImageInfo {
        ImageInfo {
            width,
            height,
            layout: ColorLayout::Rgb,
            bits: 8,
            resolution: None,
            icc: None,
            storage: "test".into(),
            reader_bytes: 0,
        }
    }

    #[test]
    fn sizes_parse_in_binary_and_decimal_units() {
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert_eq!(parse_size("800MB").unwrap(), 800_000_000);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }

    #[test]
    fn largest_tile_fits_and_the_next_does_not() {
        let image = info(10_000, 10_000);
        let budget = 1 << 30;
        let tile = largest_tile(&image, 128, 340, budget).unwrap();
        assert_eq!(tile % 4, 0);
        assert!(estimate(&image, tile, 128, 340).total() <= budget);
        assert!(estimate(&image, tile + 4, 128, 340).total() > budget);
    }

    #[test]
    fn estimate_does_not_grow_with_height() {
        let a = estimate(&info(10_000, 10_000), 512, 128, 340).total();
        let b = estimate(&info(10_000, 1_000_000), 512, 128, 340).total();
        assert_eq!(a, b);
    }

    #[test]
    fn impossible_tile_names_the_largest_that_fits() {
        let err = choose_tile(&info(4000, 4000), Some(4000), 128, 340, 512 << 20).unwrap_err();
        let largest = largest_tile(&info(4000, 4000), 128, 340, 512 << 20).unwrap();
        assert!(err
            .to_string()
            .contains(&format!("largest tile that fits is {largest}")));
    }
}
