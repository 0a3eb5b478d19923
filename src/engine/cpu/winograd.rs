//! Stride-1 convolutions by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray 2016): each
//! 2×2 block of outputs is computed from a 4×4 block of inputs with 16 multiply-adds per input
//! and output channel pair instead of 36, so the residual and upsampling layers cost 2.25×
//! fewer multiply-adds. A 9×9 kernel is nine 3×3 kernels at offsets of 3 pixels, each applied to
//! its shifted input: the nine shifted inputs are stacked as channels (27 for an RGB image), so
//! the 9×9 first layer also runs as F(2×2, 3×3) at 2.25× fewer multiply-adds. The transforms
//! are additions only, done for a whole row of blocks at once on contiguous arrays (the compiler
//! vectorises them); the products are 16 small matrix products, one per position in the 4×4
//! block, through the `gemm` crate.
//!
//! With F(2×2, 3×3) the rounding stays close to direct convolution's (its transforms use only
//! 0, ±1 and ±½), which the golden tests check against PyTorch and onnxruntime.

use rayon::prelude::*;

use super::{pad_reflect_rows, BufferPool, Padded, Planar, SharedMut, COL};
use crate::network::Layer;

/// Positions in a 4×4 input block (one matrix product each).
const POSITIONS: usize = 16;
/// Blocks of 2×2 outputs transformed and multiplied together: enough columns for efficient
/// matrix products, few enough that the transformed block stays in cache.
const TARGET_BLOCKS: usize = 256;

/// A layer's filters transformed for F(2×2, 3×3): `[position][out][shift][in]`, where a
/// `3s × 3s` kernel is split into `s²` 3×3 kernels at offsets `(3i, 3j)` (shift `i·s + j`).
pub(super) struct WinogradFilters {
    u: Vec<f32>,
    out_channels: usize,
    in_channels: usize,
    /// Kernel side in 3×3 parts (1 for 3×3, 3 for 9×9).
    split: usize,
}

impl WinogradFilters {
    /// The transformed filters of `layer`, if it is a stride-1 convolution with a kernel side
    /// of 3 or 9 and enough channels for the matrix products to pay.
    pub(super) fn of(layer: &Layer) -> Option<Self> {
        let split = layer.kernel / 3;
        let fits = matches!(layer.kernel, 3 | 9)
            && layer.stride == 1
            && split * split * layer.in_channels >= 8
            && layer.out_channels >= 8;
        fits.then(|| Self::transform(layer, split))
    }

    /// Inputs of the matrix products: input channels times shifts.
    fn depth(&self) -> usize {
        self.split * self.split * self.in_channels
    }

    /// `U = G g Gᵀ` for every 3×3 part `g`, with `G = [[1,0,0],[½,½,½],[½,-½,½],[0,0,1]]`.
    fn transform(layer: &Layer, split: usize) -> Self {
        let (co, ci, k) = (layer.out_channels, layer.in_channels, layer.kernel);
        let depth = split * split * ci;
        let mut u = vec![0.0f32; POSITIONS * co * depth];
        let g_rows = |g: [f32; 3]| -> [f32; 4] {
            [
                g[0],
                0.5 * (g[0] + g[1] + g[2]),
                0.5 * (g[0] - g[1] + g[2]),
                g[2],
            ]
        };
        for o in 0..co {
            for c in 0..ci {
                let kernel = &layer.weight[(o * ci + c) * k * k..][..k * k];
                for (i, j) in (0..split).flat_map(|i| (0..split).map(move |j| (i, j))) {
                    let g = |a: usize, b: usize| kernel[(3 * i + a) * k + 3 * j + b];
                    // G g: 4 rows of 3, then (G g) Gᵀ: each row through the same transform.
                    let cols: [[f32; 4]; 3] =
                        std::array::from_fn(|b| g_rows([g(0, b), g(1, b), g(2, b)]));
                    let d = (i * split + j) * ci + c;
                    for a in 0..4 {
                        let row = g_rows([cols[0][a], cols[1][a], cols[2][a]]);
                        for (b, v) in row.iter().enumerate() {
                            u[((4 * a + b) * co + o) * depth + d] = *v;
                        }
                    }
                }
            }
        }
        Self {
            u,
            out_channels: co,
            in_channels: ci,
            split,
        }
    }
}

