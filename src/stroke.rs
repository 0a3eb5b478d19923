//! Stroke size for the print size (`--stroke-scale S`): a feed-forward network paints strokes of
//! a fixed size in *pixels*, so on a 10000-px poster they are a tenth as large, relative to the
//! picture, as on the 1000-px images it was trained on. bigstyle runs the network on the image
//! scaled down by `S` and brings the result back to full resolution with detail restored:
//!
//! 1. the input is area-averaged by `S` (fractional allowed) while streaming, into a 16-bit sRGB
//!    scratch TIFF;
//! 2. that copy goes through the ordinary pipeline — tiles, exact statistics *at that scale*,
//!    the memory budget — into a second scratch TIFF;
//! 3. the full-resolution output is streamed band by band through a **fast guided filter**
//!    (He and Sun 2015) whose guide is the content's luminance: at the low resolution, each
//!    stylized channel `p` is fitted locally as `a·Y + b` against the downscaled content's luma
//!    `Y` (3×3 windows, regularised by `detail`, the one parameter), `a` and `b` are box-averaged
//!    and bilinearly upsampled, and the output is `a·Y_full + b`: the strokes and colours come
//!    from the stylization, the fine luminance detail (edges, texture of the photo) from the
//!    full-resolution input.
//!
//! Every stage reads and writes in bands, so the whole run stays within `--mem-budget`; the
//! scratch files live in `--scratch-dir` and are removed at the end.

use std::path::Path;
use std::time::Instant;

use crate::colour::{ColourOptions, OutputColour};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::geom::Rect;
use crate::io::metadata::dots_per_inch;
use crate::io::resample::SizeRequest;
use crate::io::tiff_out::{Compression, OutputSpec};
use crate::io::{InputImage, Output, Window};
use crate::look::Look;
use crate::pipeline::{
    check_paths, open_input, output_spec, stylize_file, Options, OutputPlan, Summary, Written,
};
use crate::progress::Progress;

/// Default regularisation of the guided filter (`--stroke-detail`), in squared 0..1 luminance
/// units: a local contrast well below 0.01 counts as flat, above it the input's detail is kept.
pub const DEFAULT_DETAIL: f64 = 1e-4;
/// Radius (low-resolution pixels) of the guided filter's windows.
const RADIUS: usize = 1;
/// Full-resolution rows produced per band.
const BAND: usize = 64;

/// The stroke size of a network, in its pixels, that `auto` places at [`AUTO_STROKE_MM`] on
/// the print.
const NETWORK_STROKE_PX: f64 = 8.0;
/// Physical stroke size `auto` aims at, in millimetres.
pub const AUTO_STROKE_MM: f64 = 3.0;
/// Resolution assumed by `auto` for files without one.
pub const AUTO_DEFAULT_DPI: f64 = 300.0;

/// How much the network's strokes are enlarged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// Run the network at `1/S` of the size (S ≥ 1; 1 is the ordinary run).
    Factor(f64),
    /// Pick S from the file's resolution ([`auto_scale`]).
    Auto,
}

/// The stroke scale `auto` picks for an image printed at `dpi`: strokes of the network's
/// typical size land at [`AUTO_STROKE_MM`] on the print, never below 1.
pub fn auto_scale(dpi: Option<f64>) -> f64 {
    let dpi = dpi.unwrap_or(AUTO_DEFAULT_DPI);
    (AUTO_STROKE_MM / 25.4 * dpi / NETWORK_STROKE_PX).max(1.0)
}

