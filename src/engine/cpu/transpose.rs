//! Pixel-major rows (every channel of one pixel together, as the register-blocked first layer
//! produces them) to channel planes. Done eight pixels × eight channels at a time in vector
//! registers where the processor has AVX; element by element otherwise.

/// Writes `row[x][o]` to `planes[o][x]` for every pixel `x` and channel `o`.
pub(super) fn to_planes<const CH: usize>(row: &[[f32; CH]], planes: &mut [&mut [f32]; CH]) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if CH.is_multiple_of(8) && super::simd() != super::Simd::Generic {
        let blocks = row.len() / 8;
        for block in 0..blocks {
            for c0 in (0..CH).step_by(8) {
                // SAFETY: simd() names AVX2 or AVX-512 only where the processor has them (both
                // imply AVX); the block's eight pixels and channels lie inside `row` and the
                // planes (asserted by the slicing inside).
                unsafe { x86::transpose_block(row, planes, block * 8, c0) };
            }
        }
        done = blocks * 8;
    }
    for (x, pixel) in row.iter().enumerate().skip(done) {
        for (plane, v) in planes.iter_mut().zip(pixel) {
            plane[x] = *v;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Transposes the 8 × 8 block of pixels `x0..x0 + 8` and channels `c0..c0 + 8`.
    ///
    /// Safety: the processor has AVX.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn transpose_block<const CH: usize>(
        row: &[[f32; CH]],
        planes: &mut [&mut [f32]; CH],
        x0: usize,
        c0: usize,
    ) {
        let pixels = &row[x0..x0 + 8];
        // SAFETY: each pixel holds channels c0..c0 + 8 (CH is a multiple of 8 above c0).
        let r: [__m256; 8] =
            std::array::from_fn(|i| unsafe { _mm256_loadu_ps(pixels[i][c0..c0 + 8].as_ptr()) });
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
        let columns = [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ];
        for (o, column) in columns.into_iter().enumerate() {
            let dst = &mut planes[c0 + o][x0..x0 + 8];
            // SAFETY: `dst` holds eight f32.
            unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), column) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_rows_become_channel_planes_for_any_width() {
        for width in [1, 7, 8, 9, 16, 23] {
            let row: Vec<[f32; 16]> = (0..width)
                .map(|x| std::array::from_fn(|o| (x * 100 + o) as f32))
                .collect();
            let mut storage = vec![vec![f32::NAN; width]; 16];
            let mut planes: [&mut [f32]; 16] = {
                let mut it = storage.iter_mut();
                std::array::from_fn(|_| it.next().map(|v| v.as_mut_slice()).unwrap_or(&mut []))
            };
            to_planes(&row, &mut planes);
            for (o, plane) in storage.iter().enumerate() {
                for (x, v) in plane.iter().enumerate() {
                    assert_eq!(
                        *v,
                        (x * 100 + o) as f32,
                        "width {width}, pixel {x}, channel {o}"
                    );
                }
            }
        }
    }
}
