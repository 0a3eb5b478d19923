//! The work of each stage of the exact computation per padded-image pixel: the weights of the
//! progress bar's steps, so that its estimate of the time left follows the work left.
//!
//! A stage's work is the time of the layers it runs, plus its reading of the image and of the
//! maps, its writing of maps and, for the render, of the output. The layers' times are timed on
//! this engine and machine ([`LayerCosts::timed`]) when a person watches the bar, and counted
//! from their multiply-adds otherwise ([`LayerCosts::counted`]); the rest are constants measured
//! on the development machines (docs/BENCHMARKS.md). Work is expressed in multiply-add
//! equivalents, the unit of [`crate::progress::work_units`], at a nominal rate
//! (`NOMINAL_NS_PER_MAC`).

use super::{slot_shape, InputWalk, Read, Schedule, Slot};
use crate::engine::{forward_timed, Engine};
use crate::error::Result;
use crate::geom::Rect;
use crate::network::{Layer, Network, StyleAffine};
use crate::scratch::ScratchPrecision;
use crate::stats::first_layer::FirstLayerMoments;
use crate::stats::ImageSource;
use std::collections::HashSet;
use std::time::Instant;

/// Nanoseconds per multiply-add of the nominal rate that turns times into work (50 G/s: the
/// CPU engine over the built-in network on the 2-core AVX2 development machine).
const NOMINAL_NS_PER_MAC: f64 = 0.02;
/// Reading one pixel of the input image (decoding, converting to planar f32). This and the
/// other traffic costs below were fitted to the stage times of 10000² runs on the 2-core AVX2
/// development machine (`-v`; docs/BENCHMARKS.md).
const IMAGE_NS_PER_PIXEL: f64 = 20.0;
/// Reading one value of a map (from the page cache, converted to planar f32). Per value, not
/// per byte: f16 maps move half the bytes but convert each value, and their sweeps took about
/// as long as with f32 maps, but for the fresh pages below.
const READ_NS_PER_VALUE: f64 = 2.0;
/// Writing one value of a map over pages the scratch has used before.
const WRITE_NS_PER_VALUE: f64 = 2.0;
/// What writing one byte beyond the scratch's earlier peak costs on top: the kernel fills pages
/// it has not used yet (docs/MEMORY.md, "Fresh pages on a virtual machine"). The same holds for
/// the engine's working memory the first time a run touches it.
pub(crate) const FRESH_NS_PER_BYTE: f64 = 1.0;
/// Finishing one output pixel after the network: blending, conversion, encoding, writing.
const OUTPUT_NS_PER_PIXEL: f64 = 40.0;
/// Side of the largest window the layers are timed on: a 512² window runs each layer at the rate
/// of a run's larger windows, and a run's smaller tiles are timed at their own side (a 256²
/// window took twice as long per pixel in `contract.0`).
const TIMED_SIDE: usize = 512;
/// Side of the smallest window the layers are timed on (timing a smaller one would be dominated
/// by the fixed cost of each call).
const MIN_TIMED_SIDE: usize = 64;
/// Timed runs after an untimed first one (first-use costs); the fastest counts (one run in six
/// or so took a third longer on the development VMs).
const TIMED_RUNS: usize = 3;

/// What each layer costs per pixel of the padded image, in nanoseconds: the weights from which
/// [`Work`] adds up each stage.
#[derive(Debug, Clone)]
pub struct LayerCosts {
    /// Per layer: its convolution, normalisation and activation, with statistics given.
    runs: Vec<f64>,
    /// Per layer: the reduction of its raw output's moments, in the sweep that computes its
    /// statistics (or a single window's run with its own).
    moments: Vec<f64>,
    /// The first layer's statistics from the image's local moments, which replace running it
    /// in the first sweep ([`FirstLayerMoments`]).
    first_moments: f64,
}

impl LayerCosts {
    /// Costs counted from each layer's multiply-adds at the nominal rate (its moments are not
    /// counted); the first layer's moments count as the convolution they replace. Free, and the
    /// same on every machine.
    pub fn counted(net: &Network) -> Self {
        let runs: Vec<f64> = (0..net.len())
            .map(|i| net.layer_macs_per_pixel(i) * NOMINAL_NS_PER_MAC)
            .collect();
        Self {
            first_moments: runs.first().copied().unwrap_or(0.0),
            moments: vec![0.0; runs.len()],
            runs,
        }
    }

