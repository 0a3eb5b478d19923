//! The command line: flags (declared once, clap value enums for the fixed choices), the choice of
//! network and engine, the progress bar, one-line errors, the `--json` summary and the `info`
//! and `styles` subcommands.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use bigstyle::batch;
use bigstyle::colour::{ColourOptions, RenderingIntent};
use bigstyle::engine::burn::BurnEngine;
use bigstyle::engine::cpu::CpuEngine;
use bigstyle::engine::{gpu, Engine};
use bigstyle::io::resample::{parse_print_size, SizeRequest};
use bigstyle::io::tiff_out::Compression;
use bigstyle::io::InputImage;
use bigstyle::look::Look;
use bigstyle::memory::{self, choose_tile, default_budget, format_size, parse_size};
use bigstyle::network::{
    arbitrary, multistyle26, transformer_net, Network, StyleAffine, StyleCode,
};
use bigstyle::pipeline::{run_seconds, scratch_need, Options, DEFAULT_THUMBNAIL};
use bigstyle::progress::Progress;
use bigstyle::scratch::ScratchPrecision;
use bigstyle::sheet::{contact_sheet, Cell};
use bigstyle::stats::exact::LayerCosts;
use bigstyle::stats::team::Team;
use bigstyle::stats::StatsMode;
use bigstyle::stroke;
use bigstyle::style_image::{self, StylePredictor};
use bigstyle::tiling::{Shard, TilePlan};
use bigstyle::CpuBackend;

/// Neural style transfer for huge images: tiled, seamless, in bounded memory.
#[derive(Debug, Parser)]
#[command(name = "bigstyle", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the built-in styles.
    Styles {
        /// Print JSON: one object per style (index, look).
        #[arg(long)]
        json: bool,
    },
    /// Describe an image and the plan bigstyle would use for it (tiles, memory, time).
    Info(Box<InfoArgs>),
    /// A small preview whose look matches the full run: the network at the same scale
    /// (--stroke-scale) and the same statistics (--save-stats / --stats-file).
    Proof(Box<ProofArgs>),
    /// A contact sheet: every built-in style (and any --style-image) on the image, numbered.
    Sheet(SheetArgs),
    /// Assemble the parts of a sharded run (--shard I/N) into its output, byte for byte what
    /// one machine would have written.
    Merge(MergeArgs),
}

#[derive(Debug, clap::Args)]
struct MergeArgs {
    /// The part files, in any order (OUT.shard-I-of-N).
    #[arg(required = true)]
    parts: Vec<PathBuf>,
    /// Output (default: the -o the shards were run with).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Memory budget, e.g. 1GiB (default: half the available memory).
    #[arg(long, value_name = "SIZE")]
    mem_budget: Option<String>,
    /// Never replace an existing output file.
    #[arg(short = 'n', long)]
    no_clobber: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, clap::Args)]
struct SheetArgs {
    /// Input image.
    input: PathBuf,
    /// Output PNG (default: <stem>.sheet.png beside the input).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Longer side of each cell, px.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Style images to show after the built-in styles (numbered from 26 on).
    #[arg(long, value_name = "PATH")]
    style_image: Vec<PathBuf>,
    /// Memory budget for reading the images, e.g. 512MiB (default: half the available memory).
    #[arg(long, value_name = "SIZE")]
    mem_budget: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ProofArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Longer side of the proof, px (default output: <stem>.proof.png).
    #[arg(long, default_value_t = 1024)]
    size: usize,
}

/// Where the network runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Device {
    /// A CUDA GPU if this build has one and it works, else the CPU.
    Auto,
    /// The fast CPU engine.
    Cpu,
    /// The reference burn model on burn's CPU backend (slower, for comparison).
    BurnCpu,
    /// CUDA device N (needs a build with `--features cuda`).
    Cuda(usize),
}

fn parse_device(text: &str) -> Result<Device, String> {
    match text {
        "auto" => Ok(Device::Auto),
        "cpu" => Ok(Device::Cpu),
        "burn-cpu" => Ok(Device::BurnCpu),
        "cuda" => Ok(Device::Cuda(0)),
        _ => text
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(Device::Cuda)
            .ok_or_else(|| "use auto, cpu, burn-cpu, cuda or cuda:N".into()),
    }
}

fn parse_stats(text: &str) -> Result<StatsMode, String> {
    match text.split_once('=') {
        None if text == "exact" => Ok(StatsMode::Exact),
        None if text == "thumbnail" => Ok(StatsMode::Thumbnail(DEFAULT_THUMBNAIL)),
        Some(("thumbnail", px)) => px
            .parse()
            .ok()
            .filter(|p| *p >= 16)
            .map(StatsMode::Thumbnail)
            .ok_or_else(|| "the thumbnail size must be 16 px or more".into()),
        _ => Err("use exact or thumbnail[=PX]".into()),
    }
}

fn parse_stroke_scale(text: &str) -> Result<stroke::Scale, String> {
    match text {
        "auto" => Ok(stroke::Scale::Auto),
        _ => text
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 1.0)
            .map(stroke::Scale::Factor)
            .ok_or_else(|| "use a number of 1 or more, or auto".into()),
    }
}

/// Output format of a batch.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    /// TIFF (BigTIFF when needed).
    Tif,
    /// PNG.
    Png,
    /// JPEG.
    Jpg,
}

/// TIFF compression.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum CompressArg {
    /// Uncompressed, written through memory maps.
    None,
    /// LZW with the horizontal predictor.
    Lzw,
    /// Deflate (zlib) with the horizontal predictor.
    #[value(alias = "zip")]
    Deflate,
}

impl From<CompressArg> for Compression {
    fn from(arg: CompressArg) -> Self {
        match arg {
            CompressArg::None => Compression::None,
            CompressArg::Lzw => Compression::Lzw,
            CompressArg::Deflate => Compression::Deflate,
        }
    }
}

