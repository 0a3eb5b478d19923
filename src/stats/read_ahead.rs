//! Work read one tile ahead: while a sweep computes a tile, a thread of its own reads what the
//! next tile needs from the image, so that the cores do not wait on the decoder between tiles
//! (the first sweep, and a sweep that runs the first layers, read the whole image).

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use super::ImageSource;
use crate::error::Result;
use crate::geom::Rect;

/// The image, shared by the reading thread and the tile being computed (which reads from it
/// itself only a window that was not read ahead).
struct SharedImage<'a>(Mutex<&'a mut dyn ImageSource>);

impl SharedImage<'_> {
    /// The windows `rects` of the image, in order.
    fn read(&self, rects: &[Rect]) -> Result<VecDeque<(Rect, Vec<f32>)>> {
        let mut image = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        rects
            .iter()
            .map(|&rect| Ok((rect, image.rgb(rect)?)))
            .collect()
    }

    /// The window `rect` of the image.
    fn read_one(&self, rect: Rect) -> Result<Vec<f32>> {
        let mut image = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        image.rgb(rect)
    }
}

/// A tile's view of the image: the windows read ahead for it, in the order it asks for them,
/// and the image itself for any other.
struct Ahead<'s, 'a> {
    image: &'s SharedImage<'a>,
    windows: VecDeque<(Rect, Vec<f32>)>,
}

impl ImageSource for Ahead<'_, '_> {
    fn rgb(&mut self, rect: Rect) -> Result<Vec<f32>> {
        if self.windows.front().is_some_and(|(read, _)| *read == rect) {
            if let Some((_, values)) = self.windows.pop_front() {
                return Ok(values);
            }
        }
        self.image.read_one(rect)
    }
}

/// Runs `tile(k, image)` for every tile `k` of `reads`, which lists the windows of `image` that
/// each tile reads: tile `k + 1`'s windows are read while tile `k` runs ([`one_ahead`]). Holds
/// at most two tiles' windows.
pub fn for_each_tile(
    image: &mut dyn ImageSource,
    reads: &[Vec<Rect>],
    mut tile: impl FnMut(usize, &mut dyn ImageSource) -> Result<()>,
) -> Result<()> {
    let shared = SharedImage(Mutex::new(image));
    one_ahead(
        reads.len(),
        |k| shared.read(&reads[k]),
        |k, windows| {
            let mut current = Ahead {
                image: &shared,
                windows,
            };
            tile(k, &mut current)
        },
    )
}

/// Runs `consume(k, read(k))` for `k` in `0..count`, in order, reading item `k + 1` on a thread
/// of its own while item `k` is consumed. The first error stops it.
pub fn one_ahead<T: Send>(
    count: usize,
    mut read: impl FnMut(usize) -> Result<T> + Send,
    mut consume: impl FnMut(usize, T) -> Result<()>,
) -> Result<()> {
    if count == 0 {
        return Ok(());
    }
    let mut next = read(0)?;
    for k in 0..count {
        let read = &mut read;
        let following = std::thread::scope(|scope| {
            let reader = (k + 1 < count).then(|| scope.spawn(move || read(k + 1)));
            consume(k, next)?;
            reader
                .map(|thread| {
                    thread
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .transpose()
        })?;
        match following {
            Some(item) => next = item,
            None => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    /// An image whose every value is its window's left edge, recording the windows asked of it.
    struct Recorder {
        asked: Vec<Rect>,
        fail_at: Option<usize>,
    }

    impl ImageSource for Recorder {
        fn rgb(&mut self, rect: Rect) -> Result<Vec<f32>> {
            if Some(rect.x0) == self.fail_at {
                return Err(Error::InvalidOption("unreadable".into()));
            }
            self.asked.push(rect);
            Ok(vec![rect.x0 as f32; 3 * rect.area()])
        }
    }

    fn square(x0: usize) -> Rect {
        Rect {
            x0,
            y0: 0,
            x1: x0 + 2,
            y1: 2,
        }
    }

    #[test]
    fn each_tile_gets_its_windows_and_reads_any_other_itself() {
        let mut image = Recorder {
            asked: Vec::new(),
            fail_at: None,
        };
        // Tile 1 reads nothing; tile 2 asks for a window it did not list as well.
        let reads = vec![vec![square(0), square(4)], vec![], vec![square(8)]];
        let mut served = Vec::new();
        for_each_tile(&mut image, &reads, |k, tile_image| {
            for rect in reads[k].iter().copied().chain((k == 2).then(|| square(12))) {
                let values = tile_image.rgb(rect)?;
                assert_eq!(values, vec![rect.x0 as f32; 3 * rect.area()]);
                served.push((k, rect.x0));
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(served, [(0, 0), (0, 4), (2, 8), (2, 12)]);
        // Every window was read from the image once.
        assert_eq!(image.asked, [square(0), square(4), square(8), square(12)]);
    }

    #[test]
    fn a_failed_read_ahead_stops_the_tiles() {
        let mut image = Recorder {
            asked: Vec::new(),
            fail_at: Some(8),
        };
        let reads = vec![vec![square(0)], vec![square(8)], vec![square(16)]];
        let mut ran = Vec::new();
        let result = for_each_tile(&mut image, &reads, |k, _| {
            ran.push(k);
            Ok(())
        });
        assert!(result.is_err());
        // Tile 0 ran while tile 1's window failed to read; tile 1 never ran.
        assert_eq!(ran, [0]);
    }
}