/// Stylizes `input` into `output` with the network run at `1/scale` of the size (see the module
/// documentation); `detail` is the guided filter's regularisation. A scale of 1 is the
/// ordinary run, bit for bit.
pub fn stylize_scaled<E: Engine>(
    engine: &E,
    input: &Path,
    output: &Path,
    opts: &Options,
    (scale, detail): (Scale, f64),
    progress: &mut dyn Progress,
) -> Result<Summary> {
    // The ordinary run opens the input itself: no second decode for S = 1.
    if scale == Scale::Factor(1.0) {
        return stylize_file(engine, input, output, opts, progress);
    }
    let mut image = open_input(input, opts)?;
    let scale = resolve(scale, &image);
    if scale == 1.0 {
        drop(image);
        return stylize_file(engine, input, output, opts, progress);
    }
    if opts.wrap {
        return Err(Error::InvalidOption(format!(
            "--wrap with --stroke-scale {scale}: not supported (the scaled-down image and the detail filter do not repeat); use one or the other"
        )));
    }
    if !(detail.is_finite() && detail > 0.0) {
        return Err(Error::InvalidOption(format!(
            "--stroke-detail {detail}: must be a positive number"
        )));
    }
    check_paths(input, output, opts)?;
    let started = Instant::now();
    let small = Small::stylize(engine, &mut image, opts, scale, progress)?;
    let OutputPlan {
        spec,
        colour,
        forced,
    } = output_spec(&image, output, opts)?;
    forced.iter().for_each(|text| progress.warn(text));
    progress.stage("restoring detail", 1);
    let written = GuidedUpsample {
        content: &mut small.open(&small.input, opts)?,
        styled: &mut small.open(&small.output, opts)?,
        detail,
        look: opts.look,
    }
    .run(&mut image, spec.clone(), output)?;
    progress.step();
    Ok(Summary {
        input: input.into(),
        output: written,
        width: image.info().width,
        height: image.info().height,
        storage: image.info().storage.clone(),
        written: Written::of(output, &spec)?,
        colour,
        render_seconds: started.elapsed().as_secs_f64() - small.summary.stats_seconds,
        ..small.summary
    })
}

/// S for a [`Scale`] and an image (`auto` reads its resolution).
fn resolve(scale: Scale, image: &InputImage) -> f64 {
    match scale {
        Scale::Factor(s) => s,
        Scale::Auto => auto_scale(
            image
                .info()
                .resolution
                .as_ref()
                .and_then(dots_per_inch)
                .map(|(x, _)| x),
        ),
    }
}

/// The first two stages: the image scaled down by S, and its stylization, in scratch files that
/// live as long as this value.
struct Small {
    _scratch: tempfile::TempDir,
    input: std::path::PathBuf,
    output: std::path::PathBuf,
    summary: Summary,
}

impl Small {
    fn stylize<E: Engine>(
        engine: &E,
        image: &mut InputImage,
        opts: &Options,
        scale: f64,
        progress: &mut dyn Progress,
    ) -> Result<Self> {
        if !(scale.is_finite() && scale >= 1.0) {
            return Err(Error::InvalidOption(format!(
                "--stroke-scale {scale}: must be 1 or more"
            )));
        }
        let root = opts.scratch_dir.clone().unwrap_or_else(std::env::temp_dir);
        let scratch = tempfile::Builder::new()
            .prefix("bigstyle-stroke")
            .tempdir_in(&root)
            .map_err(|e| Error::io(&root, e))?;
        crate::io::cleanup::register(scratch.path());
        let (input, output) = (
            scratch.path().join("in.tif"),
            scratch.path().join("out.tif"),
        );
        let (w, h) = (image.info().width, image.info().height);
        let min = engine.network().geometry().min_side;
        let size = (
            ((w as f64 / scale).round() as usize).clamp(min.min(w), w),
            ((h as f64 / scale).round() as usize).clamp(min.min(h), h),
        );
        progress.note(&format!(
            "stroke scale {scale}: the network runs at {}x{}",
            size.0, size.1
        ));
        downscale_to_file(image, srgb_spec(size, 16), &input)?;
        let small_opts = Options {
            colour: ColourOptions::default(),
            look: Look::default(),
            keep_gray: false,
            compression: Compression::None,
            no_clobber: false,
            size: SizeRequest::default(),
            ..opts.clone()
        };
        let summary = stylize_file(engine, &input, &output, &small_opts, progress)?;
        Ok(Self {
            _scratch: scratch,
            input,
            output,
            summary,
        })
    }

    fn open(&self, path: &Path, opts: &Options) -> Result<InputImage> {
        InputImage::open_with(path, opts.mem_budget, &ColourOptions::default())
    }
}

