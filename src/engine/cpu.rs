//! The CPU engine: each convolution reflect-pads (and upsamples) a block of rows at a time, then
//! computes it by the kernel that suits its shape: a register-blocked direct kernel for the
//! 3→32 first layer and the thin last layers, Winograd F(2×2, 3×3) for the other stride-1
//! layers ([`winograd`]), and for the rest (the stride-2 layers) one small matrix product per
//! kernel tap straight from the padded rows (the `gemm` crate's SIMD kernels; no im2col copy).
//! Blocks are spread over all cores with rayon; normalisation, activation and moments are
//! single passes over each channel plane. Same layer semantics as the burn model, tested
//! against it.

use std::sync::Arc;

use rayon::prelude::*;

use super::Engine;
use crate::geom::Rect;
use crate::network::{multistyle26, Activation, Network};
use crate::norm::Moments;
use winograd::{winograd_conv, WinogradFilters};

/// The instruction sets the CPU kernels can be compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simd {
    /// AVX-512F with AVX2 and FMA.
    Avx512,
    /// AVX2 with FMA.
    Avx2,
    /// Whatever the compiler makes of the plain loops (SSE2 on x86-64, NEON on aarch64).
    Generic,
}

/// The instruction set the kernels use: the best the processor has, or a lower one named by
/// `BIGSTYLE_SIMD` (`avx512`, `avx2`, `generic`), so that every path can be measured and tested
/// on one machine. Decided once per process.
pub fn simd() -> Simd {
    static LEVEL: std::sync::OnceLock<Simd> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        let best = best_simd();
        let asked = match std::env::var("BIGSTYLE_SIMD").as_deref() {
            Ok("avx512") => Simd::Avx512,
            Ok("avx2") => Simd::Avx2,
            Ok("generic") => Simd::Generic,
            _ => best,
        };
        // Never more than the processor has.
        let rank = |s: Simd| match s {
            Simd::Generic => 0,
            Simd::Avx2 => 1,
            Simd::Avx512 => 2,
        };
        if rank(asked) <= rank(best) {
            asked
        } else {
            best
        }
    })
}

fn best_simd() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            return Simd::Avx512;
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Simd::Avx2;
        }
    }
    Simd::Generic
}

/// Defines `$name(args)`, which runs the kernel instantiation given for the instruction set
/// [`simd`] picks — compiled for AVX-512, for AVX2 with FMA, or plain — so that one generic
/// kernel body serves every processor, with register blocking chosen per instruction set.
macro_rules! simd_dispatch {
    ($(#[$doc:meta])* $name:ident, ($($arg:ident: $ty:ty),*),
     avx512: $avx512:expr, avx2: $avx2:expr, generic: $generic:expr) => {
        $(#[$doc])*
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) {
                    $avx512($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    $avx2($($arg),*)
                }
                match $crate::engine::cpu::simd() {
                    // SAFETY: simd() never names more than the processor supports.
                    $crate::engine::cpu::Simd::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    $crate::engine::cpu::Simd::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::engine::cpu::Simd::Generic => {}
                }
            }
            $generic($($arg),*)
        }
    };
}

mod winograd;

/// A planar activation `[channels][height][width]` in host memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Planar {
    /// Channels.
    pub channels: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// Values, channel planes one after another; shared, so that keeping a residual block's
    /// input (a clone) costs no copy.
    pub data: Arc<Vec<f32>>,
}

impl Planar {
    fn new(channels: usize, height: usize, width: usize, data: Vec<f32>) -> Self {
        Self {
            channels,
            height,
            width,
            data: Arc::new(data),
        }
    }

    fn plane(&self) -> usize {
        self.height * self.width
    }

    /// The values, copied only if a clone still shares them.
    fn into_values(self) -> Vec<f32> {
        Arc::unwrap_or_clone(self.data)
    }
}

/// Target size (floats) of the padded input rows of one block of a matrix-product
/// convolution: small enough to stay in cache.
const BLOCK_FLOATS: usize = 1 << 18;
/// Layers with at most this many output channels use the direct convolution: a matrix product
/// with so few rows is bound by its input traffic.
const DIRECT_MAX_OUT: usize = 4;
/// Output pixels computed together by the direct convolution.
const LANES: usize = 16;
/// Output channels of the layers [`wide_conv`] computes (3 → 32, such as a 9×9 first layer).
const WIDE_OUT: usize = 32;
/// Input channels of the layers [`wide_conv`] computes.
const WIDE_IN: usize = 3;
/// Values summed in f32 before a partial sum is carried to f64 (moments).
const SUM_CHUNK: usize = 1024;

