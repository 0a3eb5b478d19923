//! Pixel-interleaved values (every channel of one pixel together) to one row per channel and
//! back: how the register-blocked first layer's output and the scratch maps' rows meet the
//! planar activations. Done eight pixels × eight channels at a time in vector registers where
//! the processor has AVX and the channel count is a multiple of eight; element by element
//! otherwise.

/// Writes `values[x·C + c]` to `rows[c][x]`, for the `C = rows.len()` rows of one width.
pub fn deinterleave(values: &[f32], rows: &mut [&mut [f32]]) {
    let channels = rows.len();
    let width = rows.first().map_or(0, |r| r.len());
    assert!(
        values.len() >= width * channels,
        "too few interleaved values"
    );
    assert!(
        rows.iter().all(|r| r.len() == width),
        "rows of unequal widths"
    );
    let done = deinterleave_in_blocks(values, rows);
    for x in done..width {
        for (c, row) in rows.iter_mut().enumerate() {
            row[x] = values[x * channels + c];
        }
    }
}

/// Writes `rows[c][x]` to `values[x·C + c]`, for the `C = rows.len()` rows of one width.
pub fn interleave(rows: &[&[f32]], values: &mut [f32]) {
    let channels = rows.len();
    let width = rows.first().map_or(0, |r| r.len());
    assert!(
        values.len() >= width * channels,
        "too little room for the values"
    );
    assert!(
        rows.iter().all(|r| r.len() == width),
        "rows of unequal widths"
    );
    let done = interleave_in_blocks(rows, values);
    for x in done..width {
        for (c, row) in rows.iter().enumerate() {
            values[x * channels + c] = row[x];
        }
    }
}

/// Deinterleaves whole 8 × 8 blocks where the processor allows; says how many pixels that
/// covered (none elsewhere).
fn deinterleave_in_blocks(values: &[f32], rows: &mut [&mut [f32]]) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        x86::deinterleave_blocks(values, rows)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (values, rows);
        0
    }
}

