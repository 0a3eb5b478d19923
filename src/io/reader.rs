//! Streaming input: TIFF files are decoded one strip (or one row of tiles) at a time and only a
//! few such bands are cached, so the decoded image is never whole in memory. PNG, JPEG and the
//! other formats of the `image` crate are decoded whole (they are meant for smaller inputs).

use std::fs::File;
use std::io::BufReader;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::ImageDecoder;
use tiff::decoder::{ChunkType, Decoder, DecodingResult, Limits};
use tiff::tags::Tag;
use tiff::ColorType;

use super::metadata;
use super::palette::Palette;
use super::resample::{Resampled, SizeRequest};
use super::{ColorLayout, ImageInfo, Resolution, Window};
use crate::colour::{ColourOptions, InputColour};
use crate::error::{Error, Result};
use crate::geom::{wrap, Rect};
use crate::stats::ImageSource;

/// Decoded bands kept at once; enough for a tile window of several bands plus the next one.
const MIN_CACHED_BANDS: usize = 4;

/// A band of full-width decoded rows, interleaved samples widened to u16.
type Band = Arc<Vec<u16>>;

/// Where the bands come from.
enum Source {
    Tiff(Box<TiffBands>),
    Memory(Band),
    /// Another input, resized as it is read.
    Resampled(Box<Resampled>),
}

struct TiffBands {
    decoder: Decoder<BufReader<File>>,
    chunk_type: ChunkType,
    chunk_w: usize,
    chunks_across: usize,
    /// Separate planes (PlanarConfiguration 2): one chunk series per sample.
    planar: bool,
    /// Chunks in one plane (planar layout).
    chunks_per_plane: usize,
    /// How chunks become samples.
    decoding: Decoding,
    /// Largest decoded chunk allowed (bytes).
    chunk_limit: usize,
}

/// An input image that hands out windows of its reflection-padded pixels.
pub struct InputImage {
    path: PathBuf,
    info: ImageInfo,
    colour: InputColour,
    source: Source,
    band_height: usize,
    cache: Vec<(usize, Band)>,
    cache_capacity: usize,
    /// Windows are read from the image repeated periodically, shifted by this margin
    /// (`--wrap`), instead of reflected at its far edges.
    wrap_margin: Option<usize>,
}

