//! Palette (indexed colour) TIFF, which the `tiff` crate 0.11 does not decode: its chunks are
//! read raw here, decompressed with the same codecs the writer uses (LZW, Deflate) or PackBits,
//! unpacked from 1, 2, 4 or 8 bits per index and expanded through the ColorMap to 8-bit RGB, as
//! GDAL's `-expand rgb` and libvips do.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use tiff::decoder::Decoder;
use tiff::tags::Tag;
use tiff::{TiffError, TiffResult};

use crate::error::{Error, Result};

/// What is needed to decode one chunk of a palette image.
pub(super) struct Palette {
    /// Bits per index: 1, 2, 4 or 8.
    bits: u8,
    /// TIFF compression code (1, 5, 8, 32946 or 32773).
    compression: u16,
    /// File offset and byte count of each strip or tile.
    offsets: Vec<u64>,
    counts: Vec<u64>,
    /// Interleaved 8-bit RGB of each index.
    colours: Vec<[u8; 3]>,
}

fn format_error(why: String) -> TiffError {
    TiffError::IoError(std::io::Error::other(why))
}

impl Palette {
    /// Reads the palette's tags: bits per index, compression, chunk locations and ColorMap.
    pub(super) fn from_tags<R: Read + Seek>(decoder: &mut Decoder<R>, path: &Path) -> Result<Self> {
        let unsupported = |reason: String| Error::Unsupported {
            path: path.into(),
            reason,
        };
        let broken = |reason: String| Error::Decode {
            path: path.into(),
            reason,
        };
        let tag_error = |e: TiffError| broken(e.to_string());
        // Each property, its default, the values bigstyle decodes, and its name in the error.
        let checks = [
            (Tag::BitsPerSample, 1, &[1, 2, 4, 8][..], "bits per index"),
            (Tag::SamplesPerPixel, 1, &[1], "samples per pixel"),
            (Tag::Compression, 1, &[1, 5, 8, 32946, 32773], "compression"),
            (Tag::Predictor, 1, &[1], "predictor"),
        ];
        let mut found = [0u16; 4];
        for ((tag, default, supported, name), value) in checks.into_iter().zip(&mut found) {
            *value = decoder
                .find_tag_unsigned::<u16>(tag)
                .map_err(tag_error)?
                .unwrap_or(default);
            if !supported.contains(value) {
                return Err(unsupported(format!("palette with {name} {value}")));
            }
        }
        let [bits, _, compression, _] = found;
        let bits = bits as u8;
        let (offset_tag, count_tag) = match decoder.get_chunk_type() {
            tiff::decoder::ChunkType::Strip => (Tag::StripOffsets, Tag::StripByteCounts),
            tiff::decoder::ChunkType::Tile => (Tag::TileOffsets, Tag::TileByteCounts),
        };
        let mut values = |tag| decoder.get_tag(tag).and_then(|v| v.into_u64_vec());
        let offsets = values(offset_tag).map_err(tag_error)?;
        let counts = values(count_tag).map_err(tag_error)?;
        let map = values(Tag::ColorMap).map_err(tag_error)?;
        if offsets.len() != counts.len() {
            return Err(broken(
                "chunk offsets and byte counts differ in number".into(),
            ));
        }
        let entries = 1usize << bits;
        if map.len() != 3 * entries {
            return Err(broken(format!(
                "ColorMap has {} values, {} expected",
                map.len(),
                3 * entries
            )));
        }
        let to8 = |v: u64| ((v.min(65535) + 128) / 257) as u8;
        let colours = (0..entries)
            .map(|i| {
                [
                    to8(map[i]),
                    to8(map[entries + i]),
                    to8(map[2 * entries + i]),
                ]
            })
            .collect();
        Ok(Self {
            bits,
            compression,
            offsets,
            counts,
            colours,
        })
    }

