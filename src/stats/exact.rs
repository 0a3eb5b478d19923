//! Exact whole-image statistics, computed by streaming tiles through the network one layer at a
//! time, for any [`Network`].
//!
//! A layer's statistics are needed before anything after it can be computed, so the image is
//! swept once per normalised layer. What each sweep reads is derived from the network
//! ([`Schedule`]): every tensor below full resolution (raw layer outputs, and the inputs of
//! residual blocks) is kept in a scratch map when first computed; full-resolution tensors are
//! recomputed from the nearest kept one, or from the image, with the halo each convolution needs
//! (derived from its kernel, stride and upsampling). A sweep computes its layer's raw output over
//! every tile's core, adds the core's moments to the layer's accumulator (f64) and stores it if
//! kept; each map is dropped after the last sweep that reads it. Every pixel of every layer is
//! counted exactly once, so the statistics are those of the untiled network, and the last sweep
//! leaves the maps from which [`Exact::render_core`] finishes any core of the image exactly.

use super::checkpoint::Checkpoint;
use super::first_layer::FirstLayerMoments;
use super::read_ahead;
use super::team::{merge_moments, shift, Team};
use super::ImageSource;
use crate::engine::Engine;
use crate::error::Result;
use crate::geom::Rect;
use crate::network::{Network, StyleAffine};
use crate::norm::{Accumulator, NetworkStats};
use crate::progress::{work_units, Progress};
use crate::scratch::{ScratchMap, ScratchPrecision, WriteBehind, QUEUED_BYTES_PER_VALUE};
use crate::tiling::{Shard, TilePlan};
use std::collections::{HashMap, HashSet};
use std::ops::Range;

mod work;
pub(crate) use work::FRESH_NS_PER_BYTE;
pub use work::{LayerCosts, Work};

/// A tensor of the exact computation that may be kept in a scratch map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Slot {
    /// Layer `i`'s raw (not yet normalised) output.
    Raw(usize),
    /// Layer `i`'s input.
    Input(usize),
}

impl Slot {
    /// The map's file name in a checkpoint folder.
    fn file_name(self) -> String {
        match self {
            Slot::Raw(i) => format!("raw-{i}.map"),
            Slot::Input(i) => format!("input-{i}.map"),
        }
    }
}

/// What a computation reads: a kept tensor, or the image itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Read {
    Map(Slot),
    Image,
}

/// Which tensors are kept, which layers are swept, what each sweep (and the render) reads and
/// runs, and after which sweep each map is dropped; derived from the network alone.
#[derive(Debug)]
struct Schedule {
    kept: HashSet<Slot>,
    /// Layers swept, in order: every normalised layer, and every layer whose tensors are kept.
    sweeps: Vec<usize>,
    /// What computing each swept layer's input takes, in sweep order, then the render's.
    inputs: Vec<InputWalk>,
    /// Position in `sweeps` of the last sweep reading each map (`sweeps.len()`: the render).
    last_use: HashMap<Slot, usize>,
}

impl Schedule {
    fn new(net: &Network) -> Self {
        let mut kept = HashSet::new();
        for i in 0..net.len() {
            if net.level_out(i) >= 2 {
                kept.insert(Slot::Raw(i));
            }
            if net.is_skip_source(i) && net.level_in(i) >= 2 {
                kept.insert(Slot::Input(i));
            }
        }
        let sweeps: Vec<usize> = (0..net.len())
            .filter(|&i| {
                net.layers[i].norm.is_instance()
                    || kept.contains(&Slot::Raw(i))
                    || kept.contains(&Slot::Input(i))
            })
            .collect();
        let mut schedule = Self {
            kept,
            sweeps,
            inputs: Vec::new(),
            last_use: HashMap::new(),
        };
        let mut ready = HashSet::new();
        for &i in &schedule.sweeps {
            schedule.inputs.push(walk_input(net, i, &ready));
            ready.extend(schedule.kept_by(i));
        }
        schedule.inputs.push(walk_input(net, net.len(), &ready));
        for (pos, walk) in schedule.inputs.iter().enumerate() {
            for read in &walk.reads {
                if let Read::Map(slot) = read {
                    schedule.last_use.insert(*slot, pos);
                }
            }
        }
        schedule
    }

