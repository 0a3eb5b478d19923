//! Magenta arbitrary stylization against the float reference graph run by onnxruntime
//! (tools/make_arbitrary_reference.py): the style predictor's vector, and the transformer's
//! output with that vector, at 384² and at a ragged size.

use bigstyle::engine::burn::BurnEngine;
use bigstyle::engine::cpu::CpuEngine;
use bigstyle::engine::predictor::Predictor;
use bigstyle::engine::Engine;
use bigstyle::network::{arbitrary, StyleCode};
use bigstyle::{stylize_whole, CpuBackend};

use crate::common::{data, levels_apart, planar, quantize};

fn reference_vector() -> Vec<f32> {
    let text = std::fs::read_to_string(data("golden/arbitrary_style.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn style_vector_matches_the_float_reference() {
    let style = image::open(data("golden/arbitrary_style256.png"))
        .unwrap()
        .to_rgb8();
    let predictor = Predictor::<CpuBackend>::new(arbitrary::predictor(), &Default::default());
    let ours = predictor.predict(&planar(&style));
    let reference = reference_vector();
    assert_eq!(ours.len(), reference.len());
    let max = ours
        .iter()
        .zip(&reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let scale = reference.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
    eprintln!("style vector: max abs difference {max:.2e} (largest value {scale:.3})");
    assert!(max <= 1e-3, "max abs difference {max}");
}

fn check_transformer(engine: &impl Engine) {
    let astronaut = image::open(data("astronaut.png")).unwrap().to_rgb8();
    let square = image::imageops::crop_imm(&astronaut, 64, 64, 384, 384).to_image();
    let wide = image::open(data("golden/wide_in.png")).unwrap().to_rgb8();
    let style = StyleCode::Vector(reference_vector());
    for (name, input) in [("square384", square), ("wide", wide)] {
        let (w, h) = (input.width() as usize, input.height() as usize);
        let out = stylize_whole(engine, &style, &planar(&input), w, h).unwrap();
        let ours = quantize(&out, w, h);
        let reference = image::open(data(&format!("golden/arbitrary_{name}.png")))
            .unwrap()
            .to_rgb8();
        let (max, mean) = levels_apart(&ours, reference.as_raw());
        eprintln!(
            "{}: arbitrary {name}: max {max}, mean {mean:.4} levels",
            engine.name()
        );
        assert!(
            max <= 1,
            "{name}: max {max} levels from the float reference"
        );
    }
}

#[test]
fn transformer_matches_the_float_reference_on_both_engines() {
    check_transformer(&CpuEngine::new(arbitrary::transformer()));
    check_transformer(&BurnEngine::<CpuBackend>::new(
        arbitrary::transformer(),
        &Default::default(),
    ));
}

#[test]
fn arbitrary_stylization_tiles_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (1201u32, 903u32);
    let img = crate::common::photo(w, h);
    let path = dir.path().join("photo.tif");
    crate::common::write_rgb_tiff(&path, &img);
    let engine = CpuEngine::new(arbitrary::transformer());
    let style = StyleCode::Vector(reference_vector());
    let untiled = quantize(
        &stylize_whole(&engine, &style, &planar(&img), w as usize, h as usize).unwrap(),
        w as usize,
        h as usize,
    );
    for tile in [256, 512, 1024] {
        let opts = bigstyle::Options {
            tile: Some(tile),
            style: style.clone(),
            stats: bigstyle::stats::StatsMode::Exact,
            ..bigstyle::Options::default()
        };
        let tiled =
            crate::common::run_tiled_on(&engine, &path, dir.path(), &opts, &format!("t{tile}"));
        let db = crate::common::psnr(&tiled, &untiled);
        eprintln!("arbitrary exact, tile {tile}: {db:.1} dB from the untiled network");
        assert!(db >= 85.0, "tile {tile}: {db:.1} dB");
    }
}

/// Asserts a one-line failure (status 1) naming `needle`, with nothing written into `dir`.
fn assert_refused(args: &[&str], needle: &str, dir: &std::path::Path, files_before: usize) {
    let out = crate::common::bigstyle(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(needle),
        "{needle:?} not in {stderr}"
    );
    assert_eq!(
        std::fs::read_dir(dir).unwrap().count(),
        files_before,
        "{args:?} wrote a file"
    );
}

#[test]
fn bad_style_images_and_options_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    crate::common::write_rgb_tiff(&dir.path().join("in.tif"), &crate::common::photo(96, 64));
    std::fs::write(p("notes.png"), "not an image").unwrap();
    image::RgbImage::new(1, 1).save(p("dot.png")).unwrap();
    // A 100-megapixel style image (LZW-compressed zeros: a small file).
    let big = std::fs::File::create(p("huge.tif")).unwrap();
    let mut enc = tiff::encoder::TiffEncoder::new(big)
        .unwrap()
        .with_compression(tiff::encoder::Compression::Lzw);
    enc.write_image::<tiff::encoder::colortype::Gray8>(10_000, 10_000, &vec![0u8; 100_000_000])
        .unwrap();
    let input = p("in.tif");
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    let cases: [(&[&str], &str); 6] = [
        (&["--style-image", &p("notes.png")], "notes.png"),
        (&["--style-image", &p("dot.png")], "1x1 style image"),
        (&["--style-image", &p("huge.tif")], "100 MP style image"),
        (
            &["--style-image", &p("dot.png"), "--strength", "1.5"],
            "--strength",
        ),
        (&["--style-image", &p("dot.png"), "--style", "3"], "--style"),
        (&["--style-weights", "0.5"], "--style-image"),
    ];
    for (args, needle) in cases {
        let mut all: Vec<&str> = args.to_vec();
        all.push(&input);
        assert_refused(&all, needle, dir.path(), files);
    }
}

#[test]
fn strength_moves_from_the_content_style_to_the_style_image() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tif");
    crate::common::write_rgb_tiff(&input, &crate::common::photo(160, 120));
    let style = data("chelsea.png");
    let run = |strength: &str| {
        let out = dir.path().join(format!("s{strength}.tif"));
        let o = crate::common::bigstyle(&[
            "--style-image",
            style.to_str().unwrap(),
            "--strength",
            strength,
            "-o",
            out.to_str().unwrap(),
            input.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        crate::common::read_tiff(&out).samples
    };
    let (zero, half, full) = (run("0"), run("0.5"), run("1"));
    let distance = |a: &[u16], b: &[u16]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| x.abs_diff(*y) as u64)
            .sum::<u64>()
    };
    // Half strength lies between: closer to each end than the ends are to each other.
    assert!(distance(&half, &zero) < distance(&full, &zero));
    assert!(distance(&half, &full) < distance(&full, &zero));
}
