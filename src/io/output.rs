//! The output file, chosen by the destination's extension: TIFF (memory-mapped when
//! uncompressed, streamed when compressed), or PNG/JPEG encoded from memory (meant for smaller
//! images, as libvips and ImageMagick also buffer these formats).

use std::path::{Path, PathBuf};

use image::ImageEncoder;

use super::metadata;
use super::tiff_out::{quantize_row, Compression, MappedTiff, OutputSpec, StreamedTiff};
use crate::blend::{RowFile, RowSink};
use crate::colour::ColourModel;
use crate::error::{Error, Result};

/// Output file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TIFF or BigTIFF.
    Tiff,
    /// PNG (8 or 16 bits, alpha and ICC kept).
    Png,
    /// JPEG (8 bits, no alpha; ICC kept).
    Jpeg,
}

impl Format {
    /// The format a destination's extension names.
    pub fn of(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "tif" | "tiff" => Ok(Self::Tiff),
            "png" => Ok(Self::Png),
            "jpg" | "jpeg" => Ok(Self::Jpeg),
            _ => Err(Error::InvalidOption(format!(
                "output {}: unknown format; use a .tif, .tiff, .png or .jpg name",
                path.display()
            ))),
        }
    }

    /// The format's usual name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tiff => "TIFF",
            Self::Png => "PNG",
            Self::Jpeg => "JPEG",
        }
    }

    /// Whether the format can hold CMYK samples (TIFF; PNG cannot, and the JPEG encoder does not).
    pub fn holds_cmyk(self) -> bool {
        self == Self::Tiff
    }

    /// Adjusts a spec to what the format can hold (JPEG: 8 bits, no alpha).
    pub fn fit(self, mut spec: OutputSpec) -> OutputSpec {
        if self == Self::Jpeg {
            spec.bits = 8;
            spec.alpha = false;
        }
        spec
    }
}

/// The largest side a JPEG file can hold.
const JPEG_MAX_SIDE: usize = 65_535;

/// An output being written.
pub enum Output {
    /// Uncompressed TIFF through memory maps.
    Mapped(MappedTiff),
    /// Compressed TIFF, streamed.
    Streamed(StreamedTiff),
    /// PNG, streamed row by row.
    Png(Box<PngStream>),
    /// JPEG, buffered then encoded.
    Encoded(Encoded),
}

impl Output {
    /// Creates the output for `dest` (format from its extension).
    pub fn create(dest: &Path, spec: OutputSpec) -> Result<Self> {
        let format = Format::of(dest)?;
        if spec.colour.model() == ColourModel::Cmyk && !format.holds_cmyk() {
            return Err(Error::InvalidOption(format!(
                "output {}: CMYK needs a TIFF output",
                dest.display()
            )));
        }
        if format == Format::Jpeg && spec.width.max(spec.height) > JPEG_MAX_SIDE {
            return Err(Error::InvalidOption(format!(
                "output {}: JPEG holds at most {JPEG_MAX_SIDE} px a side, this image is {}x{}; write TIFF or PNG",
                dest.display(),
                spec.width,
                spec.height
            )));
        }
        let spec = format.fit(spec);
        Ok(match (format, spec.compression) {
            (Format::Tiff, Compression::None) => Self::Mapped(MappedTiff::create(dest, spec)?),
            (Format::Tiff, _) => Self::Streamed(StreamedTiff::create(dest, spec)?),
            (Format::Png, _) => Self::Png(Box::new(PngStream::create(dest, spec)?)),
            (Format::Jpeg, _) => Self::Encoded(Encoded::new(dest, spec)),
        })
    }

    /// Completes the file and renames it over the destination.
    pub fn finish(self) -> Result<PathBuf> {
        match self {
            Self::Mapped(t) => t.finish(),
            Self::Streamed(t) => t.finish(),
            Self::Png(p) => p.finish(),
            Self::Encoded(e) => e.finish(),
        }
    }
}

impl RowFile for Output {
    fn finish(self: Box<Self>) -> Result<PathBuf> {
        Output::finish(*self)
    }
}

impl RowSink for Output {
    fn write_rows(&mut self, y0: usize, rows: &[f32], width: usize, channels: usize) -> Result<()> {
        match self {
            Self::Mapped(t) => t.write_rows(y0, rows, width, channels),
            Self::Streamed(t) => t.write_rows(y0, rows, width, channels),
            Self::Png(p) => p.write_rows(y0, rows, width, channels),
            Self::Encoded(e) => e.write_rows(y0, rows, width, channels),
        }
    }
}

/// JPEG output, quantised rows buffered in memory until the end (the encoder takes the whole
/// image).
pub struct Encoded {
    dest: PathBuf,
    spec: OutputSpec,
    bytes: Vec<u8>,
}

impl Encoded {
    fn new(dest: &Path, spec: OutputSpec) -> Self {
        Self {
            dest: dest.into(),
            bytes: Vec::with_capacity(spec.row_bytes() * spec.height),
            spec,
        }
    }

    fn write_rows(&mut self, y0: usize, rows: &[f32], width: usize, channels: usize) -> Result<()> {
        let (src_row, n) = self.spec.rows_inside(y0, rows, width, channels);
        let row_bytes = self.spec.row_bytes();
        for r in 0..n {
            let at = self.bytes.len();
            self.bytes.resize(at + row_bytes, 0);
            quantize_row(
                &rows[r * src_row..][..src_row],
                channels,
                &self.spec,
                &mut self.bytes[at..],
            );
        }
        Ok(())
    }