thread_local! {
    /// Each worker thread's padded-rows and Winograd work buffers, reused across blocks and
    /// layers.
    static COL: std::cell::RefCell<(Vec<f32>, Vec<f32>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// A network with host kernels.
pub struct CpuEngine {
    net: Network,
    /// Weights as `[tap][out channel]` of the layers [`wide_conv`] computes (3 → 32, stride 1).
    wide_taps: Vec<Option<Vec<[f32; WIDE_OUT]>>>,
    /// Transformed filters of the 3×3 and 9×9 stride-1 layers computed by [`winograd_conv`].
    winograd: Vec<Option<WinogradFilters>>,
    /// Large buffers of dropped activations, reused so that each layer's output does not cost
    /// fresh pages (page faults and kernel zeroing were ~8 % of the profile at 2048²).
    pool: BufferPool,
}

/// A few large f32 buffers kept for reuse.
#[derive(Default)]
struct BufferPool(std::sync::Mutex<Vec<Vec<f32>>>);

/// Buffers kept at most; and the smallest worth keeping (floats).
const POOL_BUFFERS: usize = 2;
const POOL_MIN_FLOATS: usize = 1 << 18;

impl BufferPool {
    /// A buffer of `len` floats: the smallest kept one that is large enough, else a new one. A
    /// reused buffer keeps its old values (every caller overwrites all of them): only a part it
    /// never held is zeroed, so reuse costs no pass over memory.
    fn take(&self, len: usize) -> Vec<f32> {
        let reused = {
            let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let best = pool
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= len)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            best.map(|i| pool.swap_remove(i))
        };
        match reused {
            Some(mut buffer) => {
                buffer.truncate(len);
                buffer.resize(len, 0.0);
                buffer
            }
            None => fresh_buffer(len),
        }
    }

    /// Keeps the values of `x` for reuse unless a clone still shares them.
    fn release(&self, x: Planar) {
        if let Ok(buffer) = Arc::try_unwrap(x.data) {
            self.give(buffer);
        }
    }

    /// Keeps `buffer` for reuse if it is large, replacing the smallest kept one when full.
    fn give(&self, buffer: Vec<f32>) {
        if buffer.capacity() < POOL_MIN_FLOATS {
            return;
        }
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL_BUFFERS {
            pool.push(buffer);
        } else if let Some(smallest) = pool.iter_mut().min_by_key(|b| b.capacity()) {
            if smallest.capacity() < buffer.capacity() {
                *smallest = buffer;
            }
        }
    }
}

impl CpuEngine {
    /// The engine for `net`.
    pub fn new(net: Network) -> Self {
        let wide_taps: Vec<Option<Vec<[f32; WIDE_OUT]>>> = net
            .layers
            .iter()
            .map(|layer| {
                // Without AVX2 or AVX-512 the direct kernel is not vectorised well: the gemm
                // crate's kernels (SSE, NEON) do better, through Winograd or one product per
                // kernel tap.
                let wide = layer.in_channels == WIDE_IN
                    && layer.out_channels == WIDE_OUT
                    && layer.stride == 1
                    && !layer.upsample
                    && simd() != Simd::Generic;
                let taps = layer.in_channels * layer.kernel * layer.kernel;
                wide.then(|| {
                    (0..taps)
                        .map(|t| std::array::from_fn(|o| layer.weight[o * taps + t]))
                        .collect()
                })
            })
            .collect();
        // The register-blocked first-layer kernel is faster where it runs (AVX2, AVX-512).
        let winograd = net
            .layers
            .iter()
            .zip(&wide_taps)
            .map(|(layer, wide)| wide.is_none().then(|| WinogradFilters::of(layer)).flatten())
            .collect();
        Self {
            net,
            wide_taps,
            winograd,
            pool: BufferPool::default(),
        }
    }

    /// The built-in 26-style network.
    pub fn builtin() -> Self {
        Self::new(multistyle26::builtin())
    }
}

/// A zeroed buffer of `len` floats whose pages the kernel may back with 2 MiB pages: a large
/// activation then costs one page fault per 2 MiB instead of one per 4 KiB when first written
/// (2048²: 212 k faults and 0.45 s of system time for 0.8 GB of activations).
fn fresh_buffer(len: usize) -> Vec<f32> {
    let buffer = vec![0.0f32; len];
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = buffer.as_ptr() as usize;
        let end = start + len * std::mem::size_of::<f32>();
        let (first, last) = (start.next_multiple_of(HUGE), end / HUGE * HUGE);
        if last > first {
            // SAFETY: the range lies inside the buffer's allocation, which is not yet touched
            // (a large zeroed allocation is fresh anonymous memory); the advice only changes
            // how the kernel backs it, never its contents. Failure is harmless and ignored.
            unsafe {
                libc::madvise(
                    first as *mut libc::c_void,
                    last - first,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
    buffer
}

/// A raw pointer that may be shared by threads writing disjoint parts of one buffer.
#[derive(Clone, Copy)]
struct SharedMut(*mut f32);
// SAFETY: every user writes a disjoint set of indices (its own output rows).
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// The pointer (a method, so that closures capture the whole `Send` wrapper).
    fn get(self) -> *mut f32 {
        self.0
    }
}

impl Engine for CpuEngine {
    type Act = Planar;

    fn name(&self) -> String {
        let simd = match simd() {
            Simd::Avx512 => "avx512",
            Simd::Avx2 => "avx2",
            Simd::Generic => "generic",
        };
        format!("cpu-{simd}")
    }

    fn network(&self) -> &Network {
        &self.net
    }

    fn upload(&self, data: Vec<f32>, channels: usize, height: usize, width: usize) -> Planar {
        Planar::new(channels, height, width, data)
    }

    /// The network's peak floats per pixel, as 4-byte values, with a 10 % margin (about 350 bytes
    /// for the built-in network, whose measured growth is 212 bytes per pixel from 1024² to 1536²
    /// (`benches/network.rs` under `/usr/bin/time -v`; docs/MEMORY.md)).
    fn bytes_per_pixel(&self) -> u64 {
        (4.4 * self.net.peak_floats_per_pixel()).ceil() as u64
    }

    fn download(&self, x: Planar) -> Vec<f32> {
        x.into_values()
    }

    fn host_values_in<'a>(
        &self,
        x: &'a Planar,
        at: Rect,
        _rect: Rect,
    ) -> (std::borrow::Cow<'a, [f32]>, Rect) {
        (std::borrow::Cow::Borrowed(&x.data), at)
    }

    fn recycle(&self, values: Vec<f32>) {
        self.pool.give(values);
    }

    fn release(&self, x: Planar) {
        self.pool.release(x);
    }

    /// A reused buffer's old values are left for the caller to overwrite.
    fn host_buffer(&self, len: usize) -> Vec<f32> {
        self.pool.take(len)
    }

    fn conv_raw(&self, layer: usize, x: Planar) -> Planar {
        let w = &self.net.layers[layer];
        let (k, stride, pad) = (w.kernel, w.stride, w.kernel / 2);
        let wide_taps = self.wide_taps[layer].as_deref();
        if wide_taps.is_some() || (w.out_channels <= DIRECT_MAX_OUT && stride == 1) {
            let rows = RowBlocks::new(&x, k, w.upsample);
            let out = if let Some(taps) = wide_taps {
                wide_conv(&rows, taps, &self.pool)
            } else {
                direct_conv(&rows, &w.weight, w.out_channels, &self.pool)
            };
            self.pool.release(x);
            return out;
        }
        if let Some(filters) = &self.winograd[layer] {
            let out = winograd_conv(&x, filters, w.upsample, &self.pool);
            self.pool.release(x);
            return out;
        }
        let factor = if w.upsample { 2 } else { 1 };
        let out_h = (x.height * factor + 2 * pad - k) / stride + 1;
        let out_w = (x.width * factor + 2 * pad - k) / stride + 1;
        let taps = w.in_channels * k * k;
        let plane = out_h * out_w;
        let mut out = self.pool.take(w.out_channels * plane);
        let padded_row = w.in_channels * (x.width * factor + 2 * pad);
        let rows_per_block = (BLOCK_FLOATS / (padded_row * stride)).max(1);
        let dst = SharedMut(out.as_mut_ptr());
        let blocks: Vec<usize> = (0..out_h).step_by(rows_per_block).collect();
        blocks.into_par_iter().for_each(|y0| {
            let rows = rows_per_block.min(out_h - y0);
            COL.with_borrow_mut(|(rows_buf, _)| {
                let r0 = y0 * stride;
                let padded = pad_reflect_rows(
                    &x,
                    pad,
                    w.upsample,
                    stride,
                    r0,
                    r0 + (rows - 1) * stride + k,
                    rows_buf,
                );
                let lw = padded.logical_width;
                let kernel_taps = (0..k).flat_map(|ky| (0..k).map(move |kx| (ky, kx)));
                for r in 0..rows {
                    for (tap, (ky, kx)) in kernel_taps.clone().enumerate() {
                        let input = (r * stride + ky) * lw + padded.tap_offset(kx, stride);
                        // SAFETY: output row y0 + r of every channel belongs to this block
                        // alone; `dst` holds `co` planes of `plane` values, the weights are
                        // `[out][in][ky][kx]` and `padded` holds this block's padded rows of
                        // every input channel, so every stride and extent is in bounds.
                        unsafe {
                            gemm::gemm(
                                w.out_channels,
                                out_w,
                                w.in_channels,
                                dst.get().add((y0 + r) * out_w),
                                1,
                                plane as isize,
                                tap > 0,
                                w.weight.as_ptr().add(ky * k + kx),
                                (k * k) as isize,
                                taps as isize,
                                padded.data.as_ptr().add(input),
                                1,
                                padded.plane() as isize,
                                1.0,
                                1.0,
                                false,
                                false,
                                false,
                                gemm::Parallelism::None,
                            );
                        }
                    }
                }
                *rows_buf = padded.data;
            });
        });
        self.pool.release(x);
        Planar::new(w.out_channels, out_h, out_w, out)
    }

    fn scale_shift(&self, layer: usize, mut raw: Planar, scale: &[f32], shift: &[f32]) -> Planar {
        let plane = raw.plane();
        let activation = self.net.layers[layer].activation;
        Arc::make_mut(&mut raw.data)
            .par_chunks_mut(plane)
            .zip(scale.par_iter().zip(shift))
            .for_each(|(values, (a, b))| match activation {
                Activation::Relu => values.iter_mut().for_each(|v| *v = (*v * a + b).max(0.0)),
                Activation::Identity => values.iter_mut().for_each(|v| *v = *v * a + b),
                Activation::Sigmoid => values
                    .iter_mut()
                    .for_each(|v| *v = 1.0 / (1.0 + (-(*v * a + b)).exp())),
            });
        raw
    }

    fn add(&self, mut a: Planar, b: Planar) -> Planar {
        Arc::make_mut(&mut a.data)
            .par_chunks_mut(1 << 16)
            .zip(b.data.par_chunks(1 << 16))
            .for_each(|(x, y)| x.iter_mut().zip(y).for_each(|(x, y)| *x += y));
        self.pool.release(b);
        a
    }

    fn crop(&self, x: Planar, origin: (usize, usize), rect: Rect) -> Planar {
        let (ox, oy) = origin;
        let (w, h) = (rect.width(), rect.height());
        let mut data = self.pool.take(x.channels * w * h);
        data.par_chunks_mut(w * h)
            .enumerate()
            .for_each(|(c, plane)| {
                for (dst, y) in plane.chunks_exact_mut(w).zip(rect.y0 - oy..rect.y1 - oy) {
                    let row = &x.data[c * x.plane() + y * x.width..][..x.width];
                    dst.copy_from_slice(&row[rect.x0 - ox..rect.x1 - ox]);
                }
            });
        let channels = x.channels;
        self.pool.release(x);
        Planar::new(channels, h, w, data)
    }

    fn moments(&self, x: &Planar) -> Moments {
        let n = x.plane() as f64;
        let (mean, m2): (Vec<f64>, Vec<f64>) = x
            .data
            .par_chunks(x.plane().max(1))
            .map(|values| mean_and_m2(|| std::iter::once(values), n))
            .unzip();
        Moments { count: n, mean, m2 }
    }

    /// Reads the rows of `rect` in place: no cropped copy.
    fn moments_in(&self, x: &Planar, (ox, oy): (usize, usize), rect: Rect) -> Moments {
        let n = rect.area() as f64;
        let (mean, m2): (Vec<f64>, Vec<f64>) = x
            .data
            .par_chunks(x.plane().max(1))
            .map(|values| {
                let rows = || {
                    (rect.y0 - oy..rect.y1 - oy)
                        .map(|y| &values[y * x.width + rect.x0 - ox..][..rect.width()])
                };
                mean_and_m2(rows, n)
            })
            .unzip();
        Moments { count: n, mean, m2 }
    }
}

/// The mean and the sum of squared deviations of the `n` values in `rows()`: the squares are
/// summed about the f32-rounded mean (accurate in f32), then shifted to the exact mean in f64.
fn mean_and_m2<'a, R: Iterator<Item = &'a [f32]>>(rows: impl Fn() -> R, n: f64) -> (f64, f64) {
    let mean = rows().map(|r| chunked_sum(r, |v| v)).sum::<f64>() / n;
    let centre = mean as f32;
    let m2_about_centre: f64 = rows()
        .map(|r| chunked_sum(r, |v| (v - centre) * (v - centre)))
        .sum();
    let d = mean - f64::from(centre);
    (mean, (m2_about_centre - n * d * d).max(0.0))
}

/// Sums `f(v)` over `values`: f32 over short chunks (vectorisable), f64 across chunks.
fn chunked_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    values
        .chunks(SUM_CHUNK)
        .map(|chunk| {
            let mut lanes = [0.0f32; 8];
            let mut parts = chunk.chunks_exact(8);
            for part in parts.by_ref() {
                for (l, v) in lanes.iter_mut().zip(part) {
                    *l += f(*v);
                }
            }
            let tail: f32 = parts.remainder().iter().map(|v| f(*v)).sum();
            f64::from(lanes.iter().sum::<f32>() + tail)
        })
        .sum()
}

/// A reflect-padded (and possibly upsampled) input. For stride 2 every row is stored as its
/// even columns then its odd columns, so that each kernel tap reads a contiguous run.
struct Padded {
    channels: usize,
    height: usize,
    /// Columns per row (padded image width).
    logical_width: usize,
    /// Number of even columns (stride 2 layout); 0 for stride 1.
    even_len: usize,
    data: Vec<f32>,
}

impl Padded {
    /// The shape of `height` padded rows of `x` (padded by `pad` after upsampling by `factor`,
    /// laid out for `stride`), with no data yet.
    fn empty(x: &Planar, pad: usize, factor: usize, stride: usize, height: usize) -> Self {
        let pw = x.width * factor + 2 * pad;
        Self {
            channels: x.channels,
            height,
            logical_width: pw,
            even_len: if stride == 2 { pw.div_ceil(2) } else { 0 },
            data: Vec::new(),
        }
    }

    fn plane(&self) -> usize {
        self.height * self.logical_width
    }

    /// Where output column 0 of tap column `kx` starts within a stored row.
    fn tap_offset(&self, kx: usize, stride: usize) -> usize {
        if stride == 1 {
            kx
        } else if kx.is_multiple_of(2) {
            kx / 2
        } else {
            self.even_len + kx / 2
        }
    }
}

/// Rows `r0 .. r1` of the reflect-padded (and upsampled, if asked) input, in the column layout
/// the convolution's stride wants, for one block of a convolution: the block's input stays in
/// cache and no image-sized copy is made.
fn pad_reflect_rows(
    x: &Planar,
    pad: usize,
    upsample: bool,
    stride: usize,
    r0: usize,
    r1: usize,
    into: &mut Vec<f32>,
) -> Padded {
    let factor = if upsample { 2 } else { 1 };
    let mut padded = Padded::empty(x, pad, factor, stride, r1 - r0);
    let plane = padded.plane();
    into.resize(x.channels * plane, 0.0);
    for (c, out) in into.chunks_mut(plane).enumerate() {
        pad_channel_rows(x, c, pad, factor, stride, r0, out);
    }
    padded.data = std::mem::take(into);
    padded
}

/// Fills `out` (whole padded rows from padded row `r0` on) for channel `c` of `x`.
fn pad_channel_rows(
    x: &Planar,
    c: usize,
    pad: usize,
    factor: usize,
    stride: usize,
    r0: usize,
    out: &mut [f32],
) {
    let (h, w) = (x.height * factor, x.width * factor);
    let pw = w + 2 * pad;
    let src = &x.data[c * x.plane()..][..x.plane()];
    let mut line = if stride == 2 {
        vec![0.0f32; pw]
    } else {
        Vec::new()
    };
    for (k, out_row) in out.chunks_mut(pw).enumerate() {
        let sy = reflect_index(r0 + k, pad, h) / factor;
        let row = &src[sy * x.width..][..x.width];
        if stride == 1 {
            fill_padded_row(row, factor, pad, out_row);
            continue;
        }
        fill_padded_row(row, factor, pad, &mut line);
        let (even, odd) = out_row.split_at_mut(pw.div_ceil(2));
        for ((pair, e), o) in line
            .chunks_exact(2)
            .zip(even.iter_mut())
            .zip(odd.iter_mut())
        {
            *e = pair[0];
            *o = pair[1];
        }
        if pw % 2 == 1 {
            even[pw / 2] = line[pw - 1];
        }
    }
}

/// Image row of padded row `i`: `i - pad`, mirrored at both edges without repeating them.
fn reflect_index(i: usize, pad: usize, n: usize) -> usize {
    let i = i as isize - pad as isize;
    let n = n as isize;
    let r = if i < 0 {
        -i
    } else if i >= n {
        2 * (n - 1) - i
    } else {
        i
    };
    r as usize
}

/// Writes one padded row: `row` upsampled by `factor` (1 or 2), mirrored `pad` px past each end.
fn fill_padded_row(row: &[f32], factor: usize, pad: usize, out: &mut [f32]) {
    let w = row.len() * factor;
    let body = &mut out[pad..pad + w];
    if factor == 1 {
        body.copy_from_slice(row);
    } else {
        for (pair, v) in body.chunks_exact_mut(2).zip(row) {
            pair[0] = *v;
            pair[1] = *v;
        }
    }
    for i in 0..pad {
        out[pad - 1 - i] = out[pad + 1 + i];
        out[pad + w + i] = out[pad + w - 2 - i];
    }
}

/// A stride-1 k×k convolution's input (reflect-padded by k/2, upsampled 2× first if asked),
/// padded block of output rows by block of output rows, so that no padded copy of the whole
/// activation is made (at 2048² that copy of the last layer's input was 0.5 GB).
struct RowBlocks<'a> {
    x: &'a Planar,
    k: usize,
    upsample: bool,
    out_h: usize,
    out_w: usize,
}