/// A small preview of the final result whose look matches it: the network runs at the same
/// scale as in the final run (so the strokes have the same size relative to the picture, and
/// `--save-stats` / `--stats-file` give both the same statistics), and its result is
/// area-averaged to `side` px on the longer side, written as 8-bit sRGB.
pub fn proof<E: Engine>(
    engine: &E,
    input: &Path,
    output: &Path,
    opts: &Options,
    scale: Scale,
    side: usize,
    progress: &mut dyn Progress,
) -> Result<Summary> {
    check_paths(input, output, opts)?;
    let mut image = open_input(input, opts)?;
    let scale = resolve(scale, &image);
    let small = Small::stylize(engine, &mut image, opts, scale, progress)?;
    let mut styled = small.open(&small.output, opts)?;
    let (w, h) = (styled.info().width, styled.info().height);
    let k = (side as f64 / w.max(h) as f64).min(1.0);
    let size = (
        ((w as f64 * k).round() as usize).max(1),
        ((h as f64 * k).round() as usize).max(1),
    );
    let spec = srgb_spec(size, 8);
    downscale_to_file(&mut styled, spec.clone(), output)?;
    Ok(Summary {
        input: input.into(),
        output: output.into(),
        width: size.0,
        height: size.1,
        written: Written::of(output, &spec)?,
        ..small.summary
    })
}

/// A scratch copy's output: 16-bit sRGB TIFF, uncompressed.
fn srgb_spec((width, height): (usize, usize), bits: u8) -> OutputSpec {
    OutputSpec {
        width,
        height,
        colour: OutputColour::srgb(),
        alpha: false,
        bits,
        resolution: None,
        bigtiff: None,
        compression: Compression::None,
        quality: 95,
    }
}

/// Writes `image` area-averaged to the size of `spec`, streaming: each small row is the
/// weighted mean of the input rows it covers.
fn downscale_to_file(image: &mut InputImage, spec: OutputSpec, path: &Path) -> Result<()> {
    let (w, h) = (image.info().width, image.info().height);
    let (sw, sh) = (spec.width, spec.height);
    let mut out = Output::create(path, spec)?;
    let columns = area_weights(w, sw);
    let rows = area_weights(h, sh);
    let mut line = vec![0.0f32; 3 * sw];
    for (y, row_weights) in rows.iter().enumerate() {
        let (first, last) = (row_weights[0].0, row_weights[row_weights.len() - 1].0);
        let band = image.read_window(Rect {
            x0: 0,
            y0: first,
            x1: w,
            y1: last + 1,
        })?;
        let plane = w * (last + 1 - first);
        line.fill(0.0);
        for &(sy, wy) in row_weights {
            for (x, col_weights) in columns.iter().enumerate() {
                for &(sx, wx) in col_weights {
                    let at = (sy - first) * w + sx;
                    for c in 0..3 {
                        line[3 * x + c] += wy * wx * band.planes[c * plane + at];
                    }
                }
            }
        }
        crate::blend::RowSink::write_rows(&mut out, y, &line, sw, 3)?;
    }
    out.finish().map(drop)
}

/// For each of `small` output positions along an axis of `full` input pixels: the input pixels
/// it covers and their weights (the covered length, normalised to sum 1).
fn area_weights(full: usize, small: usize) -> Vec<Vec<(usize, f32)>> {
    let step = full as f64 / small as f64;
    (0..small)
        .map(|j| {
            let (a, b) = (j as f64 * step, ((j + 1) as f64 * step).min(full as f64));
            let first = a.floor() as usize;
            let last = (b.ceil() as usize).clamp(first + 1, full);
            (first..last)
                .map(|i| {
                    let covered = (b.min(i as f64 + 1.0) - a.max(i as f64)).max(0.0);
                    (i, (covered / (b - a)) as f32)
                })
                .filter(|(_, w)| *w > 0.0)
                .collect()
        })
        .collect()
}

/// The low-resolution coordinate of full-resolution pixel `v` (pixel centres aligned), for a
/// scale `f` = low / full size, clamped to the `n` low pixels.
fn low_coordinate(v: usize, f: f64, n: usize) -> f64 {
    ((v as f64 + 0.5) * f - 0.5).clamp(0.0, (n - 1) as f64)
}

/// BT.601 luma of planar RGB at `i`.
fn luma(planes: &[f32], plane: usize, i: usize) -> f32 {
    0.299 * planes[i] + 0.587 * planes[plane + i] + 0.114 * planes[2 * plane + i]
}

