//! Statistics from a downscaled copy: the image is box-averaged while streaming to a thumbnail
//! whose longer side is a given size, and the network's instance statistics on the thumbnail are
//! used for the whole image. Cheap, seamless, but only approximately the untiled result, since
//! full-resolution activations have other statistics than a thumbnail's.

use super::ImageSource;
use crate::engine::{forward, Engine, NormSource};
use crate::error::Result;
use crate::geom::{pad_planar, Rect};
use crate::network::StyleAffine;
use crate::norm::NetworkStats;

/// Rows read per band while downscaling.
const BAND_ROWS: usize = 256;

/// Computes statistics from a copy of the `w × h` image `input` whose longer side is at most
/// `max_side` px.
pub fn thumbnail_stats<E: Engine>(
    engine: &E,
    style: &StyleAffine,
    input: &mut dyn ImageSource,
    (w, h): (usize, usize),
    max_side: usize,
) -> Result<NetworkStats> {
    let geometry = engine.network().geometry();
    let (tw, th, planes) = downscale(input, (w, h), max_side, geometry.min_side)?;
    let (pw, ph) = (
        tw.next_multiple_of(geometry.stride),
        th.next_multiple_of(geometry.stride),
    );
    let x = engine.upload(pad_planar(&planes, 3, (tw, th), (pw, ph)), 3, ph, pw);
    let mut stats = NetworkStats::empty(engine.network().len());
    forward(engine, x, style, NormSource::Instance(&mut stats));
    Ok(stats)
}

/// Box-averages the image to at most `max_side` px on its longer side (never upscales, never
/// below `min_side`).
pub fn downscale(
    input: &mut dyn ImageSource,
    (w, h): (usize, usize),
    max_side: usize,
    min_side: usize,
) -> Result<(usize, usize, Vec<f32>)> {
    let scale = (max_side as f64 / w.max(h) as f64).min(1.0);
    let tw = ((w as f64 * scale).round() as usize).clamp(min_side.min(w), w);
    let th = ((h as f64 * scale).round() as usize).clamp(min_side.min(h), h);
    let mut sums = vec![0.0f64; 3 * tw * th];
    let mut counts = vec![0u32; tw * th];
    let column_bin: Vec<usize> = (0..w).map(|x| x * tw / w).collect();
    for y0 in (0..h).step_by(BAND_ROWS) {
        let y1 = (y0 + BAND_ROWS).min(h);
        let band = input.rgb(Rect {
            x0: 0,
            y0,
            x1: w,
            y1,
        })?;
        let plane = w * (y1 - y0);
        for (k, y) in (y0..y1).enumerate() {
            let ty = y * th / h;
            for (x, &tx) in column_bin.iter().enumerate() {
                let t = ty * tw + tx;
                counts[t] += 1;
                for c in 0..3 {
                    sums[c * tw * th + t] += f64::from(band[c * plane + k * w + x]);
                }
            }
        }
    }
    let planes = sums
        .iter()
        .enumerate()
        .map(|(i, s)| (s / f64::from(counts[i % (tw * th)].max(1))) as f32)
        .collect();
    Ok((tw, th, planes))
}
