//! Colour management: profiled input is stylized in sRGB and comes back in its own space with its
//! own profile (Adobe RGB, CMYK, gray); unprofiled input is taken as sRGB; bad or mismatched
//! profiles are refused unless ignored.
//!
//! The reference for each profiled file is made outside bigstyle: Little CMS converts the input
//! to sRGB, bigstyle stylizes that untagged sRGB file, and the result is compared with bigstyle's
//! own output converted to sRGB with the same profile.

use std::fs::File;
use std::path::Path;

use bigstyle::colour::ColourOptions;
use bigstyle::Options;
use lcms2::{Flags, Intent, PixelFormat, Profile, Transform};
use tiff::decoder::DecodingResult;
use tiff::encoder::{colortype, TiffEncoder};
use tiff::tags::Tag;

use crate::common::{bigstyle, data, photo, read_tiff, run, small_opts, tag_u32s, Decoded};

fn icc_of(path: &Path) -> Option<Vec<u8>> {
    let mut dec = tiff::decoder::Decoder::new(File::open(path).unwrap()).unwrap();
    dec.find_tag(Tag::IccProfile)
        .unwrap()
        .map(|v| v.into_u8_vec().unwrap())
}

fn format_of(colour: usize) -> PixelFormat {
    match colour {
        1 => PixelFormat::GRAY_16,
        3 => PixelFormat::RGB_16,
        _ => PixelFormat::CMYK_16,
    }
}

/// Converts 16-bit samples with Little CMS as bigstyle is meant to (relative colorimetric with
/// black point compensation).
fn convert16(
    samples: &[u16],
    from: (&Profile, PixelFormat),
    to: (&Profile, PixelFormat),
    to_samples: usize,
) -> Vec<u16> {
    let transform: Transform<u8, u8> = Transform::new_flags(
        from.0,
        from.1,
        to.0,
        to.1,
        Intent::RelativeColorimetric,
        Flags::BLACKPOINT_COMPENSATION,
    )
    .unwrap();
    let pixels = samples.len() / from.1.channels();
    let mut out = vec![0u16; pixels * to_samples];
    transform.transform_pixels(
        bytemuck::cast_slice(samples),
        bytemuck::cast_slice_mut(&mut out),
    );
    out
}

/// 16-bit sRGB of decoded samples in `profile`'s space (`colour` samples per pixel, then
/// `extra` more, dropped).
fn to_srgb16(img: &Decoded, colour: usize, extra: usize, bits: u8, profile: &[u8]) -> Vec<u16> {
    let scale = if bits == 8 { 257 } else { 1 };
    let device: Vec<u16> = img
        .samples
        .chunks_exact(colour + extra)
        .flat_map(|px| px[..colour].iter().map(|v| v * scale).collect::<Vec<_>>())
        .collect();
    let profile = Profile::new_icc(profile).unwrap();
    let srgb = Profile::new_srgb();
    convert16(
        &device,
        (&profile, format_of(colour)),
        (&srgb, PixelFormat::RGB_16),
        3,
    )
}

/// 16-bit sRGB as it comes back after a trip into `profile`'s space at `bits` per sample: what
/// an sRGB result looks like once written in that space (out-of-gamut colours mapped in).
fn through_profile(srgb16: &[u16], colour: usize, bits: u8, profile: &[u8]) -> Vec<u16> {
    let profile = Profile::new_icc(profile).unwrap();
    let srgb = Profile::new_srgb();
    let mut device = convert16(
        srgb16,
        (&srgb, PixelFormat::RGB_16),
        (&profile, format_of(colour)),
        colour,
    );
    if bits == 8 {
        for v in &mut device {
            *v = (*v + 128) / 257 * 257;
        }
    }
    convert16(
        &device,
        (&profile, format_of(colour)),
        (&srgb, PixelFormat::RGB_16),
        3,
    )
}

