//! Statistics from a downscaled copy: the image is box-averaged while streaming to a thumbnail
//! whose longer side is a given size, and the network's instance statistics on the thumbnail are
//! used for the whole image. Cheap, seamless, but only approximately the untiled result, since
//! full-resolution activations have other statistics than a thumbnail's.

use super::NetworkStats;
use crate::error::Result;
use crate::io::InputImage;
use crate::model::{forward, Engine, NormSource, StyleAffine, MIN_SIDE, NUM_STYLES};
use crate::tiling::Rect;

/// Rows read per band while downscaling.
const BAND_ROWS: usize = 256;

/// Computes statistics from a copy of `input` whose longer side is at most `max_side` px.
pub fn thumbnail_stats<E: Engine>(
    engine: &E,
    style: &StyleAffine,
    weights: &[f32; NUM_STYLES],
    input: &mut InputImage,
    max_side: usize,
) -> Result<NetworkStats> {
    let (w, h) = (input.info().width, input.info().height);
    let (tw, th, planes) = downscale(input, max_side)?;
    let (pw, ph, padded) = pad_to_stride(&planes, tw, th);
    let x = engine.upload(padded, 3, ph, pw);
    let mut stats = NetworkStats::new(weights, &format!("thumbnail={max_side}"), w, h);
    forward(engine, x, style, NormSource::Instance(&mut stats));
    Ok(stats)
}

/// Box-averages the image to at most `max_side` px on its longer side (never upscales).
fn downscale(input: &mut InputImage, max_side: usize) -> Result<(usize, usize, Vec<f32>)> {
    let (w, h) = (input.info().width, input.info().height);
    let scale = (max_side as f64 / w.max(h) as f64).min(1.0);
    let tw = ((w as f64 * scale).round() as usize).clamp(MIN_SIDE, w);
    let th = ((h as f64 * scale).round() as usize).clamp(MIN_SIDE, h);
    let mut sums = vec![0.0f64; 3 * tw * th];
    let mut counts = vec![0u32; tw * th];
    let column_bin: Vec<usize> = (0..w).map(|x| x * tw / w).collect();
    for y0 in (0..h).step_by(BAND_ROWS) {
        let y1 = (y0 + BAND_ROWS).min(h);
        let band = input.read_window(Rect {
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
                    sums[c * tw * th + t] += f64::from(band.planes[c * plane + k * w + x]);
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

/// Extends a planar RGB image by reflection to multiples of the network's stride.
pub fn pad_to_stride(planes: &[f32], w: usize, h: usize) -> (usize, usize, Vec<f32>) {
    let (pw, ph) = (
        w.next_multiple_of(crate::model::STRIDE),
        h.next_multiple_of(crate::model::STRIDE),
    );
    let reflect = |i: usize, n: usize| if i < n { i } else { 2 * (n - 1) - i };
    let mut out = Vec::with_capacity(3 * pw * ph);
    for c in 0..3 {
        for y in 0..ph {
            let row = &planes[c * w * h + reflect(y, h) * w..][..w];
            out.extend((0..pw).map(|x| row[reflect(x, w)]));
        }
    }
    (pw, ph, out)
}
