//! Scratch activations: feature maps of a whole image at a reduced resolution, kept in named
//! files (that a resumed run can find, see [`crate::stats::checkpoint`]) and read and written
//! one window at a time with positioned I/O.
//!
//! A map is stored pixel-interleaved (`[row][col][channel]`), so that one window row of every
//! channel is one contiguous run of the file: a window costs one system call per row, not one per
//! row and channel (at 10000² that was 1.6 million calls per sweep). Values are stored as f32 or
//! as f16 ([`ScratchPrecision`]), half the bytes to write and read back; the caller sees planar
//! `[channel][row][col]` f32 values either way. Rows are read and written by all cores.
//! The pages live in the kernel's page cache, which the kernel can write back and reclaim, so
//! the process's resident memory does not grow with the image (a whole-file memory map would be
//! counted in the resident set as soon as it is touched).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::geom::Rect;

/// How scratch values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScratchPrecision {
    /// Half precision (11 significant bits): half the scratch disk and I/O, at about 61-67 dB
    /// from the untiled network instead of 85 and more (docs/STATISTICS.md).
    F16,
    /// Single precision, as computed: the exact answer within float rounding.
    F32,
}

impl ScratchPrecision {
    /// Bytes per stored value.
    pub fn bytes(self) -> usize {
        match self {
            Self::F16 => 2,
            Self::F32 => 4,
        }
    }
}

impl std::fmt::Display for ScratchPrecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::F16 => "f16",
            Self::F32 => "f32",
        })
    }
}

/// One `channels × height × width` feature map backed by a file.
pub struct ScratchMap {
    file: File,
    path: PathBuf,
    channels: usize,
    width: usize,
    height: usize,
    precision: ScratchPrecision,
}

impl ScratchMap {
    /// Creates a zeroed map in the named file `path` (replacing any), kept until removed.
    pub fn create(
        path: &Path,
        (channels, width, height): (usize, usize, usize),
        precision: ScratchPrecision,
    ) -> Result<Self> {
        let map = Self::with_file(path, true, (channels, width, height), precision)?;
        map.file
            .set_len(map.bytes())
            .map_err(|e| Error::io(path, e))?;
        Ok(map)
    }

    /// Opens a map that [`ScratchMap::create`] made, if its file has this shape's size.
    pub fn open(
        path: &Path,
        shape: (usize, usize, usize),
        precision: ScratchPrecision,
    ) -> Result<Self> {
        let map = Self::with_file(path, false, shape, precision)?;
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
        (channels, width, height): (usize, usize, usize),
        precision: ScratchPrecision,
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
            precision,
        })
    }

    /// Size of the map's file in bytes.
    fn bytes(&self) -> u64 {
        (self.channels * self.width * self.height * self.precision.bytes()) as u64
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

    /// How the values are stored.
    pub fn precision(&self) -> ScratchPrecision {
        self.precision
    }

    /// Channels of the map.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Byte offset of pixel (x, y)'s first channel.
    fn offset(&self, y: usize, x: usize) -> u64 {
        ((y * self.width + x) * self.channels * self.precision.bytes()) as u64
    }

    /// Copies `rect` out as planar `[channel][row][col]` values.
    pub fn read(&self, rect: Rect) -> Result<Vec<f32>> {
        let mut out = vec![0.0f32; self.channels * rect.area()];
        self.read_into(rect, &mut out)?;
        Ok(out)
    }

    /// Copies `rect` into `out` (`channels × rect.area()` values) as planar values.
    pub fn read_into(&self, rect: Rect, out: &mut [f32]) -> Result<()> {
        let rw = rect.width();
        let channels = self.channels;
        rows_of_planes(out, rw * rect.height(), rw)
            .into_par_iter()
            .zip(rect.y0..rect.y1)
            .try_for_each_init(
                || (Vec::new(), vec![0.0f32; rw * channels]),
                |(bytes, values), (mut planes, y)| {
                    bytes.resize(values.len() * self.precision.bytes(), 0u8);
                    self.file
                        .read_exact_at(bytes, self.offset(y, rect.x0))
                        .map_err(|e| Error::io(&self.path, e))?;
                    self.decode(bytes, values);
                    for (c, plane_row) in planes.iter_mut().enumerate() {
                        for (d, px) in plane_row.iter_mut().zip(values.chunks_exact(channels)) {
                            *d = px[c];
                        }
                    }
                    Ok(())
                },
            )
    }

    /// Stores planar values for `rect`.
    pub fn write(&mut self, rect: Rect, planar: &[f32]) -> Result<()> {
        let (rw, rh) = (rect.width(), rect.height());
        let plane = rw * rh;
        let channels = self.channels;
        let map = &*self;
        (rect.y0..rect.y1).into_par_iter().try_for_each_init(
            || (vec![0.0f32; rw * channels], Vec::new()),
            |(values, bytes), y| {
                let k = y - rect.y0;
                for (c, src) in planar.chunks_exact(plane).enumerate() {
                    let row = &src[k * rw..][..rw];
                    for (px, v) in values.chunks_exact_mut(channels).zip(row) {
                        px[c] = *v;
                    }
                }
                map.encode(values, bytes);
                map.file
                    .write_all_at(bytes, map.offset(y, rect.x0))
                    .map_err(|e| Error::io(&map.path, e))
            },
        )
    }

    /// Stored bytes to values.
    fn decode(&self, bytes: &[u8], values: &mut [f32]) {
        match self.precision {
            ScratchPrecision::F32 => values.copy_from_slice(bytemuck::cast_slice(bytes)),
            ScratchPrecision::F16 => {
                let halves: &[f16] = bytemuck::cast_slice(bytes);
                halves.convert_to_f32_slice(values);
            }
        }
    }

    /// Values to stored bytes.
    fn encode(&self, values: &[f32], bytes: &mut Vec<u8>) {
        bytes.resize(values.len() * self.precision.bytes(), 0u8);
        match self.precision {
            ScratchPrecision::F32 => bytes.copy_from_slice(bytemuck::cast_slice(values)),
            ScratchPrecision::F16 => {
                let halves: &mut [f16] = bytemuck::cast_slice_mut(bytes);
                halves.convert_from_f32_slice(values);
            }
        }
    }
}