    /// The tensors of layer `i` that its sweep keeps in maps.
    fn kept_by(&self, i: usize) -> impl Iterator<Item = Slot> + '_ {
        [Slot::Raw(i), Slot::Input(i)]
            .into_iter()
            .filter(|s| self.kept.contains(s))
    }

    /// What the render reads and runs.
    fn render_input(&self) -> &InputWalk {
        &self.inputs[self.sweeps.len()]
    }
}

/// What computing a layer's input takes, given the maps already filled (mirrors
/// [`Exact::input`]): the maps (or the image) it reads, and the layers it runs on the way, in
/// order (a layer recomputed on two paths is listed twice, as it runs twice).
#[derive(Debug)]
struct InputWalk {
    reads: Vec<Read>,
    layers: Vec<usize>,
}

/// The [`InputWalk`] of layer `i`'s input, given the maps in `ready`.
fn walk_input(net: &Network, i: usize, ready: &HashSet<Slot>) -> InputWalk {
    let read = |what: Read| InputWalk {
        reads: vec![what],
        layers: Vec::new(),
    };
    if i == 0 {
        return read(Read::Image);
    }
    if ready.contains(&Slot::Input(i)) {
        return read(Read::Map(Slot::Input(i)));
    }
    let mut walk = if ready.contains(&Slot::Raw(i - 1)) {
        read(Read::Map(Slot::Raw(i - 1)))
    } else {
        let mut chain = walk_input(net, i - 1, ready);
        chain.layers.push(i - 1);
        chain
    };
    if let Some(j) = net.layers[i - 1].skip_from {
        let skip = walk_input(net, j, ready);
        walk.reads.extend(skip.reads);
        walk.layers.extend(skip.layers);
    }
    walk
}

/// Channels and resolution divisor of the tensor `slot`.
fn slot_shape(net: &Network, slot: Slot) -> (usize, usize) {
    match slot {
        Slot::Raw(i) => (net.layers[i].out_channels, net.level_out(i)),
        Slot::Input(i) => (net.layers[i].in_channels, net.level_in(i)),
    }
}

/// The most bytes per window pixel a sweep's write-behind queue holds: within the memory
/// model's share for the render's window queues (84 B per pixel of a window with its overlap),
/// which are empty while the sweeps run (docs/MEMORY.md).
const QUEUED_BYTES_PER_PX: usize = 48;

/// One step of a halo exchange on `map`: its rows `send.1` go to process `send.0`, and the rows
/// `receive.1` come from process `receive.0`.
fn pass_rows(
    team: &dyn Team,
    map: &ScratchMap,
    send: Option<(usize, Rect)>,
    receive: Option<(usize, Rect)>,
) -> Result<()> {
    let sent = match send {
        Some((to, rows)) => Some((to, map.read(rows)?)),
        None => None,
    };
    let got = shift(
        team,
        sent.as_ref().map(|(to, values)| (*to, values.as_slice())),
        receive.map(|(from, rows)| (from, map.channels() * rows.area())),
    );
    if let (Some((_, rows)), Some(values)) = (receive, got) {
        map.write(rows, &values)?;
    }
    Ok(())
}

/// An activation and the rectangle (at its level) it holds. Only the rectangle it was asked
/// for is exact; around it lies what the padding at the window's inner edges made of it, cut
/// away (one copy) only where an exact extent is needed, not after every layer.
struct Held<A> {
    x: A,
    at: Rect,
}

/// Number of sweeps the exact statistics of `net` take.
pub fn sweep_count(net: &Network) -> usize {
    Schedule::new(net).sweeps.len()
}

/// The most scratch the exact statistics of `net` hold at once on a `width × height` padded
/// image (bytes, values stored with `precision`): at each sweep, the maps still needed and the
/// ones it writes.
pub fn peak_scratch_bytes(
    net: &Network,
    extent: (usize, usize),
    precision: ScratchPrecision,
) -> u64 {
    Schedule::new(net).peak_bytes(net, extent, precision)
}

