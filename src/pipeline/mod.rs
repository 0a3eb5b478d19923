//! The pipeline that connects the stages: open the input, plan tiles, obtain whole-image
//! normalisation statistics, render every tile with them, blend the tiles into bands of rows and
//! write those to the output.
//!
//! There is one render path. In exact mode the statistics sweeps leave the maps from which every
//! core is finished exactly (cores abut, no blending needed); otherwise every tile's window runs
//! through the whole network with the statistics given and neighbours are cross-faded. Both go
//! through the same three concurrent stages (reader → engine → blender and writer) and the same
//! retry with a smaller tile.

use std::borrow::Cow;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::time::Instant;

use crate::blend::{tile_rows_touching, Blender, Cropped, RowFile};
use crate::colour::{ColourModel, ColourOptions};
use crate::engine::{forward, Engine, NormSource};
use crate::error::{Error, Result};
use crate::geom::{pad_planar, Rect};
use crate::io::output::Format;
use crate::io::part::{Journal, PartHeader, PartWriter};
use crate::io::resample::SizeRequest;
use crate::io::tiff_out::{Compression, OutputSpec};
use crate::io::{paths, ImageInfo, InputImage, Output, Window};
use crate::look::Look;
use crate::memory;
use crate::network::{multistyle26, Geometry, Network, StyleAffine, StyleCode};
use crate::norm::NetworkStats;
use crate::progress::{work_units, Progress};
use crate::scratch::ScratchPrecision;
use crate::stats::checkpoint::Checkpoint;
use crate::stats::exact::{self, Exact, LayerCosts, Work};
use crate::stats::team::Team;
use crate::stats::thumbnail::thumbnail_stats;
use crate::stats::{ImageSource, StatsFile, StatsMode};
use crate::tiling::{Shard, Tile, TilePlan, MIN_TILE};

mod estimate;
mod split;
pub use estimate::run_seconds;
use split::{check_team, part_header};
pub use split::{part_path, MergeJob};

/// Default `--overlap` (px): more than the built-in networks' receptive field.
pub const DEFAULT_OVERLAP: usize = 128;

/// Default thumbnail side for `--stats thumbnail`.
pub const DEFAULT_THUMBNAIL: usize = 1024;

/// How to stylize one file.
#[derive(Debug, Clone)]
pub struct Options {
    /// Core tile side (px, multiple of the network's stride); `None` picks the largest that
    /// fits the budget.
    pub tile: Option<usize>,
    /// Context around each tile (px, multiple of the network's stride).
    pub overlap: usize,
    /// The style input of the network (a built-in style mix, a style vector, or none).
    pub style: StyleCode,
    /// Where the normalisation statistics come from.
    pub stats: StatsMode,
    /// Where to save the statistics used, if anywhere.
    pub save_stats: Option<PathBuf>,
    /// Directory for scratch maps (default: the system's temporary directory).
    pub scratch_dir: Option<PathBuf>,
    /// How scratch maps store values.
    pub scratch_precision: ScratchPrecision,
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
    /// Refuse to replace an existing output file (`-n/--no-clobber`).
    pub no_clobber: bool,
    /// JPEG quality, 1..100.
    pub quality: u8,
    /// Strength (as a mix with the input) and preserved colour.
    pub look: Look,
    /// Make the output a seamless repeat: the network sees the image on a torus (`--wrap`).
    pub wrap: bool,
    /// The size (and resolution) the input is read and the output written at.
    pub size: SizeRequest,
    /// Continue an interrupted exact run from what it recorded (otherwise a leftover record
    /// is not trusted and is cleared).
    pub resume: bool,
    /// Render only this band of the output, into a part file for `bigstyle merge`.
    pub shard: Option<Shard>,
    /// Processes computing the exact statistics together (`--mpi`): this one sweeps and
    /// renders its band, into a part file for [`crate::merge::merge_team`].
    pub team: Option<Arc<dyn Team>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            tile: None,
            overlap: DEFAULT_OVERLAP,
            style: multistyle26::parse_style("0").unwrap_or(StyleCode::Fixed),
            stats: StatsMode::Exact,
            save_stats: None,
            scratch_dir: None,
            scratch_precision: ScratchPrecision::F32,
            bigtiff: None,
            mem_budget: memory::default_budget(),
            compression: Compression::Lzw,
            keep_gray: false,
            colour: ColourOptions::default(),
            no_clobber: false,
            quality: 95,
            look: Look::default(),
            wrap: false,
            size: SizeRequest::default(),
            resume: false,
            shard: None,
            team: None,
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
    /// The file written: format, compression, colour model, depth, channels, profile, DPI, size.
    pub written: Written,
    /// How colour was handled (profile, conversion, assumption).
    pub colour: String,
    /// Network family that ran.
    pub network: String,
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
    /// Scratch disk the exact statistics' sweeps held at their peak, journal included (bytes;
    /// 0 when no sweep ran).
    pub scratch_bytes: u64,
    /// Seconds spent on statistics.
    pub stats_seconds: f64,
    /// Seconds spent stylizing and writing tiles.
    pub render_seconds: f64,
}