/// Splits planar `[channel][row][col]` values (planes of `plane` values, rows of `width`) into
/// one entry per row holding that row of every channel, so that rows can be filled in parallel.
fn rows_of_planes(values: &mut [f32], plane: usize, width: usize) -> Vec<Vec<&mut [f32]>> {
    let rows = plane.checked_div(width).unwrap_or(0);
    let mut by_row: Vec<Vec<&mut [f32]>> = (0..rows).map(|_| Vec::new()).collect();
    for channel in values.chunks_exact_mut(plane.max(1)) {
        for (row, part) in by_row
            .iter_mut()
            .zip(channel.chunks_exact_mut(width.max(1)))
        {
            row.push(part);
        }
    }
    by_row
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(precision: ScratchPrecision) -> (Vec<f32>, Vec<f32>) {
        let dir = tempfile::tempdir().unwrap();
        let shape = (3, 7, 5);
        let mut map = ScratchMap::create(&dir.path().join("m"), shape, precision).unwrap();
        let rect = Rect {
            x0: 2,
            y0: 1,
            x1: 6,
            y1: 4,
        };
        let values: Vec<f32> = (0..3 * rect.area())
            .map(|i| i as f32 * 0.37 - 2.0)
            .collect();
        map.write(rect, &values).unwrap();
        let inner = Rect {
            x0: 3,
            y0: 2,
            x1: 5,
            y1: 4,
        };
        let expected: Vec<f32> = (0..3)
            .flat_map(|c| {
                let values = &values;
                (inner.y0..inner.y1).flat_map(move |y| {
                    (inner.x0..inner.x1).map(move |x| {
                        values[c * rect.area() + (y - rect.y0) * rect.width() + (x - rect.x0)]
                    })
                })
            })
            .collect();
        (expected, map.read(inner).unwrap())
    }

    #[test]
    fn a_window_reads_back_what_was_written() {
        let (expected, got) = roundtrip(ScratchPrecision::F32);
        assert_eq!(expected, got);
        let (expected, got) = roundtrip(ScratchPrecision::F16);
        for (e, g) in expected.iter().zip(&got) {
            assert!((e - g).abs() <= e.abs() / 1024.0, "{e} vs {g}");
        }
        assert_ne!(expected, got, "f16 must round");
    }
}
