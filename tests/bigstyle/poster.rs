//! Poster controls: stroke size for the print size (`--stroke-scale`) and the proof.

use std::path::Path;

use crate::common::{bigstyle, photo, psnr, read_tiff, write_rgb_tiff};

fn run_ok(args: &[&str]) {
    let out = bigstyle(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn samples8(path: &Path) -> Vec<u8> {
    read_tiff(path)
        .samples
        .into_iter()
        .map(|v| v as u8)
        .collect()
}

#[test]
fn stroke_scale_one_is_the_ordinary_run_and_tiling_does_not_change_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tif");
    write_rgb_tiff(&input, &photo(1201, 903));
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let i = input.to_str().unwrap();
    run_ok(&["-o", &p("plain.tif"), i]);
    run_ok(&["--stroke-scale", "1", "-o", &p("one.tif"), i]);
    assert_eq!(
        std::fs::read(p("plain.tif")).unwrap(),
        std::fs::read(p("one.tif")).unwrap()
    );
    // S = 2.5: the network runs at 480x361; tiled (64 px tiles) against one window.
    run_ok(&["--stroke-scale", "2.5", "-o", &p("whole.tif"), i]);
    run_ok(&[
        "--stroke-scale",
        "2.5",
        "--tile",
        "64",
        "-o",
        &p("tiled.tif"),
        i,
    ]);
    let (whole, tiled) = (
        samples8(&dir.path().join("whole.tif")),
        samples8(&dir.path().join("tiled.tif")),
    );
    let db = psnr(&whole, &tiled);
    eprintln!("stroke scale 2.5: tiled vs one window {db:.1} dB");
    assert!(db >= 60.0, "{db:.1} dB");
    let plain = samples8(&dir.path().join("plain.tif"));
    assert!(
        psnr(&plain, &whole) < 30.0,
        "the stroke scale changed nothing"
    );
}

#[test]
fn bad_stroke_scales_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tif");
    write_rgb_tiff(&input, &photo(64, 48));
    let cases: [(&[&str], &str); 3] = [
        (&["--stroke-scale", "0.5"], "--stroke-scale"),
        (&["--stroke-scale", "big"], "--stroke-scale"),
        (
            &["--stroke-scale", "2", "--stroke-detail=-1"],
            "--stroke-detail",
        ),
    ];
    for (args, needle) in cases {
        let mut all = args.to_vec();
        all.push(input.to_str().unwrap());
        let out = bigstyle(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{all:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// 8-bit RGB samples averaged over `k`×`k` blocks.
fn box_down(samples: &[u8], w: usize, h: usize, k: usize) -> Vec<u8> {
    let (sw, sh) = (w / k, h / k);
    let mut out = Vec::with_capacity(3 * sw * sh);
    for y in 0..sh {
        for x in 0..sw {
            for c in 0..3 {
                let sum: u32 = (0..k * k)
                    .map(|i| u32::from(samples[3 * ((y * k + i / k) * w + x * k + i % k) + c]))
                    .sum();
                out.push(((sum as f64 / (k * k) as f64) + 0.5) as u8);
            }
        }
    }
    out
}

#[test]
fn a_proof_matches_the_final_run_where_a_small_run_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h, k) = (1600usize, 1200usize, 4usize);
    let input = dir.path().join("in.tif");
    write_rgb_tiff(&input, &photo(w as u32, h as u32));
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let i = input.to_str().unwrap();
    run_ok(&["--stroke-scale", "4", "-o", &p("final4.tif"), i]);
    run_ok(&[
        "proof",
        "--stroke-scale",
        "4",
        "--size",
        "400",
        "-o",
        &p("proof.tif"),
        i,
    ]);
    let final4 = box_down(&samples8(&dir.path().join("final4.tif")), w, h, k);
    let proof = samples8(&dir.path().join("proof.tif"));
    let matched = psnr(&proof, &final4);
    // Today's preview: the network on a 400-px copy, against the full run without stroke scale.
    run_ok(&["-o", &p("final1.tif"), i]);
    let small = image::imageops::resize(
        &photo(w as u32, h as u32),
        400,
        300,
        image::imageops::FilterType::Triangle,
    );
    write_rgb_tiff(&dir.path().join("small.tif"), &small);
    run_ok(&["-o", &p("naive.tif"), &p("small.tif")]);
    let final1 = box_down(&samples8(&dir.path().join("final1.tif")), w, h, k);
    let naive = psnr(&samples8(&dir.path().join("naive.tif")), &final1);
    eprintln!("proof vs final (stroke scale 4): {matched:.1} dB; small run vs final (no stroke scale): {naive:.1} dB");
    assert!(matched >= 30.0, "proof {matched:.1} dB from the final");
    assert!(naive < matched - 5.0, "naive {naive:.1} dB");
}

#[test]
fn the_contact_sheet_shows_every_style_numbered() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tif");
    write_rgb_tiff(&input, &photo(120, 80));
    let sheet = dir.path().join("sheet.png");
    let style = crate::common::data("chelsea.png");
    let out = bigstyle(&[
        "sheet",
        "--size",
        "60",
        "--style-image",
        style.to_str().unwrap(),
        "-o",
        sheet.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(" 26  "));
    // The input and 27 styles: 6 columns of 60 px, 5 rows of 40 px plus a label strip.
    let img = image::open(&sheet).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (360, 5 * (40 + 16)));
    // Every label strip under a style holds dark digit pixels; the input's (cell 0) does not.
    let dark_in_label = |cell: u32| {
        let (x0, y0) = ((cell % 6) * 60, (cell / 6) * 56 + 40);
        (x0..x0 + 30).any(|x| (y0..y0 + 16).any(|y| img.get_pixel(x, y)[0] < 64))
    };
    assert!(!dark_in_label(0));
    assert!((1..28).all(dark_in_label));
}