/// Stylizes `input` into `output` with tiles, whole-image statistics and blending.
pub fn stylize_file<E: Engine>(
    engine: &E,
    input: &Path,
    output: &Path,
    opts: &Options,
    progress: &mut dyn Progress,
) -> Result<Summary> {
    let net = engine.network();
    check_paths(input, output, opts)?;
    let style = StyleAffine::new(net, &opts.style)?;
    let mut image = open_input(input, opts)?;
    let info = image.info().clone();
    let OutputPlan {
        spec,
        colour,
        forced,
    } = output_spec(&image, output, opts)?;
    progress.note(&format!("colour: {colour}"));
    forced.iter().for_each(|text| progress.warn(text));
    let bpp = engine.bytes_per_pixel();
    let tile = memory::choose_tile(&info, opts.tile, opts.overlap, bpp, opts.mem_budget)?;
    let plan = plan_tiles(&info, tile, opts, net.geometry())?;
    if plan.is_periodic() {
        image.repeat_with_margin(plan.wrap_margin);
    }
    progress.note(&format!(
        "plan: {} tiles ({} x {}) of {} px, overlap {} px, statistics {}, network {}, engine {}, memory about {} of {}",
        plan.len(),
        plan.cols(),
        plan.rows(),
        plan.tile,
        plan.overlap,
        opts.stats,
        net.family,
        engine.name(),
        memory::format_size(memory::estimate(&info, plan.tile, opts.overlap, bpp).total()),
        memory::format_size(opts.mem_budget),
    ));
    let save = |stats: &NetworkStats| -> Result<()> {
        match &opts.save_stats {
            Some(path) => StatsFile::new(
                net,
                &opts.style,
                &opts.stats.to_string(),
                (info.width, info.height),
                stats.clone(),
            )
            .save(path),
            None => Ok(()),
        }
    };

    warn_about_overlap(&plan, opts, progress);
    let team = opts.team.as_deref();
    check_team(team, opts, &plan)?;
    if opts.shard.is_some() && !matches!(opts.stats, StatsMode::File(_)) {
        return Err(Error::InvalidOption(
            "--shard needs --stats-file: every shard must use the statistics of the whole image (save them with --save-stats from an exact or thumbnail run)".into(),
        ));
    }
    let one_window = plan.is_one_window() && team.is_none();
    let scratch_bytes = match opts.stats {
        StatsMode::Exact if !one_window => scratch_need(net, &plan, opts.scratch_precision),
        _ => 0,
    };
    // The exact sweeps' work; none where one window runs the network once.
    let work = match opts.stats {
        StatsMode::Exact if !one_window => Some(exact_work(engine, &style, &plan, opts, progress)?),
        _ => None,
    };
    let forward_all: usize = plan.tiles().map(|t| forward_units(net, &t)).sum();
    progress.total(match (&opts.stats, &work) {
        (StatsMode::Exact, None) => forward_all,
        // The sweeps, and the render.
        (StatsMode::Exact, Some(work)) => {
            let per_pixel: f64 = work.sweeps.iter().sum::<f64>() + work.render;
            plan.tiles()
                .map(|t| work_units(per_pixel, t.core.area()))
                .sum()
        }
        (StatsMode::Thumbnail(side), _) => thumbnail_units(net, *side) + forward_all,
        (StatsMode::File(_), _) => forward_all,
    });
    let started = Instant::now();
    let shard = opts.shard.or(team.map(|t| Shard {
        index: t.rank(),
        count: t.size(),
    }));
    let part = match shard {
        Some(shard) => Some(part_header(
            input, output, opts, shard, &image, engine, &plan,
        )?),
        None => None,
    };
    let destination = shard.map(|shard| part_path(output, shard));
    let render = Render {
        spec: &spec,
        output: destination.as_deref().unwrap_or(output),
        look: opts.look,
        target: part.as_ref().map_or(Target::Output, Target::Part),
    };
    let (written, used, stats_seconds) = match (&opts.stats, work) {
        // One window holds the whole image: the network's own instance statistics are the
        // whole image's, so one forward pass is the exact answer.
        (StatsMode::Exact, None) => {
            let tiles = Forward::new(engine, &style, None);
            let (written, used) = render.with_retry(&mut image, plan, &tiles, progress)?;
            save(&tiles.recorded.borrow())?;
            (written, used, 0.0)
        }
        (StatsMode::Exact, Some(work)) => {
            let estimate = memory::estimate(&info, plan.tile, opts.overlap, bpp).total();
            let mut checkpoint =
                open_checkpoint(input, &image, engine, opts, &plan, estimate, progress)?;
            let mut exact = Exact::new(engine, &style, &plan, &checkpoint, team, work);
            // The sweeps read windows no taller than the render's, whose decoded rows the
            // memory model counts: kept, a tile row's bands are decoded once, not once a tile.
            image.reserve_rows(plan.tile + 2 * plan.overlap);
            exact.sweep(&mut image, &plan, &mut checkpoint, progress)?;
            if team.is_none_or(|t| t.rank() == 0) {
                save(exact.stats())?;
            }
            let stats_seconds = started.elapsed().as_secs_f64();
            // Alone, the rows are recorded in a journal on their way to the output, so that a
            // killed render resumes too.
            let journal = checkpoint.dir().join("render.f32");
            let finish = match render.target {
                Target::Output => Render {
                    target: Target::Journal(&journal),
                    ..render
                },
                _ => render,
            };
            let (written, used) =
                finish.with_retry(&mut image, plan.abutting(), &Finish(&exact), progress)?;
            drop(exact);
            crate::io::cleanup::release(checkpoint.dir());
            checkpoint.remove()?;
            (written, used, stats_seconds)
        }
        (StatsMode::Thumbnail(side), _) => {
            let units = thumbnail_units(net, *side);
            progress.stage("statistics (thumbnail)", units);
            let size = (info.width, info.height);
            let fitted = thumbnail_within_budget(*side, size, bpp, opts.mem_budget);
            if fitted < (*side).min(size.0.max(size.1)) {
                progress.warn(&format!(
                    "thumbnail statistics at {fitted} px instead of {side} to fit --mem-budget"
                ));
            }
            let stats = thumbnail_stats(engine, &style, &mut image, size, fitted)?;
            progress.advance(units);
            save(&stats)?;
            let stats_seconds = started.elapsed().as_secs_f64();
            let tiles = Forward::new(engine, &style, Some(&stats));
            let (written, used) = render.with_retry(&mut image, plan, &tiles, progress)?;
            (written, used, stats_seconds)
        }
        (StatsMode::File(path), _) => {
            let stats = StatsFile::load(path, net, &opts.style, (info.width, info.height))?;
            save(&stats)?;
            let tiles = Forward::new(engine, &style, Some(&stats));
            let (written, used) = render.with_retry(&mut image, plan, &tiles, progress)?;
            (written, used, 0.0)
        }
    };
    Ok(Summary {
        input: input.into(),
        output: written,
        width: info.width,
        height: info.height,
        storage: info.storage.clone(),
        written: Written::of_file(output, render.output, &spec)?,
        colour,
        network: net.family.clone(),
        tile: used.tile,
        overlap: opts.overlap,
        tiles: used.len(),
        stats: opts.stats.to_string(),
        mem_budget: opts.mem_budget,
        memory_estimate: memory::estimate(&info, used.tile, opts.overlap, bpp).total(),
        engine: engine.name(),
        scratch_bytes,
        stats_seconds,
        render_seconds: started.elapsed().as_secs_f64() - stats_seconds,
    })
}