impl InputImage {
    /// Opens `path` with the default memory budget and colour handling; see
    /// [`InputImage::open_with`].
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_within(path, crate::memory::default_budget())
    }

    /// Opens `path` within `budget` with the default colour handling; see
    /// [`InputImage::open_with`].
    pub fn open_within(path: &Path, budget: u64) -> Result<Self> {
        Self::open_with(path, budget, &ColourOptions::default())
    }

    /// Opens `path`, reading only its header (TIFF) or decoding it whole (other formats), and
    /// sets up the conversion of its colour to sRGB (`colour`: ICC intent, or ignore the
    /// profile). Decoders are limited by `budget`: a TIFF strip or tile may take a quarter of
    /// it, a whole decoded PNG/JPEG half of it, so a lying header cannot make the process
    /// allocate more.
    pub fn open_with(path: &Path, budget: u64, colour: &ColourOptions) -> Result<Self> {
        let is_tiff = {
            let mut magic = [0u8; 4];
            let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
            std::io::Read::read(&mut f, &mut magic).map_err(|e| Error::io(path, e))?;
            matches!(&magic, b"II*\0" | b"MM\0*" | b"II+\0" | b"MM\0+")
        };
        let guarded = catch_unwind(AssertUnwindSafe(|| {
            if is_tiff {
                open_tiff(path, budget / 4)
            } else {
                open_other(path, budget / 2)
            }
        }));
        let (info, source, band_height) = guarded.unwrap_or_else(|_| {
            Err(Error::Decode {
                path: path.into(),
                reason: "the decoder failed on malformed data".into(),
            })
        })?;
        let colour = InputColour::new(info.layout.model(), info.icc.as_deref(), colour).map_err(
            |reason| Error::Unsupported {
                path: path.into(),
                reason,
            },
        )?;
        Ok(Self {
            path: path.into(),
            info,
            colour,
            source,
            band_height,
            cache: Vec::new(),
            cache_capacity: MIN_CACHED_BANDS,
            wrap_margin: None,
        })
    }

    /// Opens `path` as [`InputImage::open_with`] does, read at the size and resolution that
    /// `size` asks for (resized band by band as it is read, see [`super::resample`]).
    pub fn open_sized(
        path: &Path,
        budget: u64,
        colour: &ColourOptions,
        size: &SizeRequest,
    ) -> Result<Self> {
        let mut image = Self::open_with(path, budget, colour)?;
        if size.is_none() {
            return Ok(image);
        }
        let (w, h) = size.target((image.info.width, image.info.height))?;
        if let Some(dpi) = size.dpi {
            image.info.resolution = Some(Resolution::from_dpi(dpi));
        }
        if (w, h) == (image.info.width, image.info.height) {
            return Ok(image);
        }
        let mut info = image.info.clone();
        info.storage = format!(
            "{}, resampled from {}x{} (Lanczos-3)",
            info.storage, info.width, info.height
        );
        (info.width, info.height) = (w, h);
        let colour = image.colour.clone();
        let resampled = Resampled::new(image, (w, h), (budget / 16).min(64 << 20));
        info.reader_bytes = resampled.held_bytes();
        Ok(Self {
            path: path.into(),
            info,
            colour,
            band_height: resampled.band_rows(),
            source: Source::Resampled(Box::new(resampled)),
            cache: Vec::new(),
            cache_capacity: MIN_CACHED_BANDS,
            wrap_margin: None,
        })
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Calls `f` with row `y` of the stored samples (interleaved, as the file stores them).
    pub(super) fn with_row<T>(&mut self, y: usize, f: impl FnOnce(&[u16]) -> T) -> Result<T> {
        let band = self.band(y / self.band_height)?;
        let row_len = self.info.width * self.info.layout.samples();
        Ok(f(&band[(y % self.band_height) * row_len..][..row_len]))
    }

    /// What the file holds.
    pub fn info(&self) -> &ImageInfo {
        &self.info
    }

    /// The input's colour space and its conversion to sRGB.
    pub fn colour(&self) -> &InputColour {
        &self.colour
    }

    /// Keeps enough decoded bands to serve windows of `rows` rows without re-decoding.
    pub fn reserve_rows(&mut self, rows: usize) {
        self.cache_capacity = MIN_CACHED_BANDS.max(rows.div_ceil(self.band_height) + 2);
    }

    /// From now on, serves windows of the image repeated periodically in both directions, with
    /// the image's origin at (`margin`, `margin`): the coordinates of a periodic
    /// [`crate::tiling::TilePlan`].
    pub fn repeat_with_margin(&mut self, margin: usize) {
        self.wrap_margin = Some(margin);
    }

    /// Reads `rect` of the image extended by reflection past its right and bottom edges (the
    /// extension is at most a few pixels: the network's stride padding), or of its periodic
    /// repetition after [`InputImage::repeat_with_margin`].
    pub fn read_window(&mut self, rect: Rect) -> Result<Window> {
        let (w, h) = (self.info.width, self.info.height);
        let margin = self.wrap_margin;
        let source_index = move |i: usize, n: usize| match margin {
            Some(m) => wrap(i as isize - m as isize, n),
            None => reflect(i, n),
        };
        let spp = self.info.layout.samples();
        let colour_spp = self.info.layout.model().samples();
        let alpha = self.info.layout.has_alpha();
        let channels = if alpha { 4 } else { 3 };
        // Samples widened to 16-bit levels (8-bit × 257 maps 255 to 65535 exactly).
        let widen: u16 = if self.info.bits == 8 { 257 } else { 1 };
        let (ww, wh) = (rect.width(), rect.height());
        let plane = ww * wh;
        let mut planes = vec![0.0f32; channels * plane];
        let columns: Vec<usize> = (rect.x0..rect.x1).map(|x| source_index(x, w)).collect();
        let mut device = vec![0u16; ww * colour_spp];
        let mut rgb = vec![0.0f32; ww * 3];
        for (ky, y) in (rect.y0..rect.y1).enumerate() {
            let sy = source_index(y, h);
            let band = self.band(sy / self.band_height)?;
            let row = &band[(sy % self.band_height) * w * spp..][..w * spp];
            for (kx, &sx) in columns.iter().enumerate() {
                let px = &row[sx * spp..][..spp];
                for (d, s) in device[kx * colour_spp..][..colour_spp].iter_mut().zip(px) {
                    *d = s.saturating_mul(widen);
                }
                if alpha {
                    planes[3 * plane + ky * ww + kx] =
                        f32::from(px[spp - 1].saturating_mul(widen)) / 65535.0;
                }
            }
            self.colour.to_srgb(&device, &mut rgb);
            for (c, dst) in planes.chunks_exact_mut(plane).take(3).enumerate() {
                let dst = &mut dst[ky * ww..][..ww];
                for (d, px) in dst.iter_mut().zip(rgb.chunks_exact(3)) {
                    *d = px[c];
                }
            }
        }
        if alpha {
            hide_transparent(&mut planes, plane);
        }
        Ok(Window {
            width: ww,
            height: wh,
            planes,
            channels,
        })
    }

    fn band(&mut self, index: usize) -> Result<Band> {
        if let Some(pos) = self.cache.iter().position(|(i, _)| *i == index) {
            let entry = self.cache.remove(pos);
            let band = entry.1.clone();
            self.cache.push(entry);
            return Ok(band);
        }
        let band = match &mut self.source {
            Source::Memory(all) => all.clone(),
            Source::Resampled(r) => Arc::new(r.band(index)?),
            Source::Tiff(t) => {
                let guarded = catch_unwind(AssertUnwindSafe(|| {
                    decode_band(t, &self.info, self.band_height, index)
                }));
                let decoded = guarded.unwrap_or(Err(tiff::TiffError::FormatError(
                    tiff::TiffFormatError::InconsistentSizesEncountered,
                )));
                Arc::new(decoded.map_err(|e| decode_error(&self.path, e))?)
            }
        };
        if self.cache.len() >= self.cache_capacity {
            self.cache.remove(0);
        }
        self.cache.push((index, band.clone()));
        Ok(band)
    }
}

