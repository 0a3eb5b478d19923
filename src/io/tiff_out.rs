//! TIFF output. Uncompressed files are written through memory maps of the output, one band of
//! rows at a time ([`MappedTiff`]); compressed files (LZW or Deflate, with the horizontal
//! predictor) are streamed strip by strip, compressed as each strip's rows arrive, with the
//! directory written at the end ([`StreamedTiff`]). Neither needs RAM proportional to the image.
//!
//! Both create a temporary file beside the destination and rename it over the destination only
//! after the last row: an interrupted run never leaves a partial output under the final name.
//! BigTIFF is chosen from the *uncompressed* size (compression cannot be relied on to stay under
//! 4 GiB), or forced.

use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use memmap2::MmapOptions;
use rayon::prelude::*;
use tempfile::NamedTempFile;

use super::Resolution;
use crate::colour::{ColourModel, OutputColour};
use crate::error::{Error, Result};

/// Compression of TIFF output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Compression {
    /// Uncompressed, written through memory maps.
    None,
    /// LZW with the horizontal predictor.
    Lzw,
    /// Deflate (zlib) with the horizontal predictor.
    Deflate,
}

impl Compression {
    fn tag(self) -> u16 {
        match self {
            Self::None => 1,
            Self::Lzw => 5,
            Self::Deflate => 8,
        }
    }
}

/// What the output file holds.
#[derive(Debug, Clone)]
pub struct OutputSpec {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Colour samples, their conversion from sRGB and the ICC profile to embed.
    pub colour: OutputColour,
    /// Whether an alpha sample follows the colour samples.
    pub alpha: bool,
    /// Bits per sample: 8 or 16.
    pub bits: u8,
    /// Resolution tags to copy.
    pub resolution: Option<Resolution>,
    /// `Some(true)` forces BigTIFF, `None` chooses it when the file may exceed 4 GiB.
    pub bigtiff: Option<bool>,
    /// Compression of the pixel data.
    pub compression: Compression,
    /// JPEG quality, 1..100.
    pub quality: u8,
}

impl OutputSpec {
    /// For a band of blended rows from `y0` (`src_width` pixels of `src_channels` f32 each):
    /// the length of one source row and how many of the rows lie inside the image.
    pub fn rows_inside(
        &self,
        y0: usize,
        rows: &[f32],
        src_width: usize,
        src_channels: usize,
    ) -> (usize, usize) {
        let src_row = src_width * src_channels;
        (
            src_row,
            (rows.len() / src_row).min(self.height.saturating_sub(y0)),
        )
    }

    /// Samples per pixel: the colour samples, plus one for alpha.
    pub fn samples(&self) -> usize {
        self.colour.model().samples() + usize::from(self.alpha)
    }

    /// Bytes of one row of quantised samples.
    pub fn row_bytes(&self) -> usize {
        self.width * self.samples() * usize::from(self.bits / 8)
    }

    /// Whether the file needs BigTIFF: forced, or its pixel data at the most its compression
    /// can make of it (plus room for the directory) could pass 4 GiB, where a classic TIFF's
    /// 32-bit offsets end.
    pub fn needs_bigtiff(&self) -> bool {
        self.bigtiff
            .unwrap_or(self.largest_data() + (1 << 24) > u64::from(u32::MAX))
    }

    /// A bound on the pixel data's size in the file. LZW emits at most one 12-bit code per input
    /// byte, plus a clear and an end code per strip: at most 1.5× the data. Deflate stores
    /// incompressible data in blocks with 5 bytes of overhead per 16 KiB, plus 6 per strip.
    fn largest_data(&self) -> u64 {
        let data = self.row_bytes() as u64 * self.height as u64;
        let strips = self.height.div_ceil(self.rows_per_strip()) as u64;
        match self.compression {
            Compression::None => data,
            Compression::Lzw => data + data / 2 + 4 * strips,
            Compression::Deflate => data + 5 * data.div_ceil(1 << 14) + 16 * strips,
        }
    }

    fn rows_per_strip(&self) -> usize {
        let target = if self.compression == Compression::None {
            1 << 20
        } else {
            1 << 18
        };
        (target / self.row_bytes().max(1)).clamp(1, self.height.max(1))
    }
}