impl Schedule {
    /// [`peak_scratch_bytes`] of this schedule.
    fn peak_bytes(
        &self,
        net: &Network,
        (width, height): (usize, usize),
        precision: ScratchPrecision,
    ) -> u64 {
        let bytes = |slot: &Slot| -> u64 {
            let (channels, level) = slot_shape(net, *slot);
            (channels * (width / level) * (height / level) * precision.bytes()) as u64
        };
        let mut live: HashSet<Slot> = HashSet::new();
        let mut peak = 0;
        for (pos, &i) in self.sweeps.iter().enumerate() {
            live.extend(self.kept_by(i));
            peak = peak.max(live.iter().map(bytes).sum());
            live.retain(|slot| self.last_use.get(slot).is_some_and(|&last| last > pos));
        }
        peak
    }
}

/// The exact computation's state: the statistics found so far and the maps still needed.
pub struct Exact<'a, E: Engine> {
    engine: &'a E,
    style: &'a StyleAffine,
    /// Padded image size at full resolution.
    extent: (usize, usize),
    schedule: Schedule,
    maps: HashMap<Slot, ScratchMap>,
    ready: HashSet<Slot>,
    stats: NetworkStats,
    /// The tile rows this process sweeps (all of them, or its band of a team's).
    band: Range<usize>,
    /// The processes sharing the image, if any.
    team: Option<&'a dyn Team>,
    /// The weights of the progress steps.
    work: Work,
    /// The most scratch disk the maps take at once ([`peak_scratch_bytes`]): spare map files
    /// are kept for reuse within it.
    peak_scratch: u64,
    /// The rows of the maps this sweep writes, on their way to the files.
    writes: WriteBehind,
}

impl<'a, E: Engine> Exact<'a, E> {
    /// The exact computation of `engine`'s network over `plan`'s image, with maps stored as
    /// `checkpoint` stores them, by this process or its part of `team`; its progress steps
    /// weighed by `work`. Nothing is computed until [`Exact::sweep`].
    pub fn new(
        engine: &'a E,
        style: &'a StyleAffine,
        plan: &TilePlan,
        checkpoint: &Checkpoint,
        team: Option<&'a dyn Team>,
        work: Work,
    ) -> Self {
        let net = engine.network();
        let band = match team {
            Some(t) => plan.shard_tile_rows(Shard {
                index: t.rank(),
                count: t.size(),
            }),
            None => 0..plan.rows(),
        };
        let schedule = Schedule::new(net);
        let extent = (plan.padded_width, plan.padded_height);
        let peak_scratch = schedule.peak_bytes(net, extent, checkpoint.precision());
        Self {
            engine,
            style,
            extent,
            schedule,
            maps: HashMap::new(),
            ready: HashSet::new(),
            stats: NetworkStats::empty(net.len()),
            band,
            team,
            work,
            peak_scratch,
            writes: WriteBehind::new(0),
        }
    }

    /// Runs every sweep over the image, leaving the statistics the untiled network would
    /// compute and the maps the render needs. The maps live in `checkpoint`'s folder, which
    /// records each finished sweep; the sweeps it already holds are not run again.
    pub fn sweep(
        &mut self,
        input: &mut dyn ImageSource,
        plan: &TilePlan,
        checkpoint: &mut Checkpoint,
        progress: &mut dyn Progress,
    ) -> Result<()> {
        let sweeps = self.schedule.sweeps.clone();
        let done = self.resume(checkpoint)?;
        if done > 0 {
            let units = self.work.sweeps[..done]
                .iter()
                .map(|&w| self.band_units(plan, w))
                .sum();
            progress.stage("statistics (resumed)", units);
            progress.advance(units);
        }
        for (pos, &layer) in sweeps.iter().enumerate().skip(done) {
            let per_pixel = self.work.sweeps[pos];
            progress.stage(
                &format!("statistics {}/{}", pos + 1, sweeps.len()),
                self.band_units(plan, per_pixel),
            );
            self.sweep_layer(layer, per_pixel, input, plan, checkpoint, progress)?;
            self.drop_maps_after(pos);
            let live: Vec<(String, &ScratchMap)> = self
                .maps
                .iter()
                .map(|(slot, map)| (slot.file_name(), map))
                .collect();
            checkpoint.record(pos + 1, &self.stats, &live)?;
        }
        checkpoint.trim_spares(0)
    }

