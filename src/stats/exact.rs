//! Exact whole-image statistics, computed by streaming tiles through the network one normalised
//! layer at a time.
//!
//! A layer's statistics are needed before anything after it can be computed, so the image is
//! swept once per layer. The full-resolution `contract.0` is recomputed from the input for the
//! first two sweeps (a small receptive field, so tiles need only 8 px of context); the raw output
//! of `contract.1` is kept at half resolution in a scratch file, and every later layer is one
//! sweep over scratch maps: read a window
//! with a 1-px halo, normalise it with the statistics already known, convolve, add the core to
//! the layer's accumulator and store it for the next sweep. Every pixel of every layer is
//! counted exactly once, in f64, so the result is what the untiled network computes.

use std::path::Path;

use super::{Accumulator, LayerStats, NetworkStats};
use crate::blend::{Blender, RowSink};
use crate::error::Result;
use crate::io::InputImage;
use crate::model::{Engine, StyleAffine, FIRST_RES_LAYER, NUM_LAYERS, NUM_STYLES, RES_BLOCKS};
use crate::pipeline::Progress;
use crate::scratch::ScratchMap;
use crate::tiling::{Rect, Tile, TilePlan};

/// Context (full-resolution px) that makes `contract.0..k` exact on a tile core: 4 px for the
/// 9×9 convolution, 8 px once a strided 3×3 follows.
const HEAD_MARGIN: [usize; 2] = [4, 8];
/// Halo (half-resolution px) for `contract.2`, a stride-2 3×3: one pixel, rounded up to two so
/// that windows start on even coordinates and the stride grid matches the untiled network's.
const STRIDED_HALO: usize = 2;
/// Halo of one 3×3 convolution at its own resolution.
const CONV_HALO: usize = 1;
/// Halo (half-resolution px) for `expand.1` (3×3 after upsampling) and `expand.2` (9×9).
const TAIL_HALO: usize = 4;

const LAST_RES_LAYER: usize = FIRST_RES_LAYER + 2 * RES_BLOCKS - 1;
const EXPAND0: usize = LAST_RES_LAYER + 1;

/// Number of sweeps over the image [`exact_stats`] makes (for progress reporting).
pub const SWEEPS: usize = NUM_LAYERS;

/// Everything a sweep needs.
struct Sweep<'a, E: Engine> {
    engine: &'a E,
    style: &'a StyleAffine,
    plan: &'a TilePlan,
}

/// The result of the exact sweeps: the statistics, and `expand.0`'s raw output, from which the
/// last two layers produce the final image without running the network again.
pub struct ExactStats {
    /// Statistics of all layers, as the untiled network computes them.
    pub stats: NetworkStats,
    expanded: ScratchMap,
}

/// Computes the statistics the untiled network would compute on the whole image.
pub fn exact_stats<E: Engine>(
    engine: &E,
    style: &StyleAffine,
    weights: &[f32; NUM_STYLES],
    input: &mut InputImage,
    plan: &TilePlan,
    scratch_dir: &Path,
    progress: &mut dyn Progress,
) -> Result<ExactStats> {
    let mut stats = NetworkStats::new(weights, "exact", plan.width, plan.height);
    let sweep = Sweep {
        engine,
        style,
        plan,
    };
    let (wq, hq) = (plan.padded_width / 4, plan.padded_height / 4);
    let channels = engine.channels(FIRST_RES_LAYER);
    // stream[0], stream[1]: residual-stream ping-pong (stream[1] first holds contract.2's raw
    // output); inner: raw first conv of a block; outer: raw second conv of a block.
    let mut stream = [
        ScratchMap::new(scratch_dir, channels, wq, hq)?,
        ScratchMap::new(scratch_dir, channels, wq, hq)?,
    ];
    let mut inner = ScratchMap::new(scratch_dir, channels, wq, hq)?;
    let mut outer = ScratchMap::new(scratch_dir, channels, wq, hq)?;

    // contract.1's raw output (half resolution) is kept so that contract.2's sweep reads it
    // instead of recomputing the full-resolution layers a third time.
    let mut half = ScratchMap::new(
        scratch_dir,
        engine.channels(1),
        plan.padded_width / 2,
        plan.padded_height / 2,
    )?;
    let layer_stats = sweep.head(0, input, &stats, None, progress)?;
    stats.set(0, layer_stats);
    let layer_stats = sweep.head(1, input, &stats, Some(&mut half), progress)?;
    stats.set(1, layer_stats);
    let layer_stats = sweep.contract2(&half, &mut stream[1], &stats, progress)?;
    stats.set(2, layer_stats);
    drop(half);
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
        let layer_stats = sweep.res_first(block, src, &outer, dst, &mut inner, &stats, progress)?;
        stats.set(first, layer_stats);
        let layer_stats = sweep.res_second(first, &inner, &mut outer, &stats, progress)?;
        stats.set(first + 1, layer_stats);
    }
    let last_stream = &stream[(RES_BLOCKS - 1) % 2];
    let mut expanded = ScratchMap::new(
        scratch_dir,
        engine.channels(EXPAND0),
        plan.padded_width / 2,
        plan.padded_height / 2,
    )?;
    let layer_stats = sweep.expand0(last_stream, &outer, &mut expanded, &stats, progress)?;
    stats.set(EXPAND0, layer_stats);
    for layer in EXPAND0 + 1..NUM_LAYERS {
        let layer_stats = sweep.tail(layer, &expanded, &stats, progress)?;
        stats.set(layer, layer_stats);
    }
    Ok(ExactStats { stats, expanded })
}