/// Everything the scratch maps of an exact run depend on, as text: the input file's identity,
/// the size and colour handling it is read with, the network, style, tile plan and engine. A
/// checkpoint is reused only for the same description.
fn run_description<E: Engine>(
    input: &Path,
    image: &InputImage,
    engine: &E,
    opts: &Options,
    plan: &TilePlan,
) -> Result<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(input).map_err(|e| Error::io(input, e))?;
    let path = std::fs::canonicalize(input).map_err(|e| Error::io(input, e))?;
    let style = serde_json::to_string(&opts.style).unwrap_or_default();
    Ok(format!(
        "input {} {} bytes mtime {}.{} inode {}:{}; read {}x{} {:?} {:?}; network {} {}; style {style}; plan {}x{} tile {} margin {}; engine {}",
        path.display(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.dev(),
        meta.ino(),
        image.info().width,
        image.info().height,
        opts.size,
        opts.colour,
        engine.network().family,
        engine.network().id(),
        plan.padded_width,
        plan.padded_height,
        plan.tile,
        plan.wrap_margin,
        engine.name(),
    ))
}

/// The checkpoint folder of an exact run under the scratch directory, after checking that the
/// scratch fits there (`estimate`: the run's memory): what an earlier identical run recorded
/// with `--resume`, an empty one otherwise. Kept on an interrupt, for `--resume`.
fn open_checkpoint<E: Engine>(
    input: &Path,
    image: &InputImage,
    engine: &E,
    opts: &Options,
    plan: &TilePlan,
    estimate: u64,
    progress: &mut dyn Progress,
) -> Result<Checkpoint> {
    let net = engine.network();
    let dir = opts.scratch_dir.clone().unwrap_or_else(std::env::temp_dir);
    let precision = opts.scratch_precision;
    let fs = paths::filesystem(&dir)?;
    check_scratch(
        &dir,
        fs,
        scratch_need(net, plan, precision),
        estimate,
        opts.mem_budget,
    )?;
    if !fs.in_memory {
        note_writeback(
            exact::peak_scratch_bytes(net, (plan.padded_width, plan.padded_height), precision),
            progress,
        );
    }
    let mut run = run_description(input, image, engine, opts, plan)?;
    run.push_str(&format!("; scratch {precision}"));
    if let Some(t) = &opts.team {
        run.push_str(&format!("; rank {} of {}", t.rank(), t.size()));
    }
    let (checkpoint, damaged) = Checkpoint::open(&dir, &run, opts.resume, precision)?;
    if let Some(why) = damaged {
        progress.warn(&format!("not resuming ({why}): starting over"));
    }
    if checkpoint.sweeps_done() > 0 {
        progress.note(&format!(
            "resuming from {}: {} of {} sweeps done",
            checkpoint.dir().display(),
            checkpoint.sweeps_done(),
            exact::sweep_count(net)
        ));
    }
    crate::io::cleanup::keep(checkpoint.dir());
    Ok(checkpoint)
}

