//! Geometry shared by every stage: half-open pixel rectangles, and mirror reflection or periodic
//! repetition at image edges. A leaf module: it imports nothing from the crate.

/// A half-open pixel rectangle `[x0, x1) × [y0, y1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    /// Left edge (inclusive).
    pub x0: usize,
    /// Top edge (inclusive).
    pub y0: usize,
    /// Right edge (exclusive).
    pub x1: usize,
    /// Bottom edge (exclusive).
    pub y1: usize,
}

impl Rect {
    /// The rectangle `[0, width) × [0, height)`.
    pub fn of_size(width: usize, height: usize) -> Rect {
        Rect {
            x0: 0,
            y0: 0,
            x1: width,
            y1: height,
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.x1 - self.x0
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.y1 - self.y0
    }

    /// Number of pixels.
    pub fn area(&self) -> usize {
        self.width() * self.height()
    }

    /// The rectangle grown by `margin` on every side, clipped to `[0, w) × [0, h)`.
    pub fn grow_within(&self, margin: usize, w: usize, h: usize) -> Rect {
        Rect {
            x0: self.x0.saturating_sub(margin),
            y0: self.y0.saturating_sub(margin),
            x1: (self.x1 + margin).min(w),
            y1: (self.y1 + margin).min(h),
        }
    }

    /// The same area at `1/factor` resolution (ends rounded up).
    pub fn scaled_down(&self, factor: usize) -> Rect {
        Rect {
            x0: self.x0 / factor,
            y0: self.y0 / factor,
            x1: self.x1.div_ceil(factor),
            y1: self.y1.div_ceil(factor),
        }
    }

    /// The part this rectangle shares with `other`, if any.
    pub fn intersect(&self, other: &Rect) -> Option<Rect> {
        let r = Rect {
            x0: self.x0.max(other.x0),
            y0: self.y0.max(other.y0),
            x1: self.x1.min(other.x1),
            y1: self.y1.min(other.y1),
        };
        (r.x0 < r.x1 && r.y0 < r.y1).then_some(r)
    }

    /// Whether `other` lies inside this rectangle.
    pub fn contains(&self, other: &Rect) -> bool {
        self.x0 <= other.x0 && self.y0 <= other.y0 && other.x1 <= self.x1 && other.y1 <= self.y1
    }
}

/// Index of position `i` of an axis of length `n` extended by mirror reflection at both ends
/// without repeating the edge pixel (`…, 2, 1, 0, 1, 2, …`), as reflect padding does.
pub fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - m }) as usize
}

/// Index of position `i` of an axis of length `n` repeated periodically (`…, n-1, 0, 1, …`), as
/// circular padding does: the boundary of a seamless repeat.
pub fn wrap(i: isize, n: usize) -> usize {
    i.rem_euclid(n as isize) as usize
}

/// Extends planar `channels × height × width` values by mirror reflection to `pw × ph`.
pub fn pad_planar(
    planes: &[f32],
    channels: usize,
    (w, h): (usize, usize),
    (pw, ph): (usize, usize),
) -> Vec<f32> {
    let mut out = Vec::with_capacity(channels * pw * ph);
    for c in 0..channels {
        for y in 0..ph {
            let row = &planes[c * w * h + reflect(y as isize, h) * w..][..w];
            out.extend((0..pw).map(|x| row[reflect(x as isize, w)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_repeats_the_axis() {
        let got: Vec<usize> = (-3..8).map(|i| wrap(i, 5)).collect();
        assert_eq!(got, vec![2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2]);
        let a = Rect::of_size(10, 10);
        let b = Rect {
            x0: 5,
            y0: 8,
            x1: 20,
            y1: 9,
        };
        assert_eq!(
            a.intersect(&b),
            Some(Rect {
                x0: 5,
                y0: 8,
                x1: 10,
                y1: 9
            })
        );
        assert_eq!(
            a.intersect(&Rect {
                x0: 10,
                y0: 0,
                x1: 12,
                y1: 3
            }),
            None
        );
    }

    #[test]
    fn reflection_mirrors_without_repeating_the_edge() {
        let got: Vec<usize> = (-3..8).map(|i| reflect(i, 5)).collect();
        assert_eq!(got, vec![3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1]);
    }

    #[test]
    fn scaling_rounds_the_far_edge_up() {
        let r = Rect {
            x0: 4,
            y0: 8,
            x1: 10,
            y1: 13,
        };
        assert_eq!(
            r.scaled_down(4),
            Rect {
                x0: 1,
                y0: 2,
                x1: 3,
                y1: 4
            }
        );
    }
}