/// Layer output of `x` (reflect-padded by half the kernel, upsampled 2× first if `upsample`)
/// under `filters`.
pub(super) fn winograd_conv(
    x: &Planar,
    filters: &WinogradFilters,
    upsample: bool,
    pool: &BufferPool,
) -> Planar {
    let factor = if upsample { 2 } else { 1 };
    let (out_h, out_w) = (x.height * factor, x.width * factor);
    let (co, plane) = (filters.out_channels, out_h * out_w);
    let kernel = 3 * filters.split;
    let mut out = pool.take(co * plane);
    let tiles_w = out_w.div_ceil(2);
    let tile_rows_per_block = TARGET_BLOCKS.div_ceil(tiles_w).max(1);
    let dst = SharedMut(out.as_mut_ptr());
    let blocks: Vec<usize> = (0..out_h).step_by(2 * tile_rows_per_block).collect();
    blocks.into_par_iter().for_each(|y0| {
        let rows = (2 * tile_rows_per_block).min(out_h - y0);
        COL.with_borrow_mut(|(rows_buf, work)| {
            let (pad, last) = (kernel / 2, y0 + rows + kernel - 1);
            let padded = pad_reflect_rows(x, pad, upsample, 1, y0, last, rows_buf);
            let block = Block {
                tiles_w,
                tile_rows: rows.div_ceil(2),
                rows,
                out_w,
                split: filters.split,
            };
            let p = block.tiles_w * block.tile_rows;
            work.resize(POSITIONS * (filters.depth() + co) * p, 0.0);
            let (v, m) = work.split_at_mut(POSITIONS * filters.depth() * p);
            transform_input(&block, &padded, v);
            multiply(filters, v, m, p);
            transform_output(&block, m, dst, plane, y0);
            *rows_buf = padded.data;
        });
    });
    Planar::new(co, out_h, out_w, out)
}

/// The 2×2 output blocks of some output rows: `tile_rows` rows of `tiles_w` blocks.
struct Block {
    tiles_w: usize,
    tile_rows: usize,
    /// Output rows (odd for the image's last block when its height is odd).
    rows: usize,
    out_w: usize,
    /// Kernel side in 3×3 parts ([`WinogradFilters`]).
    split: usize,
}

impl Block {
    /// `V = Bᵀ d B` of every 4×4 input block of every shift and channel, into `v`
    /// (`[position][shift][channel][block]`), with
    /// `Bᵀ = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]]`.
    #[inline(always)]
    fn transform_input(&self, padded: &Padded, v: &mut [f32]) {
        let (tw, p) = (self.tiles_w, self.tiles_w * self.tile_rows);
        let channels = padded.channels;
        // Even and odd columns of the 4 input rows of a row of blocks: d[i][2t + j] for
        // j = 0, 1, 2, 3 is even[i][t], odd[i][t], even[i][t + 1], odd[i][t + 1].
        let mut even = [
            vec![0.0f32; tw + 1],
            vec![0.0; tw + 1],
            vec![0.0; tw + 1],
            vec![0.0; tw + 1],
        ];
        let mut odd = even.clone();
        let mut t_even = even.clone();
        let mut t_odd = even.clone();
        let depth = self.split * self.split * channels;
        let shifts = (0..self.split).flat_map(|i| (0..self.split).map(move |j| (i, j)));
        for ((di, dj), c) in shifts.flat_map(|s| (0..channels).map(move |c| (s, c))) {
            let src = &padded.data[c * padded.plane()..][..padded.plane()];
            let d = (di * self.split + dj) * channels + c;
            for ty in 0..self.tile_rows {
                for q in 0..4 {
                    let r = 2 * ty + 3 * di + q;
                    let row = (r < padded.height)
                        .then(|| &src[r * padded.logical_width..][3 * dj..padded.logical_width]);
                    split_even_odd(row, &mut even[q], &mut odd[q]);
                }
                // Bᵀ d: combinations of the 4 rows.
                for (t, d) in [(&mut t_even, &even), (&mut t_odd, &odd)] {
                    rows_bt(d, t);
                }
                // (Bᵀ d) B: the same combinations of the 4 columns.
                for a in 0..4 {
                    let (e, o) = (&t_even[a], &t_odd[a]);
                    let plane = |b: usize| ((4 * a + b) * depth + d) * p + ty * tw;
                    let [v0, v1, v2, v3] = v
                        .get_disjoint_mut([0, 1, 2, 3].map(|b| plane(b)..plane(b) + tw))
                        .expect("the four positions' planes are disjoint");
                    let (e0, e1, o0, o1) = (&e[..tw], &e[1..=tw], &o[..tw], &o[1..=tw]);
                    for (v, (x, y)) in v0.iter_mut().zip(e0.iter().zip(e1)) {
                        *v = x - y;
                    }
                    for (v, (x, y)) in v1.iter_mut().zip(o0.iter().zip(e1)) {
                        *v = x + y;
                    }
                    for (v, (x, y)) in v2.iter_mut().zip(e1.iter().zip(o0)) {
                        *v = x - y;
                    }
                    for (v, (x, y)) in v3.iter_mut().zip(o0.iter().zip(o1)) {
                        *v = x - y;
                    }
                }
            }
        }
    }