    /// Takes over what `checkpoint` recorded: the finished sweeps' statistics and the maps still
    /// needed after them. Returns the number of sweeps finished.
    fn resume(&mut self, checkpoint: &Checkpoint) -> Result<usize> {
        let done = checkpoint.sweeps_done().min(self.schedule.sweeps.len());
        let Some(stats) = checkpoint.stats().filter(|_| done > 0) else {
            return Ok(0);
        };
        self.stats = stats.clone();
        for &layer in &self.schedule.sweeps[..done] {
            self.ready.insert(Slot::Raw(layer));
            self.ready.insert(Slot::Input(layer));
        }
        let needed: Vec<Slot> = self
            .schedule
            .kept
            .iter()
            .copied()
            .filter(|slot| self.ready.contains(slot))
            .filter(|slot| self.schedule.last_use.get(slot).is_some_and(|&l| l >= done))
            .collect();
        for slot in needed {
            self.maps
                .insert(slot, checkpoint.reopen(&slot.file_name())?);
        }
        Ok(done)
    }

    /// The statistics of every normalised layer.
    pub fn stats(&self) -> &NetworkStats {
        &self.stats
    }

    /// The progress units of `per_pixel` work over the cores this process sweeps.
    fn band_units(&self, plan: &TilePlan, per_pixel: f64) -> usize {
        self.band_cores(plan)
            .iter()
            .map(|core| work_units(per_pixel, core.area()))
            .sum()
    }

    /// The cores of the tiles this process sweeps, in the order it sweeps them.
    fn band_cores(&self, plan: &TilePlan) -> Vec<Rect> {
        self.band
            .clone()
            .flat_map(|row| (0..plan.cols()).map(move |col| (col, row)))
            .map(|(col, row)| plan.tile_with_margin(col, row, 0).core)
            .collect()
    }

    /// The progress units of rendering `core` from the maps.
    pub fn render_units(&self, core: Rect) -> usize {
        work_units(self.work.render, core.area())
    }

    /// One sweep: layer `i`'s raw output over every core (`per_pixel` work each pixel, for the
    /// progress), its moments reduced, its kept tensors stored.
    fn sweep_layer(
        &mut self,
        i: usize,
        per_pixel: f64,
        input: &mut dyn ImageSource,
        plan: &TilePlan,
        checkpoint: &Checkpoint,
        progress: &mut dyn Progress,
    ) -> Result<()> {
        let net = self.engine.network();
        // The first layer's statistics from the image's local second moments, without running
        // it.
        let keeps_nothing = self.schedule.kept_by(i).next().is_none();
        if i == 0 && keeps_nothing {
            let counted = plan.content();
            if let Some(mut first) = FirstLayerMoments::new(&net.layers[0], counted, self.extent) {
                let cores = self.band_cores(plan);
                first.add_tiles(input, &cores, |core| {
                    progress.advance(work_units(per_pixel, core.area()));
                })?;
                if let Some(team) = self.team {
                    first.merge_team(team);
                }
                let mut acc = Accumulator::default();
                acc.merge(&first.finish());
                self.stats.set(0, acc.finish());
                self.ready.insert(Slot::Raw(0));
                self.ready.insert(Slot::Input(0));
                return Ok(());
            }
        }
        let kept: Vec<Slot> = self.schedule.kept_by(i).collect();
        for slot in kept {
            let (channels, level) = slot_shape(net, slot);
            let (w, h) = self.extent_at(level);
            let map = checkpoint.create_map(&slot.file_name(), (channels, w, h))?;
            self.maps.insert(slot, map);
        }
        let in_use: u64 = self.maps.values().map(ScratchMap::bytes).sum();
        checkpoint.trim_spares(self.peak_scratch.saturating_sub(in_use))?;
        self.writes = WriteBehind::new(self.kept_window_bytes(i, plan));
        let mut acc = Accumulator::default();
        // Only the image's own pixels count (a periodic plan's margins repeat them).
        let counted = plan.content().scaled_down(net.level_out(i));
        let cores = self.band_cores(plan);
        let reads: Vec<Vec<Rect>> = cores
            .iter()
            .map(|core| {
                let mut rects = Vec::new();
                let window = self.input_window(i, core.scaled_down(net.level_out(i)));
                self.image_reads(i, window, &mut rects);
                rects
            })
            .collect();
        read_ahead::for_each_tile(input, &reads, |k, image| {
            self.sweep_tile(i, cores[k], image, &mut acc, counted)?;
            progress.advance(work_units(per_pixel, cores[k].area()));
            Ok(())
        })?;
        self.writes.flush()?;
        if net.layers[i].norm.is_instance() {
            if let Some(team) = self.team {
                acc = merge_moments(team, &acc, net.layers[i].out_channels);
            }
            self.stats.set(i, acc.finish());
        }
        if let Some(team) = self.team {
            for slot in [Slot::Raw(i), Slot::Input(i)] {
                if self.maps.contains_key(&slot) {
                    self.exchange_halos(team, slot, plan)?;
                }
            }
        }
        self.ready.insert(Slot::Raw(i));
        self.ready.insert(Slot::Input(i));
        Ok(())
    }