impl<'a> RowBlocks<'a> {
    fn new(x: &'a Planar, k: usize, upsample: bool) -> Self {
        let factor = if upsample { 2 } else { 1 };
        // Reflect padding by k/2 keeps the size (k odd).
        Self {
            x,
            k,
            upsample,
            out_h: x.height * factor,
            out_w: x.width * factor,
        }
    }

    /// Calls `row(padded, y)` for every output row `y` (in parallel), where `padded` holds the
    /// block's padded input rows and `y` is counted from the block's first output row.
    fn for_each_row(&self, row: impl Fn(&Padded, usize, usize) + Sync) {
        let padded_width = (self.out_w + self.k - 1) * self.x.channels;
        let rows_per_block = (BLOCK_FLOATS / padded_width).max(self.k);
        let blocks: Vec<usize> = (0..self.out_h).step_by(rows_per_block).collect();
        blocks.into_par_iter().for_each(|y0| {
            let rows = rows_per_block.min(self.out_h - y0);
            COL.with_borrow_mut(|(rows_buf, _)| {
                let (pad, stride) = (self.k / 2, 1);
                let padded = pad_reflect_rows(
                    self.x,
                    pad,
                    self.upsample,
                    stride,
                    y0,
                    y0 + rows + self.k - 1,
                    rows_buf,
                );
                for y in 0..rows {
                    row(&padded, y, y0 + y);
                }
                *rows_buf = padded.data;
            });
        });
    }
}

