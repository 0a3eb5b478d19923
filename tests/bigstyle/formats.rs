//! Print formats: every supported input layout and output format round-trips its bit depth,
//! alpha, resolution and profile; unsupported ones are refused in one line.

use std::fs::File;
use std::path::{Path, PathBuf};

use bigstyle::geom::Rect;
use bigstyle::io::tiff_out::Compression;
use bigstyle::io::{ColorLayout, InputImage};
use bigstyle::Options;
use tiff::encoder::{colortype, TiffEncoder};
use tiff::tags::Tag;

use crate::common::{bigstyle, data, photo, read_tiff, run, small_opts, tag_u32s};

#[test]
fn tiled_and_planar_layouts_decode_alike() {
    let dir = tempfile::tempdir().unwrap();
    let outputs: Vec<(String, PathBuf)> = ["tiled-rgb8", "tiled-planar-rgb8", "planar-rgb16"]
        .iter()
        .map(|name| {
            let out = dir.path().join(format!("{name}.tif"));
            run(&data(&format!("formats/{name}.tif")), &out, &small_opts());
            (name.to_string(), out)
        })
        .collect();
    let tiled = read_tiff(&outputs[0].1);
    let planar = read_tiff(&outputs[1].1);
    assert_eq!(tiled.color, tiff::ColorType::RGB(8));
    assert_eq!(tiled.samples, planar.samples, "tiled vs tiled-planar");
    let deep = read_tiff(&outputs[2].1);
    assert_eq!(
        deep.color,
        tiff::ColorType::RGB(16),
        "16-bit in, 16-bit out"
    );
    let worst = deep
        .samples
        .iter()
        .zip(&tiled.samples)
        .map(|(a, b)| (f64::from(*a) / 257.0 - f64::from(*b)).abs())
        .fold(0.0, f64::max);
    assert!(
        worst <= 1.0,
        "16-bit result differs from 8-bit by {worst} levels"
    );
    assert_eq!(
        tag_u32s(&outputs[0].1, Tag::XResolution),
        Some(vec![300, 1])
    );
}

