//! The input read at another pixel size (`--width`, `--height`, `--print … --dpi`): a band of
//! the resized image is made on demand from the source rows under it, with a Lanczos-3 filter
//! (fast_image_resize), so a small file becomes a print-size poster without the enlarged image
//! ever being held whole — the enlargement streams into the tiles as the file itself would.
//!
//! Samples are filtered in the file's own encoding (as libvips and ImageMagick do by default),
//! premultiplied by alpha so that the colour under transparent pixels cannot bleed into visible
//! ones, and clipped to the sample range (Lanczos rings a little at hard edges).

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::reader::InputImage;
use crate::error::{Error, Result};

/// Lanczos-3 reaches 3 source pixels either side at unit scale (more when shrinking).
const SUPPORT: f64 = 3.0;

/// Most rows of the resized image made at once.
const MAX_BAND_ROWS: usize = 256;

/// Centimetres per inch.
const CM_PER_INCH: f64 = 2.54;

/// The size the output is made at: a width and/or height in pixels, or a print size at a
/// resolution; with none, the input's own size (a `dpi` alone only retags the resolution).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SizeRequest {
    /// Width in pixels.
    pub width: Option<usize>,
    /// Height in pixels.
    pub height: Option<usize>,
    /// Print width and height in inches.
    pub print_inches: Option<(f64, f64)>,
    /// Resolution written to the output (dots per inch); with a print size, the pixels per inch.
    pub dpi: Option<f64>,
}

impl SizeRequest {
    /// Whether the request changes nothing.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// The pixel size for a `w × h` image: the requested width or height (the other side
    /// keeping the aspect ratio), or the largest size that fits inside both, as ImageMagick's
    /// `-resize WxH` does; a print size is its inches times the DPI.
    pub fn target(&self, (w, h): (usize, usize)) -> Result<(usize, usize)> {
        let invalid = |text: &str| Error::InvalidOption(text.into());
        if let Some(dpi) = self.dpi {
            if !(dpi.is_finite() && dpi > 0.0) {
                return Err(invalid("--dpi must be a positive number"));
            }
        }
        let (bw, bh) = match (self.print_inches, self.dpi) {
            (Some(_), None) => {
                return Err(invalid(
                    "--print needs --dpi: the resolution the print size is made at",
                ))
            }
            (Some(_), Some(_)) if self.width.is_some() || self.height.is_some() => {
                return Err(invalid(
                    "--print sets the size: it does not combine with --width or --height",
                ))
            }
            (Some((pw, ph)), Some(dpi)) => {
                let px = |inches: f64| (inches * dpi).round().max(1.0) as usize;
                (Some(px(pw)), Some(px(ph)))
            }
            (None, _) => (self.width, self.height),
        };
        let (fw, fh) = (w as f64, h as f64);
        Ok(match (bw, bh) {
            (None, None) => (w, h),
            (Some(bw), None) => (bw, rounded(fh * bw as f64 / fw)),
            (None, Some(bh)) => (rounded(fw * bh as f64 / fh), bh),
            (Some(bw), Some(bh)) if bw as f64 / fw <= bh as f64 / fh => {
                (bw, rounded(fh * bw as f64 / fw).min(bh))
            }
            (Some(bw), Some(bh)) => (rounded(fw * bh as f64 / fh).min(bw), bh),
        })
    }
}

fn rounded(v: f64) -> usize {
    (v.round() as usize).max(1)
}

/// Parses a print size `WxH` followed by `in` or `cm` (`24x36in`, `60x90cm`) into inches.
pub fn parse_print_size(text: &str) -> std::result::Result<(f64, f64), String> {
    let (dims, per_inch) = if let Some(d) = text.strip_suffix("in") {
        (d, 1.0)
    } else if let Some(d) = text.strip_suffix("cm") {
        (d, CM_PER_INCH)
    } else {
        return Err(format!("{text}: expected WxHin or WxHcm, e.g. 24x36in"));
    };
    let number = |s: &str| -> std::result::Result<f64, String> {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0)
            .ok_or_else(|| format!("{text}: {s} is not a positive number"))
    };
    let (w, h) = dims
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{text}: expected WxHin or WxHcm, e.g. 24x36in"))?;
    Ok((number(w)? / per_inch, number(h)? / per_inch))
}

