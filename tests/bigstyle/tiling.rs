//! Tiling invariants: with exact statistics the tiled output is the untiled network's output,
//! and no statistics mode depends on the tile size.

use std::path::Path;

use bigstyle::progress::Progress;
use bigstyle::scratch::ScratchPrecision;
use bigstyle::stats::StatsMode;
use bigstyle::{parse_style, stylize_file, stylize_whole, Options};

use crate::common::{
    model, photo, planar, psnr, quantize, reference_model, run_tiled, run_tiled_on, write_rgb_tiff,
};

/// A photograph-sized, ragged image: a multiple of neither 4 nor any tile size used here.
const W: u32 = 1601;
const H: u32 = 1203;

fn untiled(img: &image::RgbImage, style: &str) -> Vec<u8> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let weights = parse_style(style).unwrap();
    let out = stylize_whole(&model(), &weights, &planar(img), w, h).unwrap();
    quantize(&out, w, h)
}

fn opts(tile: usize, stats: StatsMode) -> Options {
    Options {
        tile: Some(tile),
        overlap: 128,
        stats,
        ..Options::default()
    }
}

fn input(dir: &Path) -> (std::path::PathBuf, image::RgbImage) {
    let img = photo(W, H);
    let path = dir.join("photo.tif");
    write_rgb_tiff(&path, &img);
    (path, img)
}

#[test]
fn exact_statistics_reproduce_the_untiled_network() {
    let dir = tempfile::tempdir().unwrap();
    let (path, img) = input(dir.path());
    for (tile, style) in [(256, "0"), (512, "7"), (1024, "3:0.5,12:0.5")] {
        let reference = untiled(&img, style);
        let o = Options {
            style: parse_style(style).unwrap(),
            ..opts(tile, StatsMode::Exact)
        };
        let tiled = run_tiled(&path, dir.path(), &o, "exact");
        let db = psnr(&tiled, &reference);
        eprintln!("exact, tile {tile}, style {style}: {db:.1} dB from the untiled network");
        assert!(db >= 85.0, "tile {tile}: {db:.1} dB");
    }
}

/// The sweeps on the burn engine, the CUDA path's code on burn's CPU backend (halo crops and
/// moments on the device, each stored core cropped there before it is downloaded), reproduce
/// that engine's untiled network.
#[test]
fn exact_statistics_on_the_burn_engine_reproduce_its_untiled_network() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (403, 301);
    let img = photo(w as u32, h as u32);
    let path = dir.path().join("small.tif");
    write_rgb_tiff(&path, &img);
    let engine = reference_model();
    let style = parse_style("0").unwrap();
    let whole = stylize_whole(&engine, &style, &planar(&img), w, h).unwrap();
    let tiled = run_tiled_on(
        &engine,
        &path,
        dir.path(),
        &opts(128, StatsMode::Exact),
        "burn",
    );
    let db = psnr(&tiled, &quantize(&whole, w, h));
    eprintln!("burn engine, exact, tile 128: {db:.1} dB from its untiled network");
    assert!(db >= 85.0, "{db:.1} dB");
}

#[test]
fn output_does_not_depend_on_tile_size() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = input(dir.path());
    for stats in [StatsMode::Exact, StatsMode::Thumbnail(1024)] {
        let a = run_tiled(&path, dir.path(), &opts(512, stats.clone()), "a");
        let b = run_tiled(&path, dir.path(), &opts(768, stats.clone()), "b");
        let db = psnr(&a, &b);
        eprintln!("{stats}: tile 512 vs 768: {db:.1} dB");
        assert!(db >= 50.0, "{stats}: {db:.1} dB");
    }
}

#[test]
fn thumbnail_statistics_are_seamless_but_approximate() {
    let dir = tempfile::tempdir().unwrap();
    let (path, img) = input(dir.path());
    let reference = untiled(&img, "0");
    let thumb = run_tiled(
        &path,
        dir.path(),
        &opts(512, StatsMode::Thumbnail(800)),
        "t",
    );
    let db = psnr(&thumb, &reference);
    eprintln!("thumbnail=800: {db:.1} dB from the untiled network");
    // Approximate (a thumbnail's activations differ from full resolution ones), yet the same
    // picture: far above what a per-tile normalisation gives (~13 dB).
    assert!((17.0..50.0).contains(&db), "{db:.1} dB");
}

