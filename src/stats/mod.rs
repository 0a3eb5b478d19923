//! Normalisation statistics: the per-channel mean and variance of every instance-normalised
//! layer, taken over the whole image rather than per tile, so that every tile is normalised with
//! the same numbers and the mosaic is seamless.
//!
//! Three sources: [`exact`] streams the image through the network layer by layer and reduces
//! each layer over all tiles (the tiled result then equals the untiled network), [`thumbnail`]
//! runs the network on a downscaled copy (cheap, approximate), and [`NetworkStats::load`] reads
//! numbers saved by an earlier run.

pub mod exact;
pub mod thumbnail;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Moments, NUM_LAYERS, NUM_STYLES};

/// Which statistics a run normalises with.
#[derive(Debug, Clone, PartialEq)]
pub enum StatsMode {
    /// Exact whole-image statistics, streamed layer by layer.
    Exact,
    /// Statistics of a copy downscaled so that its longer side is this many pixels.
    Thumbnail(usize),
    /// Statistics saved earlier with `--stats-file`.
    File(std::path::PathBuf),
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

/// Mean and biased variance of each channel of one layer's raw output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerStats {
    /// Per-channel mean.
    pub mean: Vec<f64>,
    /// Per-channel biased variance.
    pub var: Vec<f64>,
}

/// Streaming reducer of per-channel mean and variance over many regions.
///
/// Each region's mean and sum of squared deviations come from the engine (reduced in f64 on the
/// host); regions are merged with Chan's parallel formula, so the result does not depend on how
/// the image was cut into tiles beyond rounding.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    count: f64,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl Accumulator {
    /// Adds one region's moments (Chan's merge of two sets of moments).
    pub fn merge(&mut self, region: &Moments) {
        let (n, mean, m2) = (region.count, &region.mean, &region.m2);
        if n == 0.0 {
            return;
        }
        if self.count == 0.0 {
            self.count = n;
            self.mean = mean.clone();
            self.m2 = m2.clone();
            return;
        }
        let total = self.count + n;
        for c in 0..self.mean.len() {
            let delta = mean[c] - self.mean[c];
            self.mean[c] += delta * n / total;
            self.m2[c] += m2[c] + delta * delta * self.count * n / total;
        }
        self.count = total;
    }

    /// The reduced statistics (biased variance, as instance norm uses).
    pub fn finish(&self) -> LayerStats {
        LayerStats {
            mean: self.mean.clone(),
            var: self.m2.iter().map(|m| m / self.count.max(1.0)).collect(),
        }
    }
}

/// The statistics of all 18 normalised layers, as used for one image and one style.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkStats {
    /// File format tag.
    pub format: String,
    /// Network the numbers belong to.
    pub network: String,
    /// Style weights (normalised) the numbers were computed with: they depend on the style.
    pub style: Vec<f32>,
    /// How they were computed (`exact`, `thumbnail=1024`, …).
    pub source: String,
    /// Size of the image they were computed on.
    pub width: usize,
    /// Size of the image they were computed on.
    pub height: usize,
    /// One entry per layer in network order; `None` until computed.
    pub layers: Vec<Option<LayerStats>>,
}

const FORMAT: &str = "bigstyle-stats/1";
/// Name of the built-in network in statistics files.
pub const NETWORK: &str = "multistyle26";

impl NetworkStats {
    /// An empty set for a style and image, to be filled layer by layer.
    pub fn new(style: &[f32; NUM_STYLES], source: &str, width: usize, height: usize) -> Self {
        Self {
            format: FORMAT.into(),
            network: NETWORK.into(),
            style: style.to_vec(),
            source: source.into(),
            width,
            height,
            layers: vec![None; NUM_LAYERS],
        }
    }

    /// Records layer `index`'s statistics.
    pub fn set(&mut self, index: usize, stats: LayerStats) {
        self.layers[index] = Some(stats);
    }

    /// Layer `index`'s statistics; the caller must have computed it (network order).
    pub fn layer(&self, index: usize) -> &LayerStats {
        self.layers[index]
            .as_ref()
            .unwrap_or_else(|| panic!("statistics of layer {index} used before computed"))
    }

    /// Whether every layer has statistics.
    pub fn is_complete(&self) -> bool {
        self.layers.iter().all(Option::is_some)
    }

    /// Writes the statistics as JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Stats {
            path: path.into(),
            reason: e.to_string(),
        })?;
        std::fs::write(path, text).map_err(|e| Error::io(path, e))
    }

    /// Reads statistics saved by [`NetworkStats::save`] and checks that they fit the built-in
    /// network and the given style.
    pub fn load(path: &Path, style: &[f32; NUM_STYLES], channels: &[usize]) -> Result<Self> {
        let bad = |reason: String| Error::Stats {
            path: path.into(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let stats: NetworkStats = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if stats.format != FORMAT || stats.network != NETWORK {
            return Err(bad(format!(
                "made for {} / {}, expected {FORMAT} / {NETWORK}",
                stats.format, stats.network
            )));
        }
        let same_style = stats.style.len() == NUM_STYLES
            && stats
                .style
                .iter()
                .zip(style.iter())
                .all(|(a, b)| (a - b).abs() < 1e-6);
        if !same_style {
            return Err(bad(
                "computed for another style; statistics depend on the style".into(),
            ));
        }
        if stats.layers.len() != NUM_LAYERS {
            return Err(bad(format!(
                "{} layers, expected {NUM_LAYERS}",
                stats.layers.len()
            )));
        }
        for (index, (layer, want)) in stats.layers.iter().zip(channels).enumerate() {
            let ok = layer.as_ref().is_some_and(|l| {
                l.mean.len() == *want
                    && l.var.len() == *want
                    && l.mean.iter().chain(l.var.iter()).all(|v| v.is_finite())
                    && l.var.iter().all(|v| *v >= 0.0)
            });
            if !ok {
                return Err(bad(format!("layer {index} is missing or malformed")));
            }
        }
        Ok(stats)
    }
}
