//! A TIFF writer whose pixel data is written through memory maps of the output file, one band of
//! rows at a time, so the output never needs RAM proportional to the image.
//!
//! The file is created as a temporary file beside the destination, its header and directory are
//! written first (the strip layout of an uncompressed TIFF is known in advance), rows are copied
//! into mapped windows as they are finished, and the file is renamed over the destination only
//! after the last row: an interrupted run never leaves a partial output under the final name.
//! Classic TIFF is used when the file fits in 4 GiB, BigTIFF otherwise (or when forced).

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use memmap2::MmapOptions;
use tempfile::NamedTempFile;

use super::Resolution;
use crate::blend::RowSink;
use crate::error::{Error, Result};

/// What the output file holds.
#[derive(Debug, Clone)]
pub struct OutputSpec {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Samples per pixel: 3 (RGB) or 4 (RGB + unassociated alpha).
    pub samples: usize,
    /// Bits per sample: 8 or 16.
    pub bits: u8,
    /// Resolution tags to copy.
    pub resolution: Option<Resolution>,
    /// ICC profile to embed.
    pub icc: Option<Vec<u8>>,
    /// `Some(true)` forces BigTIFF, `None` chooses it when the file may exceed 4 GiB.
    pub bigtiff: Option<bool>,
}

/// Target size of one strip; strips only matter to readers, the data is contiguous.
const STRIP_BYTES: usize = 1 << 20;
/// Data starts on a page boundary so that row windows map cleanly.
const DATA_ALIGN: u64 = 4096;
const CLASSIC_LIMIT: u64 = u32::MAX as u64;

/// An uncompressed TIFF being written through memory maps.
pub struct MappedTiff {
    temp: NamedTempFile,
    dest: PathBuf,
    spec: OutputSpec,
    data_offset: u64,
    row_bytes: usize,
    rows_written: usize,
}

impl MappedTiff {
    /// Creates the temporary output beside `dest` and writes its header and directory.
    pub fn create(dest: &Path, spec: OutputSpec) -> Result<Self> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let mut temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".part")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&dir, e))?;
        let row_bytes = spec.width * spec.samples * usize::from(spec.bits / 8);
        let data_bytes = (row_bytes as u64) * spec.height as u64;
        let bigtiff = spec
            .bigtiff
            .unwrap_or(data_bytes + (1 << 24) > CLASSIC_LIMIT);
        let (header, data_offset) = build_header(&spec, row_bytes, bigtiff);
        let file = temp.as_file_mut();
        file.write_all(&header).map_err(|e| Error::io(dest, e))?;
        file.set_len(data_offset + data_bytes)
            .map_err(|e| Error::io(dest, e))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(dest, e))?;
        Ok(Self {
            temp,
            dest: dest.into(),
            spec,
            data_offset,
            row_bytes,
            rows_written: 0,
        })
    }

    /// Writes rows `y0 ..` given as interleaved f32 samples in 0..1, `src_width` pixels and
    /// `src_channels` samples each (extra columns and rows past the image are dropped).
    pub fn write_f32_rows(
        &mut self,
        y0: usize,
        rows: &[f32],
        src_width: usize,
        src_channels: usize,
    ) -> Result<()> {
        let src_row = src_width * src_channels;
        let n = (rows.len() / src_row).min(self.spec.height.saturating_sub(y0));
        if n == 0 {
            return Ok(());
        }
        let start = self.data_offset + (y0 * self.row_bytes) as u64;
        let page_start = start - start % DATA_ALIGN;
        let lead = (start - page_start) as usize;
        let len = lead + n * self.row_bytes;
        // SAFETY: the temporary file is private to this process and not resized while mapped.
        let mut map = unsafe {
            MmapOptions::new()
                .offset(page_start)
                .len(len)
                .map_mut(self.temp.as_file())
        }
        .map_err(|e| Error::io(&self.dest, e))?;
        let (w, s, bits) = (self.spec.width, self.spec.samples, self.spec.bits);
        for r in 0..n {
            let src = &rows[r * src_row..][..src_row];
            let dst = &mut map[lead + r * self.row_bytes..][..self.row_bytes];
            quantize_row(src, src_channels, dst, w, s, bits);
        }
        drop(map);
        self.rows_written = self.rows_written.max(y0 + n);
        Ok(())
    }

    /// Checks that every row was written, syncs the file and renames it over the destination.
    pub fn finish(self) -> Result<PathBuf> {
        if self.rows_written < self.spec.height {
            return Err(Error::io(
                &self.dest,
                std::io::Error::other(format!(
                    "only {} of {} rows were produced",
                    self.rows_written, self.spec.height
                )),
            ));
        }
        self.temp
            .as_file()
            .sync_data()
            .map_err(|e| Error::io(&self.dest, e))?;
        self.temp
            .persist(&self.dest)
            .map_err(|e| Error::io(&self.dest, e.error))?;
        Ok(self.dest)
    }
}

