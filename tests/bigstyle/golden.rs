//! The burn network against reference outputs of the original ONNX model (onnxruntime), made by
//! tools/make_golden.py.

use bigstyle::{parse_style, stylize_whole, Options};

use bigstyle::engine::Engine;

use crate::common::{data, levels_apart, model, planar, quantize, reference_model, run_tiled};

const CASES: [(&str, &str); 3] = [("s0", "0"), ("s7", "7"), ("blend3-12", "3:0.5,12:0.5")];

fn check_golden(net: &impl Engine) {
    for image in ["square", "wide"] {
        let input = image::open(data(&format!("golden/{image}_in.png")))
            .unwrap()
            .to_rgb8();
        let (w, h) = (input.width() as usize, input.height() as usize);
        for (tag, spec) in CASES {
            let weights = parse_style(spec).unwrap();
            let out = stylize_whole(net, &weights, &planar(&input), w, h).unwrap();
            let ours = quantize(&out, w, h);
            let reference = image::open(data(&format!("golden/{image}_{tag}.png")))
                .unwrap()
                .to_rgb8();
            let (max, mean) = levels_apart(&ours, reference.as_raw());
            eprintln!("{}: {image} {tag}: max {max}, mean {mean:.4}", net.name());
            assert!(
                max <= 2 && mean <= 0.2,
                "{}: {image} {tag}: max {max}, mean {mean}",
                net.name()
            );
        }
    }
}

#[test]
fn burn_model_matches_onnxruntime() {
    check_golden(&reference_model());
}

#[test]
fn cpu_engine_matches_onnxruntime() {
    check_golden(&model());
}

#[test]
fn cpu_engine_matches_burn_model_on_a_photo() {
    let img = crate::common::photo(333, 250);
    let (w, h) = (333, 250);
    let weights = parse_style("5:0.3,21:0.7").unwrap();
    let fast = quantize(
        &stylize_whole(&model(), &weights, &planar(&img), w, h).unwrap(),
        w,
        h,
    );
    let reference = quantize(
        &stylize_whole(&reference_model(), &weights, &planar(&img), w, h).unwrap(),
        w,
        h,
    );
    let (max, mean) = levels_apart(&fast, &reference);
    assert!(max <= 1 && mean <= 0.01, "max {max}, mean {mean}");
}

#[test]
fn tiled_pipeline_matches_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        tile: Some(32),
        overlap: 68,
        style: parse_style("3:0.5,12:0.5").unwrap(),
        ..Options::default()
    };
    let ours = run_tiled(&data("golden/wide_in.png"), dir.path(), &opts, "wide");
    let reference = image::open(data("golden/wide_blend3-12.png"))
        .unwrap()
        .to_rgb8();
    let (max, mean) = levels_apart(&ours, reference.as_raw());
    assert!(max <= 2 && mean <= 0.2, "max {max}, mean {mean}");
}

#[test]
fn every_simd_path_gives_the_same_picture() {
    // The kernels are chosen once per process: run the binary under each override.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tif");
    crate::common::write_rgb_tiff(&input, &crate::common::photo(150, 110));
    let mut outputs = Vec::new();
    for simd in ["avx512", "avx2", "generic"] {
        let out = dir.path().join(format!("{simd}.tif"));
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_bigstyle"))
            .env("BIGSTYLE_SIMD", simd)
            .args(["-q", "-o", out.to_str().unwrap(), input.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success());
        outputs.push(crate::common::read_tiff(&out).samples);
    }
    for (simd, other) in ["avx2", "generic"].iter().zip(&outputs[1..]) {
        let worst = outputs[0]
            .iter()
            .zip(other)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 1, "{simd}: {worst} levels from the default path");
    }
}