/// How scratch maps store values.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ScratchPrecisionArg {
    /// Single precision: the exact answer within float rounding.
    F32,
    /// Half precision: half the scratch disk and I/O, about 61-67 dB from the exact answer.
    F16,
}

impl From<ScratchPrecisionArg> for ScratchPrecision {
    fn from(arg: ScratchPrecisionArg) -> Self {
        match arg {
            ScratchPrecisionArg::F32 => Self::F32,
            ScratchPrecisionArg::F16 => Self::F16,
        }
    }
}

/// ICC rendering intent.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum IntentArg {
    /// Compresses the whole gamut.
    Perceptual,
    /// Relative colorimetric with black point compensation (in-gamut colours exact).
    Relative,
    /// Vivid colours over accuracy.
    Saturation,
    /// Absolute colorimetric (paper white simulated).
    Absolute,
}

impl From<IntentArg> for RenderingIntent {
    fn from(arg: IntentArg) -> Self {
        match arg {
            IntentArg::Perceptual => RenderingIntent::Perceptual,
            IntentArg::Relative => RenderingIntent::Relative,
            IntentArg::Saturation => RenderingIntent::Saturation,
            IntentArg::Absolute => RenderingIntent::Absolute,
        }
    }
}

/// Which network runs, with which style: shared by stylizing and `info`.
#[derive(Debug, clap::Args)]
struct NetworkArgs {
    /// Built-in style: an index (`7`) or a blend (`3:0.5,12:0.5`), see `bigstyle styles`; or a
    /// style saved with --save-style (`F.json`). Default: style 0.
    #[arg(long, conflicts_with_all = ["model", "style_image"])]
    style: Option<String>,
    /// Any image as the style (a painting, a texture): Magenta arbitrary stylization. Repeat
    /// to blend several (see --style-weights).
    #[arg(long, value_name = "PATH", conflicts_with = "model")]
    style_image: Vec<PathBuf>,
    /// Weights of the --style-image blend, e.g. 0.7,0.3 (normalised; default: equal).
    #[arg(
        long,
        value_name = "W,W,...",
        requires = "style_image",
        value_delimiter = ','
    )]
    style_weights: Vec<f32>,
    /// How much style, 0..1 (default 1). With a style image: interpolates from the content
    /// image's own style vector (0) to the style image's (1); with other networks: mixes the
    /// stylized result with the input.
    #[arg(long, value_name = "A")]
    strength: Option<f32>,
    /// Save the style used (the predicted style vector or the style blend) as JSON, for --style.
    #[arg(long, value_name = "PATH")]
    save_style: Option<PathBuf>,
    /// A user-trained model: a PyTorch fast_neural_style TransformerNet checkpoint (.pth or
    /// .model), instead of the built-in styles.
    #[arg(long, value_name = "PATH")]
    model: Option<PathBuf>,
}

impl NetworkArgs {
    /// The network and its style input; `input` is the content image (for --strength),
    /// `budget` and `colour` apply to reading style images.
    fn network(
        &self,
        input: &Path,
        budget: u64,
        colour: &ColourOptions,
    ) -> anyhow::Result<(Network, StyleCode)> {
        if let Some(a) = self.strength.filter(|a| !(0.0..=1.0).contains(a)) {
            anyhow::bail!("--strength {a}: must be between 0 and 1");
        }
        let (net, code) = match (&self.model, self.style_image.is_empty(), &self.style) {
            (Some(path), _, _) => (transformer_net::load(path)?, StyleCode::Fixed),
            (None, false, _) => (
                arbitrary::transformer(),
                self.predicted_style(budget, colour)?,
            ),
            (None, true, Some(spec)) if spec.ends_with(".json") => {
                let code = load_style(Path::new(spec))?;
                let net = match code {
                    StyleCode::Vector(_) => arbitrary::transformer(),
                    _ => multistyle26::builtin(),
                };
                (net, code)
            }
            (None, true, spec) => (
                multistyle26::builtin(),
                multistyle26::parse_style(spec.as_deref().unwrap_or("0"))?,
            ),
        };
        let code = match (self.strength, code) {
            (None, code) => code,
            (Some(a), StyleCode::Vector(style)) => {
                let predictor = StylePredictor::default();
                let mut content = InputImage::open_with(input, budget, colour)?;
                let own = predictor.from_image(&mut content)?;
                StyleCode::Vector(style_image::with_strength(&style, &own, a))
            }
            // Other networks have no style vector: --strength mixes the result with the input.
            (Some(_), code) => code,
        };
        if let Some(path) = &self.save_style {
            let text = serde_json::to_string_pretty(&code)?;
            std::fs::write(path, text)
                .with_context(|| format!("--save-style {}", path.display()))?;
        }
        Ok((net, code))
    }

