//! Poster controls: stroke size for the print size (`--stroke-scale`) and the proof.

use std::path::Path;

use bigstyle::pipeline::{stylize_whole, Options};

use crate::common::{
    bigstyle, levels_apart, model, photo, planar, psnr, quantize, read_tiff, write_rgb_tiff,
};

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

/// `img` rolled by (`dx`, `dy`): pixel (x, y) moves to (x + dx, y + dy) modulo the size.
fn rolled(img: &image::RgbImage, dx: u32, dy: u32) -> image::RgbImage {
    let (w, h) = img.dimensions();
    image::RgbImage::from_fn(w, h, |x, y| {
        *img.get_pixel((x + w - dx) % w, (y + h - dy) % h)
    })
}

#[test]
fn wrap_output_is_the_network_on_a_torus() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (w, h) = (256u32, 192u32);
    let img = photo(w, h);
    write_rgb_tiff(Path::new(&p("a.tif")), &img);
    write_rgb_tiff(Path::new(&p("rolled.tif")), &rolled(&img, 64, 36));
    run_ok(&["--wrap", "-o", &p("a.out.tif"), &p("a.tif")]);
    run_ok(&["--wrap", "-o", &p("rolled.out.tif"), &p("rolled.tif")]);
    run_ok(&[
        "--wrap",
        "--tile",
        "64",
        "-o",
        &p("tiled.out.tif"),
        &p("a.tif"),
    ]);
    let out = read_tiff(Path::new(&p("a.out.tif")));
    let out_img =
        image::RgbImage::from_raw(w, h, out.samples.iter().map(|&v| v as u8).collect()).unwrap();
    // On a torus the network commutes with a roll: the seam is like any other place.
    let (max, _) = levels_apart(
        rolled(&out_img, 64, 36).as_raw(),
        &samples8(Path::new(&p("rolled.out.tif"))),
    );
    assert!(max <= 1, "roll changed the output by {max} levels");
    let (max, _) = levels_apart(out_img.as_raw(), &samples8(Path::new(&p("tiled.out.tif"))));
    assert!(max <= 1, "64 px tiles differ by {max} levels");
    // Independent reference: the untiled network on a 3x3 repeat; its centre sees the same
    // neighbourhood everywhere, and its statistics differ only by the outer border's.
    let repeat = image::RgbImage::from_fn(3 * w, 3 * h, |x, y| *img.get_pixel(x % w, y % h));
    let whole = stylize_whole(
        &model(),
        &Options::default().style,
        &planar(&repeat),
        3 * w as usize,
        3 * h as usize,
    )
    .unwrap();
    let whole = quantize(&whole, 3 * w as usize, 3 * h as usize);
    let centre = image::RgbImage::from_raw(3 * w, 3 * h, whole).unwrap();
    let centre = image::imageops::crop_imm(&centre, w, h, w, h).to_image();
    let db = psnr(centre.as_raw(), out_img.as_raw());
    eprintln!("wrap vs centre of an untiled 3x3 repeat: {db:.1} dB");
    assert!(db >= 35.0, "{db:.1} dB");
}

#[test]
fn wrap_refuses_what_cannot_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("odd.tif");
    write_rgb_tiff(&input, &photo(201, 160));
    let out = dir.path().join("out.tif");
    for extra in [&[][..], &["--stroke-scale", "2"][..]] {
        let i = if extra.is_empty() {
            &input
        } else {
            &dir.path().join("even.tif")
        };
        if !extra.is_empty() {
            write_rgb_tiff(i, &photo(200, 160));
        }
        let mut args = vec!["--wrap", "-o", out.to_str().unwrap(), i.to_str().unwrap()];
        args.extend_from_slice(extra);
        let run = bigstyle(&args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("--wrap"), "{stderr}");
        assert!(!out.exists());
    }
}

/// The samples of an 8-bit image file of any format bigstyle writes.
fn pixels8(path: &str) -> image::DynamicImage {
    image::open(path).unwrap()
}