/// Maps a coordinate of the padded image to the image, mirroring past the far edge without
/// repeating the edge pixel (as `numpy.pad(mode="reflect")`).
fn reflect(i: usize, n: usize) -> usize {
    if i < n {
        i
    } else {
        (2 * (n - 1)).saturating_sub(i)
    }
}

fn decode_error(path: &Path, e: tiff::TiffError) -> Error {
    match e {
        tiff::TiffError::UnsupportedError(u) => Error::Unsupported {
            path: path.into(),
            reason: u.to_string(),
        },
        tiff::TiffError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::Decode {
                path: path.into(),
                reason: "file is truncated".into(),
            }
        }
        other => Error::Decode {
            path: path.into(),
            reason: other.to_string(),
        },
    }
}

type Opened = (ImageInfo, Source, usize);

/// TIFF tag InkSet: 1 means the separated samples are cyan, magenta, yellow and black.
const INK_SET: u16 = 332;

/// Full-resolution images (pages) in a TIFF: every directory whose NewSubfileType does not mark
/// it a reduced-resolution copy (a preview or thumbnail, which are ignored). Leaves the decoder
/// on the first image.
fn full_resolution_images<R: std::io::Read + std::io::Seek>(
    decoder: &mut Decoder<R>,
) -> tiff::TiffResult<usize> {
    let mut pages = 0;
    let mut index = 0;
    loop {
        let subfile = decoder
            .find_tag_unsigned::<u32>(Tag::NewSubfileType)?
            .unwrap_or(0);
        if subfile & 1 == 0 {
            pages += 1;
        }
        if !decoder.more_images() {
            break;
        }
        index += 1;
        decoder.next_image()?;
    }
    if index > 0 {
        decoder.seek_to_image(0)?;
    }
    Ok(pages)
}