    /// The blended style vector of the --style-image files.
    fn predicted_style(&self, budget: u64, colour: &ColourOptions) -> anyhow::Result<StyleCode> {
        let weights = match self.style_weights.len() {
            0 => vec![1.0; self.style_image.len()],
            n if n == self.style_image.len() => self.style_weights.clone(),
            n => anyhow::bail!(
                "--style-weights: {n} weights for {} style images",
                self.style_image.len()
            ),
        };
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || weights.iter().sum::<f32>() <= 0.0
        {
            anyhow::bail!("--style-weights: weights must be non-negative with a positive sum");
        }
        let predictor = StylePredictor::default();
        let vectors = self
            .style_image
            .iter()
            .zip(weights)
            .map(|(path, w)| Ok((predictor.from_file(path, budget, colour)?, w)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(StyleCode::Vector(style_image::blend(&vectors)))
    }
}

/// A style saved with --save-style.
fn load_style(path: &Path) -> anyhow::Result<StyleCode> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--style {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("--style {}: not a saved style", path.display()))
}

/// Options that decide the tiling plan, shared by stylizing and `info`.
#[derive(Debug, clap::Args)]
struct PlanArgs {
    /// Core tile side in px (multiple of 4; default: the largest that fits --mem-budget).
    #[arg(long)]
    tile: Option<usize>,
    /// Context read around each tile, px (multiple of 4; 68 or more makes tiling exact).
    #[arg(long, default_value_t = 128)]
    overlap: usize,
    /// Memory budget, e.g. 512MiB or 4GiB (default: half the available memory).
    #[arg(long, value_name = "SIZE")]
    mem_budget: Option<String>,
    /// Where the network runs: auto, cpu, cuda[:N] (needs a build with --features cuda), or
    /// burn-cpu (the reference burn model on burn's CPU backend: slower, for comparison).
    #[arg(long, default_value = "auto", value_parser = parse_device)]
    device: Device,
    /// Normalisation statistics: `exact` (whole image, the untiled result) or
    /// `thumbnail[=PX]` (from a downscaled copy, faster, approximate).
    #[arg(long, default_value = "exact", value_parser = parse_stats)]
    stats: StatsMode,
    /// How the exact statistics' scratch maps store values.
    #[arg(long, value_enum, default_value_t = ScratchPrecisionArg::F32)]
    scratch_precision: ScratchPrecisionArg,
}

/// Colour handling, shared by stylizing and `info`.
#[derive(Debug, clap::Args)]
struct ColourArgs {
    /// Rendering intent of the ICC conversions to sRGB and back.
    #[arg(long, value_enum, default_value = "relative")]
    intent: IntentArg,
    /// Take the pixels as sRGB (CMYK as plain inks) whatever the embedded profile says, and
    /// copy the profile to the output unchanged.
    #[arg(long)]
    ignore_icc: bool,
}

impl ColourArgs {
    fn options(&self) -> ColourOptions {
        ColourOptions {
            intent: self.intent.into(),
            ignore_icc: self.ignore_icc,
        }
    }
}

#[derive(Debug, clap::Args)]
struct InfoArgs {
    /// Input image.
    input: PathBuf,
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    plan: PlanArgs,
    #[command(flatten)]
    colour: ColourArgs,
    #[command(flatten)]
    size: SizeArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Input images (TIFF streamed from disk; PNG, JPEG and others decoded whole), or folders
    /// of them (walked recursively).
    inputs: Vec<PathBuf>,
    /// Output file: .tif/.tiff, .png or .jpg (default: <stem>.styled.tif beside the input); for
    /// several inputs or a folder, an output folder (`OUT/`).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Format of a batch's outputs, and of `-o -` (standard output); default tif.
    #[arg(long, value_enum, default_value = "tif")]
    format: FormatArg,
    /// Continue an interrupted run: an exact run picks up after its last finished sweep or band
    /// of rendered rows (kept under --scratch-dir, checked before reuse), and a batch skips the
    /// inputs whose output already exists. Without it, leftovers of an interrupted run are
    /// cleared.
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    plan: PlanArgs,
    /// Load the statistics from this file instead of computing them.
    #[arg(long, value_name = "PATH")]
    stats_file: Option<PathBuf>,
    /// Save the statistics used to this file (for previews, re-runs, split runs).
    #[arg(long, value_name = "PATH")]
    save_stats: Option<PathBuf>,
    /// Directory for scratch activations (default: the system temporary directory).
    #[arg(long, value_name = "DIR")]
    scratch_dir: Option<PathBuf>,
    /// Always write BigTIFF (default: only when the output may exceed 4 GiB).
    #[arg(long)]
    bigtiff: bool,
    /// Enlarge the strokes for a big print: the network runs on the image scaled down by S
    /// (1 or more, fractional allowed) and the result is brought back to full size with the
    /// input's fine detail restored. `auto`: strokes of about 3 mm at the file's DPI (300 if
    /// it has none).
    #[arg(long, value_name = "S|auto", value_parser = parse_stroke_scale, default_value = "1")]
    stroke_scale: stroke::Scale,
    /// With --stroke-scale: the detail filter's regularisation (smaller keeps more of the
    /// input's fine detail; default 1e-4).
    #[arg(long, value_name = "E", default_value_t = stroke::DEFAULT_DETAIL)]
    stroke_detail: f64,
    /// JPEG quality, 1 to 100.
    #[arg(long, default_value_t = 95, value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: u8,
    /// Keep the input's colours: take only the luminance of the stylized result (BT.601 YCbCr).
    #[arg(long, visible_alias = "preserve-color")]
    preserve_colour: bool,
    #[command(flatten)]
    size: SizeArgs,
    #[command(flatten)]
    shard: ShardArgs,
    /// Compute the exact statistics with the other processes of an MPI job (`mpirun -n R
    /// bigstyle --mpi …`): each rank sweeps a band of rows, the moments are reduced across
    /// ranks, rank 0 writes the output. Needs a build with `--features mpi`.
    #[arg(long)]
    mpi: bool,
    /// Make the output a seamless repeat (wallpaper, fabric): the image's edges meet their
    /// opposite edges, as if it were one tile of an endless pattern. Needs a width and height
    /// that are multiples of 4.
    #[arg(long)]
    wrap: bool,
    /// Never replace an existing output file (by default an existing output is replaced).
    #[arg(short = 'n', long)]
    no_clobber: bool,
    /// TIFF compression (none: memory-mapped output).
    #[arg(long, value_enum, default_value = "lzw")]
    compress: CompressArg,
    /// Write gray input as gray (the stylized result's luma) instead of RGB.
    #[arg(long)]
    keep_gray: bool,
    #[command(flatten)]
    colour: ColourArgs,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
    /// Tell how colour is handled and which plan is used (on stderr).
    #[arg(short, long)]
    verbose: bool,
}

/// Renders one band of the output into a part file, for `bigstyle merge`.
#[derive(Debug, clap::Args)]
struct ShardArgs {
    /// Render only band I of N (0-based) into OUT.shard-I-of-N, for `bigstyle merge`; needs
    /// --stats-file. `auto/N` takes I from SLURM_ARRAY_TASK_ID (less SLURM_ARRAY_TASK_MIN) or
    /// JOB_COMPLETION_INDEX (Kubernetes Indexed Job).
    #[arg(long, value_name = "I/N|auto/N", value_parser = parse_shard)]
    shard: Option<Shard>,
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    Shard::parse(text, |name| std::env::var(name).ok())
}

fn merge(args: &MergeArgs) -> anyhow::Result<()> {
    let budget = budget_of(args.mem_budget.as_deref())?;
    let mut progress = Bar::new(args.quiet, false);
    let merged = bigstyle::merge::merge(
        &args.parts,
        args.output.as_deref(),
        budget,
        args.no_clobber,
        &mut progress,
    )?;
    progress.finish();
    if args.json {
        println!("{}", serde_json::to_value(&merged)?);
    } else if !args.quiet {
        eprintln!(
            "{} parts -> {} ({}x{})",
            merged.parts,
            merged.output.display(),
            merged.width,
            merged.height
        );
    }
    Ok(())
}

/// The output's size: the input is resized (Lanczos-3) as it is read, before stylizing.
#[derive(Debug, clap::Args)]
struct SizeArgs {
    /// Output width in pixels (the height follows the aspect ratio unless --height is given;
    /// with both, the largest size that fits inside, aspect kept).
    #[arg(long, value_name = "PX", value_parser = clap::value_parser!(u32).range(1..))]
    width: Option<u32>,
    /// Output height in pixels (see --width).
    #[arg(long, value_name = "PX", value_parser = clap::value_parser!(u32).range(1..))]
    height: Option<u32>,
    /// Print size, e.g. 24x36in or 60x90cm: the output is made at that size times --dpi
    /// (aspect kept, fitting inside).
    #[arg(long, value_name = "WxH{in,cm}", value_parser = parse_print_size, conflicts_with_all = ["width", "height"])]
    print: Option<(f64, f64)>,
    /// Resolution written to the output (dots per inch), and with --print the pixels per inch.
    #[arg(long, value_name = "N", value_parser = parse_dpi)]
    dpi: Option<f64>,
}

impl SizeArgs {
    fn request(&self) -> SizeRequest {
        SizeRequest {
            width: self.width.map(|v| v as usize),
            height: self.height.map(|v| v as usize),
            print_inches: self.print,
            dpi: self.dpi,
        }
    }
}

fn parse_dpi(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0 && *v <= 1e6)
        .ok_or_else(|| format!("{text}: expected a positive number of dots per inch"))
}

