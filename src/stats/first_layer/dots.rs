//! Shifted dot products, `sums[n] = Σ_x a[x]·b[x + n]`: the kernel of the first layer's local
//! second moments. Each load of `a` is shared by a group of offsets, one register of
//! accumulators per offset, so the loop costs one fused multiply-add and one load per offset.
//! Products are summed in f32 lanes over one row segment (as a convolution sums its products)
//! and the lanes added in f64; callers add the rows in f64.

use crate::engine::cpu::{simd, Simd};

/// `sums[n] = Σ_x a[x]·b[x + n]` for every `n < sums.len()`; `b` must reach `sums.len() - 1`
/// values past `a`'s length.
pub(super) fn shifted_dots(a: &[f32], b: &[f32], sums: &mut [f64]) {
    assert!(
        b.len() + 1 >= a.len() + sums.len(),
        "b too short for the offsets"
    );
    let level = simd();
    let mut n = 0;
    while n < sums.len() {
        n += group(level, a, &b[n..], &mut sums[n..]);
    }
}

/// [`shifted_dots`] for two rows `a0` and `a1` (of one length) against the same `b`: with AVX2,
/// each load of `b` serves both rows, two multiply-adds per load instead of one (sweep 1 of a
/// 10000² image: about a quarter faster). Every sum is the one [`shifted_dots`] gives.
pub(super) fn shifted_dots_pair(
    a0: &[f32],
    a1: &[f32],
    b: &[f32],
    sums0: &mut [f64],
    sums1: &mut [f64],
) {
    assert!(
        a0.len() == a1.len() && sums0.len() == sums1.len(),
        "rows and sums of one length"
    );
    assert!(
        b.len() + 1 >= a0.len() + sums0.len(),
        "b too short for the offsets"
    );
    #[cfg(target_arch = "x86_64")]
    if simd() == Simd::Avx2 {
        let mut n = 0;
        while n < sums0.len() {
            n += pair_group((a0, a1), &b[n..], (&mut sums0[n..], &mut sums1[n..]));
        }
        return;
    }
    shifted_dots(a0, b, sums0);
    shifted_dots(a1, b, sums1);
}

/// Computes the first offsets of both rows' sums in one pass (six offsets, twelve of AVX2's
/// sixteen registers) and says how many.
#[cfg(target_arch = "x86_64")]
fn pair_group(a: (&[f32], &[f32]), b: &[f32], sums: (&mut [f64], &mut [f64])) -> usize {
    let size = [6, 5, 4, 3, 2, 1]
        .into_iter()
        .find(|&g| g <= sums.0.len())
        .unwrap_or(1);
    macro_rules! run {
        ($($n:literal),*) => {
            match size {
                $($n => pair_kernel::<$n>(a, b, sums),)*
                _ => pair_kernel::<1>(a, b, sums),
            }
        };
    }
    run!(6, 5, 4, 3, 2);
    size
}

/// The AVX2 pair kernel for `N` offsets, after checking the lengths it relies on.
#[cfg(target_arch = "x86_64")]
fn pair_kernel<const N: usize>(
    (a0, a1): (&[f32], &[f32]),
    b: &[f32],
    (sums0, sums1): (&mut [f64], &mut [f64]),
) {
    assert!(b.len() + 1 >= a0.len() + N && a1.len() == a0.len());
    assert!(sums0.len() >= N && sums1.len() >= N);
    // SAFETY: only shifted_dots_pair calls this, where simd() named AVX2, which it names only
    // where the processor has AVX2 and FMA; lengths asserted.
    unsafe { x86::pair_avx2::<N>(a0, a1, b, sums0, sums1) }
}

/// Computes the first offsets of `sums` in one pass over `a` (as many as the instruction set
/// keeps in registers: 16 of AVX-512's 32, 9 of AVX2's 16) and says how many.
fn group(level: Simd, a: &[f32], b: &[f32], sums: &mut [f64]) -> usize {
    let widest = match level {
        Simd::Avx512 => 16,
        Simd::Avx2 | Simd::Generic => 9,
    };
    let size = [16, 9, 8, 5, 4, 3, 2, 1]
        .into_iter()
        .find(|&g| g <= widest && g <= sums.len())
        .unwrap_or(1);
    macro_rules! run {
        ($($n:literal),*) => {
            match size {
                $($n => kernel::<$n>(level, a, b, sums),)*
                _ => kernel::<1>(level, a, b, sums),
            }
        };
    }
    run!(16, 9, 8, 5, 4, 3, 2);
    size
}

fn kernel<const N: usize>(level: Simd, a: &[f32], b: &[f32], sums: &mut [f64]) {
    assert!(b.len() + 1 >= a.len() + N && sums.len() >= N);
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: simd() names AVX-512 only where the processor has it; lengths asserted.
        Simd::Avx512 => unsafe { x86::dots_avx512::<N>(a, b, sums) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, for AVX2 and FMA.
        Simd::Avx2 => unsafe { x86::dots_avx2::<N>(a, b, sums) },
        _ => dots_portable::<N>(a, b, sums),
    }
}

