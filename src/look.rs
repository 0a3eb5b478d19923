//! Final-look adjustments applied to each tile's stylized pixels before blending, in sRGB (the
//! output's colour conversion comes after): `strength` mixes the stylized result with the input,
//! `preserve_colour` keeps the input's colours and takes only the stylized luminance.
//!
//! Luminance and colour are separated in BT.601 YCbCr (the JPEG convention, on gamma-encoded
//! sRGB): Y from the stylization, Cb and Cr from the input. Where the combination leaves the
//! sRGB gamut it is clipped, so only there does the chroma differ from the input's.

/// How the stylized pixels are finished.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Look {
    /// Share of the stylized result, 0..1 (1: the stylization alone).
    pub strength: f32,
    /// Keep the input's colours (chroma), take the stylized luminance.
    pub preserve_colour: bool,
}

impl Default for Look {
    fn default() -> Self {
        Self {
            strength: 1.0,
            preserve_colour: false,
        }
    }
}

impl Look {
    /// Whether the look changes anything.
    pub fn is_identity(&self) -> bool {
        self.strength == 1.0 && !self.preserve_colour
    }

    /// Finishes planar RGB `styled` in place, with `input` the planar RGB under the same pixels.
    pub fn apply(&self, styled: &mut [f32], input: &[f32]) {
        let plane = styled.len() / 3;
        let (sr, rest) = styled.split_at_mut(plane);
        let (sg, sb) = rest.split_at_mut(plane);
        let (ir, ig, ib) = (
            &input[..plane],
            &input[plane..2 * plane],
            &input[2 * plane..3 * plane],
        );
        for i in 0..plane {
            let mut px = [sr[i], sg[i], sb[i]];
            let original = [ir[i], ig[i], ib[i]];
            if self.preserve_colour {
                px = with_luma_of(original, luma(px));
            }
            if self.strength != 1.0 {
                let a = self.strength;
                px = std::array::from_fn(|c| a * px[c] + (1.0 - a) * original[c]);
            }
            [sr[i], sg[i], sb[i]] = px;
        }
    }
}

/// BT.601 luma of gamma-encoded RGB.
fn luma([r, g, b]: [f32; 3]) -> f32 {
    0.299 * r + 0.587 * g + 0.114 * b
}

/// `rgb` with its luma replaced by `y` and its chroma (Cb, Cr) kept: adding the same amount to
/// R, G and B changes Y by that amount and leaves Cb and Cr unchanged.
fn with_luma_of(rgb: [f32; 3], y: f32) -> [f32; 3] {
    let shift = y - luma(rgb);
    rgb.map(|v| (v + shift).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preserved_colour_keeps_the_chroma_and_takes_the_luma() {
        let look = Look {
            strength: 1.0,
            preserve_colour: true,
        };
        let mut styled = vec![0.9, 0.2, 0.4];
        let input = [0.3, 0.5, 0.4];
        look.apply(&mut styled, &input);
        let chroma = |[r, g, b]: [f32; 3]| [b - luma([r, g, b]), r - luma([r, g, b])];
        let out = [styled[0], styled[1], styled[2]];
        assert!((luma(out) - luma([0.9, 0.2, 0.4])).abs() < 1e-6);
        let (a, b) = (chroma(out), chroma(input));
        assert!((a[0] - b[0]).abs() < 1e-6 && (a[1] - b[1]).abs() < 1e-6);
    }

    #[test]
    fn strength_mixes_with_the_input() {
        let look = Look {
            strength: 0.25,
            preserve_colour: false,
        };
        let mut styled = vec![1.0, 0.0, 0.5];
        look.apply(&mut styled, &[0.0, 1.0, 0.5]);
        assert_eq!(styled, vec![0.25, 0.75, 0.5]);
    }
}
