//! The pipeline that connects the stages: open the input, plan tiles, obtain whole-image
//! normalisation statistics, run every tile through the network with them, blend the tiles into
//! bands of rows and write those into the memory-mapped output.

use std::path::{Path, PathBuf};
use std::time::Instant;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::sync_channel;

use crate::blend::Blender;
use crate::colour::ColourOptions;
use crate::error::{Error, Result};
use crate::io::output::Format;
use crate::io::tiff_out::{Compression, OutputSpec};
use crate::io::{InputImage, Output, Window};
use crate::memory;
use crate::model::{forward, Engine, NormSource, StyleAffine, NUM_LAYERS, NUM_STYLES, STRIDE};
use crate::stats::exact::{exact_stats, ExactStats};
use crate::stats::thumbnail::{pad_to_stride, thumbnail_stats};
use crate::stats::{NetworkStats, StatsMode};
use crate::tiling::{Tile, TilePlan, MIN_TILE};

/// Receives progress: a named stage of a known number of steps, then one call per step; and
/// notes on decisions taken (colour handling, plan) for a verbose log.
pub trait Progress {
    /// A new stage begins.
    fn stage(&mut self, name: &str, steps: usize);
    /// One step of the current stage is done.
    fn step(&mut self);
    /// A decision worth telling a user who asked for details.
    fn note(&mut self, _text: &str) {}
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn stage(&mut self, _name: &str, _steps: usize) {}
    fn step(&mut self) {}
}

/// Default thumbnail side for `--stats thumbnail`.
pub const DEFAULT_THUMBNAIL: usize = 1024;

/// How to stylize one file.
#[derive(Debug, Clone)]
pub struct Options {
    /// Core tile side (px, multiple of 4); `None` picks the largest that fits the budget.
    pub tile: Option<usize>,
    /// Context around each tile (px, multiple of 4).
    pub overlap: usize,
    /// Style weights, normalised to sum 1.
    pub style: [f32; NUM_STYLES],
    /// Where the normalisation statistics come from.
    pub stats: StatsMode,
    /// Where to save the statistics used, if anywhere.
    pub save_stats: Option<PathBuf>,
    /// Directory for scratch maps (default: the system's temporary directory).
    pub scratch_dir: Option<PathBuf>,
    /// Force (`Some(true)`) or forbid (`Some(false)`) BigTIFF; `None` decides by size.
    pub bigtiff: Option<bool>,
    /// Memory budget in bytes (activations, windows, row buffers).
    pub mem_budget: u64,
    /// Compression of TIFF output.
    pub compression: Compression,
    /// Write gray input back as gray (the luma of the stylized result) instead of RGB.
    pub keep_gray: bool,
    /// ICC rendering intent, or ignore the input's profile.
    pub colour: ColourOptions,
}

impl Default for Options {
    fn default() -> Self {
        let mut style = [0.0; NUM_STYLES];
        style[0] = 1.0;
        Self {
            tile: None,
            overlap: 128,
            style,
            stats: StatsMode::Exact,
            save_stats: None,
            scratch_dir: None,
            bigtiff: None,
            mem_budget: memory::default_budget(),
            compression: Compression::Lzw,
            keep_gray: false,
            colour: ColourOptions::default(),
        }
    }
}

/// What a run did, for `--json` and logs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// Input path.
    pub input: PathBuf,
    /// Output path.
    pub output: PathBuf,
    /// Image width.
    pub width: usize,
    /// Image height.
    pub height: usize,
    /// Input storage (`tiff/strips/lzw`, `png`, …).
    pub storage: String,
    /// Output samples per pixel.
    pub channels: usize,
    /// How colour was handled (profile, conversion, assumption).
    pub colour: String,
    /// Bits per sample.
    pub bits: u8,
    /// Tile side used.
    pub tile: usize,
    /// Overlap used.
    pub overlap: usize,
    /// Number of tiles.
    pub tiles: usize,
    /// Statistics source (`exact`, `thumbnail=1024`, `file=…`).
    pub stats: String,
    /// Memory budget (bytes).
    pub mem_budget: u64,
    /// The memory model's estimate for the tile used (bytes).
    pub memory_estimate: u64,
    /// Engine that ran the network (`cpu`, `burn-cuda`, …).
    pub engine: String,
    /// Seconds spent on statistics.
    pub stats_seconds: f64,
    /// Seconds spent stylizing and writing tiles.
    pub render_seconds: f64,
}

/// Parses a style spec: `7` picks style 7, `3:0.5,12:0.5` blends; weights are normalised.
pub fn parse_style(spec: &str) -> Result<[f32; NUM_STYLES]> {
    let bad = |why: &str| Error::InvalidOption(format!("--style {spec:?}: {why}"));
    let mut weights = [0.0f32; NUM_STYLES];
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (index, weight) = match part.split_once(':') {
            Some((i, w)) => (i, w.trim().parse::<f32>().map_err(|_| bad("bad weight"))?),
            None => (part, 1.0),
        };
        let index: usize = index
            .trim()
            .parse()
            .map_err(|_| bad("use e.g. 7 or 3:0.5,12:0.5"))?;
        if index >= NUM_STYLES {
            return Err(bad(&format!("style index must be 0 to {}", NUM_STYLES - 1)));
        }
        if !weight.is_finite() || weight < 0.0 {
            return Err(bad("weights must be non-negative numbers"));
        }
        weights[index] += weight;
    }
    let total: f32 = weights.iter().sum();
    if total <= 0.0 {
        return Err(bad("no style with a positive weight"));
    }
    Ok(weights.map(|w| w / total))
}