/// The progress units of the thumbnail statistics (the network over a `side`² thumbnail).
fn thumbnail_units(net: &Network, side: usize) -> usize {
    work_units(net.macs_per_pixel(), side * side)
}

/// Opens `input` as a run with `opts` reads it: at the requested size and resolution.
pub fn open_input(input: &Path, opts: &Options) -> Result<InputImage> {
    InputImage::open_sized(input, opts.mem_budget, &opts.colour, &opts.size)
}

/// The tile plan of a run: plain, or periodic for `--wrap` (with exact statistics the cores
/// abut, so the periodic margin needs no room for an overlap).
fn plan_tiles(
    info: &ImageInfo,
    tile: usize,
    opts: &Options,
    geometry: Geometry,
) -> Result<TilePlan> {
    let (w, h) = (info.width, info.height);
    match (opts.wrap, &opts.stats) {
        (false, _) => TilePlan::new(w, h, tile, opts.overlap, geometry),
        (true, StatsMode::Exact) => TilePlan::periodic(w, h, tile, 0, geometry),
        (true, _) => TilePlan::periodic(w, h, tile, opts.overlap, geometry),
    }
}

/// The thumbnail side for `--stats thumbnail=side` whose forward pass (`bpp` per pixel) and
/// copy fit in `budget` with the process's base: at most `side`.
fn thumbnail_within_budget(side: usize, (w, h): (usize, usize), bpp: u64, budget: u64) -> usize {
    let room = budget.saturating_sub(memory::BASE_BYTES) as f64;
    let aspect = w.min(h) as f64 / w.max(h) as f64;
    // side² × aspect pixels, each with the network's bytes and a 12-byte RGB copy.
    let fits = (room / ((bpp + 12) as f64 * aspect)).sqrt() as usize;
    side.min(fits.max(16))
}

/// Says when `--overlap` cannot do what it is for: with exact statistics it is not used (the
/// cores are computed exactly and abut), and below the network's receptive field the other
/// modes show seams.
fn warn_about_overlap(plan: &TilePlan, opts: &Options, progress: &mut dyn Progress) {
    let radius = plan.geometry.receptive_radius;
    match opts.stats {
        StatsMode::Exact if plan.len() > 1 && opts.overlap != DEFAULT_OVERLAP => progress.warn(
            &format!("--overlap {} has no effect with exact statistics: each tile's core is computed exactly", opts.overlap),
        ),
        StatsMode::Thumbnail(_) | StatsMode::File(_) if plan.len() > 1 && opts.overlap < radius => {
            progress.warn(&format!(
                "--overlap {} is less than the network's receptive field ({radius} px): seams will show; use {} or more",
                opts.overlap,
                radius.next_multiple_of(plan.geometry.stride)
            ))
        }
        _ => {}
    }
}

