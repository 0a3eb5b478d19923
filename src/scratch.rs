//! Scratch activations: planar f32 feature maps of a whole image at a reduced resolution, kept
//! in named files (that a resumed run can find, see [`crate::stats::checkpoint`]) and read and written one
//! window at a time with positioned I/O.
//! Their pages live in the kernel's page cache, which the kernel can write back and reclaim, so
//! the process's resident memory does not grow with the image (a whole-file memory map would be
//! counted in the resident set as soon as it is touched).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::geom::Rect;

/// One `channels × height × width` f32 feature map backed by a file.
pub struct ScratchMap {
    file: File,
    path: PathBuf,
    channels: usize,
    width: usize,
    height: usize,
}

impl ScratchMap {
    /// Creates a zeroed map in the named file `path` (replacing any), kept until removed.
    pub fn create(path: &Path, channels: usize, width: usize, height: usize) -> Result<Self> {
        let map = Self::with_file(path, true, channels, width, height)?;
        map.file
            .set_len(map.bytes())
            .map_err(|e| Error::io(path, e))?;
        Ok(map)
    }

    /// Opens a map that [`ScratchMap::create`] made, if its file has this shape's size.
    pub fn open(path: &Path, channels: usize, width: usize, height: usize) -> Result<Self> {
        let map = Self::with_file(path, false, channels, width, height)?;
        let len = map.file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len != map.bytes() {
            return Err(Error::io(
                path,
                std::io::Error::other(format!("{len} bytes, expected {}", map.bytes())),
            ));
        }
        Ok(map)
    }

    /// The map of this shape in the file `path`, opened for reading and writing (created and
    /// emptied if `fresh`).
    fn with_file(
        path: &Path,
        fresh: bool,
        channels: usize,
        width: usize,
        height: usize,
    ) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(fresh)
            .truncate(fresh)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(Self {
            file,
            path: path.into(),
            channels,
            width,
            height,
        })
    }

    /// Size of the map's file in bytes.
    fn bytes(&self) -> u64 {
        (self.channels * self.width * self.height * 4) as u64
    }

    /// CRC-32 of the map's contents, read sequentially: detects a damaged map before reuse.
    pub fn checksum(&self) -> Result<u32> {
        const CHUNK: usize = 4 << 20;
        let total = self.bytes();
        let mut buf = vec![0u8; CHUNK];
        let mut crc = crc32fast::Hasher::new();
        let mut at = 0u64;
        while at < total {
            let n = CHUNK.min((total - at) as usize);
            self.file
                .read_exact_at(&mut buf[..n], at)
                .map_err(|e| Error::io(&self.path, e))?;
            crc.update(&buf[..n]);
            at += n as u64;
        }
        Ok(crc.finalize())
    }

    /// Channels, width and height.
    pub fn shape(&self) -> (usize, usize, usize) {
        (self.channels, self.width, self.height)
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
                    .map_err(|e| Error::io(&self.path, e))?;
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
                    .map_err(|e| Error::io(&self.path, e))?;
            }
        }
        Ok(())
    }
}