    fn finish(self) -> Result<PathBuf> {
        let (w, h) = (self.spec.width as u32, self.spec.height as u32);
        if self.bytes.len() != self.spec.row_bytes() * self.spec.height {
            return Err(Error::io(&self.dest, std::io::Error::other("missing rows")));
        }
        let gray = self.spec.colour.model() == ColourModel::Gray;
        let color = match (gray, self.spec.alpha, self.spec.bits) {
            (true, false, 8) => image::ExtendedColorType::L8,
            (true, true, 8) => image::ExtendedColorType::La8,
            (false, false, 8) => image::ExtendedColorType::Rgb8,
            (false, true, 8) => image::ExtendedColorType::Rgba8,
            (true, false, _) => image::ExtendedColorType::L16,
            (true, true, _) => image::ExtendedColorType::La16,
            (false, false, _) => image::ExtendedColorType::Rgb16,
            (false, true, _) => image::ExtendedColorType::Rgba16,
        };
        let encode_error =
            |e: &dyn std::fmt::Display| Error::io(&self.dest, std::io::Error::other(e.to_string()));
        let temp = super::tiff_out::temp_beside(&self.dest)?;
        let file = std::io::BufWriter::new(
            temp.as_file()
                .try_clone()
                .map_err(|e| Error::io(&self.dest, e))?,
        );
        // Encoders take 16-bit samples in native byte order; rows are little-endian.
        let native: Vec<u8> = if self.spec.bits == 16 && cfg!(target_endian = "big") {
            self.bytes
                .chunks_exact(2)
                .flat_map(|b| [b[1], b[0]])
                .collect()
        } else {
            self.bytes
        };
        let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(file, self.spec.quality);
        if let Some(icc) = self.spec.colour.icc() {
            enc.set_icc_profile(icc.to_vec())
                .map_err(|e| encode_error(&e))?;
        }
        if let Some((x, y)) = self
            .spec
            .resolution
            .as_ref()
            .and_then(metadata::dots_per_inch)
        {
            let dpi = |v: f64| v.round().clamp(1.0, f64::from(u16::MAX)) as u16;
            enc.set_pixel_density(image::codecs::jpeg::PixelDensity {
                density: (dpi(x), dpi(y)),
                unit: image::codecs::jpeg::PixelDensityUnit::Inches,
            });
        }
        let encoded = enc.write_image(&native, w, h, color);
        encoded.map_err(|e| encode_error(&e))?;
        super::tiff_out::persist(temp, &self.dest)
    }
}

/// PNG output written row by row as the blender finishes rows: one row in memory whatever the
/// image size. The ICC profile (iCCP) and the resolution (pHYs) are kept.
pub struct PngStream {
    temp: tempfile::NamedTempFile,
    dest: PathBuf,
    spec: OutputSpec,
    writer: png::StreamWriter<'static, std::io::BufWriter<std::fs::File>>,
    row: Vec<u8>,
}

impl PngStream {
    fn create(dest: &Path, spec: OutputSpec) -> Result<Self> {
        let io = |e: std::io::Error| Error::io(dest, e);
        let encoding =
            |e: png::EncodingError| Error::io(dest, std::io::Error::other(e.to_string()));
        let temp = super::tiff_out::temp_beside(dest)?;
        let file = std::io::BufWriter::new(temp.as_file().try_clone().map_err(io)?);
        let mut info = png::Info::with_size(spec.width as u32, spec.height as u32);
        let gray = spec.colour.model() == ColourModel::Gray;
        info.color_type = match (gray, spec.alpha) {
            (true, false) => png::ColorType::Grayscale,
            (true, true) => png::ColorType::GrayscaleAlpha,
            (false, false) => png::ColorType::Rgb,
            (false, true) => png::ColorType::Rgba,
        };
        info.bit_depth = if spec.bits == 16 {
            png::BitDepth::Sixteen
        } else {
            png::BitDepth::Eight
        };
        info.icc_profile = spec
            .colour
            .icc()
            .map(|p| std::borrow::Cow::Owned(p.to_vec()));
        info.pixel_dims = spec
            .resolution
            .as_ref()
            .and_then(metadata::dots_per_inch)
            .map(|(x, y)| {
                let per_metre = |dpi: f64| (dpi / 0.0254).round() as u32;
                png::PixelDimensions {
                    xppu: per_metre(x),
                    yppu: per_metre(y),
                    unit: png::Unit::Meter,
                }
            });
        let writer = png::Encoder::with_info(file, info)
            .and_then(png::Encoder::write_header)
            .and_then(png::Writer::into_stream_writer)
            .map_err(encoding)?;
        Ok(Self {
            temp,
            dest: dest.into(),
            row: vec![0; spec.row_bytes()],
            spec,
            writer,
        })
    }

    fn write_rows(&mut self, y0: usize, rows: &[f32], width: usize, channels: usize) -> Result<()> {
        let (src_row, n) = self.spec.rows_inside(y0, rows, width, channels);
        for r in 0..n {
            quantize_row(
                &rows[r * src_row..][..src_row],
                channels,
                &self.spec,
                &mut self.row,
            );
            if self.spec.bits == 16 {
                // Rows are little-endian samples; PNG stores big-endian ones.
                self.row.chunks_exact_mut(2).for_each(|b| b.swap(0, 1));
            }
            std::io::Write::write_all(&mut self.writer, &self.row)
                .map_err(|e| Error::io(&self.dest, e))?;
        }
        Ok(())
    }

    fn finish(self) -> Result<PathBuf> {
        self.writer
            .finish()
            .map_err(|e| Error::io(&self.dest, std::io::Error::other(e.to_string())))?;
        super::tiff_out::persist(self.temp, &self.dest)
    }
}