/// The kernel in plain loops, eight lanes per offset, for the compiler to vectorise (SSE2 on
/// x86-64, NEON on aarch64).
fn dots_portable<const N: usize>(a: &[f32], b: &[f32], sums: &mut [f64]) {
    let mut lanes = [[0.0f32; 8]; N];
    let body = a.len() / 8 * 8;
    for x in (0..body).step_by(8) {
        let va = &a[x..x + 8];
        let bx = &b[x..x + 8 + N - 1];
        for (n, acc) in lanes.iter_mut().enumerate() {
            for l in 0..8 {
                acc[l] += va[l] * bx[n + l];
            }
        }
    }
    for (n, sum) in sums[..N].iter_mut().enumerate() {
        let tail: f32 = (body..a.len()).map(|x| a[x] * b[x + n]).sum();
        *sum = lanes[n].iter().map(|&v| f64::from(v)).sum::<f64>() + f64::from(tail);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// [`super::dots_portable`] with AVX-512: sixteen lanes per register, the last partial
    /// block (at most fifteen values) loaded under a mask.
    ///
    /// Safety: the processor has AVX-512F; `b.len() + 1 ≥ a.len() + N`, `sums.len() ≥ N`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn dots_avx512<const N: usize>(a: &[f32], b: &[f32], sums: &mut [f64]) {
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm512_setzero_ps(); N];
        let body = a.len() / 16 * 16;
        let mut x = 0;
        while x < body {
            // SAFETY: x + 16 ≤ a.len(), and x + n + 16 ≤ a.len() + N - 1 ≤ b.len().
            let va = unsafe { _mm512_loadu_ps(pa.add(x)) };
            for (n, acc) in acc.iter_mut().enumerate() {
                let vb = unsafe { _mm512_loadu_ps(pb.add(x + n)) };
                *acc = _mm512_fmadd_ps(va, vb, *acc);
            }
            x += 16;
        }
        let left = a.len() - body;
        if left > 0 {
            let mask: __mmask16 = (1u16 << left) - 1;
            // SAFETY: lanes under the mask lie below a.len() in `a` and below a.len() + n ≤
            // b.len() in `b`; masked-off lanes are not read.
            let va = unsafe { _mm512_maskz_loadu_ps(mask, pa.add(body)) };
            for (n, acc) in acc.iter_mut().enumerate() {
                let vb = unsafe { _mm512_maskz_loadu_ps(mask, pb.add(body + n)) };
                *acc = _mm512_fmadd_ps(va, vb, *acc);
            }
        }
        for (sum, acc) in sums.iter_mut().zip(acc) {
            let low = _mm512_cvtps_pd(_mm512_castps512_ps256(acc));
            let high = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(
                _mm512_castps_pd(acc),
            )));
            *sum = _mm512_reduce_add_pd(_mm512_add_pd(low, high));
        }
    }

    /// [`super::dots_portable`] with AVX2 and FMA: eight lanes per register, the last partial
    /// block (at most seven values) loaded under a mask.
    ///
    /// Safety: the processor has AVX2 and FMA; `b.len() + 1 ≥ a.len() + N`, `sums.len() ≥ N`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dots_avx2<const N: usize>(a: &[f32], b: &[f32], sums: &mut [f64]) {
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); N];
        let body = a.len() / 8 * 8;
        for x in (0..body).step_by(8) {
            // SAFETY: x + 8 ≤ a.len(), and x + n + 8 ≤ a.len() + N - 1 ≤ b.len().
            let va = unsafe { _mm256_loadu_ps(pa.add(x)) };
            for (n, acc) in acc.iter_mut().enumerate() {
                let vb = unsafe { _mm256_loadu_ps(pb.add(x + n)) };
                *acc = _mm256_fmadd_ps(va, vb, *acc);
            }
        }
        let left = a.len() - body;
        if left > 0 {
            let mask = tail_mask(left);
            // SAFETY: lanes under the mask lie below a.len() in `a` and below a.len() + n ≤
            // b.len() in `b`; masked-off lanes are not read.
            let va = unsafe { _mm256_maskload_ps(pa.add(body), mask) };
            for (n, acc) in acc.iter_mut().enumerate() {
                let vb = unsafe { _mm256_maskload_ps(pb.add(body + n), mask) };
                *acc = _mm256_fmadd_ps(va, vb, *acc);
            }
        }
        for (sum, acc) in sums.iter_mut().zip(acc) {
            *sum = lanes_sum(acc);
        }
    }

    /// [`dots_avx2`] for two rows of `a` against one `b`: each load of `b` feeds both rows'
    /// accumulators. Each sum is summed in the same lanes and order as `dots_avx2`'s.
    ///
    /// Safety: the processor has AVX2 and FMA; `a1.len() == a0.len()`,
    /// `b.len() + 1 ≥ a0.len() + N`, both `sums` at least `N` long.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn pair_avx2<const N: usize>(
        a0: &[f32],
        a1: &[f32],
        b: &[f32],
        sums0: &mut [f64],
        sums1: &mut [f64],
    ) {
        let (p0, p1, pb) = (a0.as_ptr(), a1.as_ptr(), b.as_ptr());
        let mut acc0 = [_mm256_setzero_ps(); N];
        let mut acc1 = [_mm256_setzero_ps(); N];
        let body = a0.len() / 8 * 8;
        for x in (0..body).step_by(8) {
            // SAFETY: x + 8 ≤ a0.len() = a1.len(), and x + n + 8 ≤ a0.len() + N - 1 ≤ b.len().
            let (v0, v1) = unsafe { (_mm256_loadu_ps(p0.add(x)), _mm256_loadu_ps(p1.add(x))) };
            for n in 0..N {
                let vb = unsafe { _mm256_loadu_ps(pb.add(x + n)) };
                acc0[n] = _mm256_fmadd_ps(v0, vb, acc0[n]);
                acc1[n] = _mm256_fmadd_ps(v1, vb, acc1[n]);
            }
        }
        let left = a0.len() - body;
        if left > 0 {
            let mask = tail_mask(left);
            // SAFETY: as in dots_avx2, for both rows.
            let (v0, v1) = unsafe {
                (
                    _mm256_maskload_ps(p0.add(body), mask),
                    _mm256_maskload_ps(p1.add(body), mask),
                )
            };
            for n in 0..N {
                let vb = unsafe { _mm256_maskload_ps(pb.add(body + n), mask) };
                acc0[n] = _mm256_fmadd_ps(v0, vb, acc0[n]);
                acc1[n] = _mm256_fmadd_ps(v1, vb, acc1[n]);
            }
        }
        for (sum, acc) in sums0.iter_mut().zip(acc0).chain(sums1.iter_mut().zip(acc1)) {
            *sum = lanes_sum(acc);
        }
    }

    /// A load mask of the first `left` (1 to 7) lanes.
    #[target_feature(enable = "avx2")]
    fn tail_mask(left: usize) -> __m256i {
        let lane = |k: usize| -i32::from(left > k);
        _mm256_setr_epi32(-1, lane(1), lane(2), lane(3), lane(4), lane(5), lane(6), 0)
    }

    /// The eight f32 lanes of `acc` summed in f64: the halves added pairwise, then in order.
    #[target_feature(enable = "avx2")]
    fn lanes_sum(acc: __m256) -> f64 {
        let low = _mm256_cvtps_pd(_mm256_castps256_ps128(acc));
        let high = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(acc));
        let mut lanes = [0.0f64; 4];
        // SAFETY: `lanes` holds four f64.
        unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), _mm256_add_pd(low, high)) };
        lanes.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifted_dots_match_plain_sums_for_every_length_and_group() {
        let values = |n: usize, seed: usize| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 7919 + seed * 104729) % 1013) as f32 / 1013.0 - 0.5)
                .collect()
        };
        for len in [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 40, 101] {
            for offsets in [1, 3, 5, 9, 13, 16, 17, 20] {
                let (a, b) = (values(len, 1), values(len + offsets - 1, 2));
                let mut got = vec![f64::NAN; offsets];
                shifted_dots(&a, &b, &mut got);
                for (n, g) in got.iter().enumerate() {
                    let want: f64 = (0..len)
                        .map(|x| f64::from(a[x]) * f64::from(b[x + n]))
                        .sum();
                    assert!(
                        (g - want).abs() < 1e-5,
                        "{len} {offsets} {n}: {g} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn pairs_of_rows_give_each_rows_own_sums_bit_for_bit() {
        let values = |n: usize, seed: usize| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 7919 + seed * 104729) % 1013) as f32 / 1013.0 - 0.5)
                .collect()
        };
        for len in [0, 1, 5, 8, 13, 16, 23, 64, 101] {
            for offsets in [1, 4, 6, 7, 9, 12, 17] {
                let (a0, a1, b) = (values(len, 1), values(len, 3), values(len + offsets - 1, 2));
                let (mut got0, mut got1) = (vec![f64::NAN; offsets], vec![f64::NAN; offsets]);
                shifted_dots_pair(&a0, &a1, &b, &mut got0, &mut got1);
                let (mut want0, mut want1) = (vec![0.0; offsets], vec![0.0; offsets]);
                shifted_dots(&a0, &b, &mut want0);
                shifted_dots(&a1, &b, &mut want1);
                assert_eq!((got0, got1), (want0, want1), "{len} {offsets}");
            }
        }
    }
}