/// The guided filter's upsampling stage: the downscaled content (the guide at low resolution)
/// and its stylization, brought to the full image's size.
struct GuidedUpsample<'a> {
    content: &'a mut InputImage,
    styled: &'a mut InputImage,
    detail: f64,
    look: Look,
}

/// Low-resolution coefficients `a`, `b` (3 channels each, planar) over rows `y0..` of the low
/// image, full width.
struct Coefficients {
    y0: usize,
    rows: usize,
    width: usize,
    a: Vec<f32>,
    b: Vec<f32>,
}

impl GuidedUpsample<'_> {
    /// Streams the full-resolution result of `image` into `output`.
    fn run(
        &mut self,
        image: &mut InputImage,
        spec: OutputSpec,
        output: &Path,
    ) -> Result<std::path::PathBuf> {
        let (w, h) = (image.info().width, image.info().height);
        let (sw, sh) = (self.content.info().width, self.content.info().height);
        let channels = if spec.alpha { 4 } else { 3 };
        let mut out = Output::create(output, spec)?;
        let (fx, fy) = (sw as f64 / w as f64, sh as f64 / h as f64);
        let low = low_coordinate;
        let mut rows = Vec::new();
        for y0 in (0..h).step_by(BAND) {
            let y1 = (y0 + BAND).min(h);
            let (l0, l1) = (
                low(y0, fy, sh).floor() as usize,
                (low(y1 - 1, fy, sh).floor() as usize + 1).min(sh - 1),
            );
            let coeffs = self.coefficients(l0, l1 + 1)?;
            let full = image.read_window(Rect {
                x0: 0,
                y0,
                x1: w,
                y1,
            })?;
            rows.clear();
            rows.resize((y1 - y0) * w * channels, 0.0);
            self.band(&full, &coeffs, (y0, fx, fy), &mut rows, channels);
            crate::blend::RowSink::write_rows(&mut out, y0, &rows, w, channels)?;
        }
        out.finish()
    }

    /// The full-resolution rows of one band from the coefficients around them.
    fn band(
        &self,
        full: &Window,
        c: &Coefficients,
        (y0, fx, fy): (usize, f64, f64),
        rows: &mut [f32],
        channels: usize,
    ) {
        let (w, plane) = (full.width, full.width * full.height);
        let (sw, sh) = (c.width, self.content.info().height);
        let low = low_coordinate;
        let columns: Vec<(usize, usize, f32)> = (0..w)
            .map(|x| {
                let u = low(x, fx, sw);
                let u0 = u.floor() as usize;
                (u0, (u0 + 1).min(sw - 1), (u - u0 as f64) as f32)
            })
            .collect();
        let mut px = [0.0f32; 3];
        let mut input = [0.0f32; 3];
        for ky in 0..full.height {
            let v = low(y0 + ky, fy, sh);
            let v0 = v.floor() as usize;
            let (r0, r1, ty) = (
                v0 - c.y0,
                (v0 + 1).min(sh - 1) - c.y0,
                (v - v0 as f64) as f32,
            );
            for (x, &(u0, u1, tx)) in columns.iter().enumerate() {
                let i = ky * w + x;
                let y_full = luma(&full.planes, plane, i);
                for ch in 0..3 {
                    let at = |field: &[f32], r: usize, u: usize| field[(ch * c.rows + r) * sw + u];
                    let lerp = |field: &[f32]| {
                        let top = at(field, r0, u0) * (1.0 - tx) + at(field, r0, u1) * tx;
                        let bottom = at(field, r1, u0) * (1.0 - tx) + at(field, r1, u1) * tx;
                        top * (1.0 - ty) + bottom * ty
                    };
                    px[ch] = (lerp(&c.a) * y_full + lerp(&c.b)).clamp(0.0, 1.0);
                    input[ch] = full.planes[ch * plane + i];
                }
                if !self.look.is_identity() {
                    let mut planar = px.to_vec();
                    self.look.apply(&mut planar, &input);
                    px.copy_from_slice(&planar);
                }
                let dst = &mut rows[i * channels..][..channels];
                dst[..3].copy_from_slice(&px);
                if channels == 4 {
                    dst[3] = full.alpha().map_or(1.0, |a| a[i]);
                }
            }
        }
    }

    /// The guided filter's coefficients for low rows `l0..l1`: per channel, `a` and `b` of the
    /// local linear fit `p ≈ a·Y + b` over (2r+1)² windows, then averaged over the same windows.
    fn coefficients(&mut self, l0: usize, l1: usize) -> Result<Coefficients> {
        let (sw, sh) = (self.content.info().width, self.content.info().height);
        // Two box filters: the fit needs rows ±r, its averaging ±r more.
        let (r0, r1) = (l0.saturating_sub(2 * RADIUS), (l1 + 2 * RADIUS).min(sh));
        let rect = Rect {
            x0: 0,
            y0: r0,
            x1: sw,
            y1: r1,
        };
        let content = self.content.read_window(rect)?;
        let styled = self.styled.read_window(rect)?;
        let (n, plane) = (r1 - r0, sw * (r1 - r0));
        let guide: Vec<f32> = (0..plane)
            .map(|i| luma(&content.planes, plane, i))
            .collect();
        let mean_i = box_mean(&guide, sw, n);
        let mean_ii = box_mean(&guide.iter().map(|v| v * v).collect::<Vec<_>>(), sw, n);
        let rows = l1 - l0;
        let (mut a_out, mut b_out) = (
            Vec::with_capacity(3 * rows * sw),
            Vec::with_capacity(3 * rows * sw),
        );
        for ch in 0..3 {
            let p = &styled.planes[ch * plane..][..plane];
            let mean_p = box_mean(p, sw, n);
            let mean_ip = box_mean(
                &guide.iter().zip(p).map(|(i, p)| i * p).collect::<Vec<_>>(),
                sw,
                n,
            );
            let (a, b): (Vec<f32>, Vec<f32>) = (0..plane)
                .map(|k| {
                    let var = f64::from(mean_ii[k] - mean_i[k] * mean_i[k]).max(0.0);
                    let cov = f64::from(mean_ip[k] - mean_i[k] * mean_p[k]);
                    let a = (cov / (var + self.detail)) as f32;
                    (a, mean_p[k] - a * mean_i[k])
                })
                .unzip();
            let (a, b) = (box_mean(&a, sw, n), box_mean(&b, sw, n));
            let keep = (l0 - r0) * sw..(l1 - r0) * sw;
            a_out.extend_from_slice(&a[keep.clone()]);
            b_out.extend_from_slice(&b[keep]);
        }
        Ok(Coefficients {
            y0: l0,
            rows,
            width: sw,
            a: a_out,
            b: b_out,
        })
    }
}