/// Direct convolution (stride 1) for layers with few output channels: each output pixel's
/// accumulators stay in registers while the taps stream past, `LANES` pixels at a time.
fn direct_conv(
    input: &RowBlocks<'_>,
    weight: &[f32],
    out_channels: usize,
    pool: &BufferPool,
) -> Planar {
    let (out_h, out_w, k) = (input.out_h, input.out_w, input.k);
    let plane = out_h * out_w;
    let mut out = pool.take(out_channels * plane);
    let dst = SharedMut(out.as_mut_ptr());
    input.for_each_row(|padded, y_in_block, y| {
        let mut row = vec![0.0f32; out_channels * out_w];
        direct_row(padded, weight, out_channels, k, y_in_block, &mut row);
        for (co, values) in row.chunks_exact(out_w).enumerate() {
            // SAFETY: row y of every channel is written by this iteration only.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    values.as_ptr(),
                    dst.get().add(co * plane + y * out_w),
                    out_w,
                );
            }
        }
    });
    Planar::new(out_channels, out_h, out_w, out)
}

simd_dispatch!(
    /// One output row of [`direct_conv`], with the fastest instructions the processor has.
    direct_row,
    (padded: &Padded, weight: &[f32], co: usize, k: usize, y: usize, out: &mut [f32]),
    avx512: direct_row_dispatch::<true>,
    avx2: direct_row_dispatch::<true>,
    generic: direct_row_dispatch::<false>
);