impl RowSink for MappedTiff {
    fn write_rows(&mut self, y0: usize, rows: &[f32]) -> Result<()> {
        let channels = self.spec.samples;
        let padded_width = self.spec.width.next_multiple_of(crate::model::STRIDE);
        self.write_f32_rows(y0, rows, padded_width, channels)
    }
}

fn quantize_row(src: &[f32], src_channels: usize, dst: &mut [u8], w: usize, s: usize, bits: u8) {
    if bits == 8 {
        for x in 0..w {
            for c in 0..s {
                let v = src[x * src_channels + c].clamp(0.0, 1.0);
                dst[x * s + c] = (v * 255.0 + 0.5) as u8;
            }
        }
    } else {
        for x in 0..w {
            for c in 0..s {
                let v = src[x * src_channels + c].clamp(0.0, 1.0);
                let q = (v * 65535.0 + 0.5) as u16;
                dst[(x * s + c) * 2..][..2].copy_from_slice(&q.to_le_bytes());
            }
        }
    }
}

/// One directory entry: tag, TIFF type, count and the little-endian value bytes.
struct Entry {
    tag: u16,
    kind: u16,
    count: u64,
    bytes: Vec<u8>,
}

const SHORT: u16 = 3;
const LONG: u16 = 4;
const RATIONAL: u16 = 5;
const ASCII: u16 = 2;
const UNDEFINED: u16 = 7;
const LONG8: u16 = 16;