/// Mean over the (2r+1)² window around each pixel of a `w × h` plane, the window clipped to the
/// plane (the guided filter's usual edge handling).
fn box_mean(values: &[f32], w: usize, h: usize) -> Vec<f32> {
    let r = RADIUS;
    let mut rows = vec![0.0f32; values.len()];
    for y in 0..h {
        for x in 0..w {
            let (a, b) = (x.saturating_sub(r), (x + r + 1).min(w));
            rows[y * w + x] = values[y * w + a..y * w + b].iter().sum::<f32>() / (b - a) as f32;
        }
    }
    let mut out = vec![0.0f32; values.len()];
    for y in 0..h {
        let (a, b) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            out[y * w + x] = (a..b).map(|k| rows[k * w + x]).sum::<f32>() / (b - a) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_weights_cover_each_input_pixel_once() {
        for (full, small) in [(10, 4), (9, 3), (1000, 333), (7, 7)] {
            let weights = area_weights(full, small);
            let mut coverage = vec![0.0f64; full];
            for (j, ws) in weights.iter().enumerate() {
                let total: f32 = ws.iter().map(|(_, w)| w).sum();
                assert!((total - 1.0).abs() < 1e-5, "{full}->{small} #{j}: {total}");
                for (i, w) in ws {
                    coverage[*i] += f64::from(*w) * full as f64 / small as f64;
                }
            }
            assert!(
                coverage.iter().all(|c| (c - 1.0).abs() < 1e-4),
                "{full}->{small}"
            );
        }
    }

    #[test]
    fn auto_puts_strokes_at_a_few_millimetres() {
        assert!((auto_scale(Some(300.0)) - 4.43).abs() < 0.01);
        assert_eq!(auto_scale(Some(60.0)), 1.0);
        assert_eq!(auto_scale(None), auto_scale(Some(300.0)));
    }
}