/// Converts one blended f32 row (`src_channels` = 3 for sRGB, 4 with alpha, 0..1 each) to the
/// output's samples: colour converted from sRGB to the output's space, alpha passed through,
/// values rounded to the nearest level.
pub fn quantize_row(src: &[f32], src_channels: usize, spec: &OutputSpec, dst: &mut [u8]) {
    let width = spec.width;
    let colour_spp = spec.colour.model().samples();
    let samples = spec.samples();
    let rgb: Vec<f32> = src
        .chunks_exact(src_channels)
        .take(width)
        .flat_map(|px| [px[0], px[1], px[2]])
        .collect();
    let mut device = vec![0.0f32; width * colour_spp];
    spec.colour.from_srgb(&rgb, &mut device);
    let max = if spec.bits == 8 { 255.0 } else { 65535.0 };
    let mut put = |i: usize, v: f32| {
        let q = (v.clamp(0.0, 1.0) * max + 0.5) as u16;
        if spec.bits == 8 {
            dst[i] = q as u8;
        } else {
            dst[2 * i..2 * i + 2].copy_from_slice(&q.to_le_bytes());
        }
    };
    for x in 0..width {
        let at = x * samples;
        for (c, v) in device[x * colour_spp..][..colour_spp].iter().enumerate() {
            put(at + c, *v);
        }
        if spec.alpha {
            put(at + colour_spp, src[x * src_channels + 3]);
        }
    }
}

pub(crate) fn temp_beside(dest: &Path) -> Result<NamedTempFile> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    // Created as an ordinary file would be (0666 less the umask), not 0600 like most temp files:
    // it becomes the output.
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".part")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    super::cleanup::register(temp.path());
    Ok(temp)
}

pub(crate) fn persist(temp: NamedTempFile, dest: &Path) -> Result<PathBuf> {
    temp.as_file().sync_data().map_err(|e| Error::io(dest, e))?;
    let path = temp.path().to_path_buf();
    temp.persist(dest).map_err(|e| Error::io(dest, e.error))?;
    super::cleanup::unregister(&path);
    Ok(dest.into())
}

fn incomplete(dest: &Path, written: usize, height: usize) -> Error {
    Error::io(
        dest,
        std::io::Error::other(format!("only {written} of {height} rows were produced")),
    )
}

/// Data starts on a page boundary so that row windows map cleanly.
const DATA_ALIGN: u64 = 4096;

/// An uncompressed TIFF being written through memory maps.
pub struct MappedTiff {
    temp: NamedTempFile,
    dest: PathBuf,
    spec: OutputSpec,
    data_offset: u64,
    rows_written: usize,
}

/// Gives `file` `len` bytes of real disk blocks, not a sparse hole: pages of a memory map that
/// the filesystem cannot back kill the process (SIGBUS) when written, so a full disk must show
/// here, as an error, before any work. Filesystems without `fallocate` get the file written.
fn allocate(file: &mut std::fs::File, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let end = libc::off_t::try_from(len)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::FileTooLarge))?;
    // SAFETY: plain system call on an open descriptor that this function borrows.
    match unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, end) } {
        0 => Ok(()),
        libc::EINVAL | libc::EOPNOTSUPP => write_zeros(file, len),
        errno => Err(std::io::Error::from_raw_os_error(errno)),
    }
}

/// Extends `file` to `len` bytes by writing zeros after its current end.
fn write_zeros(file: &mut std::fs::File, len: u64) -> std::io::Result<()> {
    use std::io::Seek;
    let mut at = file.seek(std::io::SeekFrom::End(0))?;
    let zeros = vec![0u8; 1 << 20];
    while at < len {
        let n = (len - at).min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n])?;
        at += n as u64;
    }
    Ok(())
}

impl MappedTiff {
    /// Creates the temporary output beside `dest` and writes its header and directory.
    pub fn create(dest: &Path, spec: OutputSpec) -> Result<Self> {
        let mut temp = temp_beside(dest)?;
        let bigtiff = spec.needs_bigtiff();
        let row_bytes = spec.row_bytes() as u64;
        let rows_per_strip = spec.rows_per_strip();
        let strips = spec.height.div_ceil(rows_per_strip);
        let layout = |data_offset: u64| StripLayout {
            rows_per_strip,
            offsets: (0..strips)
                .map(|i| data_offset + (i * rows_per_strip) as u64 * row_bytes)
                .collect(),
            counts: (0..strips)
                .map(|i| (rows_per_strip.min(spec.height - i * rows_per_strip)) as u64 * row_bytes)
                .collect(),
        };
        // The directory's size depends on the number of strips, not on their offsets: lay it
        // out once to find where the data starts, then again with the real offsets.
        let header_len = header(bigtiff, 0).len() as u64;
        let probe = directory(&spec, &layout(0), bigtiff, header_len);
        let data_offset = (header_len + probe.len() as u64).next_multiple_of(DATA_ALIGN);
        let mut bytes = header(bigtiff, header_len);
        bytes.extend(directory(&spec, &layout(data_offset), bigtiff, header_len));
        let file = temp.as_file_mut();
        file.write_all(&bytes).map_err(|e| Error::io(dest, e))?;
        allocate(file, data_offset + row_bytes * spec.height as u64)
            .map_err(|e| Error::io(dest, e))?;
        Ok(Self {
            temp,
            dest: dest.into(),
            spec,
            data_offset,
            rows_written: 0,
        })
    }