#[inline(always)]
fn direct_row_dispatch<const FMA: bool>(
    padded: &Padded,
    weight: &[f32],
    co: usize,
    k: usize,
    y: usize,
    out: &mut [f32],
) {
    match co {
        1 => direct_row_body::<FMA, 1>(padded, weight, k, y, out),
        2 => direct_row_body::<FMA, 2>(padded, weight, k, y, out),
        3 => direct_row_body::<FMA, 3>(padded, weight, k, y, out),
        _ => direct_row_body::<FMA, DIRECT_MAX_OUT>(padded, weight, k, y, out),
    }
}

/// `CO` output channels, `LANES` pixels at a time, accumulators in registers.
#[inline(always)]
fn direct_row_body<const FMA: bool, const CO: usize>(
    padded: &Padded,
    weight: &[f32],
    k: usize,
    y: usize,
    out: &mut [f32],
) {
    let width = padded.logical_width;
    let out_w = width - k + 1;
    let taps = padded.channels * k * k;
    if out_w < LANES {
        direct_row_narrow::<CO>(padded, weight, k, y, out);
        return;
    }
    let mut x0 = 0;
    while x0 < out_w {
        // The last group is shifted left to stay inside the row (recomputing a few pixels);
        // every group's inputs, start + kx .. start + kx + LANES, then lie inside the row.
        let start = x0.min(out_w - LANES);
        let mut acc = [[0.0f32; LANES]; CO];
        for c in 0..padded.channels {
            let src = &padded.data[c * padded.plane()..][..padded.plane()];
            for ky in 0..k {
                let row = &src[(y + ky) * width + start..][..k - 1 + LANES];
                for kx in 0..k {
                    let run: &[f32; LANES] =
                        row[kx..kx + LANES].try_into().unwrap_or(&[0.0; LANES]);
                    let tap = (c * k + ky) * k + kx;
                    for (o, acc_o) in acc.iter_mut().enumerate() {
                        let w = weight[o * taps + tap];
                        for (a, v) in acc_o.iter_mut().zip(run) {
                            *a = if FMA { v.mul_add(w, *a) } else { *a + v * w };
                        }
                    }
                }
            }
        }
        for (o, acc_o) in acc.iter().enumerate() {
            out[o * out_w + start..][..LANES].copy_from_slice(acc_o);
        }
        x0 = start + LANES;
    }
}