/// Reads a TIFF's samples interleaved, also when it stores planes separately (the tiff crate's
/// `read_image` returns only the first plane of such files): reads every strip of every plane.
fn read_interleaved(path: &Path) -> Decoded {
    let mut img = read_tiff(path);
    if tag_u32s(path, Tag::PlanarConfiguration) != Some(vec![2]) {
        return img;
    }
    let mut dec = tiff::decoder::Decoder::new(File::open(path).unwrap()).unwrap();
    let mut all = Vec::new();
    for strip in 0..dec.strip_count().unwrap() {
        match dec.read_chunk(strip).unwrap() {
            DecodingResult::U8(v) => all.extend(v.into_iter().map(u16::from)),
            DecodingResult::U16(v) => all.extend(v),
            _ => panic!("unexpected sample type"),
        }
    }
    let plane = img.width * img.height;
    let planes = all.len() / plane;
    img.samples = (0..plane)
        .flat_map(|i| (0..planes).map(move |p| p * plane + i))
        .map(|at| all[at])
        .collect();
    img
}

fn write_rgb16(path: &Path, w: usize, h: usize, rgb: &[u16]) {
    let mut enc = TiffEncoder::new(File::create(path).unwrap()).unwrap();
    enc.write_image::<colortype::RGB16>(w as u32, h as u32, rgb)
        .unwrap();
}

/// Mean and largest difference of two 16-bit arrays, in 8-bit levels.
fn difference(a: &[u16], b: &[u16]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    let d: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs() / 257.0)
        .collect();
    (
        d.iter().sum::<f64>() / d.len() as f64,
        d.iter().copied().fold(0.0, f64::max),
    )
}

/// Stylizes `name` from tests/data/formats and, separately, its Little CMS conversion to sRGB;
/// returns the output and how far the output (converted to sRGB) is from that reference, for
/// bigstyle with colour management and with `--ignore-icc`.
fn against_reference(
    name: &str,
    colour: usize,
    extra: usize,
    bits: u8,
) -> (Decoded, (f64, f64), (f64, f64)) {
    let dir = tempfile::tempdir().unwrap();
    let input = data(&format!("formats/{name}.tif"));
    let profile = icc_of(&input).unwrap();
    let original = read_interleaved(&input);
    let reference_in = dir.path().join("reference-in.tif");
    let srgb = to_srgb16(&original, colour, extra, bits, &profile);
    write_rgb16(&reference_in, original.width, original.height, &srgb);
    let reference_out = dir.path().join("reference-out.tif");
    run(&reference_in, &reference_out, &small_opts());
    // The sRGB result as it looks once written in the input's space.
    let reference = through_profile(&read_tiff(&reference_out).samples, colour, bits, &profile);

    let output = dir.path().join("out.tif");
    run(&input, &output, &small_opts());
    assert_eq!(
        icc_of(&output),
        Some(profile.clone()),
        "{name}: profile changed"
    );
    assert_eq!(tag_u32s(&output, Tag::XResolution), Some(vec![300, 1]));
    let out = read_tiff(&output);
    let managed = difference(&to_srgb16(&out, colour, extra, bits, &profile), &reference);

    let ignored_path = dir.path().join("ignored.tif");
    let ignore = Options {
        colour: ColourOptions {
            ignore_icc: true,
            ..Default::default()
        },
        ..small_opts()
    };
    run(&input, &ignored_path, &ignore);
    let ignored = read_tiff(&ignored_path);
    let unmanaged = difference(
        &to_srgb16(&ignored, colour, extra, bits, &profile),
        &reference,
    );
    eprintln!("{name}: managed mean/max {managed:.3?}, ignoring the profile {unmanaged:.3?}");
    (out, managed, unmanaged)
}

