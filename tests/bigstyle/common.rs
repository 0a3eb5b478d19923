//! Helpers shared by the tests: test images, TIFF writing and reading, comparisons.

use std::fs::File;
use std::path::{Path, PathBuf};

use bigstyle::engine::burn::BurnEngine;
use bigstyle::engine::cpu::CpuEngine;
use bigstyle::engine::Engine;
use bigstyle::progress::NoProgress;
use bigstyle::{stylize_file, CpuBackend, Options};
use tiff::decoder::{Decoder, DecodingResult};
use tiff::encoder::{colortype, TiffEncoder};

/// Folder of committed test data.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The built-in network on the fast CPU engine (what the command line uses).
pub fn model() -> CpuEngine {
    CpuEngine::builtin()
}

/// The built-in network as a burn module on burn's CPU backend (the reference).
pub fn reference_model() -> BurnEngine<CpuBackend> {
    BurnEngine::builtin(&Default::default())
}

/// A `w × h` photograph made of real photos (astronaut, Chelsea) placed side by side and
/// mirrored, so that tests of any size see photographic detail at native resolution.
pub fn photo(w: u32, h: u32) -> image::RgbImage {
    let a = image::open(data("astronaut.png")).unwrap().to_rgb8();
    let b = image::open(data("chelsea.png")).unwrap().to_rgb8();
    image::RgbImage::from_fn(w, h, |x, y| {
        let (src, sx, sy) = if (x / 512 + y / 300) % 2 == 0 {
            (&a, x % 512, y % 512)
        } else {
            (&b, x % 451, y % 300)
        };
        *src.get_pixel(sx, sy)
    })
}

/// Planar 0..1 RGB of an 8-bit image.
pub fn planar(img: &image::RgbImage) -> Vec<f32> {
    let (w, h) = img.dimensions();
    let mut out = vec![0.0; 3 * (w * h) as usize];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * (w * h) as usize + i] = f32::from(p[c]) / 255.0;
        }
    }
    out
}

/// Planar 0..1 RGB quantised to interleaved 8-bit, as the pipeline writes it.
pub fn quantize(planar: &[f32], w: usize, h: usize) -> Vec<u8> {
    let mut out = vec![0u8; 3 * w * h];
    for i in 0..w * h {
        for c in 0..3 {
            out[3 * i + c] = (planar[c * w * h + i].clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
        }
    }
    out
}

/// Writes an 8-bit RGB TIFF (uncompressed).
pub fn write_rgb_tiff(path: &Path, img: &image::RgbImage) {
    let mut enc = TiffEncoder::new(File::create(path).unwrap()).unwrap();
    enc.write_image::<colortype::RGB8>(img.width(), img.height(), img.as_raw())
        .unwrap();
}

/// A decoded TIFF: dimensions, colour type and samples widened to u16.
pub struct Decoded {
    pub width: usize,
    pub height: usize,
    pub color: tiff::ColorType,
    pub samples: Vec<u16>,
}

/// Reads a whole TIFF with the `tiff` crate (an independent reader of what bigstyle wrote).
pub fn read_tiff(path: &Path) -> Decoded {
    let mut dec = Decoder::new(File::open(path).unwrap()).unwrap();
    let (w, h) = dec.dimensions().unwrap();
    let color = dec.colortype().unwrap();
    let samples = match dec.read_image().unwrap() {
        DecodingResult::U8(v) => v.into_iter().map(u16::from).collect(),
        DecodingResult::U16(v) => v,
        _ => panic!("unexpected sample type"),
    };
    Decoded {
        width: w as usize,
        height: h as usize,
        color,
        samples,
    }
}

/// Largest and mean absolute difference between two 8-bit sample arrays, in levels.
pub fn levels_apart(a: &[u8], b: &[u8]) -> (u8, f64) {
    assert_eq!(a.len(), b.len());
    let max = a
        .iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0);
    let mean = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / a.len() as f64;
    (max, mean)
}

/// PSNR (dB) between two 8-bit sample arrays.
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// Runs the library pipeline and returns the output's 8-bit samples.
pub fn run_tiled(input: &Path, dir: &Path, opts: &Options, tag: &str) -> Vec<u8> {
    run_tiled_on(&model(), input, dir, opts, tag)
}

/// [`run_tiled`] on a given engine (another network).
pub fn run_tiled_on(
    engine: &impl Engine,
    input: &Path,
    dir: &Path,
    opts: &Options,
    tag: &str,
) -> Vec<u8> {
    let out = dir.join(format!("{tag}.tif"));
    stylize_file(engine, input, &out, opts, &mut NoProgress).unwrap();
    read_tiff(&out)
        .samples
        .into_iter()
        .map(|v| v as u8)
        .collect()
}

/// Runs the `bigstyle` binary with `args`.
pub fn bigstyle(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_bigstyle"))
        .args(args)
        .output()
        .unwrap()
}

/// Options for small test images: 32 px tiles with exact-tiling overlap, thumbnail statistics.
pub fn small_opts() -> Options {
    Options {
        tile: Some(32),
        overlap: 68,
        stats: bigstyle::stats::StatsMode::Thumbnail(64),
        ..Options::default()
    }
}

/// A TIFF tag of unsigned values, if the file has it.
pub fn tag_u32s(path: &Path, tag: tiff::tags::Tag) -> Option<Vec<u32>> {
    let mut dec = Decoder::new(File::open(path).unwrap()).unwrap();
    dec.find_tag(tag)
        .unwrap()
        .map(|v| v.into_u32_vec().unwrap())
}

/// Runs the library pipeline from `input` to `output` with the CPU engine.
pub fn run(input: &Path, output: &Path, opts: &Options) {
    stylize_file(&model(), input, output, opts, &mut NoProgress).unwrap();
}

/// Runs the `bigstyle` binary, asserts success and parses the JSON it prints.
pub fn bigstyle_json(args: &[&str]) -> serde_json::Value {
    let out = bigstyle(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}