/// Stylizes `input` into the TIFF `output` with tiles, whole-image statistics and blending.
pub fn stylize_file<E: Engine>(
    engine: &E,
    input: &Path,
    output: &Path,
    opts: &Options,
    progress: &mut dyn Progress,
) -> Result<Summary> {
    let format = Format::of(output)?;
    let mut image = InputImage::open_with(input, opts.mem_budget, &opts.colour)?;
    let info = image.info().clone();
    let out_colour = image.colour().output(format.holds_cmyk(), opts.keep_gray)?;
    let colour = format!("{}; {}", image.colour().describe(), out_colour.describe());
    progress.note(&format!("colour: {colour}"));
    let bpp = engine.bytes_per_pixel();
    let tile = memory::choose_tile(&info, opts.tile, opts.overlap, bpp, opts.mem_budget)?;
    let mut plan = TilePlan::new(info.width, info.height, tile, opts.overlap)?;
    let style = engine.weights().style_affine(&opts.style);
    progress.note(&format!(
        "plan: {} tiles ({} x {}) of {} px, overlap {} px, statistics {}, engine {}, memory about {} of {}",
        plan.len(),
        plan.cols(),
        plan.rows(),
        plan.tile,
        plan.overlap,
        opts.stats,
        engine.name(),
        memory::format_size(memory::estimate(&info, plan.tile, opts.overlap, bpp).total()),
        memory::format_size(opts.mem_budget),
    ));

    let started = Instant::now();
    let (stats, exact) = statistics(engine, &style, &mut image, &plan, opts, progress)?;
    if let Some(path) = &opts.save_stats {
        stats.save(path)?;
    }
    let stats_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let spec = OutputSpec {
        width: info.width,
        height: info.height,
        colour: out_colour,
        alpha: info.layout.has_alpha(),
        bits: info.bits,
        resolution: info.resolution,
        bigtiff: opts.bigtiff,
        compression: opts.compression,
    };
    let output = match &exact {
        // The sweeps already hold the image one layer before the end: finish it from there.
        Some(exact) => finish_exact(
            exact, engine, &style, &plan, &mut image, &spec, output, progress,
        )?,
        None => {
            let tiles = Tiles {
                engine,
                style: &style,
                stats: &stats,
            };
            let (path, used) =
                tiles.render_with_retry(&mut image, plan, &spec, output, progress)?;
            plan = used;
            path
        }
    };
    Ok(Summary {
        input: input.into(),
        output,
        width: info.width,
        height: info.height,
        storage: info.storage.clone(),
        channels: spec.samples(),
        colour,
        bits: info.bits,
        tile: plan.tile,
        overlap: opts.overlap,
        tiles: plan.len(),
        stats: opts.stats.to_string(),
        mem_budget: opts.mem_budget,
        memory_estimate: memory::estimate(&info, plan.tile, opts.overlap, bpp).total(),
        engine: engine.name(),
        stats_seconds,
        render_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Whole-image statistics from the source the options name; exact mode also returns the sweeps'
/// last activations, from which the image is finished.
fn statistics<E: Engine>(
    engine: &E,
    style: &StyleAffine,
    image: &mut InputImage,
    plan: &TilePlan,
    opts: &Options,
    progress: &mut dyn Progress,
) -> Result<(NetworkStats, Option<ExactStats>)> {
    Ok(match &opts.stats {
        StatsMode::Exact => {
            let dir = opts.scratch_dir.clone().unwrap_or_else(std::env::temp_dir);
            let exact = exact_stats(engine, style, &opts.style, image, plan, &dir, progress)?;
            (exact.stats.clone(), Some(exact))
        }
        StatsMode::Thumbnail(side) => {
            progress.stage("statistics (thumbnail)", 1);
            let stats = thumbnail_stats(engine, style, &opts.style, image, *side)?;
            progress.step();
            (stats, None)
        }
        StatsMode::File(path) => {
            let channels: Vec<usize> = (0..NUM_LAYERS).map(|l| engine.channels(l)).collect();
            (NetworkStats::load(path, &opts.style, &channels)?, None)
        }
    })
}

/// Writes the image finished from the exact sweeps, with the input's alpha passed through.
#[allow(clippy::too_many_arguments)]
fn finish_exact<E: Engine>(
    exact: &ExactStats,
    engine: &E,
    style: &StyleAffine,
    plan: &TilePlan,
    image: &mut InputImage,
    spec: &OutputSpec,
    output: &Path,
    progress: &mut dyn Progress,
) -> Result<PathBuf> {
    let mut out = Output::create(output, spec.clone())?;
    let has_alpha = spec.alpha;
    let alpha_from = |core| -> Result<Option<Vec<f32>>> {
        if !has_alpha {
            return Ok(None);
        }
        Ok(image.read_window(core)?.alpha().map(<[f32]>::to_vec))
    };
    exact.render(engine, style, plan, alpha_from, &mut out, progress)?;
    out.finish()
}

/// Tiles in flight between the stages: enough to keep every stage busy, few enough to keep
/// memory bounded (each holds one window).
const QUEUE_DEPTH: usize = 2;

/// What the render stage needs besides the image.
struct Tiles<'a, E: Engine> {
    engine: &'a E,
    style: &'a StyleAffine,
    stats: &'a NetworkStats,
}

impl<E: Engine> Tiles<'_, E> {
    /// [`Tiles::render`], restarted with half the tile if a tile fails (a GPU out of memory is
    /// reported as a panic), down to the minimum tile. Returns the output and the plan used.
    fn render_with_retry(
        &self,
        image: &mut InputImage,
        mut plan: TilePlan,
        spec: &OutputSpec,
        output: &Path,
        progress: &mut dyn Progress,
    ) -> Result<(PathBuf, TilePlan)> {
        loop {
            image.reserve_rows(plan.tile + 2 * plan.overlap);
            let attempt = catch_unwind(AssertUnwindSafe(|| {
                self.render(image, &plan, spec.clone(), output, progress)
            }));
            let tile = plan.tile;
            match attempt {
                Ok(result) => return Ok((result?, plan)),
                Err(_) if tile / 2 >= MIN_TILE => {
                    let smaller = (tile / 2).next_multiple_of(STRIDE);
                    eprintln!(
                        "warning: tile {tile} failed (out of memory?); retrying with {smaller}"
                    );
                    plan = TilePlan::new(plan.width, plan.height, smaller, plan.overlap)?;
                }
                Err(_) => {
                    return Err(Error::InvalidOption(format!(
                    "stylizing failed even with tile {tile}; try a smaller --mem-budget or --tile"
                )))
                }
            }
        }
    }

    /// Runs every tile through the network and writes the blended output. Three stages run
    /// concurrently, joined by bounded queues: a reader thread decodes the next windows, this
    /// thread runs the network, a writer thread blends and writes finished rows.
    fn render(
        &self,
        image: &mut InputImage,
        plan: &TilePlan,
        spec: OutputSpec,
        output: &Path,
        progress: &mut dyn Progress,
    ) -> Result<PathBuf> {
        let mut out = Output::create(output, spec.clone())?;
        let channels = if spec.alpha { 4 } else { 3 };
        progress.stage("stylizing", plan.len());
        std::thread::scope(|scope| {
            let (window_tx, windows) = sync_channel::<Result<(Tile, Window)>>(QUEUE_DEPTH);
            let (result_tx, results) = sync_channel::<(Tile, Vec<f32>)>(QUEUE_DEPTH);
            scope.spawn(move || {
                for tile in plan.tiles() {
                    let window = image.read_window(tile.window);
                    let failed = window.is_err();
                    if window_tx.send(window.map(|w| (tile, w))).is_err() || failed {
                        break;
                    }
                }
            });
            let writer = scope.spawn(move || -> Result<Output> {
                let mut blender = Blender::new(plan, channels);
                for (tile, planar) in results {
                    blender.add_tile(&tile, &planar);
                    if tile.col + 1 == plan.cols() {
                        blender.finish_row(tile.row, &mut out)?;
                    }
                }
                Ok(out)
            });
            for item in windows {
                let (tile, window) = item?;
                let planar = self.run(&window);
                progress.step();
                if result_tx.send((tile, planar)).is_err() {
                    break;
                }
            }
            drop(result_tx);
            writer
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?
                .finish()
        })
    }

    /// One window through the network; returns planar output (RGB, then the input's alpha
    /// passed through unchanged).
    fn run(&self, window: &Window) -> Vec<f32> {
        let (w, h) = (window.width, window.height);
        let x = self.engine.upload(window.rgb().to_vec(), 3, h, w);
        let y = forward(self.engine, x, self.style, NormSource::Given(self.stats));
        let mut out = self.engine.download(y);
        if let Some(alpha) = window.alpha() {
            out.extend_from_slice(alpha);
        }
        out
    }
}

/// Runs the network untiled on a whole planar RGB image (`3 × height × width`, 0..1) with its own
/// instance statistics, as the original model does: the reference the tiler is tested against.
pub fn stylize_whole<E: Engine>(
    engine: &E,
    weights: &[f32; NUM_STYLES],
    rgb: &[f32],
    width: usize,
    height: usize,
) -> Vec<f32> {
    let (pw, ph, padded) = pad_to_stride(rgb, width, height);
    let style = engine.weights().style_affine(weights);
    let mut stats = NetworkStats::new(weights, "instance", width, height);
    let x = engine.upload(padded, 3, ph, pw);
    let y = engine.download(forward(engine, x, &style, NormSource::Instance(&mut stats)));
    let mut out = Vec::with_capacity(3 * width * height);
    for c in 0..3 {
        for row in 0..height {
            out.extend_from_slice(&y[c * pw * ph + row * pw..][..width]);
        }
    }
    out
}