    /// `Y = Aᵀ M A` of every block, with `Aᵀ = [[1,1,1,0],[0,1,-1,-1]]`, written to output rows
    /// `y0 + 2·ty` and `y0 + 2·ty + 1` of the output at `out` (planes of `plane` values).
    #[inline(always)]
    fn transform_output(&self, m: &[f32], out: SharedMut, plane: usize, y0: usize) {
        let (tw, p) = (self.tiles_w, self.tiles_w * self.tile_rows);
        let channels = m.len() / (POSITIONS * p);
        let mut s = [
            [
                vec![0.0f32; tw],
                vec![0.0; tw],
                vec![0.0; tw],
                vec![0.0; tw],
            ],
            [
                vec![0.0f32; tw],
                vec![0.0; tw],
                vec![0.0; tw],
                vec![0.0; tw],
            ],
        ];
        let mut y = [vec![0.0f32; tw], vec![0.0; tw]];
        for o in 0..channels {
            for ty in 0..self.tile_rows {
                let at =
                    |a: usize, b: usize| &m[((4 * a + b) * channels + o) * p + ty * tw..][..tw];
                for b in 0..4 {
                    let (m0, m1, m2, m3) = (at(0, b), at(1, b), at(2, b), at(3, b));
                    let [s0, s1] = &mut s;
                    aat_row(&mut s0[b], &mut s1[b], [m0, m1, m2, m3]);
                }
                for (i, [s0, s1, s2, s3]) in s.iter().enumerate() {
                    let r = 2 * ty + i;
                    if r >= self.rows {
                        break;
                    }
                    let [first, second] = &mut y;
                    aat_row(first, second, [s0, s1, s2, s3]);
                    // SAFETY: the output holds planes of `plane` values; this block alone
                    // writes its rows y0 .. y0 + rows, so no other thread touches this one.
                    let row = unsafe {
                        let start = out.get().add(o * plane + (y0 + r) * self.out_w);
                        std::slice::from_raw_parts_mut(start, self.out_w)
                    };
                    let mut pairs = row.chunks_exact_mut(2);
                    for (pair, (a, b)) in (&mut pairs).zip(first.iter().zip(second.iter())) {
                        pair[0] = *a;
                        pair[1] = *b;
                    }
                    if let [last] = pairs.into_remainder() {
                        *last = first[tw - 1];
                    }
                }
            }
        }
    }
}

simd_dispatch!(
    /// [`Block::transform_input`] compiled for the processor's vector instructions.
    transform_input,
    (block: &Block, padded: &Padded, v: &mut [f32]),
    avx512: Block::transform_input,
    avx2: Block::transform_input,
    generic: Block::transform_input
);

simd_dispatch!(
    /// [`Block::transform_output`] compiled for the processor's vector instructions.
    transform_output,
    (block: &Block, m: &[f32], out: SharedMut, plane: usize, y0: usize),
    avx512: Block::transform_output,
    avx2: Block::transform_output,
    generic: Block::transform_output
);

/// Splits a padded row into its even and odd columns (`tw + 1` each; zeros past its end, or
/// everywhere for a row past the block's last).
#[inline(always)]
fn split_even_odd(row: Option<&[f32]>, even: &mut [f32], odd: &mut [f32]) {
    let Some(row) = row else {
        even.fill(0.0);
        odd.fill(0.0);
        return;
    };
    let pairs = (row.len() / 2).min(even.len());
    for ((pair, e), o) in row.chunks_exact(2).zip(even.iter_mut()).zip(odd.iter_mut()) {
        *e = pair[0];
        *o = pair[1];
    }
    even[pairs..].fill(0.0);
    odd[pairs..].fill(0.0);
    if let (Some(e), Some(v)) = (even.get_mut(pairs), row.get(2 * pairs)) {
        *e = *v;
    }
}

/// `Bᵀ d` along the rows: `t0 = d0 - d2`, `t1 = d1 + d2`, `t2 = d2 - d1`, `t3 = d1 - d3`.
#[inline(always)]
fn rows_bt(d: &[Vec<f32>; 4], t: &mut [Vec<f32>; 4]) {
    let [d0, d1, d2, d3] = d;
    let [t0, t1, t2, t3] = t;
    let combine = |out: &mut [f32], a: &[f32], b: &[f32], sign: f32| {
        for (v, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
            *v = x + sign * y;
        }
    };
    combine(t0, d0, d2, -1.0);
    combine(t1, d1, d2, 1.0);
    combine(t2, d2, d1, -1.0);
    combine(t3, d1, d3, -1.0);
}