/// Bands of the source resized to `width × height`.
pub(super) struct Resampled {
    source: InputImage,
    resizer: Resizer,
    width: usize,
    height: usize,
    /// Samples per pixel and whether the last is alpha.
    samples: usize,
    alpha: bool,
    /// Largest sample value (255 or 65535).
    max: f32,
    /// Rows per band of the resized image.
    band_rows: usize,
}

impl Resampled {
    /// Resizes `source` to `width × height`, making bands whose source strip (f32 planes) stays
    /// within `strip_budget` bytes.
    pub(super) fn new(
        mut source: InputImage,
        (width, height): (usize, usize),
        strip_budget: u64,
    ) -> Self {
        let info = source.info().clone();
        let samples = info.layout.samples();
        let scale_y = info.height as f64 / height as f64;
        let reach = strip_reach(scale_y);
        let row_bytes = (info.width * samples * 4) as f64;
        let rows = (strip_budget as f64 / row_bytes - reach) / scale_y;
        let band_rows = (rows.max(1.0) as usize).min(MAX_BAND_ROWS);
        source.reserve_rows((band_rows as f64 * scale_y + reach).ceil() as usize);
        Self {
            source,
            resizer: Resizer::new(),
            width,
            height,
            samples,
            alpha: info.layout.has_alpha(),
            max: if info.bits == 8 { 255.0 } else { 65535.0 },
            band_rows,
        }
    }

    /// Rows per band of the resized image.
    pub(super) fn band_rows(&self) -> usize {
        self.band_rows
    }

    /// Bytes held besides the bands: the source strip as f32 planes, its resized planes, and
    /// the source bands the strip spans.
    pub(super) fn held_bytes(&self) -> u64 {
        let info = self.source.info();
        let scale_y = info.height as f64 / self.height as f64;
        let strip_rows = self.band_rows as f64 * scale_y + strip_reach(scale_y);
        let strip = strip_rows * (info.width * self.samples * (4 + 2 * 2)) as f64;
        let resized = (self.band_rows * self.width * self.samples * 8) as f64;
        (strip + resized) as u64
    }

    /// Band `index` of the resized image: interleaved samples as the file stores them.
    pub(super) fn band(&mut self, index: usize) -> Result<Vec<u16>> {
        let (sw, sh) = (self.source.info().width, self.source.info().height);
        let y0 = index * self.band_rows;
        let rows = self.band_rows.min(self.height - y0);
        let scale_y = sh as f64 / self.height as f64;
        let reach = filter_reach(scale_y);
        let top = ((y0 as f64 * scale_y - reach).floor().max(0.0)) as usize;
        let bottom = (((y0 + rows) as f64 * scale_y + reach).ceil() as usize).min(sh);
        let strip = self.strip_planes(top, bottom)?;
        let n = bottom - top;
        // The band's rows in the strip (rounding must not take the box past its last row).
        let crop_top = y0 as f64 * scale_y - top as f64;
        let crop_height = (rows as f64 * scale_y).min(n as f64 - crop_top);
        let options = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
            .crop(0.0, crop_top, sw as f64, crop_height);
        let plane_out = self.width * rows;
        let mut resized = vec![0.0f32; self.samples * plane_out];
        for (src, dst) in strip
            .chunks_exact(sw * n)
            .zip(resized.chunks_exact_mut(plane_out))
        {
            let src = ImageRef::new(
                sw as u32,
                n as u32,
                bytemuck::cast_slice(src),
                PixelType::F32,
            )
            .map_err(|e| self.error(e))?;
            let mut dst = Image::from_slice_u8(
                self.width as u32,
                rows as u32,
                bytemuck::cast_slice_mut(dst),
                PixelType::F32,
            )
            .map_err(|e| self.error(e))?;
            self.resizer
                .resize(&src, &mut dst, &options)
                .map_err(|e| self.error(e))?;
        }
        Ok(self.interleave(&resized, plane_out))
    }