    /// Writes rows `y0 ..` given as interleaved f32 samples in 0..1, `src_width` pixels and
    /// `src_channels` samples each (extra columns and rows past the image are dropped).
    pub fn write_rows(
        &mut self,
        y0: usize,
        rows: &[f32],
        src_width: usize,
        src_channels: usize,
    ) -> Result<()> {
        let (src_row, n) = self.spec.rows_inside(y0, rows, src_width, src_channels);
        if n == 0 {
            return Ok(());
        }
        let row_bytes = self.spec.row_bytes();
        let start = self.data_offset + (y0 * row_bytes) as u64;
        let page_start = start - start % DATA_ALIGN;
        let lead = (start - page_start) as usize;
        // SAFETY: the temporary file is private to this process and not resized while mapped.
        let mut map = unsafe {
            MmapOptions::new()
                .offset(page_start)
                .len(lead + n * row_bytes)
                .map_mut(self.temp.as_file())
        }
        .map_err(|e| Error::io(&self.dest, e))?;
        for r in 0..n {
            let dst = &mut map[lead + r * row_bytes..][..row_bytes];
            quantize_row(
                &rows[r * src_row..][..src_row],
                src_channels,
                &self.spec,
                dst,
            );
        }
        self.rows_written += n;
        Ok(())
    }

    /// Checks that every row was written, syncs the file and renames it over the destination.
    pub fn finish(self) -> Result<PathBuf> {
        if self.rows_written != self.spec.height {
            return Err(incomplete(&self.dest, self.rows_written, self.spec.height));
        }
        persist(self.temp, &self.dest)
    }
}

/// A compressed TIFF written strip by strip, its directory at the end.
pub struct StreamedTiff {
    temp: NamedTempFile,
    dest: PathBuf,
    spec: OutputSpec,
    bigtiff: bool,
    writer: BufWriter<std::fs::File>,
    position: u64,
    pending: Vec<u8>,
    rows_written: usize,
    layout: StripLayout,
}

impl StreamedTiff {
    /// Creates the temporary output beside `dest` and writes a header to patch at the end.
    pub fn create(dest: &Path, spec: OutputSpec) -> Result<Self> {
        let temp = temp_beside(dest)?;
        let bigtiff = spec.needs_bigtiff();
        let head = header(bigtiff, 0);
        let file = temp.as_file().try_clone().map_err(|e| Error::io(dest, e))?;
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        writer.write_all(&head).map_err(|e| Error::io(dest, e))?;
        Ok(Self {
            temp,
            dest: dest.into(),
            layout: StripLayout {
                rows_per_strip: spec.rows_per_strip(),
                offsets: Vec::new(),
                counts: Vec::new(),
            },
            spec,
            bigtiff,
            writer,
            position: head.len() as u64,
            pending: Vec::new(),
            rows_written: 0,
        })
    }

    /// Takes rows in order (as [`MappedTiff::write_rows`]); full strips are compressed and
    /// written at once. Whole strips that arrive together are quantised and compressed in
    /// parallel (the bytes do not depend on it), so a big band of rows is not encoded on one
    /// core while the others wait.
    pub fn write_rows(
        &mut self,
        y0: usize,
        rows: &[f32],
        src_width: usize,
        src_channels: usize,
    ) -> Result<()> {
        let (src_row, n) = self.spec.rows_inside(y0, rows, src_width, src_channels);
        if y0 != self.rows_written {
            return Err(Error::io(
                &self.dest,
                std::io::Error::other("rows out of order"),
            ));
        }
        let row_bytes = self.spec.row_bytes();
        let per_strip = self.layout.rows_per_strip;
        let mut r = 0;
        while r < n {
            if self.pending.is_empty() && n - r >= per_strip {
                let strips = (n - r) / per_strip;
                let band = &rows[r * src_row..(r + strips * per_strip) * src_row];
                let encoded: Vec<std::io::Result<Vec<u8>>> = band
                    .par_chunks(per_strip * src_row)
                    .map(|strip| {
                        let raw = self.encode_rows(strip, src_row, src_channels);
                        compress(&raw, self.spec.compression)
                    })
                    .collect();
                for strip in encoded {
                    self.write_strip(&strip.map_err(|e| Error::io(&self.dest, e))?)?;
                }
                r += strips * per_strip;
                self.rows_written += strips * per_strip;
                continue;
            }
            let raw = self.encode_rows(&rows[r * src_row..][..src_row], src_row, src_channels);
            self.pending.extend_from_slice(&raw);
            self.rows_written += 1;
            r += 1;
            let full = self.pending.len() == per_strip * row_bytes;
            if full || self.rows_written == self.spec.height {
                let compressed = compress(&self.pending, self.spec.compression)
                    .map_err(|e| Error::io(&self.dest, e))?;
                self.write_strip(&compressed)?;
                self.pending.clear();
            }
        }
        Ok(())
    }