/// The message of the last panic, kept by the panic hook for the one error line.
static LAST_PANIC: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    // A panic is a bug; the library recovers some (a decoder's on a malformed file), so the hook
    // only keeps the message, and an unrecovered one becomes one line and status 1 below.
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = message.replace('\n', " ");
    }));
    remove_temporaries_on_interrupt();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: clap's own output, status 0.
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            // A usage error is a failure like any other: one line, status 1.
            // clap's first paragraph holds the message (and, for a missing argument, its name).
            let text = e.render().to_string();
            let paragraph: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.is_empty())
                .collect();
            eprintln!("{} (see --help)", paragraph.join(" "));
            return 1;
        }
    };
    match std::panic::catch_unwind(|| run(cli)) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            eprintln!("error: {}", one_line(&e));
            1
        }
        Err(_) => {
            let message = LAST_PANIC.lock().map(|m| m.clone()).unwrap_or_default();
            eprintln!("error: internal error: {message}");
            1
        }
    }
}

/// On SIGINT or SIGTERM: remove the run's temporary files, say so in one line, and exit with
/// the shell's status for the signal (130, 143).
fn remove_temporaries_on_interrupt() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            bigstyle::io::cleanup::remove_all();
            let kept = bigstyle::io::cleanup::kept();
            match kept.first() {
                Some(dir) => eprintln!(
                    "error: interrupted (signal {signal}); temporary files removed, finished work kept in {} (run again with --resume to continue)",
                    dir.display()
                ),
                None => eprintln!("error: interrupted (signal {signal}); temporary files removed"),
            }
            std::process::exit(128 + signal);
        }
    });
}

/// An error and its causes on one line, each fact once: a cause whose text its parent already
/// includes (an I/O error inside "file: error") is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text.replace('\n', " ")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Styles { json }) => {
            print_styles(json);
            Ok(())
        }
        Some(Command::Info(args)) => {
            let (budget, colour) = (budget(&args.plan)?, args.colour.options());
            let (net, style) = args.network.network(&args.input, budget, &colour)?;
            with_engine(args.plan.device, net, |e| info(e, &style, &args))
        }
        Some(Command::Proof(args)) => run_stylize(&args.run, Make::Proof(args.size)),
        Some(Command::Sheet(args)) => sheet(&args),
        Some(Command::Merge(args)) => merge(&args),
        None => run_stylize(&cli.run, Make::Image),
    }
}

thread_local! {
    /// The MPI job this process belongs to (`--mpi`); MPI is used from the main thread only.
    static TEAM: std::cell::RefCell<Option<std::sync::Arc<dyn Team>>> = const { std::cell::RefCell::new(None) };
}

/// Joins the MPI job (`--mpi`), or says that this build cannot.
#[cfg(feature = "mpi")]
fn join_team() -> anyhow::Result<std::sync::Arc<dyn Team>> {
    Ok(std::sync::Arc::new(bigstyle::mpi_team::MpiTeam::init()?))
}

#[cfg(not(feature = "mpi"))]
fn join_team() -> anyhow::Result<std::sync::Arc<dyn Team>> {
    anyhow::bail!("--mpi: this bigstyle was built without MPI (build it with --features mpi)")
}

