//! Image I/O: what goes in comes out with its bit depth, alpha, resolution and profile.

use std::fs::File;

use bigstyle::stats::StatsMode;
use bigstyle::Options;
use tiff::encoder::{colortype, Rational, TiffEncoder};
use tiff::tags::{ResolutionUnit, Tag};

use crate::common::{data, photo, read_tiff, run};

fn fast_opts() -> Options {
    Options {
        tile: Some(64),
        overlap: 68,
        stats: StatsMode::Thumbnail(64),
        ..Options::default()
    }
}
#[test]
fn rgba16_keeps_depth_alpha_resolution_and_icc() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (70u32, 50u32);
    let rgb = photo(w, h);
    let mut samples = Vec::new();
    for (i, p) in rgb.pixels().enumerate() {
        for c in 0..3 {
            samples.push(u16::from(p[c]) * 257);
        }
        samples.push((i as u16).wrapping_mul(977));
    }
    let icc = std::fs::read(data("icc/compatibleWithAdobeRGB1998.icc")).unwrap();
    let input = dir.path().join("in.tif");
    {
        let mut enc = TiffEncoder::new(File::create(&input).unwrap()).unwrap();
        let mut img = enc.new_image::<colortype::RGBA16>(w, h).unwrap();
        img.resolution(ResolutionUnit::Inch, Rational { n: 300, d: 1 });
        img.encoder()
            .write_tag(Tag::IccProfile, icc.as_slice())
            .unwrap();
        img.write_data(&samples).unwrap();
    }
    let output = dir.path().join("out.tif");
    run(&input, &output, &fast_opts());
    let out = read_tiff(&output);
    assert_eq!(out.color, tiff::ColorType::RGBA(16));
    assert_eq!((out.width, out.height), (w as usize, h as usize));
    let alpha_in: Vec<u16> = samples.iter().skip(3).step_by(4).copied().collect();
    let alpha_out: Vec<u16> = out.samples.iter().skip(3).step_by(4).copied().collect();
    assert_eq!(alpha_in, alpha_out);
    let mut dec = tiff::decoder::Decoder::new(File::open(&output).unwrap()).unwrap();
    assert_eq!(
        dec.get_tag(Tag::IccProfile).unwrap().into_u8_vec().unwrap(),
        icc
    );
    assert_eq!(dec.get_tag_u32_vec(Tag::XResolution).unwrap(), vec![300, 1]);
    assert_eq!(dec.get_tag_u32(Tag::ResolutionUnit).unwrap(), 2);
}

#[test]
fn gray_png_comes_out_as_rgb() {
    let dir = tempfile::tempdir().unwrap();
    let gray = image::DynamicImage::ImageRgb8(photo(48, 40)).to_luma8();
    let input = dir.path().join("gray.png");
    gray.save(&input).unwrap();
    let output = dir.path().join("out.tif");
    run(&input, &output, &fast_opts());
    let out = read_tiff(&output);
    assert_eq!(out.color, tiff::ColorType::RGB(8));
    assert_eq!(out.samples.len(), 48 * 40 * 3);
}

#[test]
fn forced_bigtiff_is_readable() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    photo(64, 48).save(&input).unwrap();
    let output = dir.path().join("big.tif");
    let opts = Options {
        bigtiff: Some(true),
        ..fast_opts()
    };
    run(&input, &output, &opts);
    let bytes = std::fs::read(&output).unwrap();
    assert_eq!(&bytes[..4], b"II+\0");
    let out = read_tiff(&output);
    assert_eq!(
        (out.width, out.height, out.samples.len()),
        (64, 48, 64 * 48 * 3)
    );
}

#[test]
fn the_colour_under_transparent_pixels_does_not_change_the_visible_result() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (200u32, 160u32);
    let rgb = photo(w, h);
    let cutout = |hidden: u8, name: &str| {
        let mut samples = Vec::new();
        for (i, p) in rgb.pixels().enumerate() {
            let (x, y) = ((i as u32 % w) as f64 - 100.0, (i as u32 / w) as f64 - 80.0);
            let visible = x * x + y * y < 60.0 * 60.0;
            for c in 0..3 {
                samples.push(if visible { p[c] } else { hidden });
            }
            samples.push(if visible { 255 } else { 0 });
        }
        let path = dir.path().join(name);
        let mut enc = TiffEncoder::new(File::create(&path).unwrap()).unwrap();
        enc.write_image::<colortype::RGBA8>(w, h, &samples).unwrap();
        let out = dir.path().join(format!("out-{name}"));
        run(&path, &out, &Options::default());
        let samples = read_tiff(&out).samples;
        samples
            .chunks(4)
            .filter(|px| px[3] > 0)
            .flat_map(|px| px[..3].to_vec())
            .collect::<Vec<u16>>()
    };
    let (black, white) = (cutout(0, "black.tif"), cutout(255, "white.tif"));
    assert!(black.len() > 30_000);
    assert_eq!(black, white, "the hidden colour reached the visible pixels");
}

