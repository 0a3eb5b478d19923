//! Scratch activations: planar f32 feature maps of a whole image at a reduced resolution, kept
//! in memory-mapped temporary files so that their size is bounded by disk, not RAM.

use std::path::Path;

use memmap2::MmapMut;

use crate::error::{Error, Result};
use crate::tiling::Rect;

/// One `channels × height × width` f32 feature map backed by a temporary file.
pub struct ScratchMap {
    map: MmapMut,
    channels: usize,
    width: usize,
    height: usize,
    _file: std::fs::File,
}

impl ScratchMap {
    /// Creates a zeroed map in a new unnamed temporary file under `dir`.
    pub fn new(dir: &Path, channels: usize, width: usize, height: usize) -> Result<Self> {
        let file = tempfile::tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
        let bytes = (channels * width * height * 4) as u64;
        file.set_len(bytes.max(4)).map_err(|e| Error::io(dir, e))?;
        // SAFETY: the unnamed file is private to this process and never resized while mapped.
        let map = unsafe { MmapMut::map_mut(&file) }.map_err(|e| Error::io(dir, e))?;
        Ok(Self {
            map,
            channels,
            width,
            height,
            _file: file,
        })
    }

    /// Channels of the map.
    pub fn channels(&self) -> usize {
        self.channels
    }

    fn values(&self) -> &[f32] {
        bytemuck::cast_slice(&self.map[..self.channels * self.width * self.height * 4])
    }

    fn values_mut(&mut self) -> &mut [f32] {
        let n = self.channels * self.width * self.height * 4;
        bytemuck::cast_slice_mut(&mut self.map[..n])
    }

    /// Copies `rect` out as planar `[channel][row][col]` values.
    pub fn read(&self, rect: Rect) -> Vec<f32> {
        let (w, h) = (self.width, self.height);
        let values = self.values();
        let mut out = Vec::with_capacity(self.channels * rect.width() * rect.height());
        for c in 0..self.channels {
            for y in rect.y0..rect.y1 {
                let row = &values[c * w * h + y * w..][..w];
                out.extend_from_slice(&row[rect.x0..rect.x1]);
            }
        }
        out
    }

    /// Stores planar values for `rect`.
    pub fn write(&mut self, rect: Rect, planar: &[f32]) {
        let (w, h) = (self.width, self.height);
        let (rw, rh) = (rect.width(), rect.height());
        let channels = self.channels;
        let values = self.values_mut();
        for c in 0..channels {
            for (k, y) in (rect.y0..rect.y1).enumerate() {
                let src = &planar[(c * rh + k) * rw..][..rw];
                values[c * w * h + y * w + rect.x0..][..rw].copy_from_slice(src);
            }
        }
    }
}