fn open_tiff(path: &Path, chunk_limit: u64) -> Result<Opened> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let buffer_limit = usize::try_from(chunk_limit.max(64 << 20)).unwrap_or(usize::MAX);
    let mut limits = Limits::default();
    limits.decoding_buffer_size = buffer_limit;
    let mut decoder = Decoder::new(BufReader::new(file))
        .map_err(|e| decode_error(path, e))?
        .with_limits(limits);
    let unsupported = |reason: String| Error::Unsupported {
        path: path.into(),
        reason,
    };
    let pages = full_resolution_images(&mut decoder).map_err(|e| decode_error(path, e))?;
    if pages > 1 {
        return Err(unsupported(format!(
            "a multi-page TIFF ({pages} full-resolution images); bigstyle reads one image per file: \
             split the pages first (e.g. tiffsplit)"
        )));
    }
    let (width, height) = decoder.dimensions().map_err(|e| decode_error(path, e))?;
    let (width, height) = (width as usize, height as usize);
    let (layout, bits, decoding) = sample_layout(&mut decoder, path)?;
    let sample_formats = decoder
        .find_tag_unsigned_vec::<u16>(Tag::SampleFormat)
        .map_err(|e| decode_error(path, e))?
        .unwrap_or_default();
    if let Some(other) = sample_formats.iter().find(|f| **f != 1) {
        return Err(unsupported(format!(
            "sample format {other} (only unsigned integers)"
        )));
    }
    let ink_set = decoder
        .find_tag_unsigned::<u16>(Tag::Unknown(INK_SET))
        .map_err(|e| decode_error(path, e))?;
    if layout.model() == crate::colour::ColourModel::Cmyk && ink_set.is_some_and(|s| s != 1) {
        return Err(unsupported(
            "separated inks other than CMYK (InkSet is not 1)".into(),
        ));
    }
    let planar = decoder
        .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
        .map_err(|e| decode_error(path, e))?
        .unwrap_or(1);
    if planar != 1 && planar != 2 {
        return Err(unsupported(format!("planar configuration {planar}")));
    }
    let compression = decoder
        .find_tag_unsigned::<u16>(Tag::Compression)
        .map_err(|e| decode_error(path, e))?
        .unwrap_or(1);
    let resolution = read_resolution(&mut decoder);
    let icc = decoder
        .find_tag(Tag::IccProfile)
        .ok()
        .flatten()
        .and_then(|v| v.into_u8_vec().ok());
    let chunk_type = decoder.get_chunk_type();
    let (chunk_w, chunk_h) = decoder.chunk_dimensions();
    let (chunk_w, chunk_h) = (chunk_w as usize, chunk_h as usize);
    if chunk_w == 0 || chunk_h == 0 {
        return Err(Error::Decode {
            path: path.into(),
            reason: "zero-sized strips or tiles".into(),
        });
    }
    let (kind, chunks_across, band_height) = match chunk_type {
        ChunkType::Strip => ("strips", 1, chunk_h.min(height)),
        ChunkType::Tile => ("tiles", width.div_ceil(chunk_w), chunk_h),
    };
    let info = ImageInfo {
        width,
        height,
        layout,
        bits,
        resolution,
        icc,
        storage: format!("tiff/{kind}/{}", compression_name(compression)),
        reader_bytes: 0,
    };
    let bands = TiffBands {
        decoder,
        chunk_type,
        chunk_w,
        chunks_across,
        planar: planar == 2,
        chunks_per_plane: height.div_ceil(band_height.max(1)) * chunks_across,
        decoding,
        chunk_limit: buffer_limit,
    };
    Ok((info, Source::Tiff(Box::new(bands)), band_height.max(1)))
}

/// PhotometricInterpretation of palette (indexed colour) images.
const PHOTOMETRIC_PALETTE: u16 = 3;

/// TIFF compression code of JPEG (the current, "new-style" scheme).
const COMPRESSION_JPEG: u16 = 7;

/// How a TIFF's chunks become bigstyle's samples.
enum Decoding {
    /// The tiff crate's samples as they are.
    Samples,
    /// Indices expanded through the colour map (decoded here: the tiff crate cannot).
    Palette(Palette),
    /// JPEG-compressed YCbCr: the tiff crate returns upsampled YCbCr, converted here to RGB.
    JpegYCbCr,
}