/// An EXIF block (little-endian TIFF structure) with the given first-directory entries, each
/// (tag, type, value); rationals (type 5) point at `value`/1 stored after the directory.
fn exif(entries: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut out = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    out.extend((entries.len() as u16).to_le_bytes());
    let data_at = 8 + 2 + 12 * entries.len() + 4;
    let mut data = Vec::new();
    for &(tag, kind, value) in entries {
        out.extend(tag.to_le_bytes());
        out.extend(kind.to_le_bytes());
        out.extend(1u32.to_le_bytes());
        if kind == 5 {
            out.extend(((data_at + data.len()) as u32).to_le_bytes());
            data.extend(value.to_le_bytes());
            data.extend(1u32.to_le_bytes());
        } else {
            out.extend(value.to_le_bytes());
        }
    }
    out.extend([0, 0, 0, 0]);
    out.extend(data);
    out
}

fn write_jpeg(
    path: &std::path::Path,
    img: &image::RgbImage,
    exif_block: Option<Vec<u8>>,
    dpi: Option<u16>,
) {
    use image::ImageEncoder;
    let file = File::create(path).unwrap();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(file, 95);
    if let Some(block) = exif_block {
        enc.set_exif_metadata(block).unwrap();
    }
    if let Some(dpi) = dpi {
        enc.set_pixel_density(image::codecs::jpeg::PixelDensity::dpi(dpi));
    }
    enc.write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
}

/// The resolution (dots per inch) a written file declares.
pub fn dpi_of(path: &std::path::Path) -> (f64, f64) {
    let bytes = std::fs::read(path).unwrap();
    match path.extension().and_then(|e| e.to_str()) {
        Some("png") => {
            let reader = png::Decoder::new(std::io::Cursor::new(bytes))
                .read_info()
                .unwrap();
            let d = reader.info().pixel_dims.expect("pHYs");
            (f64::from(d.xppu) * 0.0254, f64::from(d.yppu) * 0.0254)
        }
        Some("jpg") => {
            assert_eq!(&bytes[6..11], b"JFIF\0");
            assert_eq!(bytes[13], 1, "density unit: inches");
            let v = |at: usize| f64::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]));
            (v(14), v(16))
        }
        _ => {
            let mut dec = tiff::decoder::Decoder::new(std::io::Cursor::new(bytes)).unwrap();
            let mut r = |tag| {
                let v = dec.get_tag_u32_vec(tag).unwrap();
                f64::from(v[0]) / f64::from(v[1])
            };
            let (x, y) = (r(Tag::XResolution), r(Tag::YResolution));
            assert_eq!(dec.get_tag_u32(Tag::ResolutionUnit).unwrap(), 2);
            (x, y)
        }
    }
}

#[test]
fn png_and_jpeg_resolution_survives_every_output_format() {
    let dir = tempfile::tempdir().unwrap();
    let img = photo(64, 48);
    let png_in = dir.path().join("in.png");
    {
        let mut enc = png::Encoder::new(File::create(&png_in).unwrap(), 64, 48);
        enc.set_color(png::ColorType::Rgb);
        enc.set_pixel_dims(Some(png::PixelDimensions {
            xppu: 11_811,
            yppu: 11_811,
            unit: png::Unit::Meter,
        }));
        enc.write_header()
            .unwrap()
            .write_image_data(img.as_raw())
            .unwrap();
    }
    let jpeg_in = dir.path().join("in.jpg");
    write_jpeg(&jpeg_in, &img, None, Some(300));
    for input in [&png_in, &jpeg_in] {
        for ext in ["tif", "png", "jpg"] {
            let out = dir.path().join(format!("out.{ext}"));
            run(input, &out, &fast_opts());
            let (x, y) = dpi_of(&out);
            assert!(
                (x - 300.0).abs() < 0.5 && (y - 300.0).abs() < 0.5,
                "{input:?} -> {ext}: {x} x {y} dpi"
            );
        }
    }
}

#[test]
fn a_sideways_camera_jpeg_comes_out_upright() {
    let dir = tempfile::tempdir().unwrap();
    let img = photo(96, 64);
    let sideways = dir.path().join("camera.jpg");
    write_jpeg(&sideways, &img, Some(exif(&[(274, 3, 6)])), None);
    // The same pixels, turned upright by hand (orientation 6: rotate 90° clockwise).
    let decoded = image::open(&sideways).unwrap().to_rgb8();
    let upright = dir.path().join("upright.png");
    image::imageops::rotate90(&decoded).save(&upright).unwrap();
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    run(&sideways, &a, &fast_opts());
    run(&upright, &b, &fast_opts());
    let (a, b) = (
        image::open(&a).unwrap().to_rgb8(),
        image::open(&b).unwrap().to_rgb8(),
    );
    assert_eq!(a.dimensions(), (64, 96));
    assert_eq!(a, b);
}
