//! The seam and statistics comparison of docs/STATISTICS.md:
//! `cargo bench --bench seam_figure -- [SIZE] [OUT_DIR]`.
//!
//! Stylizes a SIZE×SIZE photograph (default 2048: the committed astronaut photo, upscaled) untiled,
//! then tiled (tile 512, overlap 128) with per-tile statistics (what generic tilers do), with
//! statistics from a 1024 px thumbnail, and with exact statistics; prints each one's PSNR against
//! the untiled network and writes a crop across a tile corner of each to OUT_DIR/seams.png.

use std::path::PathBuf;

use bigstyle::engine::cpu::CpuEngine;
use bigstyle::engine::{forward, Engine, NormSource};
use bigstyle::network::{StyleAffine, StyleCode};
use bigstyle::norm::NetworkStats;
use bigstyle::progress::NoProgress;
use bigstyle::stats::StatsMode;
use bigstyle::tiling::TilePlan;
use bigstyle::{stylize_file, stylize_whole, Options};

const TILE: usize = 512;
const CROP: u32 = 320;

/// One photograph over the whole image, so that tiles see different content (a sky-like
/// background, a white suit, a face), as in a real print file.
fn photo(n: u32) -> image::RgbImage {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let a = image::open(data.join("astronaut.png")).unwrap().to_rgb8();
    image::imageops::resize(&a, n, n, image::imageops::FilterType::Lanczos3)
}

fn planar(img: &image::RgbImage) -> Vec<f32> {
    let n = (img.width() * img.height()) as usize;
    let mut out = vec![0.0; 3 * n];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * n + i] = f32::from(p[c]) / 255.0;
        }
    }
    out
}

fn to_image(planar: &[f32], n: u32) -> image::RgbImage {
    let plane = (n * n) as usize;
    image::RgbImage::from_fn(n, n, |x, y| {
        let i = (y * n + x) as usize;
        image::Rgb(std::array::from_fn(|c| {
            (planar[c * plane + i].clamp(0.0, 1.0) * 255.0 + 0.5) as u8
        }))
    })
}

fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let mse = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / a.as_raw().len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-12)).log10()
}

/// What a generic tiler does: every tile normalised with its own statistics, hard seams.
fn per_tile(engine: &CpuEngine, img: &image::RgbImage, code: &StyleCode) -> image::RgbImage {
    let n = img.width() as usize;
    let net = engine.network();
    let plan = TilePlan::new(n, n, TILE, 128, net.geometry()).unwrap();
    let style = StyleAffine::new(net, code).unwrap();
    let src = planar(img);
    let mut out = vec![0.0f32; 3 * n * n];
    for tile in plan.tiles() {
        let w = tile.window;
        let mut window = Vec::with_capacity(3 * w.width() * w.height());
        for c in 0..3 {
            for y in w.y0..w.y1 {
                window.extend_from_slice(&src[c * n * n + y * n + w.x0..][..w.width()]);
            }
        }
        let mut stats = NetworkStats::empty(net.len());
        let x = engine.upload(window, 3, w.height(), w.width());
        let y = engine.download(forward(engine, x, &style, NormSource::Instance(&mut stats)));
        for c in 0..3 {
            for yy in tile.core.y0..tile.core.y1 {
                for xx in tile.core.x0..tile.core.x1 {
                    let v = y[(c * w.height() + yy - w.y0) * w.width() + xx - w.x0];
                    out[c * n * n + yy * n + xx] = v;
                }
            }
        }
    }
    to_image(&out, n as u32)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let n: u32 = args.first().and_then(|a| a.parse().ok()).unwrap_or(2048);
    let out_dir = PathBuf::from(args.get(1).cloned().unwrap_or_else(|| "docs/images".into()));
    std::fs::create_dir_all(&out_dir).unwrap();
    let engine = CpuEngine::builtin();
    let img = photo(n);
    let weights = bigstyle::parse_style("0").unwrap();
    let untiled = to_image(
        &stylize_whole(&engine, &weights, &planar(&img), n as usize, n as usize).unwrap(),
        n,
    );
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    img.save(&input).unwrap();
    let tiled = |stats: StatsMode| {
        let out = dir.path().join("out.png");
        let opts = Options {
            tile: Some(TILE),
            overlap: 128,
            stats,
            ..Options::default()
        };
        stylize_file(&engine, &input, &out, &opts, &mut NoProgress).unwrap();
        image::open(&out).unwrap().to_rgb8()
    };
    let results = [
        ("per-tile statistics", per_tile(&engine, &img, &weights)),
        (
            "thumbnail statistics (1024 px)",
            tiled(StatsMode::Thumbnail(1024)),
        ),
        ("exact statistics", tiled(StatsMode::Exact)),
    ];
    println!("{n}x{n} photo, tile {TILE}, overlap 128, style 0; PSNR against the untiled network:");
    for (name, out) in &results {
        println!("  {name:32} {:6.1} dB", psnr(out, &untiled));
    }
    // A crop centred on the corner shared by four tiles.
    let corner = (2 * TILE) as u32;
    let (x0, y0) = (corner - CROP / 2, corner - CROP / 2);
    let mut sheet = image::RgbImage::new(4 * CROP + 3 * 8, CROP);
    for (k, panel) in std::iter::once(&untiled)
        .chain(results.iter().map(|(_, o)| o))
        .enumerate()
    {
        let crop = image::imageops::crop_imm(panel, x0, y0, CROP, CROP).to_image();
        image::imageops::replace(&mut sheet, &crop, (k as u32 * (CROP + 8)) as i64, 0);
    }
    let path = out_dir.join("seams.png");
    sheet.save(&path).unwrap();
    println!(
        "wrote {} (untiled | per-tile | thumbnail | exact)",
        path.display()
    );
}