/// The image's channel layout and bits per sample, and how its chunks are decoded; palette and
/// JPEG YCbCr images become 8-bit RGB.
fn sample_layout(
    decoder: &mut Decoder<BufReader<File>>,
    path: &Path,
) -> Result<(ColorLayout, u8, Decoding)> {
    let unsupported = |reason: String| Error::Unsupported {
        path: path.into(),
        reason,
    };
    let photometric = decoder
        .find_tag_unsigned::<u16>(Tag::PhotometricInterpretation)
        .map_err(|e| decode_error(path, e))?;
    if photometric == Some(PHOTOMETRIC_PALETTE) {
        let palette = Palette::from_tags(decoder, path)?;
        return Ok((ColorLayout::Rgb, 8, Decoding::Palette(palette)));
    }
    let compression = decoder
        .find_tag_unsigned::<u16>(Tag::Compression)
        .map_err(|e| decode_error(path, e))?;
    let color = decoder.colortype().map_err(|e| decode_error(path, e))?;
    let (layout, bits) = match color {
        ColorType::Gray(b) => (ColorLayout::Gray, b),
        ColorType::GrayA(b) => (ColorLayout::GrayAlpha, b),
        ColorType::RGB(b) => (ColorLayout::Rgb, b),
        ColorType::RGBA(b) => (ColorLayout::Rgba, b),
        ColorType::CMYK(b) => (ColorLayout::Cmyk, b),
        ColorType::CMYKA(b) => (ColorLayout::CmykAlpha, b),
        // The tiff crate reports gray + alpha as two-band data; the photometric tag says gray.
        ColorType::Multiband {
            bit_depth,
            num_samples: 2,
        } if photometric == Some(1) => (ColorLayout::GrayAlpha, bit_depth),
        ColorType::YCbCr(8) if compression == Some(COMPRESSION_JPEG) => {
            return Ok((ColorLayout::Rgb, 8, Decoding::JpegYCbCr));
        }
        other => return Err(unsupported(format!("colour type {other:?}"))),
    };
    if bits != 8 && bits != 16 {
        return Err(unsupported(format!("{bits} bits per sample")));
    }
    Ok((layout, bits, Decoding::Samples))
}

fn compression_name(code: u16) -> String {
    match code {
        1 => "none".into(),
        5 => "lzw".into(),
        7 => "jpeg".into(),
        8 | 32946 => "deflate".into(),
        32773 => "packbits".into(),
        other => format!("compression-{other}"),
    }
}

fn read_resolution(decoder: &mut Decoder<BufReader<File>>) -> Option<Resolution> {
    let mut rational = |tag| match decoder.find_tag(tag).ok().flatten() {
        Some(tiff::decoder::ifd::Value::Rational(n, d)) => Some((n, d)),
        _ => None,
    };
    let x = rational(Tag::XResolution)?;
    let y = rational(Tag::YResolution)?;
    let unit = decoder
        .find_tag_unsigned::<u16>(Tag::ResolutionUnit)
        .ok()
        .flatten()
        .unwrap_or(2);
    Some(Resolution { x, y, unit })
}

fn widen(result: DecodingResult) -> tiff::TiffResult<Vec<u16>> {
    match result {
        DecodingResult::U8(v) => Ok(v.into_iter().map(u16::from).collect()),
        DecodingResult::U16(v) => Ok(v),
        _ => Err(tiff::TiffError::UnsupportedError(
            tiff::TiffUnsupportedError::UnsupportedDataType,
        )),
    }
}

/// Converts 8-bit YCbCr (interleaved, full range as JPEG codes it) to RGB with the JFIF
/// equations, as libjpeg does for libtiff's `JPEGCOLORMODE_RGB`.
fn ycbcr_to_rgb(mut samples: Vec<u16>) -> Vec<u16> {
    for px in samples.chunks_exact_mut(3) {
        let (y, cb, cr) = (
            f32::from(px[0]),
            f32::from(px[1]) - 128.0,
            f32::from(px[2]) - 128.0,
        );
        let level = |v: f32| (v.round().clamp(0.0, 255.0)) as u16;
        px[0] = level(y + 1.402 * cr);
        px[1] = level(y - 0.344_136 * cb - 0.714_136 * cr);
        px[2] = level(y + 1.772 * cb);
    }
    samples
}

