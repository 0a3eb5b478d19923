//! Exact whole-image statistics, computed by streaming tiles through the network one normalised
//! layer at a time.
//!
//! A layer's statistics are needed before anything after it can be computed, so the image is
//! swept once per layer. The full-resolution head (`contract.0..2`) is recomputed from the input
//! for each of its three layers (a small receptive field, so tiles need only 8 px of context);
//! the raw output of `contract.2` is kept at quarter resolution in a memory-mapped scratch map,
//! and every residual and expanding layer is then one sweep over scratch maps: read a window
//! with a 1-px halo, normalise it with the statistics already known, convolve, add the core to
//! the layer's accumulator and store it for the next sweep. Every pixel of every layer is
//! counted exactly once, in f64, so the result is what the untiled network computes.

use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::{Accumulator, NetworkStats};
use crate::error::Result;
use crate::io::InputImage;
use crate::model::{
    crop, planar_to_tensor, tensor_to_planar, Generator, StyleAffine, FIRST_RES_LAYER, NUM_LAYERS,
    NUM_STYLES, RES_BLOCKS,
};
use crate::pipeline::Progress;
use crate::scratch::ScratchMap;
use crate::tiling::{Rect, Tile, TilePlan};

/// Context (full-resolution px) that makes `contract.0..k` exact on a tile core: 4 px for the
/// 9×9 convolution, 8 px once a strided 3×3 follows.
const HEAD_MARGIN: [usize; 3] = [4, 8, 8];
/// Halo of one 3×3 convolution at its own resolution.
const CONV_HALO: usize = 1;
/// Halo (half-resolution px) for `expand.1` (3×3 after upsampling) and `expand.2` (9×9).
const TAIL_HALO: usize = 4;

const LAST_RES_LAYER: usize = FIRST_RES_LAYER + 2 * RES_BLOCKS - 1;
const EXPAND0: usize = LAST_RES_LAYER + 1;

/// Number of sweeps over the image [`exact_stats`] makes (for progress reporting).
pub const SWEEPS: usize = NUM_LAYERS;

/// Everything a sweep needs.
struct Sweep<'a, B: Backend> {
    model: &'a Generator<B>,
    style: &'a StyleAffine,
    plan: &'a TilePlan,
    device: &'a B::Device,
}

/// Computes the statistics the untiled network would compute on the whole image.
#[allow(clippy::too_many_arguments)]
pub fn exact_stats<B: Backend>(
    model: &Generator<B>,
    style: &StyleAffine,
    weights: &[f32; NUM_STYLES],
    input: &mut InputImage,
    plan: &TilePlan,
    scratch_dir: &Path,
    device: &B::Device,
    progress: &mut dyn Progress,
) -> Result<NetworkStats> {
    let mut stats = NetworkStats::new(weights, "exact", plan.width, plan.height);
    let sweep = Sweep {
        model,
        style,
        plan,
        device,
    };
    let (wq, hq) = (plan.padded_width / 4, plan.padded_height / 4);
    let channels = model.channels(FIRST_RES_LAYER);
    // stream[0], stream[1]: residual-stream ping-pong (stream[1] first holds contract.2's raw
    // output); inner: raw first conv of a block; outer: raw second conv of a block.
    let mut stream = [
        ScratchMap::new(scratch_dir, channels, wq, hq)?,
        ScratchMap::new(scratch_dir, channels, wq, hq)?,
    ];
    let mut inner = ScratchMap::new(scratch_dir, channels, wq, hq)?;
    let mut outer = ScratchMap::new(scratch_dir, channels, wq, hq)?;

    for layer in 0..FIRST_RES_LAYER {
        let store = (layer == FIRST_RES_LAYER - 1).then_some(&mut stream[1]);
        let acc = sweep.head(layer, input, &stats, store, progress)?;
        stats.set(layer, acc.finish());
    }
    for block in 0..RES_BLOCKS {
        let first = FIRST_RES_LAYER + 2 * block;
        // Block b finds the stored part of its input in one map and stores its input in the
        // other, for block b + 1's residual add.
        let [s0, s1] = &mut stream;
        let (src, dst) = if block % 2 == 0 {
            (&*s1, s0)
        } else {
            (&*s0, s1)
        };
        let acc = sweep.res_first(block, src, &outer, dst, &mut inner, &stats, progress)?;
        stats.set(first, acc.finish());
        let acc = sweep.res_second(first, &inner, &mut outer, &stats, progress)?;
        stats.set(first + 1, acc.finish());
    }
    let last_stream = &stream[(RES_BLOCKS - 1) % 2];
    let mut expanded = ScratchMap::new(
        scratch_dir,
        model.channels(EXPAND0),
        plan.padded_width / 2,
        plan.padded_height / 2,
    )?;
    let acc = sweep.expand0(last_stream, &outer, &mut expanded, &stats, progress)?;
    stats.set(EXPAND0, acc.finish());
    for layer in EXPAND0 + 1..NUM_LAYERS {
        let acc = sweep.tail(layer, &expanded, &stats, progress)?;
        stats.set(layer, acc.finish());
    }
    Ok(stats)
}