    /// Sweep `i` over one tile: layer `i`'s raw output over the tile's `core`, its moments
    /// over the `counted` part added to `acc`, its kept tensors stored.
    fn sweep_tile(
        &mut self,
        i: usize,
        core: Rect,
        image: &mut dyn ImageSource,
        acc: &mut Accumulator,
        counted: Rect,
    ) -> Result<()> {
        let net = self.engine.network();
        let core_out = core.scaled_down(net.level_out(i));
        let window = self.input_window(i, core_out);
        let x = self.input(image, i, window)?;
        if self.schedule.kept.contains(&Slot::Input(i)) {
            self.store(Slot::Input(i), core.scaled_down(net.level_in(i)), &x)?;
        }
        let raw = self.conv(i, x, window);
        if net.layers[i].norm.is_instance() {
            if let Some(part) = core_out.intersect(&counted) {
                let origin = (raw.at.x0, raw.at.y0);
                acc.merge(&self.engine.moments_in(&raw.x, origin, part));
            }
        }
        if self.schedule.kept.contains(&Slot::Raw(i)) {
            self.store(Slot::Raw(i), core_out, &raw)?;
        }
        self.engine.release(raw.x);
        Ok(())
    }

    /// Gives the neighbouring processes the edge rows of the map `slot` that this process just
    /// wrote, and stores theirs: every read of a later sweep (or the render) for this band's
    /// cores then finds its halo in the local map. A halo spans the network's receptive field.
    fn exchange_halos(&mut self, team: &dyn Team, slot: Slot, plan: &TilePlan) -> Result<()> {
        let net = self.engine.network();
        let (_, level) = slot_shape(net, slot);
        let (w, _) = self.extent_at(level);
        let g = net.geometry();
        let halo = (g.receptive_radius + 2 * g.stride).div_ceil(level);
        let rows_of = |rank: usize| -> (usize, usize) {
            let r = plan.shard_tile_rows(Shard {
                index: rank,
                count: team.size(),
            });
            (plan.y_edges[r.start] / level, plan.y_edges[r.end] / level)
        };
        let (rank, size) = (team.rank(), team.size());
        let mine = rows_of(rank);
        let Some(map) = self.maps.get_mut(&slot) else {
            return Ok(());
        };
        // A band's first and last `halo` rows (all of it if it is shorter).
        let top = |(y0, y1): (usize, usize)| Rect {
            x0: 0,
            y0,
            x1: w,
            y1: (y0 + halo).min(y1),
        };
        let bottom = |(y0, y1): (usize, usize)| Rect {
            x0: 0,
            y0: y1.saturating_sub(halo).max(y0),
            x1: w,
            y1,
        };
        let (up, down) = (rank.checked_sub(1), (rank + 1 < size).then_some(rank + 1));
        // Upwards: my top rows to rank - 1; the rows below my band from rank + 1.
        pass_rows(
            team,
            map,
            up.map(|to| (to, top(mine))),
            down.map(|from| (from, top(rows_of(from)))),
        )?;
        // Downwards: my bottom rows to rank + 1; the rows above my band from rank - 1.
        pass_rows(
            team,
            map,
            down.map(|to| (to, bottom(mine))),
            up.map(|from| (from, bottom(rows_of(from)))),
        )
    }