#[test]
fn saved_statistics_give_the_same_output() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = input(dir.path());
    let stats_path = dir.path().join("stats.json");
    let mut first = opts(512, StatsMode::Thumbnail(200));
    first.save_stats = Some(stats_path.clone());
    let a = run_tiled(&path, dir.path(), &first, "first");
    let b = run_tiled(
        &path,
        dir.path(),
        &opts(512, StatsMode::File(stats_path)),
        "second",
    );
    assert_eq!(psnr(&a, &b), f64::INFINITY);
}

/// f16 scratch maps (`--scratch-precision f16`) round what the sweeps keep: the output moves
/// from the f32 scratch's (and the untiled network's), but stays at 60 dB or more.
#[test]
fn f16_scratch_stays_within_60_db_of_f32_scratch() {
    let dir = tempfile::tempdir().unwrap();
    let (path, img) = input(dir.path());
    let reference = untiled(&img, "0");
    let exact = opts(256, StatsMode::Exact);
    let single = run_tiled(&path, dir.path(), &exact, "f32");
    let half = Options {
        scratch_precision: ScratchPrecision::F16,
        ..exact
    };
    let half = run_tiled(&path, dir.path(), &half, "f16");
    let worst = half
        .iter()
        .zip(&single)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap_or(0);
    let (db, from_untiled) = (psnr(&half, &single), psnr(&half, &reference));
    eprintln!("f16 scratch: {db:.1} dB from f32 scratch ({from_untiled:.1} dB from the untiled network), max {worst} levels");
    assert!(db.is_finite(), "f16 scratch changed nothing: not used?");
    assert!(
        db >= 60.0 && from_untiled >= 60.0,
        "{db:.1} / {from_untiled:.1} dB"
    );
}

/// Records what a run reports to its progress bar.
#[derive(Default)]
struct Recorder {
    /// Whether it claims a person watches (then the exact stages' weights are timed).
    shown: bool,
    total: usize,
    done: usize,
    /// Per stage: name, steps announced, steps done, calls.
    stages: Vec<(String, usize, usize, usize)>,
}

impl Progress for Recorder {
    fn shown(&self) -> bool {
        self.shown
    }
    fn total(&mut self, steps: usize) {
        self.total = steps;
    }
    fn stage(&mut self, name: &str, steps: usize) {
        self.stages.push((name.into(), steps, 0, 0));
    }
    fn advance(&mut self, steps: usize) {
        self.done += steps;
        if let Some(stage) = self.stages.last_mut() {
            stage.2 += steps;
            stage.3 += 1;
        }
    }
}

/// The bar's steps are weighted by work: every stage does what it announced, the run ends at its
/// total, and a tile of the sweep that runs the first layers weighs several of a residual sweep's;
/// with the weights counted, and timed as they are when a person watches.
#[test]
fn progress_ends_at_its_total_and_weighs_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = input(dir.path());
    let runs = [
        (StatsMode::Exact, 256, false),
        (StatsMode::Exact, 256, true),
        (StatsMode::Exact, 2048, false),
        (StatsMode::Thumbnail(512), 256, false),
        (StatsMode::Thumbnail(512), 2048, false),
    ];
    for (stats, tile, shown) in runs {
        let mut recorder = Recorder {
            shown,
            ..Recorder::default()
        };
        let out = dir.path().join("progress.tif");
        stylize_file(
            &model(),
            &path,
            &out,
            &opts(tile, stats.clone()),
            &mut recorder,
        )
        .unwrap();
        let label = format!("{stats} tile {tile}, shown {shown}");
        for (name, announced, done, _) in &recorder.stages {
            assert_eq!(announced, done, "{label}: stage {name}");
        }
        let off = recorder.done.abs_diff(recorder.total) as f64 / recorder.total as f64;
        assert!(
            off < 0.01,
            "{label}: {} of {}",
            recorder.done,
            recorder.total
        );
        if matches!(stats, StatsMode::Exact) && tile == 256 {
            let per_tile = |i: usize| {
                let (_, steps, _, calls) = &recorder.stages[i];
                *steps as f64 / *calls as f64
            };
            // Stage 1 is the sweep that runs the 9×9 first layer and writes the half-resolution
            // map; stage 4 a residual block's.
            assert!(
                per_tile(1) > 3.0 * per_tile(4),
                "{label}: {:?}",
                recorder.stages
            );
        }
    }
}
