//! Style vectors for arbitrary stylization, from image files: any image the reader accepts
//! (colour-managed to sRGB), scaled so that its shorter side is 256 px and centre-cropped to
//! 256×256 as the predictor expects, then run through the style predictor. Several images blend
//! their vectors; `strength` interpolates from the content image's own vector (computed on a
//! 256-px copy of it, no full-resolution pass) to the style's, as Magenta does.

use std::path::Path;

use image::imageops::{self, FilterType};

use crate::colour::ColourOptions;
use crate::engine::predictor::Predictor;
use crate::error::{Error, Result};
use crate::io::InputImage;
use crate::network::arbitrary::{self, PREDICT_SIDE};
use crate::stats::thumbnail::downscale;

/// Style images larger than this are refused: only 256 px of them are used.
pub const MAX_STYLE_PIXELS: usize = 64_000_000;
/// Style images with a side shorter than this are refused: there is no style to see.
pub const MIN_STYLE_SIDE: usize = 16;

/// Predicts style vectors with the embedded predictor on burn's CPU backend.
pub struct StylePredictor(Predictor<burn::backend::Flex>);

impl Default for StylePredictor {
    fn default() -> Self {
        Self(Predictor::new(arbitrary::predictor(), &Default::default()))
    }
}

impl StylePredictor {
    /// The style vector of the image file at `path`.
    pub fn from_file(&self, path: &Path, budget: u64, colour: &ColourOptions) -> Result<Vec<f32>> {
        let mut image = InputImage::open_with(path, budget, colour)?;
        let (w, h) = (image.info().width, image.info().height);
        let bad = |reason: String| Error::Unsupported {
            path: path.into(),
            reason,
        };
        if w.min(h) < MIN_STYLE_SIDE {
            return Err(bad(format!(
                "a {w}x{h} style image; it needs at least {MIN_STYLE_SIDE} px on each side"
            )));
        }
        if w * h > MAX_STYLE_PIXELS {
            return Err(bad(format!(
                "a {:.0} MP style image; at most {} MP (only {PREDICT_SIDE} px of it are used: downscale it)",
                (w * h) as f64 / 1e6,
                MAX_STYLE_PIXELS / 1_000_000
            )));
        }
        self.from_image(&mut image)
    }

    /// The style vector of an opened image (the content image, for `strength`).
    pub fn from_image(&self, image: &mut InputImage) -> Result<Vec<f32>> {
        let rgb = predictor_input(image)?;
        Ok(self.0.predict(&rgb))
    }
}

/// The image as the predictor sees it: box-averaged while streaming until its shorter side is
/// close to 256 px, resized (Catmull-Rom) to exactly 256 px on the shorter side, centre-cropped
/// to 256×256; planar RGB in 0..1.
fn predictor_input(image: &mut InputImage) -> Result<Vec<f32>> {
    let (w, h) = (image.info().width, image.info().height);
    let side = PREDICT_SIDE;
    let longer_at_target = (w.max(h) * side).div_ceil(w.min(h));
    let (tw, th, planes) = downscale(image, (w, h), longer_at_target, 1)?;
    let interleaved: Vec<f32> = (0..tw * th)
        .flat_map(|i| (0..3).map(move |c| (c, i)))
        .map(|(c, i)| planes[c * tw * th + i])
        .collect();
    let small = image::Rgb32FImage::from_raw(tw as u32, th as u32, interleaved)
        .ok_or_else(|| Error::InvalidOption("internal: thumbnail size".into()))?;
    let scale = side as f64 / tw.min(th) as f64;
    let (rw, rh) = (
        ((tw as f64 * scale).round() as u32).max(side as u32),
        ((th as f64 * scale).round() as u32).max(side as u32),
    );
    let resized = imageops::resize(&small, rw, rh, FilterType::CatmullRom);
    let (x0, y0) = ((rw - side as u32) / 2, (rh - side as u32) / 2);
    let square = imageops::crop_imm(&resized, x0, y0, side as u32, side as u32).to_image();
    let mut rgb = vec![0.0f32; 3 * side * side];
    for (i, p) in square.pixels().enumerate() {
        for c in 0..3 {
            rgb[c * side * side + i] = p[c].clamp(0.0, 1.0);
        }
    }
    Ok(rgb)
}

/// The weighted mean of several style vectors (weights normalised to sum 1).
pub fn blend(vectors: &[(Vec<f32>, f32)]) -> Vec<f32> {
    let total: f32 = vectors.iter().map(|(_, w)| w).sum();
    let dim = vectors.first().map_or(0, |(v, _)| v.len());
    (0..dim)
        .map(|i| vectors.iter().map(|(v, w)| v[i] * w / total).sum())
        .collect()
}

/// `strength · style + (1 − strength) · content`: 1 is the style image's style, 0 the content
/// image's own (Magenta's interpolation weight).
pub fn with_strength(style: &[f32], content: &[f32], strength: f32) -> Vec<f32> {
    style
        .iter()
        .zip(content)
        .map(|(s, c)| strength * s + (1.0 - strength) * c)
        .collect()
}
