//! Engines run a [`Network`] layer by layer on some device.
//!
//! The [`Engine`] trait exposes the pieces a layer is made of (raw convolution, normalisation
//! with given coefficients, residual add, crop, moments), so that the statistics stage can run
//! the network piecewise over a huge image and the pipeline can run it whole on one window with
//! whole-image statistics. Three engines implement it: [`cpu::CpuEngine`] (direct and
//! im2col + GEMM kernels), [`burn::BurnEngine`] (a burn `Module` generic over the backend: the
//! reference, and the CUDA path in [`gpu`]).

pub mod burn;
pub mod cpu;
pub mod gpu;
pub mod predictor;

use crate::geom::Rect;
use crate::network::{Network, StyleAffine};
use crate::norm::{Accumulator, LayerStats, Moments, NetworkStats};
use std::time::Instant;

/// Runs a network's layers on activations of some device; see the module documentation.
pub trait Engine {
    /// An activation `[channels, height, width]` on the engine's device.
    type Act: Clone;

    /// A short name for logs and `--json` (`cpu`, `burn-cuda`, …).
    fn name(&self) -> String;
    /// The network this engine runs.
    fn network(&self) -> &Network;
    /// Moves planar `[channel][row][col]` values to the device.
    fn upload(&self, planar: Vec<f32>, channels: usize, height: usize, width: usize) -> Self::Act;
    /// Moves an activation back to planar host values.
    fn download(&self, x: Self::Act) -> Vec<f32>;
    /// Planar host values of `x` (which covers `at`) that include `rect`, with the rectangle
    /// they cover: `x` whole and borrowed where the engine keeps activations on the host (no
    /// copy), else `rect` alone, cropped on the device and downloaded (no halo moved).
    fn host_values_in<'a>(
        &self,
        x: &'a Self::Act,
        at: Rect,
        rect: Rect,
    ) -> (std::borrow::Cow<'a, [f32]>, Rect) {
        let part = self.crop(x.clone(), (at.x0, at.y0), rect);
        (std::borrow::Cow::Owned(self.download(part)), rect)
    }
    /// Takes back host values that [`Engine::download`] gave and the caller no longer needs,
    /// so that an engine which reuses its buffers can (fresh pages cost faults and zeroing).
    fn recycle(&self, _values: Vec<f32>) {}
    /// Drops an activation the caller no longer needs, its memory kept for reuse where the
    /// engine reuses buffers.
    fn release(&self, _x: Self::Act) {}
    /// Waits until the work queued so far has finished (a device engine queues it and returns),
    /// so that timing a step measures that step; the CPU engine has nothing to wait for.
    fn finish(&self) {}
    /// A host buffer of `len` values to fill and [`Engine::upload`] (reused where the engine
    /// keeps buffers).
    fn host_buffer(&self, len: usize) -> Vec<f32> {
        vec![0.0; len]
    }
    /// Upsamples where the layer does, reflect-pads as the layer does and convolves (without
    /// bias): the raw, not yet normalised output of layer `layer`.
    fn conv_raw(&self, layer: usize, x: Self::Act) -> Self::Act;
    /// `x * scale + shift` per channel, then the layer's activation.
    fn scale_shift(&self, layer: usize, raw: Self::Act, scale: &[f32], shift: &[f32]) -> Self::Act;
    /// Element-wise sum (the residual add).
    fn add(&self, a: Self::Act, b: Self::Act) -> Self::Act;
    /// The part of `x` (whose origin is at `origin` = (x, y)) covering `rect`.
    fn crop(&self, x: Self::Act, origin: (usize, usize), rect: Rect) -> Self::Act;
    /// Per-channel moments of `x`, reduced accurately (f64 on the host).
    fn moments(&self, x: &Self::Act) -> Moments;
    /// Per-channel moments of the part of `x` (whose origin is at `origin`) covering `rect`.
    fn moments_in(&self, x: &Self::Act, origin: (usize, usize), rect: Rect) -> Moments {
        self.moments(&self.crop(x.clone(), origin, rect))
    }
    /// Peak bytes of activations per pixel of a window run through [`forward`], for the memory
    /// budget (derived from the network; see docs/MEMORY.md).
    fn bytes_per_pixel(&self) -> u64;

    /// Layer `layer`'s normalisation (with `stats` where the layer is instance-normalised, its
    /// bias otherwise), then its activation.
    fn normalize(
        &self,
        layer: usize,
        raw: Self::Act,
        stats: Option<&LayerStats>,
        style: &StyleAffine,
    ) -> Self::Act {
        let (scale, shift) = style.coefficients(layer, stats);
        self.scale_shift(layer, raw, &scale, &shift)
    }
}