impl ExactStats {
    /// Produces the final image from the stored `expand.0` output: each tile core is computed
    /// with exact halos, so the cores simply tile the image (no blending) and the result is the
    /// untiled network's. `alpha_from` supplies the input's alpha plane for a core, if any.
    pub fn render<E: Engine>(
        &self,
        engine: &E,
        style: &StyleAffine,
        plan: &TilePlan,
        mut alpha_from: impl FnMut(Rect) -> Result<Option<Vec<f32>>>,
        sink: &mut dyn RowSink,
        progress: &mut dyn Progress,
    ) -> Result<()> {
        let sweep = Sweep {
            engine,
            style,
            plan,
        };
        let abutting = TilePlan {
            feather: 0,
            ..plan.clone()
        };
        let mut blender: Option<Blender> = None;
        progress.stage("stylizing", plan.len());
        for row in 0..plan.rows() {
            for col in 0..plan.cols() {
                let tile = plan.tile_with_margin(col, row, 0);
                let (_, window) = sweep.at_level(&tile, 2, TAIL_HALO);
                let mut x =
                    sweep.normalize(EXPAND0, sweep.load(&self.expanded, window)?, &self.stats);
                for layer in EXPAND0 + 1..NUM_LAYERS {
                    let raw = engine.conv_raw(layer, x);
                    x = sweep.normalize(layer, raw, &self.stats);
                }
                let x = engine.crop(x, (2 * window.x0, 2 * window.y0), tile.core);
                let mut planar = engine.download(x);
                let alpha = alpha_from(tile.core)?;
                let channels = if alpha.is_some() { 4 } else { 3 };
                if let Some(alpha) = alpha {
                    planar.extend_from_slice(&alpha);
                }
                blender
                    .get_or_insert_with(|| Blender::new(&abutting, channels))
                    .add_tile(&tile, &planar);
                progress.step();
            }
            if let Some(b) = blender.as_mut() {
                b.finish_row(row, sink)?;
            }
        }
        Ok(())
    }
}