    /// Decodes chunk `index` of `width × rows` indices into interleaved 8-bit RGB samples
    /// (widened to u16, as the reader keeps them).
    pub(super) fn read_chunk<R: Read + Seek>(
        &self,
        reader: &mut R,
        index: usize,
        width: usize,
        rows: usize,
        limit: usize,
    ) -> TiffResult<Vec<u16>> {
        let (Some(&offset), Some(&count)) = (self.offsets.get(index), self.counts.get(index))
        else {
            return Err(format_error(format!("chunk {index} is missing")));
        };
        let row_bytes = (width * usize::from(self.bits)).div_ceil(8);
        let expected = row_bytes * rows;
        if expected > limit || count > limit as u64 {
            return Err(TiffError::LimitsExceeded);
        }
        reader.seek(SeekFrom::Start(offset))?;
        let mut raw = vec![0u8; count as usize];
        reader.read_exact(&mut raw)?;
        let packed = self.decompress(&raw, expected)?;
        if packed.len() < expected {
            return Err(format_error(format!(
                "chunk {index} holds {} of {expected} bytes",
                packed.len()
            )));
        }
        let mut rgb = Vec::with_capacity(width * rows * 3);
        for row in packed.chunks_exact(row_bytes).take(rows) {
            for x in 0..width {
                let colour = self.colours[self.index_at(row, x)];
                rgb.extend(colour.iter().map(|v| u16::from(*v)));
            }
        }
        Ok(rgb)
    }

    /// The palette index of pixel `x` in a packed row (most significant bits first).
    fn index_at(&self, row: &[u8], x: usize) -> usize {
        let bits = usize::from(self.bits);
        let bit = x * bits;
        let byte = row[bit / 8];
        let shift = 8 - bits - bit % 8;
        usize::from(byte >> shift) & ((1 << bits) - 1)
    }

    fn decompress(&self, raw: &[u8], expected: usize) -> TiffResult<Vec<u8>> {
        match self.compression {
            1 => Ok(raw.to_vec()),
            5 => {
                let mut out = Vec::with_capacity(expected);
                let mut decoder =
                    weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
                let status = decoder.into_vec(&mut out).decode(raw).status;
                // A stream may end without its end code; what was decoded still counts.
                match status {
                    Err(e) if out.len() < expected => Err(format_error(format!("LZW: {e}"))),
                    _ => Ok(out),
                }
            }
            32773 => Ok(unpack_bits(raw, expected)),
            _ => {
                let mut out = Vec::with_capacity(expected);
                flate2::read::ZlibDecoder::new(raw)
                    .take(expected as u64)
                    .read_to_end(&mut out)
                    .map_err(|e| format_error(format!("Deflate: {e}")))?;
                Ok(out)
            }
        }
    }
}

/// PackBits (TIFF compression 32773): a count byte n, then n + 1 literal bytes (n < 128) or one
/// byte repeated 257 − n times (n > 128); 128 is a no-op. Stops at `limit` bytes.
fn unpack_bits(raw: &[u8], limit: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(limit);
    let mut i = 0;
    while i < raw.len() && out.len() < limit {
        let n = raw[i] as i8;
        i += 1;
        if n >= 0 {
            let end = (i + n as usize + 1).min(raw.len());
            out.extend_from_slice(&raw[i..end]);
            i = end;
        } else if n != -128 {
            if let Some(&byte) = raw.get(i) {
                out.extend(std::iter::repeat_n(byte, 1 + n.unsigned_abs() as usize));
            }
            i += 1;
        }
    }
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_decodes_the_tiff_specification_example() {
        // TIFF 6.0, section 9.
        let packed = [
            0xFE, 0xAA, 0x02, 0x80, 0x00, 0x2A, 0xFD, 0xAA, 0x03, 0x80, 0x00, 0x2A, 0x22, 0xF7,
            0xAA,
        ];
        let expected = [
            0xAA, 0xAA, 0xAA, 0x80, 0x00, 0x2A, 0xAA, 0xAA, 0xAA, 0xAA, 0x80, 0x00, 0x2A, 0x22,
            0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA,
        ];
        assert_eq!(unpack_bits(&packed, 100), expected);
    }

    #[test]
    fn indices_unpack_most_significant_bits_first() {
        let palette = |bits| Palette {
            bits,
            compression: 1,
            offsets: vec![],
            counts: vec![],
            colours: vec![],
        };
        let row = [0b1011_0010, 0b0111_0000];
        let four: Vec<usize> = (0..4).map(|x| palette(4).index_at(&row, x)).collect();
        assert_eq!(four, [0b1011, 0b0010, 0b0111, 0]);
        let two: Vec<usize> = (0..4).map(|x| palette(2).index_at(&row, x)).collect();
        assert_eq!(two, [0b10, 0b11, 0b00, 0b10]);
        let one: Vec<usize> = (0..3).map(|x| palette(1).index_at(&row, x)).collect();
        assert_eq!(one, [1, 0, 1]);
    }
}