/// One image stylized by every process of an MPI job: each its band, rank 0 merges. An error
/// on any rank ends the whole job (the others would wait for it forever).
fn run_team(args: &RunArgs, make: Make) -> anyhow::Result<()> {
    if !matches!(make, Make::Image) || args.inputs.len() != 1 {
        anyhow::bail!("--mpi stylizes one image");
    }
    let team = join_team()?;
    TEAM.with(|t| *t.borrow_mut() = Some(team.clone()));
    let input = &args.inputs[0];
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(input, "styled.tif"));
    let outcome = (|| -> anyhow::Result<()> {
        let (budget, colour) = (budget(&args.plan)?, args.colour.options());
        let (net, style) = args.network.network(input, budget, &colour)?;
        with_engine(args.plan.device, net, |e| {
            let summary = stylize(e, &style, input, Some(output.clone()), args, make)?;
            let mut progress = Bar::new(true, false);
            let merged = bigstyle::merge::merge_team(
                team.as_ref(),
                &output,
                budget,
                args.no_clobber,
                &mut progress,
            )?;
            if merged.is_some() {
                report(&summary, &style, args)?;
            }
            Ok(())
        })
    })();
    if let Err(e) = &outcome {
        eprintln!("error: rank {}: {}", team.rank(), one_line(e));
        if team.size() > 1 {
            team.abort(1);
        }
    }
    TEAM.with(|t| t.borrow_mut().take());
    outcome.map_err(|e| anyhow::anyhow!("{}", one_line(&e)))
}

/// Stylizes (or proofs) the input of `args`, or each of its inputs in a batch.
fn run_stylize(args: &RunArgs, make: Make) -> anyhow::Result<()> {
    let first = args
        .inputs
        .first()
        .context("no input image given (see --help)")?;
    if args.mpi {
        return run_team(args, make);
    }
    if batch::is_batch(&args.inputs, args.output.as_deref()) {
        return run_batch(args, make);
    }
    let piped = Pipes::open(first, args)?;
    let (input, output) = (piped.input(first), piped.output(args.output.clone()));
    let (budget, colour) = (budget(&args.plan)?, args.colour.options());
    let (net, style) = args.network.network(input, budget, &colour)?;
    with_engine(args.plan.device, net, |e| {
        let summary = stylize(e, &style, input, output, args, make)?;
        piped.finish()?;
        report(&summary, &style, args)
    })
}

/// `-` as the input or the output: standard input spooled to a temporary file (TIFF needs to
/// seek), the output written to a temporary file and copied to standard output at the end.
struct Pipes {
    _dir: Option<tempfile::TempDir>,
    input: Option<PathBuf>,
    output: Option<PathBuf>,
}

impl Pipes {
    fn open(input: &Path, args: &RunArgs) -> anyhow::Result<Self> {
        let stdin = input.as_os_str() == "-";
        let stdout = args.output.as_deref().is_some_and(|o| o.as_os_str() == "-");
        if !stdin && !stdout {
            return Ok(Self {
                _dir: None,
                input: None,
                output: None,
            });
        }
        if stdout && args.json {
            anyhow::bail!("-o - writes the image to standard output: --json cannot share it");
        }
        if stdin && args.output.is_none() {
            anyhow::bail!("with the input from standard input, name the output: -o FILE, or -o - for standard output");
        }
        let root = args.scratch_dir.clone().unwrap_or_else(std::env::temp_dir);
        let dir = tempfile::Builder::new()
            .prefix("bigstyle-pipe")
            .tempdir_in(&root)?;
        bigstyle::io::cleanup::register(dir.path());
        let input = if stdin {
            let path = dir.path().join("stdin");
            let mut file = std::fs::File::create(&path)?;
            std::io::copy(&mut std::io::stdin().lock(), &mut file)
                .context("reading standard input")?;
            Some(path)
        } else {
            None
        };
        let extension = match args.format {
            FormatArg::Tif => "tif",
            FormatArg::Png => "png",
            FormatArg::Jpg => "jpg",
        };
        let output = stdout.then(|| dir.path().join(format!("stdout.{extension}")));
        Ok(Self {
            _dir: Some(dir),
            input,
            output,
        })
    }

    fn input<'a>(&'a self, given: &'a Path) -> &'a Path {
        self.input.as_deref().unwrap_or(given)
    }

    fn output(&self, given: Option<PathBuf>) -> Option<PathBuf> {
        self.output.clone().or(given)
    }

    /// Copies the finished output to standard output, if that is where it goes.
    fn finish(&self) -> anyhow::Result<()> {
        if let Some(path) = &self.output {
            let mut file = std::fs::File::open(path)?;
            std::io::copy(&mut file, &mut std::io::stdout().lock())
                .context("writing standard output")?;
        }
        Ok(())
    }
}