impl<E: Engine> Sweep<'_, E> {
    /// One sweep for `layer`: `core_raw` gives each tile's raw layer output over its core
    /// (storing it where a later sweep needs it); the cores' moments are reduced.
    fn run(
        &self,
        layer: usize,
        progress: &mut dyn Progress,
        mut core_raw: impl FnMut(&Tile) -> Result<E::Act>,
    ) -> Result<LayerStats> {
        let mut acc = Accumulator::default();
        progress.stage(
            &format!("statistics {}/{SWEEPS}", layer + 1),
            self.plan.len(),
        );
        for row in 0..self.plan.rows() {
            for col in 0..self.plan.cols() {
                let raw = core_raw(&self.plan.tile_with_margin(col, row, 0))?;
                acc.merge(&self.engine.moments(&raw));
                progress.step();
            }
        }
        Ok(acc.finish())
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

    fn load(&self, map: &ScratchMap, window: Rect) -> Result<E::Act> {
        let (data, channels) = (map.read(window)?, map.channels());
        Ok(self
            .engine
            .upload(data, channels, window.height(), window.width()))
    }

    fn store(&self, map: &mut ScratchMap, core: Rect, x: &E::Act) -> Result<()> {
        map.write(core, &self.engine.download(x.clone()))
    }

    fn normalize(&self, layer: usize, raw: E::Act, stats: &NetworkStats) -> E::Act {
        self.engine
            .normalize(layer, raw, stats.layer(layer), self.style)
    }

    /// Sweep for full-resolution layer `layer` (0 or 1): recompute from the input, normalising
    /// `contract.0` with its now-known statistics; `store` keeps the raw output.
    fn head(
        &self,
        layer: usize,
        input: &mut InputImage,
        stats: &NetworkStats,
        mut store: Option<&mut ScratchMap>,
        progress: &mut dyn Progress,
    ) -> Result<LayerStats> {
        let (w, h) = (self.plan.padded_width, self.plan.padded_height);
        self.run(layer, progress, |tile| {
            let window = tile.core.grow_within(HEAD_MARGIN[layer], w, h);
            let win = input.read_window(window)?;
            let rgb = win.rgb().to_vec();
            let mut x = self.engine.upload(rgb, 3, win.height, win.width);
            for earlier in 0..layer {
                let raw = self.engine.conv_raw(earlier, x);
                x = self.normalize(earlier, raw, stats);
            }
            let factor = 1 << layer;
            let core = tile.core.scaled_down(factor);
            let origin = (window.x0 / factor, window.y0 / factor);
            let raw = self
                .engine
                .crop(self.engine.conv_raw(layer, x), origin, core);
            if let Some(map) = store.as_deref_mut() {
                self.store(map, core, &raw)?;
            }
            Ok(raw)
        })
    }

    /// Sweep for `contract.2` (stride 2), from the stored raw output of `contract.1`; stores its
    /// raw output at quarter resolution.
    fn contract2(
        &self,
        half: &ScratchMap,
        quarter: &mut ScratchMap,
        stats: &NetworkStats,
        progress: &mut dyn Progress,
    ) -> Result<LayerStats> {
        self.run(2, progress, |tile| {
            let (_, window) = self.at_level(tile, 2, STRIDED_HALO);
            let x = self.normalize(1, self.load(half, window)?, stats);
            let raw = self.engine.conv_raw(2, x);
            let core = tile.core.scaled_down(4);
            let raw = self.engine.crop(raw, (window.x0 / 2, window.y0 / 2), core);
            self.store(quarter, core, &raw)?;
            Ok(raw)
        })
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
    ) -> Result<LayerStats> {
        let layer = FIRST_RES_LAYER + 2 * block;
        self.run(layer, progress, |tile| {
            let (core, window) = self.at_level(tile, 4, CONV_HALO);
            let origin = (window.x0, window.y0);
            let x = self.block_input(block, src, prev_outer, window, stats)?;
            self.store(dst, core, &self.engine.crop(x.clone(), origin, core))?;
            let raw = self
                .engine
                .crop(self.engine.conv_raw(layer, x), origin, core);
            self.store(inner, core, &raw)?;
            Ok(raw)
        })
    }

    /// The input of residual block `block` (or of `expand.0` for `block == RES_BLOCKS`) over
    /// `window`, from the stored residual stream and the previous block's raw branch.
    fn block_input(
        &self,
        block: usize,
        src: &ScratchMap,
        prev_outer: &ScratchMap,
        window: Rect,
        stats: &NetworkStats,
    ) -> Result<E::Act> {
        let stored = self.load(src, window)?;
        if block == 0 {
            return Ok(self.normalize(FIRST_RES_LAYER - 1, stored, stats));
        }
        let prev = FIRST_RES_LAYER + 2 * block - 1;
        let branch = self.normalize(prev, self.load(prev_outer, window)?, stats);
        Ok(self.engine.add(stored, branch))
    }

    /// Sweep for the second conv of a residual block.
    fn res_second(
        &self,
        first: usize,
        inner: &ScratchMap,
        outer: &mut ScratchMap,
        stats: &NetworkStats,
        progress: &mut dyn Progress,
    ) -> Result<LayerStats> {
        self.run(first + 1, progress, |tile| {
            let (core, window) = self.at_level(tile, 4, CONV_HALO);
            let x = self.normalize(first, self.load(inner, window)?, stats);
            let raw = self.engine.conv_raw(first + 1, x);
            let raw = self.engine.crop(raw, (window.x0, window.y0), core);
            self.store(outer, core, &raw)?;
            Ok(raw)
        })
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
    ) -> Result<LayerStats> {
        self.run(EXPAND0, progress, |tile| {
            let (_, window) = self.at_level(tile, 4, CONV_HALO);
            let x = self.block_input(RES_BLOCKS, last_stream, outer, window, stats)?;
            let core = tile.core.scaled_down(2);
            let raw = self.engine.conv_raw(EXPAND0, x);
            let raw = self.engine.crop(raw, (2 * window.x0, 2 * window.y0), core);
            self.store(expanded, core, &raw)?;
            Ok(raw)
        })
    }

    /// Sweep for `expand.1` or `expand.2`, recomputed from the stored `expand.0` output.
    fn tail(
        &self,
        layer: usize,
        expanded: &ScratchMap,
        stats: &NetworkStats,
        progress: &mut dyn Progress,
    ) -> Result<LayerStats> {
        self.run(layer, progress, |tile| {
            let (_, window) = self.at_level(tile, 2, TAIL_HALO);
            let mut x = self.normalize(EXPAND0, self.load(expanded, window)?, stats);
            for earlier in EXPAND0 + 1..layer {
                let raw = self.engine.conv_raw(earlier, x);
                x = self.normalize(earlier, raw, stats);
            }
            let raw = self.engine.conv_raw(layer, x);
            Ok(self
                .engine
                .crop(raw, (2 * window.x0, 2 * window.y0), tile.core))
        })
    }
}
