//! Image I/O: a streaming reader that hands out windows of the (reflection-padded) input, and
//! writers that take finished rows (memory-mapped or streamed TIFF, PNG, JPEG).

pub mod cleanup;
pub mod metadata;
pub mod output;
mod palette;
pub mod part;
pub mod paths;
pub mod reader;
pub mod resample;
pub mod tiff_out;

pub use output::Output;
pub use reader::InputImage;

use crate::colour::ColourModel;
use crate::geom::Rect;

/// Channel layout of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ColorLayout {
    /// One gray channel.
    Gray,
    /// Gray and alpha.
    GrayAlpha,
    /// Red, green, blue.
    Rgb,
    /// Red, green, blue, alpha.
    Rgba,
    /// Cyan, magenta, yellow, black.
    Cmyk,
    /// Cyan, magenta, yellow, black, alpha.
    CmykAlpha,
}

impl ColorLayout {
    /// Samples per pixel.
    pub fn samples(self) -> usize {
        match self {
            ColorLayout::Gray => 1,
            ColorLayout::GrayAlpha => 2,
            ColorLayout::Rgb => 3,
            ColorLayout::Rgba | ColorLayout::Cmyk => 4,
            ColorLayout::CmykAlpha => 5,
        }
    }

    /// Whether the last sample is alpha.
    pub fn has_alpha(self) -> bool {
        matches!(
            self,
            ColorLayout::GrayAlpha | ColorLayout::Rgba | ColorLayout::CmykAlpha
        )
    }

    /// The colour samples, without alpha.
    pub fn model(self) -> ColourModel {
        match self {
            ColorLayout::Gray | ColorLayout::GrayAlpha => ColourModel::Gray,
            ColorLayout::Rgb | ColorLayout::Rgba => ColourModel::Rgb,
            ColorLayout::Cmyk | ColorLayout::CmykAlpha => ColourModel::Cmyk,
        }
    }
}

/// Physical resolution as stored in TIFF (XResolution, YResolution, ResolutionUnit).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Resolution {
    /// Horizontal resolution as a rational (numerator, denominator).
    pub x: (u32, u32),
    /// Vertical resolution as a rational (numerator, denominator).
    pub y: (u32, u32),
    /// 1 = none, 2 = inch, 3 = centimetre.
    pub unit: u16,
}

impl Resolution {
    /// `dpi` dots per inch on both axes (as a rational with three decimals).
    pub fn from_dpi(dpi: f64) -> Self {
        let r = (
            (dpi * 1000.0).round().clamp(1.0, f64::from(u32::MAX)) as u32,
            1000,
        );
        Self {
            x: r,
            y: r,
            unit: 2,
        }
    }
}

/// What the reader found out about the input.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageInfo {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Channel layout.
    pub layout: ColorLayout,
    /// Bits per sample (8 or 16).
    pub bits: u8,
    /// Physical resolution, if the file has one.
    pub resolution: Option<Resolution>,
    /// Embedded ICC profile, if any.
    #[serde(skip)]
    pub icc: Option<Vec<u8>>,
    /// File format and storage (`tiff/strips/lzw`, `png`, …).
    pub storage: String,
    /// Bytes the reader holds besides its decoded bands (a resized read's source strip).
    #[serde(skip)]
    pub reader_bytes: u64,
}

/// A window of the input as planar f32 samples in 0..1: sRGB red, green, blue (converted from the
/// input's colour space), then alpha if the input has one.
#[derive(Debug, Clone)]
pub struct Window {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Planes: 3 colour planes, then alpha if present.
    pub planes: Vec<f32>,
    /// Number of planes (3 or 4).
    pub channels: usize,
}

impl Window {
    /// The three colour planes.
    pub fn rgb(&self) -> &[f32] {
        &self.planes[..3 * self.width * self.height]
    }

    /// The alpha plane, if the input has alpha.
    pub fn alpha(&self) -> Option<&[f32]> {
        (self.channels == 4).then(|| &self.planes[3 * self.width * self.height..])
    }

    /// The part covering `rect` of this window, which was read at `at` (`rect` inside `at`).
    pub fn crop(&self, at: Rect, rect: Rect) -> Window {
        let mut planes = Vec::with_capacity(self.channels * rect.area());
        for c in 0..self.channels {
            for y in rect.y0..rect.y1 {
                let row = (c * self.height + y - at.y0) * self.width;
                planes.extend_from_slice(&self.planes[row + rect.x0 - at.x0..][..rect.width()]);
            }
        }
        Window {
            width: rect.width(),
            height: rect.height(),
            planes,
            channels: self.channels,
        }
    }
}