/// A batch: every job with one engine and one style (a style image's vector predicted once;
/// with --strength each file's own), failures reported and counted, the others done.
fn run_batch(args: &RunArgs, make: Make) -> anyhow::Result<()> {
    if let Make::Proof(_) = make {
        anyhow::bail!("proof takes one input image");
    }
    let extension = match args.format {
        FormatArg::Tif => "tif",
        FormatArg::Png => "png",
        FormatArg::Jpg => "jpg",
    };
    let jobs = batch::jobs(&args.inputs, args.output.as_deref(), extension)?;
    let (budget, colour) = (budget(&args.plan)?, args.colour.options());
    let per_file_style = args.network.strength.is_some() && !args.network.style_image.is_empty();
    let started = Instant::now();
    let mut results = Vec::new();
    let (net, style) = args.network.network(&jobs[0].input, budget, &colour)?;
    with_engine(args.plan.device, net, |e| {
        for (k, job) in jobs.iter().enumerate() {
            let label = format!("[{}/{}] {}", k + 1, jobs.len(), job.input.display());
            if args.resume && job.output.exists() {
                results.push(serde_json::json!({"input": job.input, "output": job.output, "status": "skipped"}));
                continue;
            }
            let outcome = job
                .output
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .map_err(anyhow::Error::from)
                .and_then(|()| {
                    let style = if per_file_style {
                        args.network.network(&job.input, budget, &colour)?.1
                    } else {
                        style.clone()
                    };
                    stylize(
                        e,
                        &style,
                        &job.input,
                        Some(job.output.clone()),
                        args,
                        Make::Image,
                    )
                });
            match outcome {
                Ok(summary) => {
                    if !args.quiet && !args.json {
                        eprintln!(
                            "{label} -> {} ({:.1} s)",
                            summary.output.display(),
                            summary.render_seconds + summary.stats_seconds
                        );
                    }
                    let mut value = serde_json::to_value(&summary)?;
                    value["status"] = "ok".into();
                    results.push(value);
                }
                Err(err) => {
                    eprintln!("error: {label}: {}", one_line(&err));
                    results.push(serde_json::json!({"input": job.input, "output": job.output, "status": "failed", "error": one_line(&err)}));
                }
            }
        }
        Ok(())
    })?;
    let count = |status: &str| results.iter().filter(|r| r["status"] == status).count();
    let (ok, failed, skipped) = (count("ok"), count("failed"), count("skipped"));
    if args.json {
        let totals = serde_json::json!({"files": results.len(), "ok": ok, "failed": failed, "skipped": skipped,
            "seconds": started.elapsed().as_secs_f64(), "peak_rss_bytes": peak_rss_bytes()});
        println!(
            "{}",
            serde_json::json!({"files": results, "totals": totals})
        );
    } else if !args.quiet {
        eprintln!(
            "{ok} done, {failed} failed, {skipped} skipped, {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} files failed", results.len());
    }
    Ok(())
}

/// The contact sheet: the 26 built-in styles, then the style images; a legend on stdout.
fn sheet(args: &SheetArgs) -> anyhow::Result<()> {
    let budget = budget_of(args.mem_budget.as_deref())?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.input, "sheet.png"));
    let builtin = CpuEngine::builtin();
    let arbitrary_engine = CpuEngine::new(arbitrary::transformer());
    let mut cells: Vec<Cell<'_, CpuEngine>> = (0..multistyle26::NUM_STYLES)
        .map(|i| {
            Ok(Cell {
                engine: &builtin,
                style: multistyle26::parse_style(&i.to_string())?,
                label: i,
            })
        })
        .collect::<bigstyle::Result<_>>()?;
    let predictor = StylePredictor::default();
    for (k, path) in args.style_image.iter().enumerate() {
        let vector = predictor.from_file(path, budget, &ColourOptions::default())?;
        cells.push(Cell {
            engine: &arbitrary_engine,
            style: StyleCode::Vector(vector),
            label: multistyle26::NUM_STYLES + k,
        });
        println!("{:3}  {}", multistyle26::NUM_STYLES + k, path.display());
    }
    contact_sheet(&args.input, &output, &cells, args.size, budget)?;
    eprintln!("{} -> {}", args.input.display(), output.display());
    Ok(())
}

/// Calls `f` with `net` on the engine `--device` names.
fn with_engine(
    device: Device,
    net: Network,
    f: impl FnOnce(&dyn Session) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match device {
        Device::Cpu => f(&Runner(&CpuEngine::new(net))),
        Device::BurnCpu => f(&Runner(&BurnEngine::<CpuBackend>::new(
            net,
            &Default::default(),
        ))),
        Device::Auto if gpu::AVAILABLE => match gpu::cuda(net.clone(), 0) {
            Ok(engine) => f(&Runner(&engine)),
            Err(_) => f(&Runner(&CpuEngine::new(net))),
        },
        Device::Auto => f(&Runner(&CpuEngine::new(net))),
        Device::Cuda(index) => f(&Runner(&gpu::cuda(net, index)?)),
    }
}

/// What the command line does with an engine, behind one object-safe interface.
trait Session {
    fn stylize(
        &self,
        input: &Path,
        output: &Path,
        opts: &Options,
        stroke: (stroke::Scale, f64),
        progress: &mut dyn Progress,
    ) -> bigstyle::Result<bigstyle::Summary>;
    fn proof(
        &self,
        input: &Path,
        output: &Path,
        opts: &Options,
        scale: stroke::Scale,
        side: usize,
        progress: &mut dyn Progress,
    ) -> bigstyle::Result<bigstyle::Summary>;
    fn name(&self) -> String;
    fn network(&self) -> &Network;
    fn bytes_per_pixel(&self) -> u64;
    fn estimate_seconds(
        &self,
        style: &StyleCode,
        plan: &TilePlan,
        mode: &StatsMode,
        precision: ScratchPrecision,
    ) -> bigstyle::Result<f64>;
}

struct Runner<'a, E: Engine>(&'a E);

impl<E: Engine> Session for Runner<'_, E> {
    fn stylize(
        &self,
        input: &Path,
        output: &Path,
        opts: &Options,
        stroke: (stroke::Scale, f64),
        progress: &mut dyn Progress,
    ) -> bigstyle::Result<bigstyle::Summary> {
        stroke::stylize_scaled(self.0, input, output, opts, stroke, progress)
    }

    fn proof(
        &self,
        input: &Path,
        output: &Path,
        opts: &Options,
        scale: stroke::Scale,
        side: usize,
        progress: &mut dyn Progress,
    ) -> bigstyle::Result<bigstyle::Summary> {
        stroke::proof(self.0, input, output, opts, scale, side, progress)
    }

    fn name(&self) -> String {
        self.0.name()
    }

    fn network(&self) -> &Network {
        self.0.network()
    }

    fn bytes_per_pixel(&self) -> u64 {
        self.0.bytes_per_pixel()
    }

    /// The run's time from its plan and the layers timed on this engine at the plan's tile
    /// size (0.4 s; the progress bar's weights).
    fn estimate_seconds(
        &self,
        style: &StyleCode,
        plan: &TilePlan,
        mode: &StatsMode,
        precision: ScratchPrecision,
    ) -> bigstyle::Result<f64> {
        let net = self.0.network();
        let costs = LayerCosts::timed(self.0, &StyleAffine::new(net, style)?, plan.tile)?;
        let bytes_per_pixel = self.0.bytes_per_pixel();
        Ok(run_seconds(
            net,
            &costs,
            bytes_per_pixel,
            plan,
            mode,
            precision,
        ))
    }
}

