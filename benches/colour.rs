//! Colour conversion throughput, next to the network's: `cargo bench --bench colour -- [MPX]`.
//!
//! Converts MPX megapixels (default 4) of a photo-like pattern from each test profile to sRGB and
//! back, single-threaded, as the reader and the writers do row by row, and prints megapixels per
//! second. The network runs at about 2 Mpx/s on 2 cores (`cargo bench --bench network`), so a
//! conversion much faster than that is a small part of a run.

use std::path::Path;
use std::time::Instant;

use bigstyle::colour::{ColourModel, ColourOptions, InputColour};

const ROW: usize = 4096;

fn pattern(samples: usize) -> Vec<u16> {
    (0..ROW * samples)
        .map(|i| ((i * 7919 + i / samples * 104_729) % 65536) as u16)
        .collect()
}

fn rate(mpx: f64, mut f: impl FnMut()) -> f64 {
    let rows = (mpx * 1e6 / ROW as f64).ceil() as usize;
    let started = Instant::now();
    for _ in 0..rows {
        f();
    }
    (rows * ROW) as f64 / 1e6 / started.elapsed().as_secs_f64()
}

fn main() {
    let mpx: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(4.0);
    let icc = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/icc");
    let cases = [
        ("sRGB (no profile)", ColourModel::Rgb, None),
        ("plain CMYK (no profile)", ColourModel::Cmyk, None),
        (
            "Adobe RGB",
            ColourModel::Rgb,
            Some("compatibleWithAdobeRGB1998.icc"),
        ),
        (
            "FOGRA39 CMYK",
            ColourModel::Cmyk,
            Some("FOGRA39L-argyll.icc"),
        ),
        ("gray", ColourModel::Gray, Some("Gray.icc")),
    ];
    println!("colour conversion, {mpx} Mpx, one thread (Mpx/s):");
    for (name, model, profile) in cases {
        let bytes = profile.map(|p| std::fs::read(icc.join(p)).expect("test profile"));
        let started = Instant::now();
        let colour =
            InputColour::new(model, bytes.as_deref(), &ColourOptions::default()).expect("profile");
        let out = colour
            .output(true, model == ColourModel::Gray)
            .expect("output");
        let setup = started.elapsed().as_secs_f64();
        let device = pattern(model.samples());
        let mut rgb = vec![0.0f32; ROW * 3];
        let to = rate(mpx, || colour.to_srgb(&device, &mut rgb));
        let mut back = vec![0.0f32; ROW * out.model().samples()];
        let from = rate(mpx, || out.from_srgb(&rgb, &mut back));
        println!("  {name:<24} to sRGB {to:7.1}   back {from:7.1}   set-up {setup:.3} s");
    }
}