    /// Costs timed on this engine and machine for a run whose tiles have side `tile`: each
    /// layer over a window of that side (at most 512², the fastest of a few runs), and the first
    /// layer's moment sums over a tile of that size. Takes about as long as four network passes
    /// over the window (0.4 s on two AVX2 cores for 512²).
    pub fn timed<E: Engine>(engine: &E, style: &StyleAffine, tile: usize) -> Result<Self> {
        let net = engine.network();
        let side = timed_side(tile);
        let pixels = (side * side) as f64;
        // Each run's readings: every layer's run, then every layer's moments.
        let fastest = fastest_of_runs(|| {
            let x = engine.upload(test_window(side), 3, side, side);
            let (y, times) = forward_timed(engine, x, style);
            engine.release(y);
            let runs = times.iter().map(|t| t.run);
            Ok(runs.chain(times.iter().map(|t| t.moments)).collect())
        })?;
        let ns_per_pixel =
            |seconds: &[f64]| -> Vec<f64> { seconds.iter().map(|s| s * 1e9 / pixels).collect() };
        let (runs, moments) = fastest.split_at(net.len());
        let mut costs = Self {
            runs: ns_per_pixel(runs),
            moments: ns_per_pixel(moments),
            first_moments: 0.0,
        };
        costs.first_moments = match net.layers.first() {
            Some(layer) if FirstLayerMoments::suits(layer) => {
                time_first_moments(layer, side)? * 1e9 / pixels
            }
            // The first layer run with its own statistics, where nothing replaces running it.
            Some(_) => costs.swept(0),
            None => 0.0,
        };
        Ok(costs)
    }

    /// Layer `i` in a sweep that computes its statistics.
    fn swept(&self, i: usize) -> f64 {
        self.runs[i] + self.moments[i]
    }

    /// Seconds of a run without exact sweeps: the whole network once over `window_pixels`
    /// (the image read for them included), each layer reducing its own moments where
    /// `own_statistics` (one window's exact run) and with statistics given otherwise, and
    /// `output_pixels` finished and written.
    pub fn one_pass_seconds(
        &self,
        window_pixels: f64,
        output_pixels: f64,
        own_statistics: bool,
    ) -> f64 {
        let moments = if own_statistics {
            &self.moments[..]
        } else {
            &[]
        };
        let layers: f64 = self.runs.iter().chain(moments).sum();
        let pass = layers + IMAGE_NS_PER_PIXEL;
        (pass * window_pixels + OUTPUT_NS_PER_PIXEL * output_pixels) * 1e-9
    }
}

/// The side of the window to time a run's layers on, for tiles of side `tile`: the tile's own,
/// within [`MIN_TIMED_SIDE`]..=[`TIMED_SIDE`] and on a multiple of 8 px (every built-in
/// network's stride divides it).
fn timed_side(tile: usize) -> usize {
    tile.clamp(MIN_TIMED_SIDE, TIMED_SIDE) / 8 * 8
}

/// A `side`² planar RGB window of a [`TestImage`].
fn test_window(side: usize) -> Vec<f32> {
    let whole = Rect {
        x0: 0,
        y0: 0,
        x1: side,
        y1: side,
    };
    TestImage { side, last: None }.values(whole)
}

/// An image of smooth gradients repeating every `side` pixels, computed where asked for (every
/// layer's cost is independent of the values; gradients keep the statistics away from
/// degenerate zero variances). The last window asked for is kept, so that timing reads it as a
/// run's read-ahead gives it: ready.
struct TestImage {
    side: usize,
    last: Option<(Rect, Vec<f32>)>,
}

impl TestImage {
    fn values(&self, rect: Rect) -> Vec<f32> {
        let ramp = |i: usize| (i % self.side) as f32 / self.side as f32;
        (0..3)
            .flat_map(|c| (rect.y0..rect.y1).map(move |y| (c, y)))
            .flat_map(|(c, y)| (rect.x0..rect.x1).map(move |x| (c, y, x)))
            .map(|(c, y, x)| (ramp(y) + ramp(x) * (c + 1) as f32 / 3.0) / 2.0)
            .collect()
    }
}

impl ImageSource for TestImage {
    fn rgb(&mut self, rect: Rect) -> Result<Vec<f32>> {
        match &self.last {
            Some((at, values)) if *at == rect => Ok(values.clone()),
            _ => {
                let values = self.values(rect);
                self.last = Some((rect, values.clone()));
                Ok(values)
            }
        }
    }
}

