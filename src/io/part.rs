//! Part files: one shard's band of the blended output, as the rows the output writer would have
//! been given (f32 samples, before quantising), so that assembling the parts in order and
//! writing them is the same computation as a one-machine run, byte for byte.
//!
//! Layout: the magic line `BIGSTYLE-PART1\n`, the header's length (u64, little-endian), the
//! header (JSON), then the rows, `width × channels` f32 little-endian samples each. Written to
//! a temporary file beside the destination and renamed when complete, like every output.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;

use super::tiff_out::{persist, temp_beside};
use crate::blend::{RowFile, RowSink};
use crate::error::{Error, Result};

const MAGIC: &[u8] = b"BIGSTYLE-PART1\n";

/// What a part holds and what it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartHeader {
    /// The run the part belongs to: every part of one output carries the same text.
    pub run: String,
    /// This part's index, 0-based.
    pub index: usize,
    /// Number of parts of the output.
    pub count: usize,
    /// Image width (px): the length of each row.
    pub width: usize,
    /// Image height (px).
    pub height: usize,
    /// Samples per pixel in the rows (3, or 4 with alpha).
    pub channels: usize,
    /// The image rows held, `first .. end`.
    pub rows: (usize, usize),
    /// What the merge needs to write the output (defined by the caller).
    pub job: serde_json::Value,
}

/// Writes one part from blended rows given in plan coordinates.
pub struct PartWriter {
    dest: PathBuf,
    temp: NamedTempFile,
    out: BufWriter<File>,
    header: PartHeader,
    /// Plan coordinates of image column 0 and row 0.
    origin: (usize, usize),
    written: usize,
}

impl PartWriter {
    /// Starts the part `dest`; rows and columns arrive in plan coordinates, in which the image
    /// starts at `origin`.
    pub fn create(dest: &Path, header: PartHeader, origin: (usize, usize)) -> Result<Self> {
        let temp = temp_beside(dest)?;
        let file = temp.as_file().try_clone().map_err(|e| Error::io(dest, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let text = serde_json::to_vec(&header).map_err(|e| Error::io(dest, e.into()))?;
        out.write_all(MAGIC)
            .and_then(|()| out.write_all(&(text.len() as u64).to_le_bytes()))
            .and_then(|()| out.write_all(&text))
            .map_err(|e| Error::io(dest, e))?;
        Ok(Self {
            dest: dest.into(),
            temp,
            out,
            header,
            origin,
            written: 0,
        })
    }
}

impl RowSink for PartWriter {
    fn write_rows(&mut self, y0: usize, rows: &[f32], width: usize, channels: usize) -> Result<()> {
        let h = &self.header;
        let wanted = (self.origin.1 + h.rows.0, self.origin.1 + h.rows.1);
        let band = Band {
            y0,
            rows,
            width,
            channels,
        };
        for row in band.image_rows(wanted, self.origin.0, h.width) {
            self.out
                .write_all(bytemuck::cast_slice(&to_le(row)))
                .map_err(|e| Error::io(&self.dest, e))?;
            self.written += 1;
        }
        Ok(())
    }
}

impl RowFile for PartWriter {
    fn finish(self: Box<Self>) -> Result<PathBuf> {
        let Self {
            dest,
            temp,
            mut out,
            header,
            written,
            ..
        } = *self;
        if written != header.rows.1 - header.rows.0 {
            return Err(Error::io(&dest, std::io::Error::other("missing rows")));
        }
        out.flush().map_err(|e| Error::io(&dest, e))?;
        drop(out);
        persist(temp, &dest)
    }
}

/// Blended rows as a [`RowSink`] receives them: `rows` from plan row `y0`, `width` pixels of
/// `channels` samples each.
struct Band<'a> {
    y0: usize,
    rows: &'a [f32],
    width: usize,
    channels: usize,
}

impl<'a> Band<'a> {
    /// The rows among plan rows `first .. end`, each cut to the `image_width` pixels that start
    /// at plan column `x0`: the image's own part of them.
    fn image_rows(
        &self,
        (first, end): (usize, usize),
        x0: usize,
        image_width: usize,
    ) -> impl Iterator<Item = &'a [f32]> + '_ {
        let row_len = self.width * self.channels;
        let n = self.rows.len() / row_len;
        let cut = x0 * self.channels..(x0 + image_width) * self.channels;
        (self.y0.max(first)..(self.y0 + n).min(end))
            .map(move |y| &self.rows[(y - self.y0) * row_len..][cut.clone()])
    }
}

/// Reads the stored rows `first .. end` from `input` (positioned at row `first`) and hands them
/// to `sink` in image coordinates, a few MiB at a time, calling `step` after each batch.
fn stream_rows(
    input: &mut impl Read,
    path: &Path,
    (width, channels): (usize, usize),
    (first, end): (usize, usize),
    sink: &mut dyn RowSink,
    step: &mut dyn FnMut(),
) -> Result<()> {
    let chunk = ((8 << 20) / (width * channels * 4)).max(1);
    let mut y = first;
    while y < end {
        let n = chunk.min(end - y);
        let mut values = vec![0.0f32; n * width * channels];
        input
            .read_exact(bytemuck::cast_slice_mut(&mut values))
            .map_err(|e| Error::io(path, e))?;
        if cfg!(target_endian = "big") {
            for v in &mut values {
                *v = f32::from_bits(v.to_bits().swap_bytes());
            }
        }
        sink.write_rows(y, &values, width, channels)?;
        step();
        y += n;
    }
    Ok(())
}

/// Samples in little-endian order (a copy only on big-endian machines).
fn to_le(row: &[f32]) -> std::borrow::Cow<'_, [f32]> {
    if cfg!(target_endian = "little") {
        std::borrow::Cow::Borrowed(row)
    } else {
        std::borrow::Cow::Owned(
            row.iter()
                .map(|v| f32::from_bits(v.to_bits().swap_bytes()))
                .collect(),
        )
    }
}