    /// Drops the maps no sweep after position `pos` (nor the render) reads.
    fn drop_maps_after(&mut self, pos: usize) {
        let last_use = &self.schedule.last_use;
        self.maps
            .retain(|slot, _| last_use.get(slot).is_some_and(|&last| last > pos));
    }

    /// The image rectangle the render of `core` reads, if the kept maps do not spare it: the
    /// core grown by the receptive field.
    pub fn render_window(&self, core: Rect) -> Option<Rect> {
        let g = self.engine.network().geometry();
        self.schedule
            .render_input()
            .reads
            .contains(&Read::Image)
            .then(|| core.grow_within(g.receptive_radius + g.stride, self.extent.0, self.extent.1))
    }

    /// The network's output over `core`, exactly as the untiled network computes it, from the
    /// kept maps (and `image`, which holds [`Exact::render_window`]).
    pub fn render_core(&self, core: Rect, image: &mut dyn ImageSource) -> Result<Vec<f32>> {
        let net = self.engine.network();
        let y = self.input(image, net.len(), core)?;
        Ok(self.engine.download(self.exact(y, core)))
    }

    /// Layer `i`'s raw output over at least `out` (at its output level), exact over `out`.
    fn raw(&self, image: &mut dyn ImageSource, i: usize, out: Rect) -> Result<Held<E::Act>> {
        if let Some(map) = self.kept_map(Slot::Raw(i)) {
            return self.load(map, out);
        }
        let window = self.input_window(i, out);
        let x = self.input(image, i, window)?;
        Ok(self.conv(i, x, window))
    }

    /// Layer `i`'s raw output from its input `x`, which is exact over `window`.
    fn conv(&self, i: usize, x: Held<E::Act>, window: Rect) -> Held<E::Act> {
        let layer = &self.engine.network().layers[i];
        // A stride-2 layer's input must start on an even pixel for the image's grid.
        let x = if layer.stride == 2 && (x.at.x0 % 2 == 1 || x.at.y0 % 2 == 1) {
            Held {
                x: self.exact(x, window),
                at: window,
            }
        } else {
            x
        };
        let at = if layer.upsample {
            Rect {
                x0: 2 * x.at.x0,
                y0: 2 * x.at.y0,
                x1: 2 * x.at.x1,
                y1: 2 * x.at.y1,
            }
        } else {
            x.at.scaled_down(layer.stride)
        };
        Held {
            x: self.engine.conv_raw(i, x.x),
            at,
        }
    }

    /// Layer `i`'s input over at least `rect` (at its input level), exact over `rect`;
    /// `i == len()` gives the network's output.
    fn input(&self, image: &mut dyn ImageSource, i: usize, rect: Rect) -> Result<Held<E::Act>> {
        if i == 0 {
            let x = self
                .engine
                .upload(image.rgb(rect)?, 3, rect.height(), rect.width());
            return Ok(Held { x, at: rect });
        }
        if let Some(map) = self.kept_map(Slot::Input(i)) {
            return self.load(map, rect);
        }
        let prev = i - 1;
        let raw = self.raw(image, prev, rect)?;
        let x = Held {
            x: self
                .engine
                .normalize(prev, raw.x, self.stats.get(prev), self.style),
            at: raw.at,
        };
        let Some(j) = self.engine.network().layers[prev].skip_from else {
            return Ok(x);
        };
        let skip = self.input(image, j, rect)?;
        if skip.at == x.at {
            return Ok(Held {
                x: self.engine.add(x.x, skip.x),
                at: x.at,
            });
        }
        let sum = self.engine.add(self.exact(x, rect), self.exact(skip, rect));
        Ok(Held { x: sum, at: rect })
    }