/// Seconds of the fastest of [`TIMED_RUNS`] runs (after an untimed one) of `layer`'s
/// first-moment sums over a `side`² tile inside a larger image, as most of a run's tiles are (a
/// tile at the image's edge adds per-row costs that a large image spreads thin).
fn time_first_moments(layer: &Layer, side: usize) -> Result<f64> {
    let (image, tile) = (
        Rect {
            x0: 0,
            y0: 0,
            x1: 3 * side,
            y1: 3 * side,
        },
        Rect {
            x0: side,
            y0: side,
            x1: 2 * side,
            y1: 2 * side,
        },
    );
    let mut source = TestImage { side, last: None };
    let fastest = fastest_of_runs(|| {
        let started = Instant::now();
        if let Some(mut moments) = FirstLayerMoments::new(layer, image, (3 * side, 3 * side)) {
            moments.add_tiles(&mut source, &[tile], |_| {})?;
        }
        Ok(vec![started.elapsed().as_secs_f64()])
    })?;
    Ok(fastest[0])
}

/// Runs `timed` once untimed (first-use costs), then [`TIMED_RUNS`] times, and returns the
/// fastest of those runs' readings, each taken on its own (a run reports one or more seconds).
fn fastest_of_runs(mut timed: impl FnMut() -> Result<Vec<f64>>) -> Result<Vec<f64>> {
    timed()?;
    let mut fastest = timed()?;
    for _ in 1..TIMED_RUNS {
        fastest
            .iter_mut()
            .zip(timed()?)
            .for_each(|(f, s)| *f = f.min(s));
    }
    Ok(fastest)
}

/// The work of each sweep and of the render, per padded-image pixel, in multiply-add
/// equivalents.
#[derive(Debug, Clone)]
pub struct Work {
    /// Per sweep, in order.
    pub sweeps: Vec<f64>,
    /// The render of the image from the maps the sweeps leave.
    pub render: f64,
}

impl Work {
    /// The work of the exact computation of `net` with maps stored at `precision`, its layers
    /// costing `costs`.
    pub fn of(net: &Network, precision: ScratchPrecision, costs: &LayerCosts) -> Self {
        let schedule = Schedule::new(net);
        let values = |slot: &Slot| -> f64 {
            let (channels, level) = slot_shape(net, *slot);
            channels as f64 / (level * level) as f64
        };
        let bytes = |slot: &Slot| values(slot) * precision.bytes() as f64;
        let input = |walk: &InputWalk| -> f64 {
            let layers: f64 = walk.layers.iter().map(|&j| costs.runs[j]).sum();
            let reads: f64 = walk
                .reads
                .iter()
                .map(|read| match read {
                    Read::Map(slot) => READ_NS_PER_VALUE * values(slot),
                    Read::Image => IMAGE_NS_PER_PIXEL,
                })
                .sum();
            layers + reads
        };
        let first_by_moments = schedule.kept_by(0).next().is_none()
            && net.layers.first().is_some_and(FirstLayerMoments::suits);
        let (mut live, mut peak) = (HashSet::new(), 0.0f64);
        let mut sweeps = Vec::with_capacity(schedule.sweeps.len());
        for (pos, (&i, walk)) in schedule.sweeps.iter().zip(&schedule.inputs).enumerate() {
            let ns = if i == 0 && first_by_moments {
                IMAGE_NS_PER_PIXEL + costs.first_moments
            } else {
                let written: f64 = schedule.kept_by(i).map(|slot| values(&slot)).sum();
                live.extend(schedule.kept_by(i));
                let in_use: f64 = live.iter().map(bytes).sum();
                let fresh = (in_use - peak).max(0.0);
                peak = peak.max(in_use);
                input(walk)
                    + costs.swept(i)
                    + WRITE_NS_PER_VALUE * written
                    + FRESH_NS_PER_BYTE * fresh
            };
            live.retain(|slot| schedule.last_use.get(slot).is_some_and(|&l| l > pos));
            sweeps.push(ns / NOMINAL_NS_PER_MAC);
        }
        let render = (input(schedule.render_input()) + OUTPUT_NS_PER_PIXEL) / NOMINAL_NS_PER_MAC;
        Self { sweeps, render }
    }