/// What the output of `image` into `output` will be (size, colour space, alpha, depth,
/// resolution, compression: what the format can hold of the input), a description of the colour
/// handling for logs, and the conversions the format forces, to be said once.
pub fn output_spec(image: &InputImage, output: &Path, opts: &Options) -> Result<OutputPlan> {
    let format = Format::of(output)?;
    let info = image.info();
    let out_colour = image.colour().output(format.holds_cmyk(), opts.keep_gray)?;
    let colour = format!("{}; {}", image.colour().describe(), out_colour.describe());
    let wanted = OutputSpec {
        width: info.width,
        height: info.height,
        colour: out_colour,
        alpha: info.layout.has_alpha(),
        bits: info.bits,
        resolution: info.resolution,
        bigtiff: opts.bigtiff,
        compression: opts.compression,
        quality: opts.quality,
    };
    let spec = format.fit(wanted.clone());
    let name = format.name();
    let buffered = (spec.row_bytes() * spec.height) as u64;
    if format == Format::Jpeg && buffered > opts.mem_budget / 2 {
        return Err(Error::InvalidOption(format!(
            "-o {}: JPEG is encoded from the whole image in memory ({}), over half of --mem-budget {}; \
             write TIFF or PNG, which are streamed",
            output.display(),
            memory::format_size(buffered),
            memory::format_size(opts.mem_budget)
        )));
    }
    let mut forced = Vec::new();
    if image.colour().model() == ColourModel::Cmyk && spec.colour.model() != ColourModel::Cmyk {
        forced.push(format!("{name} holds no CMYK: the output is sRGB RGB"));
    }
    if spec.bits < wanted.bits {
        forced.push(format!(
            "{name} holds 8 bits: 16-bit samples are written as 8-bit"
        ));
    }
    if wanted.alpha && !spec.alpha {
        forced.push(format!("{name} has no alpha: the alpha channel is dropped"));
    }
    Ok(OutputPlan {
        spec,
        colour,
        forced,
    })
}

/// See [`output_spec`].
pub struct OutputPlan {
    /// What is written.
    pub spec: OutputSpec,
    /// How colour is handled, for logs.
    pub colour: String,
    /// Conversions the output format forces.
    pub forced: Vec<String>,
}

/// The written file as `--json` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    /// `tiff`, `png` or `jpeg`.
    pub format: String,
    /// Compression (`lzw`, `deflate`, `none`; PNG's deflate; JPEG's quality).
    pub compression: String,
    /// Colour model of the samples (`rgb`, `gray`, `cmyk`).
    pub colour_model: String,
    /// Bits per sample.
    pub bits: u8,
    /// Samples per pixel.
    pub channels: usize,
    /// Whether an alpha sample is written.
    pub alpha: bool,
    /// Size of the embedded ICC profile (0: none).
    pub icc_profile_bytes: usize,
    /// Resolution in dots per inch, if written.
    pub dpi: Option<[f64; 2]>,
    /// Size of the file on disk.
    pub bytes: u64,
}

impl Written {
    /// Describes the file at `path` written with `spec`.
    pub fn of(path: &Path, spec: &OutputSpec) -> Result<Self> {
        Self::of_file(path, path, spec)
    }

    /// Describes the file `on_disk` holding (part of) the output `output` written with `spec`.
    pub fn of_file(output: &Path, on_disk: &Path, spec: &OutputSpec) -> Result<Self> {
        let format = Format::of(output)?;
        let compression = match format {
            Format::Tiff => format!("{:?}", spec.compression).to_lowercase(),
            Format::Png => "deflate".into(),
            Format::Jpeg => format!("jpeg quality {}", spec.quality),
        };
        Ok(Self {
            format: format.name().to_lowercase(),
            compression,
            colour_model: format!("{:?}", spec.colour.model()).to_lowercase(),
            bits: spec.bits,
            channels: spec.samples(),
            alpha: spec.alpha,
            icc_profile_bytes: spec.colour.icc().map_or(0, <[u8]>::len),
            dpi: spec
                .resolution
                .as_ref()
                .and_then(crate::io::metadata::dots_per_inch)
                .map(|(x, y)| [x, y]),
            bytes: std::fs::metadata(on_disk)
                .map_err(|e| Error::io(on_disk, e))?
                .len(),
        })
    }
}