/// Reads a part's header, then its rows in order.
pub struct PartReader {
    path: PathBuf,
    input: BufReader<File>,
    /// The part's header.
    pub header: PartHeader,
}

impl PartReader {
    /// Opens a part and reads its header; anything else than a complete part is an error.
    pub fn open(path: &Path) -> Result<Self> {
        let bad = |reason: &str| Error::Decode {
            path: path.into(),
            reason: format!("not a bigstyle part file ({reason})"),
        };
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut input = BufReader::with_capacity(1 << 20, file);
        let mut magic = vec![0u8; MAGIC.len()];
        let mut size = [0u8; 8];
        input
            .read_exact(&mut magic)
            .and_then(|()| input.read_exact(&mut size))
            .map_err(|_| bad("too short"))?;
        if magic != MAGIC {
            return Err(bad("no part signature"));
        }
        let size = u64::from_le_bytes(size);
        if size > len {
            return Err(bad("header past the end"));
        }
        let mut text = vec![0u8; size as usize];
        input.read_exact(&mut text).map_err(|_| bad("too short"))?;
        let header: PartHeader = serde_json::from_slice(&text).map_err(|e| bad(&e.to_string()))?;
        let rows = header.rows.1.saturating_sub(header.rows.0) as u64;
        let body = rows * (header.width * header.channels * 4) as u64;
        if len != MAGIC.len() as u64 + 8 + size + body {
            return Err(bad("its size does not match its header: truncated?"));
        }
        Ok(Self {
            path: path.into(),
            input,
            header,
        })
    }

    /// Hands the part's rows to `sink` in image coordinates, calling `step` after each batch.
    pub fn write_into(&mut self, sink: &mut dyn RowSink, step: &mut dyn FnMut()) -> Result<()> {
        let h = &self.header;
        let shape = (h.width, h.channels);
        stream_rows(&mut self.input, &self.path, shape, h.rows, sink, step)
    }
}

/// How far a journal got, kept beside it and replaced atomically after every band of rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct JournalRecord {
    /// What else the rows depend on (the look given to them), compared exactly.
    key: String,
    width: usize,
    channels: usize,
    rows: usize,
    crc32: u32,
}

/// The rendered rows of a whole image, kept in a run's checkpoint folder so that a killed render
/// continues where it stopped: f32 rows as the output writer takes them, with the number written
/// so far and their CRC-32 recorded after every band. Each row is also handed on to the output
/// as it is recorded ([`Journal::forward_to`]; a resumed render first replays the recorded rows
/// into it with [`Journal::replay`]), so the output is complete when the render is.
pub struct Journal {
    path: PathBuf,
    key: String,
    out: BufWriter<File>,
    width: usize,
    height: usize,
    channels: usize,
    /// Plan coordinates of image column 0 and row 0.
    origin: (usize, usize),
    rows: usize,
    crc: crc32fast::Hasher,
    /// Where recorded rows go on to, in image coordinates.
    forward: Option<Box<dyn RowFile>>,
    /// Rows cut to the image's columns on their way to `forward` (reused: a band's fresh
    /// buffer cost 300 k page faults at 10000²).
    cut: Vec<f32>,
}

