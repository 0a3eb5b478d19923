//! Normalisation statistics as data: per-channel moments of a region, their exact merge over
//! many regions (Chan's formula, f64), and the statistics of every normalised layer of a network.
//! Shared by the engines (which measure moments), the statistics stage (which reduces them) and
//! the forward pass (which normalises with them).

use serde::{Deserialize, Serialize};

/// Per-channel pixel count, mean and sum of squared deviations of a region.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    /// Pixels per channel.
    pub count: f64,
    /// Per-channel mean.
    pub mean: Vec<f64>,
    /// Per-channel sum of squared deviations from the mean.
    pub m2: Vec<f64>,
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

    /// The moments merged so far (`channels` zeros when nothing was merged).
    pub fn moments(&self, channels: usize) -> Moments {
        if self.count == 0.0 {
            return Moments {
                count: 0.0,
                mean: vec![0.0; channels],
                m2: vec![0.0; channels],
            };
        }
        Moments {
            count: self.count,
            mean: self.mean.clone(),
            m2: self.m2.clone(),
        }
    }

    /// The reduced statistics (biased variance, as instance norm uses).
    pub fn finish(&self) -> LayerStats {
        LayerStats {
            mean: self.mean.clone(),
            var: self.m2.iter().map(|m| m / self.count.max(1.0)).collect(),
        }
    }
}

/// The statistics of a network's layers, in network order; `None` for a layer that is not
/// instance-normalised or not yet computed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkStats {
    /// One entry per layer.
    pub layers: Vec<Option<LayerStats>>,
}

impl NetworkStats {
    /// An empty set for a network of `layers` layers, to be filled layer by layer.
    pub fn empty(layers: usize) -> Self {
        Self {
            layers: vec![None; layers],
        }
    }

    /// Records layer `index`'s statistics.
    pub fn set(&mut self, index: usize, stats: LayerStats) {
        self.layers[index] = Some(stats);
    }

    /// Layer `index`'s statistics, if computed.
    pub fn get(&self, index: usize) -> Option<&LayerStats> {
        self.layers.get(index).and_then(Option::as_ref)
    }
}