/// [`direct_row_body`] for rows narrower than `LANES` (tiny windows): plain loops.
fn direct_row_narrow<const CO: usize>(
    padded: &Padded,
    weight: &[f32],
    k: usize,
    y: usize,
    out: &mut [f32],
) {
    let width = padded.logical_width;
    let out_w = width - k + 1;
    let taps = padded.channels * k * k;
    for o in 0..CO {
        for x in 0..out_w {
            let mut sum = 0.0f32;
            for c in 0..padded.channels {
                for ky in 0..k {
                    let row = &padded.data[c * padded.plane() + (y + ky) * width..][..width];
                    for kx in 0..k {
                        sum += weight[o * taps + (c * k + ky) * k + kx] * row[x + kx];
                    }
                }
            }
            out[o * out_w + x] = sum;
        }
    }
}

/// Direct convolution for a layer with few input and many output channels (the first layer,
/// 3 → 32, 9×9): each pixel's 32 outputs are accumulated in vector registers while the taps
/// stream past, a block of pixels at a time (see [`wide_row`]), so no im2col buffer is written.
fn wide_conv(input: &RowBlocks<'_>, taps: &[[f32; WIDE_OUT]], pool: &BufferPool) -> Planar {
    let (out_h, out_w, k) = (input.out_h, input.out_w, input.k);
    let plane = out_h * out_w;
    let mut out = pool.take(WIDE_OUT * plane);
    let dst = SharedMut(out.as_mut_ptr());
    input.for_each_row(|padded, y_in_block, y| {
        let mut row = vec![[0.0f32; WIDE_OUT]; out_w];
        wide_row(padded, taps, k, y_in_block, &mut row);
        // SAFETY: row y of every channel is written by this iteration only.
        let mut planes: [&mut [f32]; WIDE_OUT] = std::array::from_fn(|o| unsafe {
            std::slice::from_raw_parts_mut(dst.get().add(o * plane + y * out_w), out_w)
        });
        crate::transpose::deinterleave(row.as_flattened(), &mut planes);
    });
    Planar::new(WIDE_OUT, out_h, out_w, out)
}

