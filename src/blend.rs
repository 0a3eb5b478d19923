//! Feathered blending of tile outputs into a band of rows that is flushed to the output as soon
//! as no later tile can touch it, so blending needs memory for about one tile row, not the image.
//!
//! Weights are separable: along each axis every tile has a linear ramp across each interior seam,
//! and the ramps are divided by their sum, so at every pixel the weights of the (at most four)
//! tiles covering it add up to exactly one (a partition of unity): a constant image stays
//! constant, and where neighbouring tiles agree the blend changes nothing.

use crate::error::Result;
use crate::geom::Rect;
use crate::tiling::{Tile, TilePlan};

/// Per-axis blend weights of every tile index along that axis.
#[derive(Debug, Clone)]
struct AxisWeights {
    /// For tile `i`: the first coordinate it contributes to and its weights from there on.
    spans: Vec<(usize, Vec<f32>)>,
}

impl AxisWeights {
    fn new(edges: &[usize], feather: usize) -> Self {
        let extent = *edges.last().unwrap_or(&0);
        let n = edges.len() - 1;
        let ramp = |d: f64| -> f64 {
            if feather == 0 {
                if d > 0.0 {
                    1.0
                } else {
                    0.0
                }
            } else {
                (d / (2 * feather) as f64).clamp(0.0, 1.0)
            }
        };
        let raw: Vec<(usize, Vec<f64>)> = (0..n)
            .map(|i| {
                let lo = if i > 0 { edges[i] - feather } else { 0 };
                let hi = if i + 1 < n {
                    (edges[i + 1] + feather).min(extent)
                } else {
                    extent
                };
                let weights = (lo..hi)
                    .map(|x| {
                        let centre = x as f64 + 0.5;
                        let up = if i > 0 { ramp(centre - lo as f64) } else { 1.0 };
                        let down = if i + 1 < n {
                            ramp((edges[i + 1] + feather) as f64 - centre)
                        } else {
                            1.0
                        };
                        up * down
                    })
                    .collect();
                (lo, weights)
            })
            .collect();
        let mut total = vec![0.0f64; extent];
        for (lo, w) in &raw {
            for (k, v) in w.iter().enumerate() {
                total[lo + k] += v;
            }
        }
        let spans = raw
            .into_iter()
            .map(|(lo, w)| {
                let normalised = w
                    .iter()
                    .enumerate()
                    .map(|(k, v)| (v / total[lo + k]) as f32)
                    .collect();
                (lo, normalised)
            })
            .collect();
        Self { spans }
    }

    fn span(&self, index: usize) -> (usize, &[f32]) {
        let (lo, w) = &self.spans[index];
        (*lo, w)
    }
}

/// Receives finished rows of the blended image, in order.
pub trait RowSink {
    /// Takes rows `y0 ..` of the padded image: `width` pixels of `channels` interleaved f32
    /// samples each (columns and rows past the image are the sink's to drop).
    fn write_rows(&mut self, y0: usize, rows: &[f32], width: usize, channels: usize) -> Result<()>;
}

/// A file being written from finished rows: completed (and moved into place) by `finish`.
pub trait RowFile: RowSink + Send {
    /// Completes the file; returns where it now is.
    fn finish(self: Box<Self>) -> Result<std::path::PathBuf>;
}

/// The tile rows of `plan` whose blended output reaches rows `y0 .. y1` (plan coordinates):
/// the tiles a band of the output needs.
pub fn tile_rows_touching(plan: &TilePlan, (y0, y1): (usize, usize)) -> std::ops::Range<usize> {
    let axis = AxisWeights::new(&plan.y_edges, plan.feather);
    let touches = |r: &usize| {
        let (lo, w) = axis.span(*r);
        lo < y1 && lo + w.len() > y0
    };
    let first = (0..plan.rows()).find(touches).unwrap_or(0);
    let end = (0..plan.rows())
        .rev()
        .find(touches)
        .map_or(first, |r| r + 1);
    first..end
}

/// Passes on only the rows and columns of `content`, moved to the origin: the image inside a
/// periodic plan's margins.
pub struct Cropped<'a> {
    sink: &'a mut dyn RowSink,
    content: Rect,
}

impl<'a> Cropped<'a> {
    /// A sink that writes the part of the rows inside `content` to `sink`.
    pub fn new(sink: &'a mut dyn RowSink, content: Rect) -> Self {
        Self { sink, content }
    }
}