    /// The image windows that [`Exact::input`] reads for layer `i`'s input over `rect`, added
    /// to `reads` in the order it reads them (it mirrors `input` and `raw`).
    fn image_reads(&self, i: usize, rect: Rect, reads: &mut Vec<Rect>) {
        if i == 0 {
            reads.push(rect);
            return;
        }
        if self.kept_map(Slot::Input(i)).is_some() {
            return;
        }
        let prev = i - 1;
        if self.kept_map(Slot::Raw(prev)).is_none() {
            self.image_reads(prev, self.input_window(prev, rect), reads);
        }
        if let Some(j) = self.engine.network().layers[prev].skip_from {
            self.image_reads(j, rect, reads);
        }
    }

    /// The map of `slot`, if a finished sweep filled it and it is still kept.
    fn kept_map(&self, slot: Slot) -> Option<&ScratchMap> {
        self.ready
            .contains(&slot)
            .then(|| self.maps.get(&slot))
            .flatten()
    }

    /// The exact part of `held`: its values over `rect`.
    fn exact(&self, held: Held<E::Act>, rect: Rect) -> E::Act {
        if held.at == rect {
            held.x
        } else {
            self.engine.crop(held.x, (held.at.x0, held.at.y0), rect)
        }
    }

    /// The input window (at layer `i`'s input level) whose convolution is exact over `out`:
    /// `out` grown by the kernel's reach, mapped through the stride or upsampling, clipped to
    /// the image (where the engine's reflect padding then matches the whole image's), and
    /// starting on an even pixel before a stride-2 layer so that its grid matches the image's.
    fn input_window(&self, i: usize, out: Rect) -> Rect {
        let net = self.engine.network();
        let layer = &net.layers[i];
        let (w, h) = self.extent_at(net.level_in(i));
        let reach = layer.kernel / 2;
        let span = |a0: usize, a1: usize, n: usize| -> (usize, usize) {
            if layer.upsample {
                (
                    a0.saturating_sub(reach) / 2,
                    (a1 + reach).div_ceil(2).min(n),
                )
            } else if layer.stride == 2 {
                ((2 * a0).saturating_sub(reach) & !1, (2 * a1 + reach).min(n))
            } else {
                (a0.saturating_sub(reach), (a1 + reach).min(n))
            }
        };
        let (x0, x1) = span(out.x0, out.x1, w);
        let (y0, y1) = span(out.y0, out.y1, h);
        Rect { x0, y0, x1, y1 }
    }

    fn extent_at(&self, level: usize) -> (usize, usize) {
        (self.extent.0 / level, self.extent.1 / level)
    }

    fn load(&self, map: &ScratchMap, rect: Rect) -> Result<Held<E::Act>> {
        let mut data = self.engine.host_buffer(map.channels() * rect.area());
        map.read_into(rect, &mut data)?;
        let x = self
            .engine
            .upload(data, map.channels(), rect.height(), rect.width());
        Ok(Held { x, at: rect })
    }

    /// What the write-behind queue of sweep `i` may hold: the rows of the maps it writes over
    /// one window, so that a window's rows are written while the next one is computed; at most
    /// [`QUEUED_BYTES_PER_PX`] per window pixel.
    fn kept_window_bytes(&self, i: usize, plan: &TilePlan) -> usize {
        let net = self.engine.network();
        let core = plan.tile_with_margin(0, 0, 0).core;
        let kept: usize = self
            .schedule
            .kept_by(i)
            .map(|slot| {
                let (channels, level) = slot_shape(net, slot);
                channels * core.area() / (level * level) * QUEUED_BYTES_PER_VALUE
            })
            .sum();
        kept.min(QUEUED_BYTES_PER_PX * core.area())
    }