/// `Aᵀ m` along one axis: `first = m0 + m1 + m2`, `second = m1 - m2 - m3`.
#[inline(always)]
fn aat_row(first: &mut [f32], second: &mut [f32], [m0, m1, m2, m3]: [&[f32]; 4]) {
    for (f, ((a, b), c)) in first.iter_mut().zip(m0.iter().zip(m1).zip(m2)) {
        *f = a + b + c;
    }
    for (f, ((b, c), d)) in second.iter_mut().zip(m1.iter().zip(m2).zip(m3)) {
        *f = b - c - d;
    }
}

/// `M[position] = U[position] · V[position]` for the 16 positions (`p` blocks).
fn multiply(filters: &WinogradFilters, v: &[f32], m: &mut [f32], p: usize) {
    let (co, ci) = (filters.out_channels, filters.depth());
    for pos in 0..POSITIONS {
        let u = &filters.u[pos * co * ci..][..co * ci];
        let v = &v[pos * ci * p..][..ci * p];
        let m = &mut m[pos * co * p..][..co * p];
        // SAFETY: `m` is co × p, `u` co × ci and `v` ci × p, all row-major as the strides say.
        unsafe {
            gemm::gemm(
                co,
                p,
                ci,
                m.as_mut_ptr(),
                1,
                p as isize,
                false,
                u.as_ptr(),
                1,
                ci as isize,
                v.as_ptr(),
                1,
                p as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{Activation, Norm};

    fn layer(kernel: usize, ci: usize, co: usize, upsample: bool) -> Layer {
        let weight = (0..co * ci * kernel * kernel)
            .map(|i| ((i * 37 % 101) as f32 / 101.0 - 0.5) * 0.3)
            .collect();
        Layer {
            name: "test".into(),
            kernel,
            stride: 1,
            upsample,
            in_channels: ci,
            out_channels: co,
            weight,
            bias: None,
            norm: Norm::None,
            activation: Activation::Identity,
            skip_from: None,
        }
    }

    /// The layer's output at (o, y, x) computed directly, with reflect padding.
    fn direct(l: &Layer, x: &Planar, factor: usize, (o, y, xx): (usize, usize, usize)) -> f32 {
        let (h, w, k) = (x.height, x.width, l.kernel);
        let refl = |i: isize, n: usize| -> usize {
            let n = n as isize;
            (if i < 0 {
                -i
            } else if i >= n {
                2 * (n - 1) - i
            } else {
                i
            }) as usize
        };
        let mut sum = 0.0f32;
        for c in 0..l.in_channels {
            for ky in 0..k {
                for kx in 0..k {
                    let sy = refl((y + ky) as isize - (k / 2) as isize, h * factor) / factor;
                    let sx = refl((xx + kx) as isize - (k / 2) as isize, w * factor) / factor;
                    let wv = l.weight[((o * l.in_channels + c) * k + ky) * k + kx];
                    sum += wv * x.data[(c * h + sy) * w + sx];
                }
            }
        }
        sum
    }

    #[test]
    fn winograd_matches_direct_convolution_on_odd_and_even_sizes() {
        let cases = [
            (3, 8, 9, 13, false),
            (3, 8, 10, 8, false),
            (3, 8, 7, 5, true),
            (3, 8, 64, 3, false),
            (9, 3, 11, 14, false),
            (9, 3, 16, 9, false),
        ];
        for (kernel, ci, h, w, upsample) in cases {
            let l = layer(kernel, ci, 12, upsample);
            let data: Vec<f32> = (0..ci * h * w)
                .map(|i| ((i * 13 % 29) as f32) / 29.0)
                .collect();
            let x = Planar::new(ci, h, w, data);
            let filters = WinogradFilters::of(&l).unwrap();
            let got = winograd_conv(&x, &filters, upsample, &BufferPool::default());
            let f = if upsample { 2 } else { 1 };
            let (oh, ow) = (h * f, w * f);
            for o in 0..12 {
                for y in 0..oh {
                    for xx in 0..ow {
                        let want = direct(&l, &x, f, (o, y, xx));
                        let g = got.data[(o * oh + y) * ow + xx];
                        assert!(
                            (g - want).abs() < 1e-4,
                            "{kernel}x{kernel} {h}x{w} o{o} ({xx},{y}): {g} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