/// Interleaves whole 8 × 8 blocks where the processor allows; says how many pixels that
/// covered (none elsewhere).
fn interleave_in_blocks(rows: &[&[f32]], values: &mut [f32]) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        x86::interleave_blocks(rows, values)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (rows, values);
        0
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Every whole 8 × 8 block of `deinterleave` when the processor has AVX and the channel
    /// count is a multiple of eight; the pixels covered.
    pub(super) fn deinterleave_blocks(values: &[f32], rows: &mut [&mut [f32]]) -> usize {
        let channels = rows.len();
        let whole = whole_blocks(rows.first().map_or(0, |r| r.len()), channels);
        if whole > 0 {
            for (g, group) in rows.chunks_exact_mut(8).enumerate() {
                // SAFETY: `whole_blocks` found AVX; `values` holds `width × channels` values
                // and every row `width ≥ whole` values (both asserted by the caller).
                unsafe { deinterleave_group(values, group, channels, g * 8, whole) };
            }
        }
        whole
    }

    /// Every whole 8 × 8 block of `interleave`, as in `deinterleave_blocks`.
    pub(super) fn interleave_blocks(rows: &[&[f32]], values: &mut [f32]) -> usize {
        let channels = rows.len();
        let whole = whole_blocks(rows.first().map_or(0, |r| r.len()), channels);
        if whole > 0 {
            for (g, group) in rows.chunks_exact(8).enumerate() {
                // SAFETY: as in `deinterleave_blocks`.
                unsafe { interleave_group(group, values, channels, g * 8, whole) };
            }
        }
        whole
    }

    /// The pixels that whole 8 × 8 blocks cover: `width` rounded down to eight when the
    /// processor has AVX and `channels` is a multiple of eight, none otherwise.
    fn whole_blocks(width: usize, channels: usize) -> usize {
        if channels == 0 || !channels.is_multiple_of(8) || !is_x86_feature_detected!("avx") {
            return 0;
        }
        width / 8 * 8
    }

    /// Channels `c0..c0 + 8` of the first `whole` pixels of interleaved `values` (`channels`
    /// per pixel) into their eight `rows`, one 8 × 8 block per step. The whole loop is one AVX
    /// function, so that the transpose stays in registers (a call per block took twice as
    /// long).
    ///
    /// Safety: the processor has AVX; `values` holds `whole × channels` values, every row
    /// `whole`, `whole` is a multiple of eight and `c0 + 8 ≤ channels`.
    #[target_feature(enable = "avx")]
    unsafe fn deinterleave_group(
        values: &[f32],
        rows: &mut [&mut [f32]],
        channels: usize,
        c0: usize,
        whole: usize,
    ) {
        debug_assert!(values.len() >= whole * channels && c0 + 8 <= channels);
        let dst: [*mut f32; 8] = std::array::from_fn(|o| rows[o].as_mut_ptr());
        for x0 in (0..whole).step_by(8) {
            // SAFETY: pixel `x0 + i`'s channels `c0..c0 + 8` lie inside `values`, and pixels
            // `x0..x0 + 8` inside every row (the function's contract).
            unsafe {
                let src = values.as_ptr().add(x0 * channels + c0);
                let pixels: [__m256; 8] =
                    std::array::from_fn(|i| _mm256_loadu_ps(src.add(i * channels)));
                for (o, column) in transpose(pixels).into_iter().enumerate() {
                    _mm256_storeu_ps(dst[o].add(x0), column);
                }
            }
        }
    }

    /// Rows `c0..c0 + 8`, pixels `0..whole`, into interleaved `values`, as in
    /// `deinterleave_group`.
    ///
    /// Safety: as for `deinterleave_group`.
    #[target_feature(enable = "avx")]
    unsafe fn interleave_group(
        rows: &[&[f32]],
        values: &mut [f32],
        channels: usize,
        c0: usize,
        whole: usize,
    ) {
        debug_assert!(values.len() >= whole * channels && c0 + 8 <= channels);
        let src: [*const f32; 8] = std::array::from_fn(|o| rows[o].as_ptr());
        for x0 in (0..whole).step_by(8) {
            // SAFETY: as in `deinterleave_group`.
            unsafe {
                let lines: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src[i].add(x0)));
                let dst = values.as_mut_ptr().add(x0 * channels + c0);
                for (x, pixel) in transpose(lines).into_iter().enumerate() {
                    _mm256_storeu_ps(dst.add(x * channels), pixel);
                }
            }
        }
    }

    /// The 8 × 8 transpose of eight registers: element `j` of result `i` is element `i` of
    /// input `j`.
    #[target_feature(enable = "avx")]
    fn transpose(r: [__m256; 8]) -> [__m256; 8] {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xee>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xee>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xee>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xee>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaving_and_back_moves_every_value_for_any_width_and_channels() {
        for channels in [1, 3, 8, 16, 32] {
            for width in [0, 1, 7, 8, 9, 16, 23] {
                let values: Vec<f32> = (0..width * channels).map(|i| i as f32).collect();
                let mut storage = vec![vec![f32::NAN; width]; channels];
                let mut rows: Vec<&mut [f32]> =
                    storage.iter_mut().map(|r| r.as_mut_slice()).collect();
                deinterleave(&values, &mut rows);
                for (c, row) in storage.iter().enumerate() {
                    for (x, v) in row.iter().enumerate() {
                        assert_eq!(*v, (x * channels + c) as f32, "{channels} ch, {width} px");
                    }
                }
                let rows: Vec<&[f32]> = storage.iter().map(|r| r.as_slice()).collect();
                let mut back = vec![f32::NAN; width * channels];
                interleave(&rows, &mut back);
                assert_eq!(back, values, "{channels} ch, {width} px");
            }
        }
    }
}
