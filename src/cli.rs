//! The command line: argument parsing, progress bar, one-line errors and the `--json` summary.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::model::cpu::CpuEngine;
use crate::model::{Engine, NUM_STYLES};
use crate::pipeline::{parse_style, stylize_file, Options, Progress, DEFAULT_THUMBNAIL};
use crate::stats::StatsMode;

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
    Styles,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Input image (TIFF streamed from disk; PNG, JPEG and others decoded whole).
    input: Option<PathBuf>,
    /// Output TIFF (default: <stem>.styled.tif beside the input).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Core tile side in px (multiple of 4).
    #[arg(long, default_value_t = 1024)]
    tile: usize,
    /// Context read around each tile, px (multiple of 4; 68 or more makes tiling exact).
    #[arg(long, default_value_t = 128)]
    overlap: usize,
    /// Style: an index (`7`) or a blend (`3:0.5,12:0.5`); see `bigstyle styles`.
    #[arg(long, default_value = "0")]
    style: String,
    /// Normalisation statistics: `exact` (whole image, the untiled result) or
    /// `thumbnail[=PX]` (from a downscaled copy, faster, approximate).
    #[arg(long, default_value = "exact")]
    stats: String,
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
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Styles) = cli.command {
        print_styles();
        return Ok(());
    }
    let args = cli.run;
    let input = args
        .input
        .clone()
        .context("no input image given (see --help)")?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&input));
    let opts = Options {
        tile: args.tile,
        overlap: args.overlap,
        style: parse_style(&args.style)?,
        stats: stats_mode(&args)?,
        save_stats: args.save_stats.clone(),
        scratch_dir: args.scratch_dir.clone(),
        bigtiff: args.bigtiff.then_some(true),
    };
    let engine = CpuEngine::builtin();
    let mut progress = Bar::new(args.quiet);
    let started = Instant::now();
    let summary = stylize_file(&engine, &input, &output, &opts, &mut progress)
        .with_context(|| format!("stylizing {}", input.display()))?;
    progress.bar.finish_and_clear();
    if args.json {
        let mut value = serde_json::to_value(&summary)?;
        value["seconds"] = started.elapsed().as_secs_f64().into();
        value["device"] = engine.name().into();
        value["style"] = args.style.clone().into();
        value["peak_rss_bytes"] = peak_rss_bytes().into();
        println!("{value}");
    } else if !args.quiet {
        eprintln!(
            "{} -> {} ({}x{}, {} tiles, {:.1} s)",
            input.display(),
            summary.output.display(),
            summary.width,
            summary.height,
            summary.tiles,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn stats_mode(args: &RunArgs) -> anyhow::Result<StatsMode> {
    if let Some(path) = &args.stats_file {
        return Ok(StatsMode::File(path.clone()));
    }
    match args.stats.split_once('=') {
        None if args.stats == "exact" => Ok(StatsMode::Exact),
        None if args.stats == "thumbnail" => Ok(StatsMode::Thumbnail(DEFAULT_THUMBNAIL)),
        Some(("thumbnail", px)) => {
            let px: usize =
                px.parse().ok().filter(|p| *p >= 16).with_context(|| {
                    format!("--stats {}: size must be 16 px or more", args.stats)
                })?;
            Ok(StatsMode::Thumbnail(px))
        }
        _ => anyhow::bail!("--stats {}: use exact or thumbnail[=PX]", args.stats),
    }
}

fn default_output(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    input.with_file_name(format!("{stem}.styled.tif"))
}

fn print_styles() {
    println!(
        "The {NUM_STYLES} built-in styles of the multistyle26 network (Dumoulin et al. 2017):"
    );
    for i in 0..NUM_STYLES {
        println!("  {i:2}  style {i}");
    }
    println!("Blend styles with weights, e.g. --style 3:0.5,12:0.5 (weights are normalised).");
    println!("See docs/STYLES.md for a sample of each.");
}

/// Peak resident set size of this process (VmHWM), in bytes; 0 where unknown.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

struct Bar {
    bar: ProgressBar,
}

impl Bar {
    fn new(quiet: bool) -> Self {
        let target = if quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{msg:24} [{bar:30}] {pos}/{len} tiles, ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Self { bar }
    }
}

impl Progress for Bar {
    fn stage(&mut self, name: &str, steps: usize) {
        self.bar.reset();
        self.bar.set_length(steps as u64);
        self.bar.set_message(name.to_string());
    }

    fn step(&mut self) {
        self.bar.inc(1);
    }
}