simd_dispatch!(
    /// One output row of [`wide_conv`], with the fastest instructions the processor has. The
    /// accumulators of a block of pixels × output channels must fit the vector registers:
    /// AVX-512's 32 hold 8 pixels × 32 channels (16 registers), AVX2's 16 hold 6 pixels × 16
    /// channels (12 registers, two passes over the channels).
    wide_row,
    (padded: &Padded, taps: &[[f32; WIDE_OUT]], k: usize, y: usize, out: &mut [[f32; WIDE_OUT]]),
    avx512: wide_row_body::<true, 8, 32>,
    avx2: wide_row_body::<true, 6, 16>,
    generic: wide_row_body::<false, 4, 16>
);

#[inline(always)]
fn wide_row_body<const FMA: bool, const PIXELS: usize, const CH: usize>(
    padded: &Padded,
    taps: &[[f32; WIDE_OUT]],
    k: usize,
    y: usize,
    out: &mut [[f32; WIDE_OUT]],
) {
    let width = padded.logical_width;
    let out_w = out.len();
    // Windows are at least 8 px wide, so a full group always fits.
    debug_assert!(out_w >= PIXELS);
    for c0 in (0..WIDE_OUT).step_by(CH) {
        let mut x0 = 0;
        while x0 < out_w {
            // The last group is shifted left to stay inside the row (recomputing a few pixels).
            let start = x0.min(out_w - PIXELS);
            let mut acc = [[0.0f32; CH]; PIXELS];
            for c in 0..padded.channels {
                let src = &padded.data[c * padded.plane()..][..padded.plane()];
                for ky in 0..k {
                    let row = &src[(y + ky) * width + start..][..k - 1 + PIXELS];
                    let tap_row = &taps[(c * k + ky) * k..][..k];
                    for (kx, taps_kx) in tap_row.iter().enumerate() {
                        let w: &[f32; CH] = taps_kx[c0..c0 + CH].try_into().unwrap_or(&[0.0; CH]);
                        let xs: &[f32; PIXELS] =
                            row[kx..kx + PIXELS].try_into().unwrap_or(&[0.0; PIXELS]);
                        for (acc_p, v) in acc.iter_mut().zip(xs) {
                            for (a, wo) in acc_p.iter_mut().zip(w) {
                                *a = if FMA { v.mul_add(*wo, *a) } else { *a + v * wo };
                            }
                        }
                    }
                }
            }
            for (px, acc_p) in out[start..start + PIXELS].iter_mut().zip(&acc) {
                px[c0..c0 + CH].copy_from_slice(acc_p);
            }
            x0 = start + PIXELS;
        }
    }
}