#[test]
fn adobe_rgb_is_stylized_in_srgb_and_written_back_in_adobe_rgb() {
    let (out, managed, unmanaged) = against_reference("adobergb16-tiled", 3, 0, 16);
    assert_eq!(out.color, tiff::ColorType::RGB(16));
    // Adobe RGB holds all of sRGB: the round trip loses nothing but rounding.
    assert!(managed.1 <= 1.0, "{managed:?}");
    assert!(unmanaged.0 > 5.0 * managed.0.max(0.05), "{unmanaged:?}");
}

#[test]
fn cmyk_stays_cmyk_with_its_profile_and_alpha() {
    for (name, extra, bits) in [("cmyk8-fogra", 0, 8), ("cmyka16-fogra-planar", 1, 16)] {
        let (out, managed, unmanaged) = against_reference(name, 4, extra, bits);
        let expected = if extra == 1 {
            tiff::ColorType::CMYKA(bits)
        } else {
            tiff::ColorType::CMYK(bits)
        };
        assert_eq!(out.color, expected, "{name}");
        assert!(managed.1 <= 4.0 && managed.0 < 0.4, "{name}: {managed:?}");
        assert!(unmanaged.0 > 10.0 * managed.0, "{name}: {unmanaged:?}");
        if extra == 1 {
            let input = read_interleaved(&data(&format!("formats/{name}.tif")));
            let alpha = |d: &Decoded| -> Vec<u16> {
                d.samples.iter().skip(4).step_by(5).copied().collect()
            };
            assert_eq!(alpha(&input), alpha(&out), "alpha changed");
        }
    }
}

#[test]
fn unprofiled_cmyk_round_trips_as_plain_inks() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.tif");
    run(&data("formats/cmyk8.tif"), &output, &small_opts());
    let out = read_tiff(&output);
    assert_eq!(out.color, tiff::ColorType::CMYK(8));
    assert_eq!(icc_of(&output), None);
    // The same picture as the RGB file the CMYK sample was made from (C = 255 - R, …, K = 0).
    let rgb_out = dir.path().join("rgb.tif");
    run(&data("formats/tiled-rgb8.tif"), &rgb_out, &small_opts());
    let rgb = read_tiff(&rgb_out).samples;
    let from_inks: Vec<u16> = out
        .samples
        .chunks_exact(4)
        .flat_map(|ink| {
            let white = 255 - u32::from(ink[3]);
            (0..3).map(move |c| ((255 - u32::from(ink[c])) * white + 127) as u16 / 255)
        })
        .collect();
    let worst = rgb
        .iter()
        .zip(&from_inks)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(worst <= 2, "plain CMYK differs from RGB by {worst} levels");
}

#[test]
fn profiled_gray_becomes_tagged_srgb_or_stays_gray() {
    let dir = tempfile::tempdir().unwrap();
    let input = data("formats/gray16-profiled.tif");
    let as_rgb = dir.path().join("rgb.tif");
    run(&input, &as_rgb, &small_opts());
    assert_eq!(read_tiff(&as_rgb).color, tiff::ColorType::RGB(16));
    let tag = Profile::new_icc(&icc_of(&as_rgb).unwrap()).unwrap();
    assert_eq!(tag.color_space(), lcms2::ColorSpaceSignature::RgbData);
    let kept = dir.path().join("gray.tif");
    let keep = Options {
        keep_gray: true,
        ..small_opts()
    };
    run(&input, &kept, &keep);
    assert_eq!(read_tiff(&kept).color, tiff::ColorType::Gray(16));
    assert_eq!(icc_of(&kept), icc_of(&input));
}

#[test]
fn cmyk_to_png_is_srgb_with_an_srgb_profile() {
    use image::ImageDecoder;
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("out.png");
    run(&data("formats/cmyk8-fogra.tif"), &png, &small_opts());
    let mut decoder =
        image::codecs::png::PngDecoder::new(std::io::BufReader::new(File::open(&png).unwrap()))
            .unwrap();
    assert_eq!(decoder.color_type(), image::ColorType::Rgb8);
    let icc = decoder.icc_profile().unwrap().unwrap();
    let profile = Profile::new_icc(&icc).unwrap();
    assert_eq!(profile.color_space(), lcms2::ColorSpaceSignature::RgbData);
}

