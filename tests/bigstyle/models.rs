//! Networks other than the built-in one: user-trained PyTorch fast_neural_style checkpoints
//! against PyTorch's own output (tools/make_transformer_net.py), their exact tiling, and the
//! refusal of files that are not such checkpoints.

use bigstyle::engine::burn::BurnEngine;
use bigstyle::engine::cpu::CpuEngine;
use bigstyle::engine::Engine;
use bigstyle::network::{transformer_net, Network, StyleCode};
use bigstyle::stats::StatsMode;
use bigstyle::{stylize_whole, CpuBackend, Options};

use crate::common::{
    bigstyle, data, levels_apart, photo, planar, psnr, quantize, run_tiled_on, write_rgb_tiff,
};

fn tnet(file: &str) -> Network {
    transformer_net::load(&data(&format!("models/{file}"))).unwrap()
}

fn check_against_pytorch(engine: &impl Engine) {
    for image in ["square", "wide"] {
        let input = image::open(data(&format!("golden/{image}_in.png")))
            .unwrap()
            .to_rgb8();
        let (w, h) = (input.width() as usize, input.height() as usize);
        let out = stylize_whole(engine, &StyleCode::Fixed, &planar(&input), w, h).unwrap();
        let reference = image::open(data(&format!("models/tnet_{image}.png")))
            .unwrap()
            .to_rgb8();
        let (max, mean) = levels_apart(&quantize(&out, w, h), reference.as_raw());
        eprintln!(
            "{}: transformer_net {image}: max {max}, mean {mean:.4} levels",
            engine.name()
        );
        assert!(max <= 1, "{image}: max {max} levels from PyTorch");
    }
}

#[test]
fn transformer_net_matches_pytorch_on_both_engines() {
    check_against_pytorch(&CpuEngine::new(tnet("tnet-zip.pth")));
    check_against_pytorch(&BurnEngine::<CpuBackend>::new(
        tnet("tnet-zip.pth"),
        &Default::default(),
    ));
}

#[test]
fn zip_and_legacy_checkpoints_hold_the_same_network() {
    let (zip, legacy) = (tnet("tnet-zip.pth"), tnet("tnet-legacy.pth"));
    assert_eq!(zip.id(), legacy.id());
    let g = zip.geometry();
    // 9×9 + 3×3 + 3×3@2 + ten 3×3@4 + 3×3@2 + 3×3 + 9×9, plus the stride's slack.
    assert_eq!(
        (g.stride, g.receptive_radius),
        (4, 4 + 1 + 2 + 40 + 2 + 1 + 4 + 3)
    );
}

#[test]
fn transformer_net_tiles_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (1201u32, 903u32);
    let img = photo(w, h);
    let path = dir.path().join("photo.tif");
    write_rgb_tiff(&path, &img);
    let engine = CpuEngine::new(tnet("tnet-zip.pth"));
    let untiled = quantize(
        &stylize_whole(
            &engine,
            &StyleCode::Fixed,
            &planar(&img),
            w as usize,
            h as usize,
        )
        .unwrap(),
        w as usize,
        h as usize,
    );
    for tile in [256, 512, 1024] {
        let opts = Options {
            tile: Some(tile),
            style: StyleCode::Fixed,
            stats: StatsMode::Exact,
            ..Options::default()
        };
        let tiled = run_tiled_on(&engine, &path, dir.path(), &opts, &format!("t{tile}"));
        let db = psnr(&tiled, &untiled);
        eprintln!("transformer_net exact, tile {tile}: {db:.1} dB from the untiled network");
        assert!(db >= 85.0, "tile {tile}: {db:.1} dB");
    }
}

#[test]
fn files_that_are_not_transformer_nets_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("small.tif");
    write_rgb_tiff(&input, &photo(64, 64));
    let zip = std::fs::read(data("models/tnet-zip.pth")).unwrap();
    let truncated = dir.path().join("truncated.pth");
    std::fs::write(&truncated, &zip[..zip.len() / 3]).unwrap();
    let text = dir.path().join("notes.pth");
    std::fs::write(&text, "not a checkpoint").unwrap();
    let foreign = data("models/foreign.pth");
    let cases = [
        (foreign.as_path(), "missing conv1.conv2d.weight"),
        (truncated.as_path(), "truncated.pth"),
        (text.as_path(), "notes.pth"),
    ];
    for (model, needle) in cases {
        let out = bigstyle(&["--model", model.to_str().unwrap(), input.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    }
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "something was written: {names:?}");
}

#[test]
fn a_model_runs_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("small.tif");
    write_rgb_tiff(&input, &photo(96, 72));
    let model = data("models/tnet-legacy.pth");
    let out = bigstyle(&[
        "--json",
        "--model",
        model.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["network"], "transformer_net");
    let both = bigstyle(&[
        "--style",
        "3",
        "--model",
        model.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(both.status.code(), Some(1));
}