/// Decodes band `index` (one strip, or one row of tiles, per plane) into full-width interleaved
/// rows.
fn decode_band(
    t: &mut TiffBands,
    info: &ImageInfo,
    band_height: usize,
    index: usize,
) -> tiff::TiffResult<Vec<u16>> {
    let spp = info.layout.samples();
    let rows = band_height.min(info.height - index * band_height);
    let row_len = info.width * spp;
    let mut band = vec![0u16; rows * row_len];
    let (planes, chunk_samples) = if t.planar { (spp, 1) } else { (1, spp) };
    for plane in 0..planes {
        for across in 0..t.chunks_across {
            let chunk = plane * t.chunks_per_plane + index * t.chunks_across + across;
            let (data_w, data_h) = match t.chunk_type {
                ChunkType::Strip => (info.width, rows),
                ChunkType::Tile => {
                    let (dw, dh) = t.decoder.chunk_data_dimensions(chunk as u32);
                    (dw as usize, dh as usize)
                }
            };
            let data = match &t.decoding {
                // Tiles are stored whole, padding included.
                Decoding::Palette(palette) => {
                    let (w, h) = match t.chunk_type {
                        ChunkType::Strip => (data_w, data_h),
                        ChunkType::Tile => (t.chunk_w, band_height),
                    };
                    palette.read_chunk(t.decoder.inner(), chunk, w, h, t.chunk_limit)?
                }
                Decoding::JpegYCbCr => ycbcr_to_rgb(widen(t.decoder.read_chunk(chunk as u32)?)?),
                Decoding::Samples => widen(t.decoder.read_chunk(chunk as u32)?)?,
            };
            let samples = chunk_samples;
            // Tiles may come back padded to the full tile width or cropped to the image.
            let padded =
                t.chunk_type == ChunkType::Tile && data.len() >= t.chunk_w * data_h * samples;
            let stride = if padded { t.chunk_w } else { data_w };
            if data_h < rows || data.len() < (stride * (rows - 1) + data_w) * samples {
                return Err(tiff::TiffError::FormatError(
                    tiff::TiffFormatError::InconsistentSizesEncountered,
                ));
            }
            let x0 = across * t.chunk_w;
            let copy_w = data_w.min(info.width - x0);
            for r in 0..rows {
                let src = &data[r * stride * samples..][..copy_w * samples];
                let dst = &mut band[r * row_len + x0 * spp..][..copy_w * spp];
                if planes == 1 {
                    dst.copy_from_slice(src);
                } else {
                    for (d, v) in dst.iter_mut().skip(plane).step_by(spp).zip(src) {
                        *d = *v;
                    }
                }
            }
        }
    }
    Ok(band)
}

/// Whether a JPEG holds CMYK (or YCCK), which the `image` crate converts to RGB without its
/// profile: only the headers are read.
fn is_cmyk_jpeg(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let mut decoder = zune_jpeg::JpegDecoder::new(BufReader::new(file));
    decoder.decode_headers().is_ok()
        && matches!(
            decoder.input_colorspace(),
            Some(zune_core::colorspace::ColorSpace::CMYK | zune_core::colorspace::ColorSpace::YCCK)
        )
}

