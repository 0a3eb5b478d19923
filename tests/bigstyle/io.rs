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