    /// Rows of f32 samples (`src_row` values each) quantised to the file's samples, with the
    /// horizontal predictor applied.
    fn encode_rows(&self, rows: &[f32], src_row: usize, src_channels: usize) -> Vec<u8> {
        let row_bytes = self.spec.row_bytes();
        let mut out = vec![0u8; rows.len() / src_row * row_bytes];
        for (src, dst) in rows
            .chunks_exact(src_row)
            .zip(out.chunks_exact_mut(row_bytes))
        {
            quantize_row(src, src_channels, &self.spec, dst);
            apply_predictor(dst, self.spec.samples(), self.spec.bits);
        }
        out
    }

    fn write_strip(&mut self, compressed: &[u8]) -> Result<()> {
        self.writer
            .write_all(compressed)
            .map_err(|e| Error::io(&self.dest, e))?;
        self.layout.offsets.push(self.position);
        self.layout.counts.push(compressed.len() as u64);
        self.position += compressed.len() as u64;
        Ok(())
    }

    /// Writes the directory, patches the header and renames the file over the destination.
    pub fn finish(mut self) -> Result<PathBuf> {
        if self.rows_written != self.spec.height {
            return Err(incomplete(&self.dest, self.rows_written, self.spec.height));
        }
        let io = |e| Error::io(&self.dest, e);
        if self.position % 2 == 1 {
            self.writer.write_all(&[0]).map_err(io)?;
            self.position += 1;
        }
        let ifd_at = self.position;
        let dir = directory(&self.spec, &self.layout, self.bigtiff, ifd_at);
        self.writer.write_all(&dir).map_err(io)?;
        self.writer.seek(SeekFrom::Start(0)).map_err(io)?;
        self.writer
            .write_all(&header(self.bigtiff, ifd_at))
            .map_err(io)?;
        self.writer.flush().map_err(io)?;
        drop(self.writer);
        persist(self.temp, &self.dest)
    }
}

/// TIFF predictor 2: each sample becomes its difference from the same channel of the pixel to
/// its left (mod 2^bits).
fn apply_predictor(row: &mut [u8], samples: usize, bits: u8) {
    if bits == 8 {
        for i in (samples..row.len()).rev() {
            row[i] = row[i].wrapping_sub(row[i - samples]);
        }
    } else {
        let value = |row: &[u8], i: usize| u16::from_le_bytes([row[2 * i], row[2 * i + 1]]);
        for i in (samples..row.len() / 2).rev() {
            let d = value(row, i).wrapping_sub(value(row, i - samples));
            row[2 * i..2 * i + 2].copy_from_slice(&d.to_le_bytes());
        }
    }
}

fn compress(data: &[u8], compression: Compression) -> std::io::Result<Vec<u8>> {
    match compression {
        Compression::None => Ok(data.to_vec()),
        Compression::Lzw => weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
            .encode(data)
            .map_err(std::io::Error::other),
        Compression::Deflate => {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
            z.write_all(data)?;
            z.finish()
        }
    }
}