fn budget(plan: &PlanArgs) -> anyhow::Result<u64> {
    budget_of(plan.mem_budget.as_deref())
}

/// `--mem-budget`'s value, or the default budget when it is not given.
fn budget_of(text: Option<&str>) -> anyhow::Result<u64> {
    Ok(match text {
        Some(text) => parse_size(text)?,
        None => default_budget(),
    })
}

/// The library's options from the run's flags.
fn options(args: &RunArgs, style: &StyleCode) -> anyhow::Result<Options> {
    let stats = match &args.stats_file {
        Some(path) => StatsMode::File(path.clone()),
        None => args.plan.stats.clone(),
    };
    Ok(Options {
        tile: args.plan.tile,
        overlap: args.plan.overlap,
        style: style.clone(),
        stats,
        save_stats: args.save_stats.clone(),
        scratch_dir: args.scratch_dir.clone(),
        scratch_precision: args.plan.scratch_precision.into(),
        bigtiff: args.bigtiff.then_some(true),
        mem_budget: budget(&args.plan)?,
        compression: args.compress.into(),
        keep_gray: args.keep_gray,
        colour: args.colour.options(),
        no_clobber: args.no_clobber,
        quality: args.quality,
        look: Look {
            strength: match style {
                StyleCode::Vector(_) => 1.0,
                _ => args.network.strength.unwrap_or(1.0),
            },
            preserve_colour: args.preserve_colour,
        },
        wrap: args.wrap,
        size: args.size.request(),
        resume: args.resume,
        shard: args.shard.shard,
        team: TEAM.with(|t| t.borrow().clone()),
    })
}

/// What a stylizing command makes.
enum Make {
    /// The stylized image.
    Image,
    /// A proof of this many px on its longer side.
    Proof(usize),
}

fn stylize(
    engine: &dyn Session,
    style: &StyleCode,
    input: &Path,
    output: Option<PathBuf>,
    args: &RunArgs,
    make: Make,
) -> anyhow::Result<bigstyle::Summary> {
    let named = output.is_some();
    let output = output.unwrap_or_else(|| match make {
        Make::Image => default_output(input, "styled.tif"),
        Make::Proof(_) => default_output(input, "proof.png"),
    });
    if !named && !args.no_clobber && output.exists() {
        // Two inputs with the same stem (photo.tif, photo.jpg) share a default output.
        eprintln!(
            "warning: {} exists and is replaced (-o names another output; -n keeps it)",
            output.display()
        );
    }
    let opts = options(args, style)?;
    let mut progress = Bar::new(args.quiet, args.verbose);
    // Library errors name the file they concern: no context is added, so no fact appears twice.
    let summary = match make {
        Make::Image => {
            let stroke = (args.stroke_scale, args.stroke_detail);
            engine.stylize(input, &output, &opts, stroke, &mut progress)?
        }
        Make::Proof(side) => engine.proof(
            input,
            &output,
            &opts,
            args.stroke_scale,
            side,
            &mut progress,
        )?,
    };
    progress.finish();
    Ok(summary)
}

/// The one-file run's report: the JSON summary, or one line.
fn report(summary: &bigstyle::Summary, style: &StyleCode, args: &RunArgs) -> anyhow::Result<()> {
    let seconds = summary.stats_seconds + summary.render_seconds;
    if args.json {
        let mut value = serde_json::to_value(summary)?;
        value["seconds"] = seconds.into();
        value["style"] = serde_json::to_value(style)?;
        value["peak_rss_bytes"] = peak_rss_bytes().into();
        println!("{value}");
    } else if !args.quiet {
        eprintln!(
            "{} -> {} ({}x{}, {} tiles of {} px on {}, {:.1} s)",
            summary.input.display(),
            summary.output.display(),
            summary.width,
            summary.height,
            summary.tiles,
            summary.tile,
            summary.engine,
            seconds
        );
    }
    Ok(())
}

