//! Scratch activations: feature maps of a whole image at a reduced resolution, kept in named
//! files (that a resumed run can find, see [`crate::stats::checkpoint`]) and read and written
//! one window at a time with positioned I/O.
//!
//! A map is stored pixel-interleaved (`[row][col][channel]`), so that one window row of every
//! channel is one contiguous run of the file: a window costs one system call per row, not one per
//! row and channel (at 10000² that was 1.6 million calls per sweep). Values are stored as f32 or
//! as f16 ([`ScratchPrecision`]), half the bytes to write and read back; the caller sees planar
//! `[channel][row][col]` f32 values either way. Rows are read and interleaved by all cores, and
//! written by a thread of their own while the sweep computes on ([`WriteBehind`]).
//! The pages live in the kernel's page cache, which the kernel can write back and reclaim, so
//! the process's resident memory does not grow with the image (a whole-file memory map would be
//! counted in the resident set as soon as it is touched).

mod write_behind;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::geom::Rect;
use crate::transpose;
use write_behind::{RowBatch, Target, Written, BATCH_BYTES};
pub use write_behind::{WriteBehind, QUEUED_BYTES_PER_VALUE};

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
    file: Arc<File>,
    path: PathBuf,
    channels: usize,
    width: usize,
    height: usize,
    precision: ScratchPrecision,
    /// Checksums of the rows written through this map, for [`ScratchMap::written_checksum`].
    written: Arc<Written>,
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

    /// Takes over the file `path` of an earlier map at least this shape's size for a new map,
    /// cut to its size: its old values stay until written over (every caller writes a value
    /// before reading it), and the kernel's cached pages are reused.
    pub fn take_over(
        path: &Path,
        shape: (usize, usize, usize),
        precision: ScratchPrecision,
    ) -> Result<Self> {
        let map = Self::with_file(path, false, shape, precision)?;
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
            file: Arc::new(file),
            path: path.into(),
            channels,
            width,
            height,
            precision,
            written: Arc::default(),
        })
    }

    /// Size of the map's file in bytes.
    pub fn bytes(&self) -> u64 {
        Self::bytes_for((self.channels, self.width, self.height), self.precision)
    }

    /// Size in bytes of the file of a `channels × width × height` map stored with `precision`.
    pub fn bytes_for(
        (channels, width, height): (usize, usize, usize),
        precision: ScratchPrecision,
    ) -> u64 {
        (channels * width * height * precision.bytes()) as u64
    }

    /// CRC-32 of the map's contents as written through it: combined from the checksums of the
    /// rows written when they cover the file exactly once (every sweep writes each pixel of a
    /// map once), read back with [`ScratchMap::checksum`] otherwise. 10000²: 1.15 s of reading
    /// back per run spared.
    pub fn written_checksum(&self) -> Result<u32> {
        match self.written.checksum(self.bytes()) {
            Some(crc) => Ok(crc),
            None => self.checksum(),
        }
    }

    /// CRC-32 of the map's file as it is now: detects a damaged map before reuse. Chunks are
    /// read and checksummed by all cores, their checksums combined in order.
    pub fn checksum(&self) -> Result<u32> {
        const CHUNK: u64 = 4 << 20;
        let total = self.bytes();
        let parts: Vec<crc32fast::Hasher> = (0..total.div_ceil(CHUNK))
            .into_par_iter()
            .map_init(Vec::new, |buf, k| {
                let at = k * CHUNK;
                buf.resize((total - at).min(CHUNK) as usize, 0u8);
                self.file
                    .read_exact_at(buf, at)
                    .map_err(|e| Error::io(&self.path, e))?;
                let mut crc = crc32fast::Hasher::new();
                crc.update(buf);
                Ok(crc)
            })
            .collect::<Result<_>>()?;
        let mut crc = crc32fast::Hasher::new();
        for part in &parts {
            crc.combine(part);
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
                |(halves, values), (mut planes, y)| {
                    self.read_row(y, rect.x0, values, halves)?;
                    transpose::deinterleave(values, &mut planes);
                    Ok(())
                },
            )
    }

    /// Reads `values.len() / channels` pixels of row `y` from column `x0` into `values`
    /// (interleaved); f16 maps are read through `halves`, f32 ones straight into `values`.
    fn read_row(
        &self,
        y: usize,
        x0: usize,
        values: &mut [f32],
        halves: &mut Vec<f16>,
    ) -> Result<()> {
        let at = self.offset(y, x0);
        let read = |bytes: &mut [u8]| {
            self.file
                .read_exact_at(bytes, at)
                .map_err(|e| Error::io(&self.path, e))
        };
        match self.precision {
            ScratchPrecision::F32 => read(bytemuck::cast_slice_mut(values)),
            ScratchPrecision::F16 => {
                halves.resize(values.len(), f16::ZERO);
                read(bytemuck::cast_slice_mut(halves))?;
                halves.convert_to_f32_slice(values);
                Ok(())
            }
        }
    }

    /// Stores planar values for `rect`, and returns when they are written.
    pub fn write(&self, rect: Rect, planar: &[f32]) -> Result<()> {
        let mut behind = WriteBehind::new(2 * BATCH_BYTES);
        self.write_behind(rect, planar, rect, &mut behind)?;
        behind.flush()
    }

    /// Queues the values over `rect` of the planar values over `at` (which contains `rect`:
    /// a window with its halo, so that the core needs no cropped copy) on `behind`, whose
    /// thread writes them while the caller goes on; all cores interleave the rows, one batch at
    /// a time.
    pub fn write_behind(
        &self,
        rect: Rect,
        planar: &[f32],
        at: Rect,
        behind: &mut WriteBehind,
    ) -> Result<()> {
        let row_values = rect.width() * self.channels;
        let rows_per_batch = (BATCH_BYTES / 4 / row_values.max(1)).max(1);
        for k0 in (0..rect.height()).step_by(rows_per_batch) {
            let mut batch = behind.batch();
            batch.rows = k0..(k0 + rows_per_batch).min(rect.height());
            self.interleave(rect, planar, at, &mut batch);
            behind.send(batch)?;
        }
        Ok(())
    }

    /// Fills `batch` with its rows of `rect` from the planar values over `at`,
    /// pixel-interleaved and stored at the map's precision, and says where they go.
    fn interleave(&self, rect: Rect, planar: &[f32], at: Rect, batch: &mut RowBatch) {
        let rw = rect.width();
        let plane = at.area();
        let row_len = rw * self.channels;
        batch.values.resize(batch.rows.len() * row_len, 0.0);
        batch
            .values
            .par_chunks_mut(row_len.max(1))
            .zip(batch.rows.clone())
            .for_each(|(values, k)| {
                let start = (rect.y0 - at.y0 + k) * at.width() + rect.x0 - at.x0;
                let rows: Vec<&[f32]> = planar
                    .chunks_exact(plane)
                    .map(|src| &src[start..][..rw])
                    .collect();
                transpose::interleave(&rows, values);
            });
        let half = self.precision == ScratchPrecision::F16;
        if half {
            batch.halves.resize(batch.values.len(), f16::ZERO);
            batch
                .halves
                .par_chunks_mut(row_len.max(1))
                .zip(batch.values.par_chunks(row_len.max(1)))
                .for_each(|(halves, values)| halves.convert_from_f32_slice(values));
        }
        batch.target = Some(Target {
            file: Arc::clone(&self.file),
            path: self.path.clone(),
            first: self.offset(rect.y0 + batch.rows.start, rect.x0),
            stride: self.offset(1, 0),
            row_bytes: row_len * self.precision.bytes(),
            half,
            written: Arc::clone(&self.written),
        });
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
        let map = ScratchMap::create(&dir.path().join("m"), shape, precision).unwrap();
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
        (
            planar_part(&values, 3, rect, inner),
            map.read(inner).unwrap(),
        )
    }

    /// The planar values over `part` of the `channels` planes of `values`, which cover `at`.
    fn planar_part(values: &[f32], channels: usize, at: Rect, part: Rect) -> Vec<f32> {
        (0..channels)
            .flat_map(|c| {
                (part.y0..part.y1).flat_map(move |y| {
                    (part.x0..part.x1)
                        .map(move |x| values[c * at.area() + (y - at.y0) * at.width() + x - at.x0])
                })
            })
            .collect()
    }

    #[test]
    fn the_checksum_is_the_crc_of_the_whole_file_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
        // 5.3 MB: two chunks of the parallel checksum.
        let shape = (4, 1100, 300);
        let map = ScratchMap::create(&path, shape, ScratchPrecision::F32).unwrap();
        let rect = Rect {
            x0: 0,
            y0: 0,
            x1: 1100,
            y1: 300,
        };
        let values: Vec<f32> = (0..4 * rect.area()).map(|i| (i % 977) as f32).collect();
        map.write(rect, &values).unwrap();
        let whole = crc32fast::hash(&std::fs::read(&path).unwrap());
        assert_eq!(map.checksum().unwrap(), whole);
    }

    #[test]
    fn the_checksum_of_the_rows_written_is_the_files_or_the_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let shape = (3, 10, 6);
        let rect = |x0, y0, x1, y1| Rect { x0, y0, x1, y1 };
        let values = |r: Rect| -> Vec<f32> { (0..3 * r.area()).map(|i| i as f32 * 0.7).collect() };
        let file_crc = |path: &Path| crc32fast::hash(&std::fs::read(path).unwrap());
        for precision in [ScratchPrecision::F32, ScratchPrecision::F16] {
            // Four windows covering the map once, as a sweep writes it.
            let path = dir.path().join("covered");
            let map = ScratchMap::create(&path, shape, precision).unwrap();
            for r in [
                rect(0, 0, 4, 3),
                rect(4, 0, 10, 3),
                rect(0, 3, 4, 6),
                rect(4, 3, 10, 6),
            ] {
                map.write(r, &values(r)).unwrap();
            }
            assert!(map.written.checksum(map.bytes()).is_some());
            assert_eq!(map.written_checksum().unwrap(), file_crc(&path));
            // A part never written, and a part written twice: the file is read.
            for extra in [None, Some(rect(2, 1, 6, 5))] {
                let path = dir.path().join("partial");
                let map = ScratchMap::create(&path, shape, precision).unwrap();
                let r = rect(0, 0, 10, 5);
                map.write(r, &values(r)).unwrap();
                if let Some(r) = extra {
                    let r6 = rect(0, 5, 10, 6);
                    map.write(r6, &values(r6)).unwrap();
                    map.write(r, &vec![9.0; 3 * r.area()]).unwrap();
                }
                assert_eq!(map.written.checksum(map.bytes()), None);
                assert_eq!(map.written_checksum().unwrap(), file_crc(&path));
            }
        }
    }

    #[test]
    fn a_core_is_stored_from_the_window_around_it() {
        let dir = tempfile::tempdir().unwrap();
        let map =
            ScratchMap::create(&dir.path().join("m"), (2, 9, 7), ScratchPrecision::F32).unwrap();
        let window = Rect {
            x0: 1,
            y0: 1,
            x1: 8,
            y1: 6,
        };
        let core = Rect {
            x0: 3,
            y0: 2,
            x1: 6,
            y1: 5,
        };
        let values: Vec<f32> = (0..2 * window.area()).map(|i| i as f32).collect();
        let mut behind = WriteBehind::new(0);
        map.write_behind(core, &values, window, &mut behind)
            .unwrap();
        behind.flush().unwrap();
        let expected = planar_part(&values, 2, window, core);
        assert_eq!(map.read(core).unwrap(), expected);
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