fn shorts(tag: u16, values: &[u16]) -> Entry {
    Entry {
        tag,
        kind: SHORT,
        count: values.len() as u64,
        bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

fn long(tag: u16, value: u32) -> Entry {
    Entry {
        tag,
        kind: LONG,
        count: 1,
        bytes: value.to_le_bytes().to_vec(),
    }
}

fn offsets(tag: u16, values: &[u64], bigtiff: bool) -> Entry {
    if bigtiff {
        Entry {
            tag,
            kind: LONG8,
            count: values.len() as u64,
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    } else {
        Entry {
            tag,
            kind: LONG,
            count: values.len() as u64,
            bytes: values
                .iter()
                .flat_map(|v| (*v as u32).to_le_bytes())
                .collect(),
        }
    }
}

fn rational(tag: u16, (n, d): (u32, u32)) -> Entry {
    Entry {
        tag,
        kind: RATIONAL,
        count: 1,
        bytes: [n.to_le_bytes(), d.to_le_bytes()].concat(),
    }
}

/// Builds the header, directory and out-of-line values; returns them and the data offset.
fn build_header(spec: &OutputSpec, row_bytes: usize, bigtiff: bool) -> (Vec<u8>, u64) {
    let rows_per_strip = (STRIP_BYTES / row_bytes.max(1)).clamp(1, spec.height.max(1));
    let strips = spec.height.div_ceil(rows_per_strip);
    let entries_for = |data_offset: u64| -> Vec<Entry> {
        let strip_offsets: Vec<u64> = (0..strips)
            .map(|i| data_offset + (i * rows_per_strip * row_bytes) as u64)
            .collect();
        let strip_counts: Vec<u64> = (0..strips)
            .map(|i| {
                let rows = rows_per_strip.min(spec.height - i * rows_per_strip);
                (rows * row_bytes) as u64
            })
            .collect();
        let bits = vec![u16::from(spec.bits); spec.samples];
        let mut e = vec![
            long(256, spec.width as u32),
            long(257, spec.height as u32),
            shorts(258, &bits),
            shorts(259, &[1]),
            shorts(262, &[2]),
            offsets(273, &strip_offsets, bigtiff),
            shorts(277, &[spec.samples as u16]),
            long(278, rows_per_strip as u32),
            offsets(279, &strip_counts, bigtiff),
        ];
        if let Some(res) = spec.resolution {
            e.push(rational(282, res.x));
            e.push(rational(283, res.y));
        }
        e.push(shorts(284, &[1]));
        if let Some(res) = spec.resolution {
            e.push(shorts(296, &[res.unit]));
        }
        let software = format!("bigstyle {}\0", env!("CARGO_PKG_VERSION"));
        e.push(Entry {
            tag: 305,
            kind: ASCII,
            count: software.len() as u64,
            bytes: software.into_bytes(),
        });
        if spec.samples == 4 {
            e.push(shorts(338, &[2]));
        }
        if let Some(icc) = &spec.icc {
            e.push(Entry {
                tag: 34675,
                kind: UNDEFINED,
                count: icc.len() as u64,
                bytes: icc.clone(),
            });
        }
        e
    };
    // The layout does not depend on the offsets' values, only on their count: lay out once with
    // a placeholder to find the data offset, then again for real.
    let probe = serialize(&entries_for(0), bigtiff);
    let data_offset = (probe.len() as u64).next_multiple_of(DATA_ALIGN);
    let bytes = serialize(&entries_for(data_offset), bigtiff);
    (bytes, data_offset)
}

fn serialize(entries: &[Entry], bigtiff: bool) -> Vec<u8> {
    let (header_len, entry_len, count_len, next_len, inline) = if bigtiff {
        (16u64, 20u64, 8u64, 8u64, 8usize)
    } else {
        (8, 12, 2, 4, 4)
    };
    let mut out = Vec::new();
    out.extend_from_slice(b"II");
    if bigtiff {
        out.extend_from_slice(&43u16.to_le_bytes());
        out.extend_from_slice(&8u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&header_len.to_le_bytes());
    } else {
        out.extend_from_slice(&42u16.to_le_bytes());
        out.extend_from_slice(&(header_len as u32).to_le_bytes());
    }
    let ifd_len = count_len + entry_len * entries.len() as u64 + next_len;
    let blob_at = header_len + ifd_len;
    let mut blob = Vec::new();
    if bigtiff {
        out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    } else {
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    }
    for e in entries {
        out.extend_from_slice(&e.tag.to_le_bytes());
        out.extend_from_slice(&e.kind.to_le_bytes());
        if bigtiff {
            out.extend_from_slice(&e.count.to_le_bytes());
        } else {
            out.extend_from_slice(&(e.count as u32).to_le_bytes());
        }
        if e.bytes.len() <= inline {
            let mut v = e.bytes.clone();
            v.resize(inline, 0);
            out.extend_from_slice(&v);
        } else {
            let at = blob_at + blob.len() as u64;
            if bigtiff {
                out.extend_from_slice(&at.to_le_bytes());
            } else {
                out.extend_from_slice(&(at as u32).to_le_bytes());
            }
            blob.extend_from_slice(&e.bytes);
            if blob.len() % 2 == 1 {
                blob.push(0);
            }
        }
    }
    out.extend(std::iter::repeat_n(0u8, next_len as usize));
    out.extend_from_slice(&blob);
    out
}