impl<B: Backend> Sweep<'_, B> {
    fn tiles(&self, margin: usize) -> impl Iterator<Item = Tile> + '_ {
        let plan = self.plan;
        (0..plan.rows())
            .flat_map(move |r| (0..plan.cols()).map(move |c| plan.tile_with_margin(c, r, margin)))
    }

    /// A tile's core and window at `1/factor` resolution, the window grown by `halo` there.
    fn at_level(&self, tile: &Tile, factor: usize, halo: usize) -> (Rect, Rect) {
        let core = tile.core.scaled_down(factor);
        let window = core.grow_within(
            halo,
            self.plan.padded_width / factor,
            self.plan.padded_height / factor,
        );
        (core, window)
    }

    fn load(&self, map: &ScratchMap, channels: usize, window: Rect) -> Tensor<B, 4> {
        planar_to_tensor(
            map.read(window),
            channels,
            window.height(),
            window.width(),
            self.device,
        )
    }

    /// Sweep for head layer `layer` (0..=2): recompute from the input, normalising earlier head
    /// layers with their now-known statistics.
    fn head(
        &self,
        layer: usize,
        input: &mut InputImage,
        stats: &NetworkStats,
        mut store: Option<&mut ScratchMap>,
        progress: &mut dyn Progress,
    ) -> Result<Accumulator> {
        let mut acc = Accumulator::default();
        progress.stage(
            &format!("statistics {}/{SWEEPS}", layer + 1),
            self.plan.len(),
        );
        for tile in self.tiles(HEAD_MARGIN[layer]) {
            let win = input.read_window(tile.window)?;
            let (w, h) = (win.width, win.height);
            let mut rgb = win.planes;
            rgb.truncate(3 * w * h);
            let mut x = planar_to_tensor::<B>(rgb, 3, h, w, self.device);
            for earlier in 0..layer {
                let raw = self.model.conv_raw(earlier, x);
                x = self
                    .model
                    .normalize(earlier, raw, stats.layer(earlier), self.style);
            }
            let raw = self.model.conv_raw(layer, x);
            let factor = 1 << layer;
            let origin = (tile.window.x0 / factor, tile.window.y0 / factor);
            let core = tile.core.scaled_down(factor);
            let core_raw = crop(raw, origin, core);
            acc.add(core_raw.clone());
            if let Some(map) = store.as_deref_mut() {
                map.write(core, &tensor_to_planar(core_raw));
            }
            progress.step();
        }
        Ok(acc)
    }

    /// Sweep for the first conv of residual block `block`: forms the block's input (the
    /// previous block's output, or `contract.2` normalised), stores it, convolves.
    #[allow(clippy::too_many_arguments)]
    fn res_first(
        &self,
        block: usize,
        src: &ScratchMap,
        prev_outer: &ScratchMap,
        dst: &mut ScratchMap,
        inner: &mut ScratchMap,
        stats: &NetworkStats,
        progress: &mut dyn Progress,
    ) -> Result<Accumulator> {
        let layer = FIRST_RES_LAYER + 2 * block;
        let mut acc = Accumulator::default();
        progress.stage(
            &format!("statistics {}/{SWEEPS}", layer + 1),
            self.plan.len(),
        );
        for tile in self.tiles(0) {
            let (core, window) = self.at_level(&tile, 4, CONV_HALO);
            let x = self.block_input(block, src, prev_outer, window, stats);
            dst.write(
                core,
                &tensor_to_planar(crop(x.clone(), (window.x0, window.y0), core)),
            );
            let raw = crop(self.model.conv_raw(layer, x), (window.x0, window.y0), core);
            acc.add(raw.clone());
            inner.write(core, &tensor_to_planar(raw));
            progress.step();
        }
        Ok(acc)
    }

    /// The input of residual block `block` over `window`, from stored maps.
    fn block_input(
        &self,
        block: usize,
        src: &ScratchMap,
        prev_outer: &ScratchMap,
        window: Rect,
        stats: &NetworkStats,
    ) -> Tensor<B, 4> {
        let channels = self.model.channels(FIRST_RES_LAYER);
        let stored = self.load(src, channels, window);
        if block == 0 {
            let head = FIRST_RES_LAYER - 1;
            self.model
                .normalize(head, stored, stats.layer(head), self.style)
        } else {
            let prev = FIRST_RES_LAYER + 2 * block - 1;
            let branch = self.load(prev_outer, channels, window);
            stored
                + self
                    .model
                    .normalize(prev, branch, stats.layer(prev), self.style)
        }
    }

    /// Sweep for the second conv of a residual block.
    fn res_second(
        &self,
        first: usize,
        inner: &ScratchMap,
        outer: &mut ScratchMap,
        stats: &NetworkStats,
        progress: &mut dyn Progress,
    ) -> Result<Accumulator> {
        let channels = self.model.channels(first);
        let mut acc = Accumulator::default();
        progress.stage(
            &format!("statistics {}/{SWEEPS}", first + 2),
            self.plan.len(),
        );
        for tile in self.tiles(0) {
            let (core, window) = self.at_level(&tile, 4, CONV_HALO);
            let x = self.load(inner, channels, window);
            let x = self
                .model
                .normalize(first, x, stats.layer(first), self.style);
            let raw = crop(
                self.model.conv_raw(first + 1, x),
                (window.x0, window.y0),
                core,
            );
            acc.add(raw.clone());
            outer.write(core, &tensor_to_planar(raw));
            progress.step();
        }
        Ok(acc)
    }

    /// Sweep for `expand.0`: the last block's output, upsampled and convolved, stored at half
    /// resolution.
    fn expand0(
        &self,
        last_stream: &ScratchMap,
        outer: &ScratchMap,
        expanded: &mut ScratchMap,
        stats: &NetworkStats,
        progress: &mut dyn Progress,
    ) -> Result<Accumulator> {
        let mut acc = Accumulator::default();
        progress.stage(
            &format!("statistics {}/{SWEEPS}", EXPAND0 + 1),
            self.plan.len(),
        );
        for tile in self.tiles(0) {
            let (core_q, window) = self.at_level(&tile, 4, CONV_HALO);
            let x = self.block_input(RES_BLOCKS, last_stream, outer, window, stats);
            let raw = self.model.conv_raw(EXPAND0, x);
            let core = tile.core.scaled_down(2);
            let raw = crop(raw, (2 * window.x0, 2 * window.y0), core);
            debug_assert_eq!(core.x0, 2 * core_q.x0);
            acc.add(raw.clone());
            expanded.write(core, &tensor_to_planar(raw));
            progress.step();
        }
        Ok(acc)
    }

    /// Sweep for `expand.1` or `expand.2`, recomputed from the stored `expand.0` output.
    fn tail(
        &self,
        layer: usize,
        expanded: &ScratchMap,
        stats: &NetworkStats,
        progress: &mut dyn Progress,
    ) -> Result<Accumulator> {
        let mut acc = Accumulator::default();
        progress.stage(
            &format!("statistics {}/{SWEEPS}", layer + 1),
            self.plan.len(),
        );
        for tile in self.tiles(0) {
            let (_, window) = self.at_level(&tile, 2, TAIL_HALO);
            let stored = self.load(expanded, self.model.channels(EXPAND0), window);
            let mut x = self
                .model
                .normalize(EXPAND0, stored, stats.layer(EXPAND0), self.style);
            for earlier in EXPAND0 + 1..layer {
                let raw = self.model.conv_raw(earlier, x);
                x = self
                    .model
                    .normalize(earlier, raw, stats.layer(earlier), self.style);
            }
            let raw = self.model.conv_raw(layer, x);
            acc.add(crop(raw, (2 * window.x0, 2 * window.y0), tile.core));
            progress.step();
        }
        Ok(acc)
    }
}