    /// Queues the values over `rect` of `held` for the map of `slot`, read in place where the
    /// engine keeps them on the host (no cropped copy).
    fn store(&mut self, slot: Slot, rect: Rect, held: &Held<E::Act>) -> Result<()> {
        let (values, at) = self.engine.host_values_in(&held.x, held.at, rect);
        if let Some(map) = self.maps.get(&slot) {
            map.write_behind(rect, &values, at, &mut self.writes)?;
        }
        if let std::borrow::Cow::Owned(values) = values {
            self.engine.recycle(values);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::cpu::CpuEngine;
    use crate::network::{multistyle26, StyleCode};
    use crate::norm::LayerStats;

    /// An image that records the windows asked of it.
    struct Recorder(Vec<Rect>);

    impl ImageSource for Recorder {
        fn rgb(&mut self, rect: Rect) -> Result<Vec<f32>> {
            self.0.push(rect);
            Ok(vec![0.5; 3 * rect.area()])
        }
    }

    #[test]
    fn the_windows_read_ahead_are_those_the_computation_reads() {
        let engine = CpuEngine::new(multistyle26::builtin());
        let net = engine.network();
        let style = StyleAffine::new(net, &StyleCode::Mix(vec![1.0 / 26.0; 26])).unwrap();
        let mut stats = NetworkStats::empty(net.len());
        for (i, layer) in net.layers.iter().enumerate() {
            let n = layer.out_channels;
            stats.set(
                i,
                LayerStats {
                    mean: vec![0.0; n],
                    var: vec![1.0; n],
                },
            );
        }
        // No maps: every layer's input is recomputed from the image, through every residual
        // block's skip, so a call reads several windows.
        let exact = Exact {
            engine: &engine,
            style: &style,
            extent: (256, 256),
            schedule: Schedule::new(net),
            maps: HashMap::new(),
            ready: HashSet::new(),
            stats,
            band: 0..1,
            team: None,
            work: Work::of(net, ScratchPrecision::F32, &LayerCosts::counted(net)),
            peak_scratch: 0,
            writes: WriteBehind::new(0),
        };
        let core = Rect {
            x0: 96,
            y0: 96,
            x1: 160,
            y1: 160,
        };
        for i in [1, 2, 3, 4, 5, 8, net.len()] {
            let rect = core.scaled_down(net.level_in(i));
            let mut listed = Vec::new();
            exact.image_reads(i, rect, &mut listed);
            let mut image = Recorder(Vec::new());
            exact.input(&mut image, i, rect).unwrap();
            assert!(!listed.is_empty());
            assert_eq!(listed, image.0, "layer {i}");
        }
    }

    #[test]
    fn multistyle26_schedule_recomputes_the_full_resolution_layers_only() {
        let net = multistyle26::builtin();
        let s = Schedule::new(&net);
        assert_eq!(s.sweeps, (0..18).collect::<Vec<_>>());
        // contract.0, expand.1 and expand.2 (full resolution) are never stored.
        for i in [0, 16, 17] {
            assert!(!s.kept.contains(&Slot::Raw(i)));
        }
        // The render reads expand.0's raw output only.
        let at_render: Vec<_> = s
            .last_use
            .iter()
            .filter(|(_, &pos)| pos == s.sweeps.len())
            .map(|(slot, _)| *slot)
            .collect();
        assert_eq!(at_render, vec![Slot::Raw(15)]);
        // contract.1's half-resolution map is dropped after contract.2's sweep.
        assert_eq!(s.last_use[&Slot::Raw(1)], 2);
        // At most four quarter-resolution 32-channel maps at once (8 bytes per pixel each), or
        // contract.1's half-resolution map (32) with contract.2's (8).
        let extent = (1024, 1024);
        let f32_bytes = peak_scratch_bytes(&net, extent, ScratchPrecision::F32);
        assert_eq!(f32_bytes, 40 * 1024 * 1024);
        assert_eq!(
            peak_scratch_bytes(&net, extent, ScratchPrecision::F16),
            f32_bytes / 2
        );
    }
}