fn open_other(path: &Path, limit: u64) -> Result<Opened> {
    let decode_err = |e: image::ImageError| match e {
        image::ImageError::Unsupported(u) => Error::Unsupported {
            path: path.into(),
            reason: u.to_string(),
        },
        image::ImageError::IoError(io) => Error::io(path, io),
        other => Error::Decode {
            path: path.into(),
            reason: other.to_string(),
        },
    };
    let reader = image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    let reader_format = reader.format();
    let format = reader
        .format()
        .map(|f| format!("{f:?}").to_lowercase())
        .ok_or_else(|| Error::Unsupported {
            path: path.into(),
            reason: "not a recognised image format".into(),
        })?;
    let mut decoder = reader.into_decoder().map_err(decode_err)?;
    let (w, h) = decoder.dimensions();
    // The decoder's buffer plus bigstyle's 16-bit copy.
    let needed =
        u64::from(w) * u64::from(h) * u64::from(decoder.color_type().bytes_per_pixel()) * 3;
    if needed > limit {
        return Err(Error::Unsupported {
            path: path.into(),
            reason: format!(
                "{w}x{h} px is too large to decode whole within the memory budget \
                 (about {} needed); convert it to TIFF, which is streamed",
                crate::memory::format_size(needed)
            ),
        });
    }
    if reader_format == Some(image::ImageFormat::Jpeg) && is_cmyk_jpeg(path) {
        return Err(Error::Unsupported {
            path: path.into(),
            reason: "CMYK in this format is decoded to RGB without its profile; \
                     convert it to a CMYK TIFF to keep its colours"
                .into(),
        });
    }
    let icc = decoder.icc_profile().ok().flatten();
    // Camera files are stored sideways with an EXIF orientation: the output is made upright.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let resolution = match reader_format {
        Some(image::ImageFormat::Png) => metadata::png_resolution(path),
        Some(image::ImageFormat::Jpeg) => {
            let exif = decoder.exif_metadata().ok().flatten();
            metadata::jpeg_resolution(path, exif.as_deref())
        }
        _ => None,
    };
    let mut image = image::DynamicImage::from_decoder(decoder).map_err(decode_err)?;
    image.apply_orientation(orientation);
    let (width, height) = (image.width() as usize, image.height() as usize);
    let has_alpha = image.color().has_alpha();
    let is_gray = !image.color().has_color();
    let bits = if image.color().bytes_per_pixel() / image.color().channel_count() >= 2 {
        16
    } else {
        8
    };
    let widen8 = |v: Vec<u8>| v.into_iter().map(u16::from).collect::<Vec<u16>>();
    let (layout, samples) = match (is_gray, has_alpha, bits) {
        (true, false, 8) => (ColorLayout::Gray, widen8(image.to_luma8().into_raw())),
        (true, true, 8) => (
            ColorLayout::GrayAlpha,
            widen8(image.to_luma_alpha8().into_raw()),
        ),
        (false, false, 8) => (ColorLayout::Rgb, widen8(image.to_rgb8().into_raw())),
        (false, true, 8) => (ColorLayout::Rgba, widen8(image.to_rgba8().into_raw())),
        (true, false, _) => (ColorLayout::Gray, image.to_luma16().into_raw()),
        (true, true, _) => (ColorLayout::GrayAlpha, image.to_luma_alpha16().into_raw()),
        (false, false, _) => (ColorLayout::Rgb, image.to_rgb16().into_raw()),
        (false, true, _) => (ColorLayout::Rgba, image.to_rgba16().into_raw()),
    };
    let info = ImageInfo {
        width,
        height,
        layout,
        bits,
        resolution,
        icc,
        storage: format,
        reader_bytes: 0,
    };
    Ok((info, Source::Memory(Arc::new(samples)), height.max(1)))
}

/// The colour the network sees under fully transparent pixels. Whatever a file stores there
/// (often leftovers of the cut-out background) is invisible, yet would reach the visible pixels
/// through the convolutions and the whole-image statistics: a fixed mid gray makes the visible
/// result independent of it.
pub const HIDDEN_FILL: f32 = 0.5;

/// Replaces the colour of pixels whose alpha (the fourth plane) is zero by [`HIDDEN_FILL`].
fn hide_transparent(planes: &mut [f32], plane: usize) {
    let (rgb, alpha) = planes.split_at_mut(3 * plane);
    for (i, a) in alpha.iter().enumerate() {
        if *a == 0.0 {
            for c in 0..3 {
                rgb[c * plane + i] = HIDDEN_FILL;
            }
        }
    }
}

impl ImageSource for InputImage {
    fn rgb(&mut self, rect: Rect) -> Result<Vec<f32>> {
        let mut window = self.read_window(rect)?;
        window.planes.truncate(3 * rect.area());
        Ok(window.planes)
    }
}