#[test]
fn verbose_says_what_is_assumed_and_bad_profiles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.png");
    photo(40, 32).save(&plain).unwrap();
    let out = bigstyle(&["-v", "-q", "--stats", "thumbnail", plain.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("no ICC profile: assuming sRGB"), "{stderr}");

    // An RGB image tagged with a CMYK profile.
    let tagged = dir.path().join("mismatch.tif");
    {
        let cmyk_profile = std::fs::read(data("icc/FOGRA39L-argyll.icc")).unwrap();
        let mut enc = TiffEncoder::new(File::create(&tagged).unwrap()).unwrap();
        let mut img = enc.new_image::<colortype::RGB8>(40, 32).unwrap();
        img.encoder()
            .write_tag(Tag::IccProfile, cmyk_profile.as_slice())
            .unwrap();
        img.write_data(photo(40, 32).as_raw()).unwrap();
    }
    let output = dir.path().join("mismatch.out.tif");
    let args = ["-q", "--stats", "thumbnail", "-o", output.to_str().unwrap()];
    let refused = bigstyle(&[&args[..], &[tagged.to_str().unwrap()]].concat());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("CmykData") && stderr.contains("--ignore-icc"),
        "{stderr}"
    );
    assert!(!output.exists());
    let ignored = bigstyle(&[&args[..], &["--ignore-icc", tagged.to_str().unwrap()]].concat());
    assert!(ignored.status.success());
    assert_eq!(
        icc_of(&output),
        icc_of(&tagged),
        "ignored profile is copied"
    );
}

#[test]
fn png_keeps_its_profile_and_alpha() {
    use image::{ImageDecoder, ImageEncoder};
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    let profile = std::fs::read(data("icc/compatibleWithAdobeRGB1998.icc")).unwrap();
    let rgba: Vec<u16> = photo(48, 40)
        .pixels()
        .enumerate()
        .flat_map(|(i, p)| {
            [p[0], p[1], p[2]]
                .map(|v| u16::from(v) * 257)
                .into_iter()
                .chain([(i * 331 % 65536) as u16])
        })
        .collect();
    {
        let mut enc = image::codecs::png::PngEncoder::new(File::create(&input).unwrap());
        enc.set_icc_profile(profile.clone()).unwrap();
        let bytes: Vec<u8> = rgba.iter().flat_map(|v| v.to_ne_bytes()).collect();
        enc.write_image(&bytes, 48, 40, image::ExtendedColorType::Rgba16)
            .unwrap();
    }
    let output = dir.path().join("out.png");
    run(&input, &output, &small_opts());
    let mut decoder =
        image::codecs::png::PngDecoder::new(std::io::BufReader::new(File::open(&output).unwrap()))
            .unwrap();
    assert_eq!(decoder.color_type(), image::ColorType::Rgba16);
    assert_eq!(decoder.icc_profile().unwrap(), Some(profile));
    let out = image::DynamicImage::from_decoder(decoder)
        .unwrap()
        .into_rgba16();
    let alpha_in: Vec<u16> = rgba.iter().skip(3).step_by(4).copied().collect();
    let alpha_out: Vec<u16> = out.pixels().map(|p| p[3]).collect();
    assert_eq!(alpha_in, alpha_out);
}

#[test]
fn info_tells_the_colour_handling() {
    let input = data("formats/cmyk8-fogra.tif");
    let info = crate::common::bigstyle_json(&["info", "--json", input.to_str().unwrap()]);
    assert_eq!(info["layout"], "Cmyk");
    let colour = info["colour"].as_str().unwrap();
    assert!(
        colour.contains("FOGRA39L") && colour.contains("relative colorimetric"),
        "{colour}"
    );
}