impl RowSink for Cropped<'_> {
    fn write_rows(&mut self, y0: usize, rows: &[f32], width: usize, channels: usize) -> Result<()> {
        let c = self.content;
        let n = rows.len() / (width * channels);
        let (first, end) = (y0.max(c.y0), (y0 + n).min(c.y1));
        if first >= end {
            return Ok(());
        }
        let mut inside = Vec::with_capacity((end - first) * c.width() * channels);
        for y in first..end {
            let row = &rows[(y - y0) * width * channels..][..width * channels];
            inside.extend_from_slice(&row[c.x0 * channels..c.x1 * channels]);
        }
        self.sink
            .write_rows(first - c.y0, &inside, c.width(), channels)
    }
}

/// Accumulates weighted tile outputs for the current tile row and flushes finished rows.
pub struct Blender {
    x: AxisWeights,
    y: AxisWeights,
    width: usize,
    height: usize,
    channels: usize,
    band_y0: usize,
    band: Vec<f32>,
}

impl Blender {
    /// A blender for `plan` with `channels` interleaved channels per pixel.
    pub fn new(plan: &TilePlan, channels: usize) -> Self {
        Self {
            x: AxisWeights::new(&plan.x_edges, plan.feather),
            y: AxisWeights::new(&plan.y_edges, plan.feather),
            width: plan.padded_width,
            height: plan.padded_height,
            channels,
            band_y0: 0,
            band: Vec::new(),
        }
    }

    /// A blender that starts at tile row `first_row` (the rows above it are not wanted).
    pub fn from_row(plan: &TilePlan, channels: usize, first_row: usize) -> Self {
        let mut blender = Self::new(plan, channels);
        blender.band_y0 = blender.y.span(first_row).0;
        blender
    }

    fn row_len(&self) -> usize {
        self.width * self.channels
    }

    /// Adds a tile's output, given planar (`[channel][row][col]`) over the tile's window.
    pub fn add_tile(&mut self, tile: &Tile, planar: &[f32]) {
        let (y_lo, wy) = self.y.span(tile.row);
        let (x_lo, wx) = self.x.span(tile.col);
        let y_hi = y_lo + wy.len();
        let needed_rows = y_hi - self.band_y0;
        let row_len = self.row_len();
        if self.band.len() < needed_rows * row_len {
            self.band.resize(needed_rows * row_len, 0.0);
        }
        let win = tile.window;
        let plane = win.width() * win.height();
        for (ky, y) in (y_lo..y_hi).enumerate() {
            let band_row = &mut self.band[(y - self.band_y0) * row_len..][..row_len];
            let src_row = (y - win.y0) * win.width();
            for (kx, x) in (x_lo..x_lo + wx.len()).enumerate() {
                let w = wy[ky] * wx[kx];
                let src = src_row + x - win.x0;
                let dst = &mut band_row[x * self.channels..][..self.channels];
                for (c, d) in dst.iter_mut().enumerate() {
                    *d += w * planar[c * plane + src];
                }
            }
        }
    }

    /// Flushes every row that no tile after tile row `row` touches.
    pub fn finish_row(&mut self, row: usize, sink: &mut dyn RowSink) -> Result<()> {
        let done_until = if row + 1 < self.y.spans.len() {
            self.y.span(row + 1).0
        } else {
            self.height
        };
        if done_until <= self.band_y0 {
            return Ok(());
        }
        let row_len = self.row_len();
        let n = done_until - self.band_y0;
        sink.write_rows(
            self.band_y0,
            &self.band[..n * row_len],
            self.width,
            self.channels,
        )?;
        self.band.drain(..n * row_len);
        self.band_y0 = done_until;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_a_partition_of_unity() {
        for (extent, tile, feather) in [(1000, 256, 63), (1004, 200, 0), (520, 256, 100)] {
            let edges: Vec<usize> = (0..extent)
                .step_by(tile)
                .chain(std::iter::once(extent))
                .collect();
            let axis = AxisWeights::new(&edges, feather);
            let mut total = vec![0.0f32; extent];
            for (lo, w) in &axis.spans {
                for (k, v) in w.iter().enumerate() {
                    total[lo + k] += v;
                }
            }
            assert!(
                total.iter().all(|t| (t - 1.0).abs() < 1e-6),
                "{extent} {tile}"
            );
        }
    }
}