/// Every path the run will write, checked before any work (see [`paths`]).
pub fn check_paths(input: &Path, output: &Path, opts: &Options) -> Result<()> {
    std::fs::metadata(input).map_err(|e| Error::io(input, e))?;
    paths::check_output("-o", output, input, !opts.no_clobber)?;
    if let Some(stats) = &opts.save_stats {
        paths::check_output("--save-stats", stats, input, true)?;
    }
    if let Some(dir) = &opts.scratch_dir {
        if !dir.is_dir() {
            return Err(Error::InvalidOption(format!(
                "--scratch-dir {}: not a directory",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// The scratch disk an exact tiled run of `net` over `plan` needs at its peak (bytes): the
/// sweeps' maps, and the render's journal of f32 rows (4 samples at most) on top.
pub fn scratch_need(net: &Network, plan: &TilePlan, precision: ScratchPrecision) -> u64 {
    let extent = (plan.padded_width, plan.padded_height);
    exact::peak_scratch_bytes(net, extent, precision) + (extent.0 * extent.1 * 16) as u64
}

/// Says when the scratch maps, on a disk, pass the dirty page cache at which the kernel starts
/// writing files back: it then writes maps to the disk that are deleted soon after, which costs
/// time (about a tenth of a 10000² run, docs/MEMORY.md) and disk bandwidth.
fn note_writeback(maps: u64, progress: &mut dyn Progress) {
    let Some(threshold) = memory::background_writeback_bytes() else {
        return;
    };
    if maps > threshold {
        progress.note(&format!(
            "the scratch maps ({} at their peak) pass the kernel's background writeback \
             threshold ({}): the kernel writes them to the disk as they are made \
             (docs/MEMORY.md: vm.dirty_background_bytes)",
            memory::format_size(maps),
            memory::format_size(threshold)
        ));
    }
}

/// Checks before the sweeps that the scratch fits where it goes: on a disk, in its free space; on
/// a RAM-backed filesystem (a tmpfs `/tmp`), in what the memory budget leaves, since it is memory.
fn check_scratch(
    dir: &Path,
    fs: paths::Filesystem,
    need: u64,
    estimate: u64,
    budget: u64,
) -> Result<()> {
    let size = memory::format_size;
    if fs.in_memory && estimate + need > budget {
        return Err(Error::InvalidOption(format!(
            "--scratch-dir {}: the exact statistics need {} of scratch there, and it is in memory \
             (tmpfs), over --mem-budget {} with the rest of the run; give --scratch-dir a folder on a disk",
            dir.display(),
            size(need),
            size(budget)
        )));
    }
    if need > fs.free {
        return Err(Error::InvalidOption(format!(
            "--scratch-dir {}: the exact statistics need {} of scratch, {} is free",
            dir.display(),
            size(need),
            size(fs.free)
        )));
    }
    Ok(())
}

/// How the render stage turns a tile into output pixels.
trait TileRenderer {
    /// The input rectangle (padded-image coordinates) the render of `tile` reads, if any.
    fn window(&self, tile: &Tile) -> Option<Rect>;
    /// Planar RGB over `tile.window` (the rectangle the blender places), from `input`: the
    /// window read at [`TileRenderer::window`] (or a larger one), with where it was read.
    fn render(&self, tile: &Tile, input: Option<&Read>) -> Result<Vec<f32>>;
    /// Whether the same output comes from smaller tiles (a retry may split the image).
    fn splits(&self) -> bool {
        true
    }
    /// The progress units rendering `tile` takes.
    fn work(&self, tile: &Tile) -> usize;
}

/// Input pixels read for a tile, and where.
struct Read {
    window: Window,
    at: Rect,
}

impl Read {
    /// The part of the read pixels over `rect` (borrowed when it is all of them).
    fn over(&self, rect: Rect) -> Cow<'_, Window> {
        if rect == self.at {
            Cow::Borrowed(&self.window)
        } else {
            Cow::Owned(self.window.crop(self.at, rect))
        }
    }
}

/// Each tile's window through the whole network with statistics given (or, with none, the
/// window's own: exact when one window holds the image; the statistics used are recorded).
struct Forward<'a, E: Engine> {
    engine: &'a E,
    style: &'a StyleAffine,
    stats: Option<&'a NetworkStats>,
    recorded: RefCell<NetworkStats>,
}

impl<'a, E: Engine> Forward<'a, E> {
    fn new(engine: &'a E, style: &'a StyleAffine, stats: Option<&'a NetworkStats>) -> Self {
        Self {
            engine,
            style,
            stats,
            recorded: RefCell::new(NetworkStats::empty(engine.network().len())),
        }
    }
}

impl<E: Engine> TileRenderer for Forward<'_, E> {
    fn window(&self, tile: &Tile) -> Option<Rect> {
        Some(tile.window)
    }

    fn render(&self, tile: &Tile, input: Option<&Read>) -> Result<Vec<f32>> {
        let window = input
            .map(|read| read.over(tile.window))
            .ok_or_else(|| Error::InvalidOption("internal: a window was not read".into()))?;
        let x = self
            .engine
            .upload(window.rgb().to_vec(), 3, window.height, window.width);
        let y = match self.stats {
            Some(stats) => forward(self.engine, x, self.style, NormSource::Given(stats)),
            None => forward(
                self.engine,
                x,
                self.style,
                NormSource::Instance(&mut self.recorded.borrow_mut()),
            ),
        };
        Ok(self.engine.download(y))
    }

    /// With the window's own statistics, only one window holding the image is exact.
    fn splits(&self) -> bool {
        self.stats.is_some()
    }

    fn work(&self, tile: &Tile) -> usize {
        forward_units(self.engine.network(), tile)
    }
}

/// The work of the exact sweeps and render, for the progress bar's weights: the layers timed on
/// this engine at the plan's tile size where a person watches the bar (0.4 s on two cores),
/// counted otherwise.
fn exact_work<E: Engine>(
    engine: &E,
    style: &StyleAffine,
    plan: &TilePlan,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<Work> {
    let net = engine.network();
    let costs = if progress.shown() {
        LayerCosts::timed(engine, style, plan.tile)?
    } else {
        LayerCosts::counted(net)
    };
    Ok(Work::of(net, opts.scratch_precision, &costs))
}

/// The progress units of running the whole network over `tile`'s window.
fn forward_units(net: &Network, tile: &Tile) -> usize {
    work_units(net.macs_per_pixel(), tile.window.area())
}

/// Each core finished exactly from the maps the statistics sweeps left.
struct Finish<'a, 'e, E: Engine>(&'a Exact<'e, E>);

impl<E: Engine> TileRenderer for Finish<'_, '_, E> {
    fn window(&self, tile: &Tile) -> Option<Rect> {
        self.0.render_window(tile.core)
    }

    fn render(&self, tile: &Tile, input: Option<&Read>) -> Result<Vec<f32>> {
        self.0.render_core(tile.core, &mut ReadSource(input))
    }

    fn work(&self, tile: &Tile) -> usize {
        self.0.render_units(tile.core)
    }
}

/// Pixels already read, serving any rectangle inside them.
struct ReadSource<'a>(Option<&'a Read>);

impl ImageSource for ReadSource<'_> {
    fn rgb(&mut self, rect: Rect) -> Result<Vec<f32>> {
        // Finish::window grows the core by the receptive field: layer 0's input lies inside.
        match self.0 {
            Some(read) if read.at.contains(&rect) => Ok(read.over(rect).rgb().to_vec()),
            _ => Err(Error::InvalidOption(format!(
                "internal: {rect:?} was not read for the render"
            ))),
        }
    }
}

/// Whether a panic reports memory exhaustion (burn's device allocators panic with such
/// messages), which a smaller tile can cure.
fn is_out_of_memory(panic: &(dyn std::any::Any + Send)) -> bool {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
        .to_ascii_lowercase();
    [
        "out of memory",
        "outofmemory",
        "memory allocation",
        "failed to allocate",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// Tiles in flight between the stages: enough to keep every stage busy, few enough to keep
/// memory bounded (each holds one window).
const QUEUE_DEPTH: usize = 2;

/// What the render writes to.
#[derive(Clone, Copy)]
enum Target<'a> {
    /// The output file.
    Output,
    /// A shard's (or a rank's) part file: the rows its header names.
    Part(&'a PartHeader),
    /// An exact run's journal in its checkpoint folder, continued after the rows it holds.
    Journal(&'a Path),
}

/// Where the render writes, and the look it gives the pixels.
#[derive(Clone, Copy)]
struct Render<'a> {
    spec: &'a OutputSpec,
    output: &'a Path,
    look: Look,
    target: Target<'a>,
}

impl Render<'_> {
    /// [`Render::run`], restarted with half the tile if a tile runs out of memory (a GPU
    /// reports that as a panic), down to the minimum tile. Returns the output and the plan used.
    fn with_retry(
        &self,
        image: &mut InputImage,
        mut plan: TilePlan,
        renderer: &dyn TileRenderer,
        progress: &mut dyn Progress,
    ) -> Result<(PathBuf, TilePlan)> {
        loop {
            image.reserve_rows(plan.tile + 2 * plan.overlap);
            let attempt = catch_unwind(AssertUnwindSafe(|| {
                self.run(image, &plan, renderer, progress)
            }));
            let tile = plan.tile;
            match attempt {
                Ok(result) => return Ok((result?, plan)),
                // Anything but running out of memory is a bug: report it, never retry it.
                Err(panic) if !is_out_of_memory(panic.as_ref()) => std::panic::resume_unwind(panic),
                Err(_) if tile / 2 >= MIN_TILE && renderer.splits() => {
                    let g = plan.geometry;
                    let smaller = (tile / 2).next_multiple_of(g.stride);
                    eprintln!(
                        "warning: tile {tile} failed (out of memory?); retrying with {smaller}"
                    );
                    let retry = plan.with_tile(smaller)?;
                    plan = if plan.feather == 0 && plan.overlap == 0 {
                        retry.abutting()
                    } else {
                        retry
                    };
                }
                Err(_) => {
                    return Err(Error::InvalidOption(format!(
                    "stylizing failed even with tile {tile}; try a smaller --mem-budget or --tile"
                )))
                }
            }
        }
    }

    /// Renders every tile and writes the blended output. Three stages run concurrently, joined
    /// by bounded queues: a reader thread decodes the next windows, this thread renders, a
    /// writer thread blends and writes finished rows.
    fn run(
        &self,
        image: &mut InputImage,
        plan: &TilePlan,
        renderer: &dyn TileRenderer,
        progress: &mut dyn Progress,
    ) -> Result<PathBuf> {
        let content = plan.content();
        let origin = (content.x0, content.y0);
        let (mut out, wanted): (Box<dyn RowFile>, _) = match self.target {
            Target::Output => (
                Box::new(Output::create(self.output, self.spec.clone())?),
                (0, plan.padded_height),
            ),
            Target::Journal(path) => {
                let size = (self.spec.width, self.spec.height);
                let key = format!("{:?}", self.look);
                let channels = 3 + usize::from(self.spec.alpha);
                let mut journal = Journal::open(path, &key, size, channels, origin)?;
                let done = journal.rows_done();
                if done > 0 {
                    progress.note(&format!("render resumes at row {done} of {}", size.1));
                }
                journal.forward_to(Box::new(Output::create(self.output, self.spec.clone())?))?;
                (Box::new(journal), (origin.1 + done, origin.1 + size.1))
            }
            Target::Part(h) => {
                // The part holds the rows as the writer would get them: what the format keeps.
                let header = PartHeader {
                    channels: if self.spec.alpha { 4 } else { 3 },
                    ..h.clone()
                };
                (
                    Box::new(PartWriter::create(self.output, header, origin)?),
                    (content.y0 + h.rows.0, content.y0 + h.rows.1),
                )
            }
        };
        let tile_rows = tile_rows_touching(plan, wanted);
        let channels = if self.spec.alpha { 4 } else { 3 };
        // The input under each tile is read where the renderer needs it, or where the look or
        // the alpha channel does.
        let under_needed = self.spec.alpha || !self.look.is_identity();
        let reads: Vec<(Tile, Option<Rect>)> = plan
            .tiles()
            .filter(|t| tile_rows.contains(&t.row))
            .map(|t| (t, renderer.window(&t).or(under_needed.then_some(t.window))))
            .collect();
        let units = |read: &(Tile, Option<Rect>)| renderer.work(&read.0);
        progress.stage("stylizing", reads.iter().map(units).sum());
        // A periodic plan's margins are not written (a part writer keeps only its rows anyway).
        let crop = plan.is_periodic() && matches!(self.target, Target::Output);
        std::thread::scope(|scope| {
            let (read_tx, read_rx) = sync_channel::<Result<(Tile, Option<Read>)>>(QUEUE_DEPTH);
            let (result_tx, results) = sync_channel::<(Tile, Vec<f32>)>(QUEUE_DEPTH);
            scope.spawn(move || {
                for (tile, at) in reads {
                    let read = at
                        .map(|at| image.read_window(at).map(|window| Read { window, at }))
                        .transpose();
                    let failed = read.is_err();
                    if read_tx.send(read.map(|r| (tile, r))).is_err() || failed {
                        break;
                    }
                }
            });
            let writer = scope.spawn(move || -> Result<Box<dyn RowFile>> {
                let mut blender = Blender::from_row(plan, channels, tile_rows.start);
                for (tile, planar) in results {
                    blender.add_tile(&tile, &planar);
                    if tile.col + 1 == plan.cols() {
                        if crop {
                            blender
                                .finish_row(tile.row, &mut Cropped::new(out.as_mut(), content))?;
                        } else {
                            blender.finish_row(tile.row, out.as_mut())?;
                        }
                    }
                }
                Ok(out)
            });
            for item in read_rx {
                let (tile, read) = item?;
                let mut planar = renderer.render(&tile, read.as_ref())?;
                if let Some(under) = read
                    .as_ref()
                    .filter(|_| under_needed)
                    .map(|r| r.over(tile.window))
                {
                    if !self.look.is_identity() {
                        self.look.apply(&mut planar, under.rgb());
                    }
                    if let Some(alpha) = under.alpha().filter(|_| self.spec.alpha) {
                        planar.extend_from_slice(alpha);
                    }
                }
                progress.advance(renderer.work(&tile));
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
}

/// Runs the network untiled on a whole planar RGB image (`3 × height × width`, 0..1) with its own
/// instance statistics, as the original model does: the reference the tiler is tested against.
pub fn stylize_whole<E: Engine>(
    engine: &E,
    style: &StyleCode,
    rgb: &[f32],
    width: usize,
    height: usize,
) -> Result<Vec<f32>> {
    let net = engine.network();
    let style = StyleAffine::new(net, style)?;
    let stride = net.geometry().stride;
    let (pw, ph) = (
        width.next_multiple_of(stride),
        height.next_multiple_of(stride),
    );
    let x = engine.upload(pad_planar(rgb, 3, (width, height), (pw, ph)), 3, ph, pw);
    let mut stats = NetworkStats::empty(net.len());
    let y = engine.download(forward(engine, x, &style, NormSource::Instance(&mut stats)));
    let mut out = Vec::with_capacity(3 * width * height);
    for c in 0..3 {
        for row in 0..height {
            out.extend_from_slice(&y[c * pw * ph + row * pw..][..width]);
        }
    }
    Ok(out)
}