/// Where the strips are.
struct StripLayout {
    rows_per_strip: usize,
    offsets: Vec<u64>,
    counts: Vec<u64>,
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
                .flat_map(|v| classic_offset(*v).to_le_bytes())
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

/// A classic TIFF's 32-bit offset or count. BigTIFF is chosen whenever the file could pass
/// 4 GiB ([`OutputSpec::needs_bigtiff`]), so a larger value is a bug: stop, never truncate.
fn classic_offset(value: u64) -> u32 {
    u32::try_from(value).expect("classic TIFF offset past 4 GiB: BigTIFF should have been chosen")
}

const HEADER_CLASSIC: usize = 8;
const HEADER_BIG: usize = 16;

/// The file header pointing at the first directory at `ifd_at`.
fn header(bigtiff: bool, ifd_at: u64) -> Vec<u8> {
    let mut out = b"II".to_vec();
    if bigtiff {
        out.extend_from_slice(&43u16.to_le_bytes());
        out.extend_from_slice(&8u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&ifd_at.to_le_bytes());
        debug_assert_eq!(out.len(), HEADER_BIG);
    } else {
        out.extend_from_slice(&42u16.to_le_bytes());
        out.extend_from_slice(&classic_offset(ifd_at).to_le_bytes());
        debug_assert_eq!(out.len(), HEADER_CLASSIC);
    }
    out
}

/// The image's directory and its out-of-line values, to be written at file offset `at`.
fn directory(spec: &OutputSpec, layout: &StripLayout, bigtiff: bool, at: u64) -> Vec<u8> {
    let bits = vec![u16::from(spec.bits); spec.samples()];
    let photometric = match spec.colour.model() {
        ColourModel::Gray => 1,
        ColourModel::Rgb => 2,
        ColourModel::Cmyk => 5,
    };
    let mut e = vec![
        long(256, spec.width as u32),
        long(257, spec.height as u32),
        shorts(258, &bits),
        shorts(259, &[spec.compression.tag()]),
        shorts(262, &[photometric]),
        offsets(273, &layout.offsets, bigtiff),
        shorts(277, &[spec.samples() as u16]),
        long(278, layout.rows_per_strip as u32),
        offsets(279, &layout.counts, bigtiff),
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
    if spec.compression != Compression::None {
        e.push(shorts(317, &[2]));
    }
    if spec.colour.model() == ColourModel::Cmyk {
        // InkSet: the four samples are cyan, magenta, yellow and black.
        e.push(shorts(332, &[1]));
    }
    if spec.alpha {
        e.push(shorts(338, &[2]));
    }
    if let Some(icc) = spec.colour.icc() {
        e.push(Entry {
            tag: 34675,
            kind: UNDEFINED,
            count: icc.len() as u64,
            bytes: icc.to_vec(),
        });
    }
    serialize_ifd(&e, bigtiff, at)
}

fn serialize_ifd(entries: &[Entry], bigtiff: bool, at: u64) -> Vec<u8> {
    let (entry_len, count_len, next_len, inline) = if bigtiff {
        (20u64, 8u64, 8u64, 8usize)
    } else {
        (12, 2, 4, 4)
    };
    let ifd_len = count_len + entry_len * entries.len() as u64 + next_len;
    let blob_at = at + ifd_len;
    let mut out = Vec::new();
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
            let value_at = blob_at + blob.len() as u64;
            if bigtiff {
                out.extend_from_slice(&value_at.to_le_bytes());
            } else {
                out.extend_from_slice(&(value_at as u32).to_le_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(width: usize, height: usize) -> OutputSpec {
        OutputSpec {
            width,
            height,
            colour: OutputColour::srgb(),
            alpha: false,
            bits: 8,
            resolution: None,
            bigtiff: None,
            compression: Compression::Lzw,
            quality: 95,
        }
    }

    #[test]
    fn bigtiff_is_decided_from_a_bound_on_the_compressed_size() {
        let plain = |w, h| OutputSpec {
            compression: Compression::None,
            ..spec(w, h)
        };
        assert!(!plain(30_000, 40_000).needs_bigtiff());
        assert!(plain(40_000, 40_000).needs_bigtiff());
        // 3.6 GB of 16-bit RGB: fits uncompressed, but LZW of noise may grow it past 4 GiB.
        let near = |compression| OutputSpec {
            bits: 16,
            compression,
            ..spec(20_000, 30_000)
        };
        assert!(!near(Compression::None).needs_bigtiff());
        assert!(near(Compression::Lzw).needs_bigtiff());
        assert!(!near(Compression::Deflate).needs_bigtiff());
        assert!(std::panic::catch_unwind(|| classic_offset(1 << 32)).is_err());
        assert_eq!(classic_offset(u64::from(u32::MAX)), u32::MAX);
        let forced = OutputSpec {
            bigtiff: Some(true),
            ..spec(10, 10)
        };
        assert!(forced.needs_bigtiff());
    }

    #[test]
    fn predictor_differences_each_channel() {
        let mut row = vec![10, 20, 30, 11, 22, 33, 9, 20, 40];
        apply_predictor(&mut row, 3, 8);
        assert_eq!(row, vec![10, 20, 30, 1, 2, 3, 254, 254, 7]);
    }
}