impl Journal {
    /// Opens the journal at `path` for the `width × height` image's rows of `channels` samples,
    /// given in plan coordinates in which the image starts at `origin`; `key` names what else the
    /// rows depend on. The rows an earlier run recorded with the same key are kept if their
    /// checksum holds; otherwise the journal starts empty.
    pub fn open(
        path: &Path,
        key: &str,
        (width, height): (usize, usize),
        channels: usize,
        origin: (usize, usize),
    ) -> Result<Self> {
        let kept = Self::recorded(path, key, width, channels).unwrap_or((0, 0));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let row_bytes = (width * channels * 4) as u64;
        file.set_len(kept.0 as u64 * row_bytes)
            .map_err(|e| Error::io(path, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        std::io::Seek::seek(&mut out, std::io::SeekFrom::End(0)).map_err(|e| Error::io(path, e))?;
        Ok(Self {
            path: path.into(),
            key: key.into(),
            out,
            width,
            height,
            channels,
            origin,
            rows: kept.0.min(height),
            crc: crc32fast::Hasher::new_with_initial_len(kept.1, kept.0 as u64 * row_bytes),
            forward: None,
            cut: Vec::new(),
        })
    }

    /// Hands every row recorded from now on to `output` too, after the rows already recorded
    /// (replayed into it first).
    pub fn forward_to(&mut self, mut output: Box<dyn RowFile>) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))?;
        Self::replay(
            &self.path,
            self.width,
            self.channels,
            self.rows,
            output.as_mut(),
        )?;
        self.forward = Some(output);
        Ok(())
    }

    /// The rows and checksum an earlier run recorded, if the journal still holds them intact.
    fn recorded(path: &Path, key: &str, width: usize, channels: usize) -> Option<(usize, u32)> {
        let text = std::fs::read_to_string(record_path(path)).ok()?;
        let record: JournalRecord = serde_json::from_str(&text).ok()?;
        if record.key != key || (record.width, record.channels) != (width, channels) {
            return None;
        }
        let mut input = BufReader::new(File::open(path).ok()?);
        let mut left = (record.rows * width * channels * 4) as u64;
        let mut crc = crc32fast::Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        while left > 0 {
            let n = (buf.len() as u64).min(left) as usize;
            input.read_exact(&mut buf[..n]).ok()?;
            crc.update(&buf[..n]);
            left -= n as u64;
        }
        (crc.finalize() == record.crc32).then_some((record.rows, record.crc32))
    }

    /// Hands image rows `first .. self.rows`, which `band` holds, on to the output if there is
    /// one: the band's own rows where they start at the image's first column (the output drops
    /// columns past the image), else copies cut to the image's columns.
    fn forward_rows(&mut self, band: &Band<'_>, first: usize) -> Result<()> {
        let Some(output) = self.forward.as_mut() else {
            return Ok(());
        };
        let (x0, y0) = self.origin;
        if x0 == 0 {
            let row_len = band.width * band.channels;
            let start = (y0 + first - band.y0) * row_len;
            let rows = &band.rows[start..start + (self.rows - first) * row_len];
            return output.write_rows(first, rows, band.width, band.channels);
        }
        let wanted = (y0 + first, y0 + self.rows);
        self.cut.clear();
        for row in band.image_rows(wanted, x0, self.width) {
            self.cut.extend_from_slice(row);
        }
        output.write_rows(first, &self.cut, self.width, self.channels)
    }

    /// Image rows already rendered.
    pub fn rows_done(&self) -> usize {
        self.rows
    }

    fn record(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))?;
        let record = JournalRecord {
            key: self.key.clone(),
            width: self.width,
            channels: self.channels,
            rows: self.rows,
            crc32: self.crc.clone().finalize(),
        };
        let path = record_path(&self.path);
        let temp = path.with_extension("json.part");
        let text = serde_json::to_vec(&record).map_err(|e| Error::io(&path, e.into()))?;
        std::fs::write(&temp, text).map_err(|e| Error::io(&temp, e))?;
        std::fs::rename(&temp, &path).map_err(|e| Error::io(&path, e))
    }

    /// Hands the first `height` rows to `sink`, a few MiB at a time, in image coordinates.
    pub fn replay(
        path: &Path,
        width: usize,
        channels: usize,
        height: usize,
        sink: &mut dyn RowSink,
    ) -> Result<()> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut input = BufReader::with_capacity(1 << 20, file);
        let shape = (width, channels);
        stream_rows(&mut input, path, shape, (0, height), sink, &mut || {})
    }
}

fn record_path(journal: &Path) -> PathBuf {
    journal.with_extension("rows.json")
}

impl RowSink for Journal {
    fn write_rows(&mut self, y0: usize, rows: &[f32], width: usize, channels: usize) -> Result<()> {
        let wanted = (self.origin.1 + self.rows, self.origin.1 + self.height);
        let band = Band {
            y0,
            rows,
            width,
            channels,
        };
        let first = self.rows;
        for row in band.image_rows(wanted, self.origin.0, self.width) {
            let bytes = to_le(row);
            let bytes: &[u8] = bytemuck::cast_slice(&bytes);
            self.out
                .write_all(bytes)
                .map_err(|e| Error::io(&self.path, e))?;
            self.crc.update(bytes);
            self.rows += 1;
        }
        if self.rows > first {
            self.forward_rows(&band, first)?;
        }
        self.record()
    }
}

impl RowFile for Journal {
    /// Records the last rows; returns where the output went (the journal itself if nowhere).
    fn finish(mut self: Box<Self>) -> Result<PathBuf> {
        self.record()?;
        match self.forward.take() {
            Some(output) => output.finish(),
            None => Ok(self.path.clone()),
        }
    }
}
