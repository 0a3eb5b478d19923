//! Scratch activations: planar f32 feature maps of a whole image at a reduced resolution, kept
//! in unnamed temporary files and read and written one window at a time with positioned I/O.
//! Their pages live in the kernel's page cache, which the kernel can write back and reclaim, so
//! the process's resident memory does not grow with the image (a whole-file memory map would be
//! counted in the resident set as soon as it is touched).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::geom::Rect;

/// One `channels × height × width` f32 feature map backed by a temporary file.
pub struct ScratchMap {
    file: File,
    dir: PathBuf,
    channels: usize,
    width: usize,
    height: usize,
}

impl ScratchMap {
    /// Creates a zeroed map in a new unnamed temporary file under `dir`.
    pub fn new(dir: &Path, channels: usize, width: usize, height: usize) -> Result<Self> {
        let file = tempfile::tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
        let bytes = (channels * width * height * 4) as u64;
        file.set_len(bytes).map_err(|e| Error::io(dir, e))?;
        Ok(Self {
            file,
            dir: dir.into(),
            channels,
            width,
            height,
        })
    }

    /// Channels of the map.
    pub fn channels(&self) -> usize {
        self.channels
    }

    fn offset(&self, c: usize, y: usize, x: usize) -> u64 {
        (((c * self.height + y) * self.width + x) * 4) as u64
    }

    /// Copies `rect` out as planar `[channel][row][col]` values.
    pub fn read(&self, rect: Rect) -> Result<Vec<f32>> {
        let (rw, rh) = (rect.width(), rect.height());
        let mut out = vec![0.0f32; self.channels * rw * rh];
        for c in 0..self.channels {
            for (k, y) in (rect.y0..rect.y1).enumerate() {
                let row = &mut out[(c * rh + k) * rw..][..rw];
                self.file
                    .read_exact_at(bytemuck::cast_slice_mut(row), self.offset(c, y, rect.x0))
                    .map_err(|e| Error::io(&self.dir, e))?;
            }
        }
        Ok(out)
    }

    /// Stores planar values for `rect`.
    pub fn write(&mut self, rect: Rect, planar: &[f32]) -> Result<()> {
        let (rw, rh) = (rect.width(), rect.height());
        for c in 0..self.channels {
            for (k, y) in (rect.y0..rect.y1).enumerate() {
                let row = &planar[(c * rh + k) * rw..][..rw];
                self.file
                    .write_all_at(bytemuck::cast_slice(row), self.offset(c, y, rect.x0))
                    .map_err(|e| Error::io(&self.dir, e))?;
            }
        }
        Ok(())
    }
}
