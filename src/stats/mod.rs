//! Normalisation statistics: the per-channel mean and variance of every instance-normalised
//! layer, taken over the whole image rather than per tile, so that every tile is normalised with
//! the same numbers and the mosaic is seamless.
//!
//! Three sources: [`exact`] streams the image through the network layer by layer and reduces
//! each layer over all tiles (the tiled result then equals the untiled network), [`thumbnail`]
//! runs the network on a downscaled copy (cheap, approximate), and [`StatsFile::load`] reads
//! numbers saved by an earlier run.

pub mod checkpoint;
pub mod exact;
pub mod first_layer;
mod read_ahead;
pub mod team;
pub mod thumbnail;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::geom::Rect;
use crate::network::{Network, StyleCode};
use crate::norm::NetworkStats;

/// Pixels of the image at full resolution, for the network's input: a file read window by
/// window, or a window already read.
pub trait ImageSource: Send {
    /// Planar RGB (0..1, sRGB) of `rect`, in coordinates of the image extended by reflection.
    fn rgb(&mut self, rect: Rect) -> Result<Vec<f32>>;
}

/// Which statistics a run normalises with.
#[derive(Debug, Clone, PartialEq)]
pub enum StatsMode {
    /// Exact whole-image statistics, streamed layer by layer.
    Exact,
    /// Statistics of a copy downscaled so that its longer side is this many pixels.
    Thumbnail(usize),
    /// Statistics saved earlier with `--save-stats`.
    File(PathBuf),
}

impl std::fmt::Display for StatsMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatsMode::Exact => write!(f, "exact"),
            StatsMode::Thumbnail(px) => write!(f, "thumbnail={px}"),
            StatsMode::File(path) => write!(f, "file={}", path.display()),
        }
    }
}

/// Statistics with what they were computed for: a network (family and fingerprint of its
/// weights), a style and an image size. Saved as JSON; refused on load for anything else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsFile {
    /// File format tag.
    pub format: String,
    /// Network family.
    pub network: String,
    /// Fingerprint of the network's architecture and weights.
    pub network_id: String,
    /// The style the numbers were computed with: they depend on it.
    pub style: StyleCode,
    /// How they were computed (`exact`, `thumbnail=1024`, …).
    pub source: String,
    /// Width of the image they were computed on.
    pub width: usize,
    /// Height of the image they were computed on.
    pub height: usize,
    /// The per-layer statistics.
    #[serde(flatten)]
    pub stats: NetworkStats,
}

const FORMAT: &str = "bigstyle-stats/2";

impl StatsFile {
    /// Wraps `stats` with what they describe.
    pub fn new(
        net: &Network,
        style: &StyleCode,
        source: &str,
        (width, height): (usize, usize),
        stats: NetworkStats,
    ) -> Self {
        Self {
            format: FORMAT.into(),
            network: net.family.clone(),
            network_id: net.id().into(),
            style: style.clone(),
            source: source.into(),
            width,
            height,
            stats,
        }
    }

    /// Writes the statistics as JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Stats {
            path: path.into(),
            reason: e.to_string(),
        })?;
        std::fs::write(path, text).map_err(|e| Error::io(path, e))
    }

    /// Reads statistics saved by [`StatsFile::save`] and checks that they were computed for
    /// this network, style and image size, with sound values for every normalised layer.
    pub fn load(
        path: &Path,
        net: &Network,
        style: &StyleCode,
        size: (usize, usize),
    ) -> Result<NetworkStats> {
        let bad = |reason: String| Error::Stats {
            path: path.into(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let file: StatsFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if file.format != FORMAT {
            return Err(bad(format!("format {}, expected {FORMAT}", file.format)));
        }
        if file.network_id != net.id() {
            return Err(bad(format!(
                "computed for another network ({} {}, this is {} {})",
                file.network,
                file.network_id,
                net.family,
                net.id()
            )));
        }
        if !file.style.same_as(style) {
            return Err(bad(
                "computed for another style; statistics depend on the style".into(),
            ));
        }
        if (file.width, file.height) != size {
            return Err(bad(format!(
                "computed for a {}x{} image, this one is {}x{}",
                file.width, file.height, size.0, size.1
            )));
        }
        check_layers(&file.stats, net).map_err(bad)?;
        Ok(file.stats)
    }
}

/// Every normalised layer has finite statistics of the right width, the others none.
fn check_layers(stats: &NetworkStats, net: &Network) -> std::result::Result<(), String> {
    if stats.layers.len() != net.len() {
        return Err(format!(
            "{} layers, expected {}",
            stats.layers.len(),
            net.len()
        ));
    }
    for (index, (entry, layer)) in stats.layers.iter().zip(&net.layers).enumerate() {
        let want = layer.out_channels;
        let ok = match entry {
            None => !layer.norm.is_instance(),
            Some(l) => {
                l.mean.len() == want
                    && l.var.len() == want
                    && l.mean.iter().chain(l.var.iter()).all(|v| v.is_finite())
                    && l.var.iter().all(|v| *v >= 0.0)
            }
        };
        if !ok {
            return Err(format!(
                "layer {index} ({}) is missing or malformed",
                layer.name
            ));
        }
    }
    Ok(())
}