fn info(engine: &dyn Session, style: &StyleCode, args: &InfoArgs) -> anyhow::Result<()> {
    let budget = budget(&args.plan)?;
    let image = InputImage::open_sized(
        &args.input,
        budget,
        &args.colour.options(),
        &args.size.request(),
    )?;
    let info = image.info().clone();
    let colour = image.colour().describe();
    let bpp = engine.bytes_per_pixel();
    let overlap = args.plan.overlap;
    let tile = choose_tile(&info, args.plan.tile, overlap, bpp, budget)?;
    let geometry = engine.network().geometry();
    let plan = TilePlan::new(info.width, info.height, tile, overlap, geometry)?;
    let estimate = memory::estimate(&info, tile, overlap, bpp);
    let mode = &args.plan.stats;
    let precision: ScratchPrecision = args.plan.scratch_precision.into();
    let seconds = engine.estimate_seconds(style, &plan, mode, precision)?;
    let network = engine.network().family.clone();
    let scratch = match mode {
        StatsMode::Exact if !plan.is_one_window() => {
            scratch_need(engine.network(), &plan, precision)
        }
        _ => 0,
    };
    if args.json {
        let value = serde_json::json!({
            "input": args.input,
            "width": info.width,
            "height": info.height,
            "bands": info.layout.samples(),
            "layout": info.layout,
            "bits": info.bits,
            "storage": info.storage,
            "icc_profile_bytes": info.icc.as_ref().map_or(0, Vec::len),
            "colour": colour,
            "resolution": info.resolution,
            "network": network,
            "engine": engine.name(),
            "tile": tile,
            "overlap": overlap,
            "tiles": plan.len(),
            "grid": [plan.cols(), plan.rows()],
            "stats": mode.to_string(),
            "mem_budget": budget,
            "memory_estimate": estimate.total(),
            "scratch_bytes": scratch,
            "estimated_seconds": seconds,
        });
        println!("{value}");
        return Ok(());
    }
    let icc = info
        .icc
        .as_ref()
        .map_or("none".into(), |p| format!("{} bytes", p.len()));
    let resolution = info.resolution.map_or("none".into(), |r| {
        let unit = match r.unit {
            2 => "inch",
            3 => "cm",
            _ => "unit",
        };
        let ratio = |(n, d): (u32, u32)| f64::from(n) / f64::from(d.max(1));
        format!("{:.2} x {:.2} px/{unit}", ratio(r.x), ratio(r.y))
    });
    println!("{}", args.input.display());
    println!(
        "  size        {} x {} px, {} band(s) ({:?}), {} bits",
        info.width,
        info.height,
        info.layout.samples(),
        info.layout,
        info.bits
    );
    println!("  storage     {}", info.storage);
    println!("  ICC profile {icc}");
    println!("  colour      {colour}");
    println!("  resolution  {resolution}");
    println!("plan for {network} on {}:", engine.name());
    println!(
        "  tiles       {} ({} x {}) of {tile} px, overlap {overlap} px",
        plan.len(),
        plan.cols(),
        plan.rows()
    );
    println!("  statistics  {mode}");
    println!(
        "  memory      about {} (budget {})",
        format_size(estimate.total()),
        format_size(budget)
    );
    if scratch > 0 {
        println!("  scratch     about {} of disk", format_size(scratch));
    }
    println!("  time        about {seconds:.1} s");
    Ok(())
}

/// `<stem>.<suffix>` beside the input.
fn default_output(input: &Path, suffix: &str) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    input.with_file_name(format!("{stem}.{suffix}"))
}

/// One-line looks of the 26 styles (the original release has no titles; see docs/STYLES.md).
const STYLE_LOOKS: [&str; multistyle26::NUM_STYLES] = [
    "soft pastel, light palette",
    "bold black outlines, flat yellow",
    "muted ink and wash",
    "vivid multicolour shards",
    "warm pastel, red accents",
    "warm oil strokes",
    "dark blue dotted",
    "saturated yellow on dark blue",
    "pink and cyan sketch",
    "teal and red patterned",
    "brown wood tones",
    "golden sketch",
    "pale lilac pastel",
    "green-yellow strokes",
    "pale wash, fine texture",
    "stained-glass cells",
    "blue-purple swirls",
    "red and blue blocks",
    "sepia drawing",
    "deep blue strokes",
    "dark red and black",
    "black brush outlines",
    "strong black contours, red",
    "dark charcoal",
    "light blue wash",
    "dark oil texture",
];

fn print_styles(json: bool) {
    if json {
        let styles: Vec<_> = STYLE_LOOKS
            .iter()
            .enumerate()
            .map(|(index, look)| serde_json::json!({"index": index, "look": look, "network": multistyle26::FAMILY}))
            .collect();
        println!("{}", serde_json::Value::from(styles));
        return;
    }
    println!(
        "The {} built-in styles of the multistyle26 network (Dumoulin et al. 2017):",
        multistyle26::NUM_STYLES
    );
    for (i, look) in STYLE_LOOKS.iter().enumerate() {
        println!("  {i:2}  {look}");
    }
    println!("Blend styles with weights, e.g. --style 3:0.5,12:0.5 (weights are normalised).");
    println!("Your own trained model: --model PATH (a PyTorch fast_neural_style checkpoint).");
    println!("docs/STYLES.md shows each one on the sample photo.");
}

/// Peak resident set size of this process (VmHWM), in bytes; 0 where unknown.
fn peak_rss_bytes() -> u64 {
    memory::proc_bytes("/proc/self/status", "VmHWM").unwrap_or(0)
}

/// The progress bar on stderr: one bar for the whole run once its length is known.
struct Bar {
    bar: ProgressBar,
    verbose: bool,
    whole_run: bool,
    /// The stage running and when it began (its time is a verbose note when it ends).
    current: Option<(String, Instant)>,
}

impl Bar {
    fn new(quiet: bool, verbose: bool) -> Self {
        let target = if quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:22} [{bar:30}] {percent:>3}%, {elapsed} elapsed, ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Self {
            bar,
            verbose,
            whole_run: false,
            current: None,
        }
    }

    /// Notes how long the stage that ran took, if the user asked for details.
    fn end_stage(&mut self) {
        if let Some((name, started)) = self.current.take() {
            let seconds = started.elapsed().as_secs_f64();
            self.note(&format!("{name}: {seconds:.2} s"));
        }
    }

    /// Ends the last stage and removes the bar.
    fn finish(&mut self) {
        self.end_stage();
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn shown(&self) -> bool {
        !self.bar.is_hidden()
    }

    fn total(&mut self, steps: usize) {
        self.whole_run = true;
        self.bar.set_length(steps as u64);
        self.bar.set_position(0);
        self.bar.reset_eta();
    }

    fn stage(&mut self, name: &str, steps: usize) {
        self.end_stage();
        self.current = Some((name.to_string(), Instant::now()));
        if !self.whole_run {
            self.bar.reset();
            self.bar.set_length(steps as u64);
        }
        self.bar.set_message(name.to_string());
    }

    fn advance(&mut self, steps: usize) {
        self.bar.inc(steps as u64);
    }

    fn note(&mut self, text: &str) {
        if self.verbose {
            self.bar.suspend(|| eprintln!("note: {text}"));
        }
    }

    fn warn(&mut self, text: &str) {
        self.bar.suspend(|| eprintln!("warning: {text}"));
    }
}