#[test]
fn unsupported_layouts_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (name, why) in [
        ("bilevel.tif", "1 bits per sample"),
        ("float32.tif", "32 bits per sample"),
        ("cmyk-fogra.jpg", "convert it to a CMYK TIFF"),
    ] {
        let input = data(&format!("formats/{name}"));
        let output = dir.path().join(format!("{name}.out.tif"));
        let out = bigstyle(&[
            "-q",
            "-o",
            output.to_str().unwrap(),
            input.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("unsupported image") && stderr.contains(why),
            "{stderr}"
        );
        assert!(!output.exists());
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn palette_images_decode_to_their_colours() {
    // 8-bit strips (uncompressed), 4-bit LZW tiles, 2-bit PackBits strips, 1-bit Deflate strips;
    // each beside the RGB its colour map gives (looked up by the sample tool, not by bigstyle).
    for bits in [8, 4, 2, 1] {
        let mut palette = InputImage::open(&data(&format!("formats/palette{bits}.tif"))).unwrap();
        let mut expected =
            InputImage::open(&data(&format!("formats/palette{bits}.expected.png"))).unwrap();
        let info = palette.info().clone();
        assert_eq!(
            (info.layout, info.bits),
            (ColorLayout::Rgb, 8),
            "{bits} bits"
        );
        let all = Rect {
            x0: 0,
            y0: 0,
            x1: info.width,
            y1: info.height,
        };
        let got = palette.read_window(all).unwrap();
        let want = expected.read_window(all).unwrap();
        assert!(got.planes == want.planes, "palette{bits}: colours differ");
    }
}

#[test]
fn jpeg_in_tiff_decodes_like_libtiff() {
    let mut jpeg = InputImage::open(&data("formats/jpeg-ycbcr.tif")).unwrap();
    let mut expected = InputImage::open(&data("formats/jpeg-ycbcr.expected.png")).unwrap();
    let info = jpeg.info().clone();
    assert_eq!((info.layout, info.bits), (ColorLayout::Rgb, 8));
    let all = Rect {
        x0: 0,
        y0: 0,
        x1: info.width,
        y1: info.height,
    };
    let got = jpeg.read_window(all).unwrap().planes;
    let want = expected.read_window(all).unwrap().planes;
    let diff: Vec<f32> = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs() * 255.0)
        .collect();
    let mean = diff.iter().sum::<f32>() / diff.len() as f32;
    let worst = diff.iter().copied().fold(0.0, f32::max);
    eprintln!("JPEG-in-TIFF vs libtiff: mean {mean:.2}, max {worst:.1} levels");
    // Two JPEG decoders (zune-jpeg, libjpeg) differ in IDCT and chroma upsampling by a few
    // levels; a YCbCr read as RGB or a wrong matrix is off by tens.
    assert!(mean < 1.0 && worst < 12.0, "mean {mean}, max {worst}");
}

/// Writes a gray image of 8 or 16 bits: a TIFF with the given compression, or with alpha a PNG
/// (the tiff crate's encoder has no gray + alpha); returns its samples.
fn write_gray(
    path: &Path,
    bits: u8,
    alpha: bool,
    compression: tiff::encoder::Compression,
) -> Vec<u16> {
    let rgb = photo(60, 44);
    let mut samples = Vec::new();
    for (i, p) in rgb.pixels().enumerate() {
        let y = u16::from(p[1]);
        samples.push(if bits == 8 {
            y
        } else {
            y * 257 + (i % 200) as u16
        });
        if alpha {
            samples.push(((i * 37) % if bits == 8 { 256 } else { 65536 }) as u16);
        }
    }
    let bytes: Vec<u8> = samples.iter().map(|s| *s as u8).collect();
    if alpha {
        let png = path.with_extension("png");
        if bits == 8 {
            image::GrayAlphaImage::from_raw(60, 44, bytes)
                .unwrap()
                .save(&png)
                .unwrap();
        } else {
            image::ImageBuffer::<image::LumaA<u16>, _>::from_raw(60, 44, samples.clone())
                .unwrap()
                .save(&png)
                .unwrap();
        }
        std::fs::rename(png, path).unwrap();
        return samples;
    }
    let mut enc = TiffEncoder::new(File::create(path).unwrap())
        .unwrap()
        .with_compression(compression);
    if bits == 8 {
        enc.write_image::<colortype::Gray8>(60, 44, &bytes).unwrap();
    } else {
        enc.write_image::<colortype::Gray16>(60, 44, &samples)
            .unwrap();
    }
    samples
}

#[test]
fn gray_inputs_keep_depth_and_alpha_in_every_input_compression() {
    let dir = tempfile::tempdir().unwrap();
    let compressions = [
        tiff::encoder::Compression::Uncompressed,
        tiff::encoder::Compression::Lzw,
        tiff::encoder::Compression::Deflate(Default::default()),
        tiff::encoder::Compression::Packbits,
    ];
    for (k, compression) in compressions.into_iter().enumerate() {
        for (bits, alpha) in [(8, false), (8, true), (16, false), (16, true)] {
            let input = dir.path().join(format!("g{k}-{bits}-{alpha}.tif"));
            let samples = write_gray(&input, bits, alpha, compression);
            for keep_gray in [false, true] {
                let output = dir
                    .path()
                    .join(format!("g{k}-{bits}-{alpha}-{keep_gray}.out.tif"));
                let o = Options {
                    keep_gray,
                    ..small_opts()
                };
                run(&input, &output, &o);
                let out = read_tiff(&output);
                let expected = match (keep_gray, alpha) {
                    (true, false) => tiff::ColorType::Gray(bits),
                    // The tiff crate calls gray + alpha two-band data.
                    (true, true) => tiff::ColorType::Multiband {
                        bit_depth: bits,
                        num_samples: 2,
                    },
                    (false, false) => tiff::ColorType::RGB(bits),
                    (false, true) => tiff::ColorType::RGBA(bits),
                };
                assert_eq!(out.color, expected, "{input:?} keep_gray={keep_gray}");
                if alpha {
                    let per_px = if keep_gray { 2 } else { 4 };
                    let alpha_out: Vec<u16> = out
                        .samples
                        .iter()
                        .skip(per_px - 1)
                        .step_by(per_px)
                        .copied()
                        .collect();
                    let alpha_in: Vec<u16> = samples.iter().skip(1).step_by(2).copied().collect();
                    assert_eq!(alpha_in, alpha_out, "{input:?}");
                }
            }
        }
    }
}

#[test]
fn output_compressions_and_formats_hold_the_same_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    photo(90, 70).save(&input).unwrap();
    let mut outputs = Vec::new();
    for compression in [Compression::None, Compression::Lzw, Compression::Deflate] {
        let out = dir.path().join(format!("{compression:?}.tif"));
        run(
            &input,
            &out,
            &Options {
                compression,
                ..small_opts()
            },
        );
        let mut dec = tiff::decoder::Decoder::new(File::open(&out).unwrap()).unwrap();
        let tag = dec.get_tag_u32(Tag::Compression).unwrap();
        assert_eq!(tag, [1, 5, 8][outputs.len()]);
        outputs.push(read_tiff(&out).samples);
    }
    assert_eq!(outputs[0], outputs[1], "LZW changed pixels");
    assert_eq!(outputs[0], outputs[2], "Deflate changed pixels");
    let png = dir.path().join("out.png");
    run(&input, &png, &small_opts());
    let png: Vec<u16> = image::open(&png)
        .unwrap()
        .to_rgb8()
        .into_raw()
        .into_iter()
        .map(u16::from)
        .collect();
    assert_eq!(outputs[0], png, "PNG differs from TIFF");
    let jpg = dir.path().join("out.jpg");
    run(&input, &jpg, &small_opts());
    let jpg = image::open(&jpg).unwrap().to_rgb8();
    assert_eq!(jpg.dimensions(), (90, 70));
}

