//! Tiling invariants: with exact statistics the tiled output is the untiled network's output,
//! and no statistics mode depends on the tile size.

use std::path::Path;

use bigstyle::stats::StatsMode;
use bigstyle::{stylize_whole, Options};

use crate::common::{model, photo, planar, psnr, quantize, run_tiled, write_rgb_tiff};

/// A ragged size: a multiple of neither 4 nor any tile size used here.
const W: u32 = 613;
const H: u32 = 419;

fn untiled(img: &image::RgbImage) -> Vec<u8> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let weights = Options::default().style;
    let out = stylize_whole(&model(), &weights, &planar(img), w, h);
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
    let reference = untiled(&img);
    for tile in [128, 256, 1024] {
        let tiled = run_tiled(&path, dir.path(), &opts(tile, StatsMode::Exact), "exact");
        let db = psnr(&tiled, &reference);
        eprintln!("exact, tile {tile}: {db:.1} dB from the untiled network");
        assert!(db >= 50.0, "tile {tile}: {db:.1} dB");
    }
}

#[test]
fn output_does_not_depend_on_tile_size() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = input(dir.path());
    for stats in [StatsMode::Exact, StatsMode::Thumbnail(160)] {
        let a = run_tiled(&path, dir.path(), &opts(128, stats.clone()), "a");
        let b = run_tiled(&path, dir.path(), &opts(192, stats.clone()), "b");
        let db = psnr(&a, &b);
        eprintln!("{stats}: tile 128 vs 192: {db:.1} dB");
        assert!(db >= 50.0, "{stats}: {db:.1} dB");
    }
}

#[test]
fn thumbnail_statistics_are_seamless_but_approximate() {
    let dir = tempfile::tempdir().unwrap();
    let (path, img) = input(dir.path());
    let reference = untiled(&img);
    let thumb = run_tiled(
        &path,
        dir.path(),
        &opts(128, StatsMode::Thumbnail(320)),
        "t",
    );
    let db = psnr(&thumb, &reference);
    eprintln!("thumbnail=320: {db:.1} dB from the untiled network");
    // Approximate (a thumbnail's activations differ from full resolution ones), yet the same
    // picture: far above what a per-tile normalisation gives (~13 dB).
    assert!((17.0..50.0).contains(&db), "{db:.1} dB");
}

#[test]
fn saved_statistics_give_the_same_output() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = input(dir.path());
    let stats_path = dir.path().join("stats.json");
    let mut first = opts(256, StatsMode::Thumbnail(200));
    first.save_stats = Some(stats_path.clone());
    let a = run_tiled(&path, dir.path(), &first, "first");
    let b = run_tiled(
        &path,
        dir.path(),
        &opts(256, StatsMode::File(stats_path)),
        "second",
    );
    assert_eq!(psnr(&a, &b), f64::INFINITY);
}