/// Where a forward pass takes each layer's normalisation statistics from.
pub enum NormSource<'a> {
    /// From the activation being normalised, as the original network does; the statistics used
    /// are recorded into the given collection.
    Instance(&'a mut NetworkStats),
    /// From statistics computed elsewhere (the whole image, a thumbnail, a file).
    Given(&'a NetworkStats),
}

/// Runs the whole network on one window `[3, h, w]` (h, w multiples of the network's stride)
/// and returns the stylized window `[3, h, w]`.
pub fn forward<E: Engine>(
    engine: &E,
    x: E::Act,
    style: &StyleAffine,
    mut norm: NormSource<'_>,
) -> E::Act {
    forward_each(engine, x, &mut |layer, x| {
        let raw = engine.conv_raw(layer, x);
        if !style.is_instance(layer) {
            return engine.normalize(layer, raw, None, style);
        }
        let stats = match &mut norm {
            NormSource::Instance(record) => record_moments(engine, layer, &raw, record),
            NormSource::Given(stats) => stats.get(layer),
        }
        .cloned();
        // Statistics missing for a normalised layer are a caller's bug (files are checked on
        // load, sweeps fill every layer in order).
        let stats =
            stats.unwrap_or_else(|| panic!("statistics of layer {layer} used before computed"));
        engine.normalize(layer, raw, Some(&stats), style)
    })
}

/// Takes layer `layer`'s statistics from its raw output `raw` into `record`, and returns them.
fn record_moments<'r, E: Engine>(
    engine: &E,
    layer: usize,
    raw: &E::Act,
    record: &'r mut NetworkStats,
) -> Option<&'r LayerStats> {
    let mut acc = Accumulator::default();
    acc.merge(&engine.moments(raw));
    record.set(layer, acc.finish());
    record.get(layer)
}

/// The seconds one layer took in [`forward_timed`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LayerTime {
    /// Its convolution, normalisation and activation: what it costs with statistics given.
    pub run: f64,
    /// The reduction of its raw output's moments (0 for a layer without instance norm).
    pub moments: f64,
}

impl LayerTime {
    /// The whole layer with its own statistics.
    pub fn total(&self) -> f64 {
        self.run + self.moments
    }
}

/// Runs the whole network on one window with its own statistics, as [`forward`] does, and
/// returns the output with the seconds each layer took: the per-layer profile behind the
/// progress bar's weights, `bigstyle info`'s estimate and the network benchmark.
pub fn forward_timed<E: Engine>(
    engine: &E,
    x: E::Act,
    style: &StyleAffine,
) -> (E::Act, Vec<LayerTime>) {
    let mut times = vec![LayerTime::default(); engine.network().len()];
    let mut record = NetworkStats::empty(times.len());
    let y = forward_each(engine, x, &mut |layer, x| {
        // Each step waits for the device, so that its time is its own.
        let convolving = Instant::now();
        let raw = engine.conv_raw(layer, x);
        engine.finish();
        let convolved = convolving.elapsed().as_secs_f64();
        let (stats, reduced) = if style.is_instance(layer) {
            let reducing = Instant::now();
            let stats = record_moments(engine, layer, &raw, &mut record).cloned();
            (stats, reducing.elapsed().as_secs_f64())
        } else {
            (None, 0.0)
        };
        let normalizing = Instant::now();
        let y = engine.normalize(layer, raw, stats.as_ref(), style);
        engine.finish();
        let time = &mut times[layer];
        time.run += convolved + normalizing.elapsed().as_secs_f64();
        time.moments += reduced;
        y
    });
    (y, times)
}

/// The network's topology: `step(layer, x)` runs one layer (convolution, normalisation,
/// activation); this chains them in order and makes the residual adds. Shared by [`forward`] and
/// by the benchmark that times each layer.
pub fn forward_each<E: Engine>(
    engine: &E,
    x: E::Act,
    step: &mut impl FnMut(usize, E::Act) -> E::Act,
) -> E::Act {
    let net = engine.network();
    let mut skips: Vec<Option<E::Act>> = vec![None; net.len()];
    let mut x = x;
    for layer in 0..net.len() {
        if net.is_skip_source(layer) {
            skips[layer] = Some(x.clone());
        }
        x = step(layer, x);
        if let Some(skip) = net.layers[layer].skip_from.and_then(|j| skips[j].take()) {
            x = engine.add(x, skip);
        }
    }
    x
}