#[test]
fn whole_decoded_input_larger_than_the_budget_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.png");
    photo(3000, 2400).save(&input).unwrap();
    let out = bigstyle(&["--mem-budget", "64MiB", "-q", input.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("too large to decode whole"), "{stderr}");
}

#[test]
fn corrupted_samples_give_errors_not_panics() {
    // Every committed sample (palette, CMYK, JPEG-in-TIFF, tiled, planar, profiled), truncated
    // at several points and with bytes overwritten, is read whole: an image or an error, never a
    // panic (the reader catches decoder panics itself, so one reaching here is a bug of ours).
    let dir = tempfile::tempdir().unwrap();
    let mut samples: Vec<PathBuf> = std::fs::read_dir(data("formats"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tif"))
        .collect();
    samples.sort();
    let (mut opened, mut refused) = (0, 0);
    let mut seed = 0x2545_f491_u64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for sample in &samples {
        let bytes = std::fs::read(sample).unwrap();
        for case in 0..12 {
            let mut broken = bytes.clone();
            if case < 4 {
                broken.truncate(bytes.len() * (case + 1) / 5);
            } else {
                for _ in 0..(1 + case * 3) {
                    let at = next(broken.len());
                    broken[at] = next(256) as u8;
                }
            }
            let path = dir.path().join("broken.tif");
            std::fs::write(&path, &broken).unwrap();
            let read = InputImage::open_within(&path, 64 << 20).and_then(|mut image| {
                let info = image.info().clone();
                image.read_window(Rect {
                    x0: 0,
                    y0: 0,
                    x1: info.width,
                    y1: info.height,
                })
            });
            match read {
                Ok(_) => opened += 1,
                Err(_) => refused += 1,
            }
        }
    }
    eprintln!("corrupted samples: {opened} read, {refused} refused");
    assert!(refused > samples.len() * 4, "truncations must be refused");
}

#[test]
fn a_multi_page_tiff_is_refused_but_a_preview_directory_is_not() {
    use tiff::encoder::{colortype, TiffEncoder};
    use tiff::tags::Tag;
    let dir = tempfile::tempdir().unwrap();
    let page = crate::common::photo(40, 30);
    let write = |name: &str, second_subfile: u32| {
        let path = dir.path().join(name);
        let mut enc = TiffEncoder::new(std::fs::File::create(&path).unwrap()).unwrap();
        enc.write_image::<colortype::RGB8>(40, 30, page.as_raw())
            .unwrap();
        let mut img = enc.new_image::<colortype::RGB8>(40, 30).unwrap();
        img.encoder()
            .write_tag(Tag::NewSubfileType, second_subfile)
            .unwrap();
        img.write_data(page.as_raw()).unwrap();
        path
    };
    let pages = write("pages.tif", 2);
    let preview = write("preview.tif", 1);
    let out = crate::common::bigstyle(&[
        "-o",
        dir.path().join("o.tif").to_str().unwrap(),
        pages.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("multi-page TIFF (2 full-resolution images)"),
        "{stderr}"
    );
    let ok = crate::common::bigstyle(&[
        "-q",
        "-o",
        dir.path().join("p.tif").to_str().unwrap(),
        preview.to_str().unwrap(),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}