    /// Source rows `top .. bottom` as planar f32, colour premultiplied by alpha.
    fn strip_planes(&mut self, top: usize, bottom: usize) -> Result<Vec<f32>> {
        let sw = self.source.info().width;
        let (spp, n) = (self.samples, bottom - top);
        let plane = sw * n;
        let mut planes = vec![0.0f32; spp * plane];
        for y in top..bottom {
            let at = (y - top) * sw;
            let (alpha, max) = (self.alpha, self.max);
            self.source.with_row(y, |row| {
                for (x, px) in row.chunks_exact(spp).enumerate() {
                    let a = if alpha {
                        f32::from(px[spp - 1]) / max
                    } else {
                        1.0
                    };
                    for (c, &v) in px.iter().enumerate() {
                        let colour = !(alpha && c == spp - 1);
                        planes[c * plane + at + x] = f32::from(v) * if colour { a } else { 1.0 };
                    }
                }
            })?;
        }
        Ok(planes)
    }

    /// Planar resized samples back to interleaved stored values: colour divided by alpha,
    /// everything rounded and clipped to the sample range.
    fn interleave(&self, planes: &[f32], plane: usize) -> Vec<u16> {
        let spp = self.samples;
        let mut out = vec![0u16; spp * plane];
        for (i, px) in out.chunks_exact_mut(spp).enumerate() {
            let a = if self.alpha {
                (planes[(spp - 1) * plane + i] / self.max).clamp(0.0, 1.0)
            } else {
                1.0
            };
            for (c, d) in px.iter_mut().enumerate() {
                let mut v = planes[c * plane + i];
                if self.alpha && c + 1 < spp {
                    v = if a > 0.0 { v / a } else { 0.0 };
                }
                *d = v.round().clamp(0.0, self.max) as u16;
            }
        }
        out
    }

    fn error(&self, e: impl std::fmt::Display) -> Error {
        Error::Decode {
            path: self.source.path().into(),
            reason: format!("resampling: {e}"),
        }
    }
}

/// Source rows a band's strip needs beyond the rows it covers (both sides together).
fn strip_reach(scale_y: f64) -> f64 {
    2.0 * filter_reach(scale_y) + 2.0
}

/// Source rows the filter reads beyond a band's edge (one more for rounding).
fn filter_reach(scale_y: f64) -> f64 {
    SUPPORT * scale_y.max(1.0) + 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_keep_the_aspect_and_fit_the_box() {
        let req = |width, height| SizeRequest {
            width,
            height,
            ..Default::default()
        };
        assert_eq!(
            req(Some(2000), None).target((1000, 600)).unwrap(),
            (2000, 1200)
        );
        assert_eq!(
            req(None, Some(300)).target((1000, 600)).unwrap(),
            (500, 300)
        );
        assert_eq!(
            req(Some(2000), Some(2000)).target((1000, 600)).unwrap(),
            (2000, 1200)
        );
        assert_eq!(
            req(Some(4000), Some(1200)).target((1000, 600)).unwrap(),
            (2000, 1200)
        );
        let print = SizeRequest {
            print_inches: Some(parse_print_size("60.96x91.44cm").unwrap()),
            dpi: Some(300.0),
            ..Default::default()
        };
        assert_eq!(print.target((1000, 1500)).unwrap(), (7200, 10800));
        let no_dpi = SizeRequest { dpi: None, ..print };
        assert!(no_dpi.target((10, 10)).is_err());
        assert!(parse_print_size("24x36").is_err());
        assert!(parse_print_size("0x36in").is_err());
        assert_eq!(parse_print_size("24X36in").unwrap(), (24.0, 36.0));
    }
}