#[test]
fn output_size_resamples_the_input_with_lanczos_as_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let img = photo(256, 192);
    write_rgb_tiff(Path::new(&p("in.tif")), &img);
    // --strength 0 writes the input as read: here, resized.
    run_ok(&[
        "--strength",
        "0",
        "--width",
        "640",
        "-o",
        &p("big.tif"),
        &p("in.tif"),
    ]);
    let big = pixels8(&p("big.tif")).to_rgb8();
    assert_eq!(big.dimensions(), (640, 480));
    let reference = image::imageops::resize(&img, 640, 480, image::imageops::Lanczos3);
    let db = psnr(big.as_raw(), reference.as_raw());
    eprintln!("--width 640 vs the image crate's Lanczos-3: {db:.1} dB");
    assert!(db >= 40.0, "{db:.1} dB");
    // Bands of the enlargement do not depend on the tiles that read them.
    run_ok(&["--width", "640", "-o", &p("styled.tif"), &p("in.tif")]);
    run_ok(&[
        "--width",
        "640",
        "--tile",
        "64",
        "-o",
        &p("tiled.tif"),
        &p("in.tif"),
    ]);
    let (max, _) = levels_apart(
        &samples8(Path::new(&p("styled.tif"))),
        &samples8(Path::new(&p("tiled.tif"))),
    );
    assert!(max <= 1, "{max} levels");
    // A print size at a resolution: pixels and the resolution tag, in every output format.
    for ext in ["tif", "png", "jpg"] {
        let out = p(&format!("print.{ext}"));
        run_ok(&[
            "--print",
            "2x1.5in",
            "--dpi",
            "300",
            "--stats",
            "thumbnail",
            "-o",
            &out,
            &p("in.tif"),
        ]);
        let (w, h) = image::image_dimensions(&out).unwrap();
        assert_eq!((w, h), (600, 450), "{ext}");
        let (x, y) = crate::io::dpi_of(Path::new(&out));
        assert!(
            (x - 300.0).abs() < 0.5 && (y - 300.0).abs() < 0.5,
            "{ext}: {x} x {y}"
        );
    }
    // --dpi alone retags without resampling.
    run_ok(&[
        "--dpi",
        "150",
        "--stats",
        "thumbnail",
        "-o",
        &p("tag.png"),
        &p("in.tif"),
    ]);
    assert_eq!(image::image_dimensions(p("tag.png")).unwrap(), (256, 192));
    assert!((crate::io::dpi_of(Path::new(&p("tag.png"))).0 - 150.0).abs() < 0.5);
    // What cannot be done: one line, nothing written.
    for args in [
        &["--print", "24x36in"][..],
        &["--print", "24x36in", "--dpi", "300", "--width", "10"][..],
        &["--print", "24x36"][..],
        &["--dpi", "0"][..],
    ] {
        let (out, input) = (p("refused.tif"), p("in.tif"));
        let mut all = args.to_vec();
        all.extend_from_slice(&["-o", &out, &input]);
        let run = bigstyle(&all);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(!Path::new(&out).exists());
    }
}

#[test]
fn resampling_a_cutout_ignores_the_colour_under_transparent_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let base = photo(96, 96);
    let cutout = |hidden: [u8; 3]| {
        image::RgbaImage::from_fn(96, 96, |x, y| {
            let (dx, dy) = (x as f64 - 48.0, y as f64 - 48.0);
            if dx * dx + dy * dy < 36.0 * 36.0 {
                let q = base.get_pixel(x, y);
                image::Rgba([q[0], q[1], q[2], 255])
            } else {
                image::Rgba([hidden[0], hidden[1], hidden[2], 0])
            }
        })
    };
    cutout([0, 0, 0]).save(p("black.png")).unwrap();
    cutout([255, 255, 255]).save(p("white.png")).unwrap();
    for name in ["black", "white"] {
        run_ok(&[
            "--width",
            "250",
            "-o",
            &p(&format!("{name}.out.png")),
            &p(&format!("{name}.png")),
        ]);
    }
    let visible = |path: &str| -> Vec<u8> {
        let img = pixels8(path).to_rgba8();
        assert_eq!(img.dimensions(), (250, 250));
        img.pixels()
            .flat_map(|q| {
                if q[3] > 0 {
                    [q[0], q[1], q[2]]
                } else {
                    [0, 0, 0]
                }
            })
            .collect()
    };
    let db = psnr(&visible(&p("black.out.png")), &visible(&p("white.out.png")));
    assert!(
        db >= 60.0,
        "the hidden colour shows through the enlargement: {db:.1} dB"
    );
}

#[test]
fn wrap_reaches_across_the_edges_and_nowhere_else() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (w, h) = (256u32, 192u32);
    let img = photo(w, h);
    let mut changed = img.clone();
    for y in 90..98 {
        for x in 0..8 {
            changed.put_pixel(x, y, image::Rgb([255, 255, 255]));
        }
    }
    write_rgb_tiff(Path::new(&p("a.tif")), &img);
    write_rgb_tiff(Path::new(&p("b.tif")), &changed);
    // Fixed statistics make the network local: a change reaches its receptive field only.
    run_ok(&[
        "--stats",
        "thumbnail",
        "--save-stats",
        &p("s.json"),
        "-o",
        &p("t.tif"),
        &p("a.tif"),
    ]);
    for name in ["a", "b"] {
        run_ok(&[
            "--wrap",
            "--stats-file",
            &p("s.json"),
            "-o",
            &p(&format!("{name}.out.tif")),
            &p(&format!("{name}.tif")),
        ]);
    }
    let (a, b) = (
        samples8(Path::new(&p("a.out.tif"))),
        samples8(Path::new(&p("b.out.tif"))),
    );
    let radius = 65 + 4; // the network's receptive radius and the stride's rounding
    let (mut across, mut outside) = (0, 0);
    for y in 0..h as usize {
        for x in 0..w as usize {
            let i = 3 * (y * w as usize + x);
            let moved = (0..3).any(|c| a[i + c].abs_diff(b[i + c]) > 1);
            // Circular distance to the changed block (columns 0..8, rows 90..98).
            let dx = if x < 8 {
                0
            } else {
                (x - 7).min(w as usize - x)
            };
            let dy = if (90..98).contains(&y) {
                0
            } else if y < 90 {
                90 - y
            } else {
                y - 97
            };
            if moved && dx.max(dy) > radius {
                outside += 1;
            }
            if moved && x >= w as usize - 20 {
                across += 1;
            }
        }
    }
    assert!(
        across > 0,
        "the change at the left edge did not reach the right edge"
    );
    assert_eq!(
        outside, 0,
        "{outside} pixels changed beyond the receptive field"
    );
}