    /// The seconds the whole exact run takes per padded-image pixel, sweeps and render: an
    /// estimate of its time where the layers' costs were timed.
    pub fn seconds_per_pixel(&self) -> f64 {
        (self.sweeps.iter().sum::<f64>() + self.render) * NOMINAL_NS_PER_MAC * 1e-9
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::cpu::CpuEngine;
    use crate::network::{multistyle26, StyleCode};

    #[test]
    fn counted_weights_follow_the_work() {
        let net = multistyle26::builtin();
        let w = Work::of(&net, ScratchPrecision::F32, &LayerCosts::counted(&net));
        assert_eq!(w.sweeps.len(), 18);
        // contract.0's moments (counted as the convolution) from the image, then contract.0
        // again under contract.1 with its half-resolution map written to fresh pages; a
        // residual sweep is a fraction of either.
        let image = IMAGE_NS_PER_PIXEL / NOMINAL_NS_PER_MAC;
        assert!((w.sweeps[0] - net.layer_macs_per_pixel(0) - image).abs() < 1e-6);
        assert!(w.sweeps[1] > w.sweeps[0] + net.layer_macs_per_pixel(1));
        assert!(w.sweeps[0] > 3.0 * w.sweeps[4], "{:?}", w.sweeps);
        // The render runs the two full-resolution layers on expand.0's map and writes the
        // output.
        let tail = net.layer_macs_per_pixel(16) + net.layer_macs_per_pixel(17);
        assert!(w.render > tail + OUTPUT_NS_PER_PIXEL / NOMINAL_NS_PER_MAC);
        // f16 maps need half the fresh pages (contract.1's sweep), and cost the same where the
        // scratch reuses its pages (a residual sweep); the first sweep writes no map.
        let half = Work::of(&net, ScratchPrecision::F16, &LayerCosts::counted(&net));
        assert!(half.sweeps[1] < w.sweeps[1]);
        assert!(half.sweeps[4] == w.sweeps[4] && half.sweeps[0] == w.sweeps[0]);
    }

    #[test]
    fn only_the_scratch_beyond_its_peak_costs_fresh_pages() {
        let net = multistyle26::builtin();
        let costs = LayerCosts::counted(&net);
        let w = Work::of(&net, ScratchPrecision::F32, &costs);
        // res.1.1 (layer 6) and res.0.1 (layer 4) read and write the same maps, the scratch
        // already at its peak: the same work. contract.1's sweep fills its 32 bytes per pixel
        // (f32; 16 with f16) from fresh pages.
        assert!((w.sweeps[6] - w.sweeps[4]).abs() < 1e-6);
        let half = Work::of(&net, ScratchPrecision::F16, &costs);
        let fresh_saved = 16.0 * FRESH_NS_PER_BYTE / NOMINAL_NS_PER_MAC;
        assert!((w.sweeps[1] - half.sweeps[1] - fresh_saved).abs() < 1e-6);
    }

    #[test]
    fn timed_weights_follow_the_layers_times() {
        let engine = CpuEngine::new(multistyle26::builtin());
        let net = engine.network();
        let style = StyleAffine::new(net, &StyleCode::Mix(vec![1.0 / 26.0; 26])).unwrap();
        let costs = LayerCosts::timed(&engine, &style, 512).unwrap();
        assert!(costs.runs.iter().all(|&ns| ns.is_finite() && ns > 0.0));
        // Every instance-normalised layer reduces moments; the moments cost less than the
        // layer.
        let normalised = |i: usize| style.is_instance(i);
        assert!((0..net.len()).all(|i| (costs.moments[i] > 0.0) == normalised(i)));
        assert!(
            (0..net.len()).all(|i| costs.moments[i] < costs.runs[i]),
            "{costs:?}"
        );
        assert!(costs.first_moments.is_finite() && costs.first_moments > 0.0);
        // contract.0 (9×9, 3→32 at full resolution) takes longer than a quarter-resolution
        // residual layer with a thirteenth of its multiply-adds.
        assert!(costs.runs[0] > 3.0 * costs.runs[4], "{costs:?}");
        // A layer made slower weighs in every stage that runs it, and only there.
        let mut slower = costs.clone();
        slower.runs[17] *= 10.0;
        let (a, b) = (
            Work::of(net, ScratchPrecision::F32, &costs),
            Work::of(net, ScratchPrecision::F32, &slower),
        );
        assert!(b.render > a.render && b.sweeps[17] > a.sweeps[17]);
        assert_eq!(a.sweeps[..17], b.sweeps[..17]);
    }
}
