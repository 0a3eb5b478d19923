//! Print metadata of PNG and JPEG files, which the `image` crate does not report: resolution
//! from PNG's pHYs chunk and from JPEG's EXIF (XResolution, YResolution, ResolutionUnit) or JFIF
//! header, and the conversions the writers need.

use std::io::Read;
use std::path::Path;

use super::Resolution;

/// Inches per metre as a rational: 254 / 10000.
const INCH_PER_METRE: (u32, u32) = (254, 10_000);

/// A PNG's pHYs resolution (pixels per metre), as pixels per inch.
pub fn png_resolution(path: &Path) -> Option<Resolution> {
    let file = std::fs::File::open(path).ok()?;
    let reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .ok()?;
    let dims = reader.info().pixel_dims?;
    (dims.unit == png::Unit::Meter && dims.xppu > 0 && dims.yppu > 0).then(|| {
        let per_inch = |ppm: u32| (ppm.saturating_mul(INCH_PER_METRE.0), INCH_PER_METRE.1);
        Resolution {
            x: per_inch(dims.xppu),
            y: per_inch(dims.yppu),
            unit: 2,
        }
    })
}

/// A JPEG's resolution: from its EXIF block if it has one, else from its JFIF header.
pub fn jpeg_resolution(path: &Path, exif: Option<&[u8]>) -> Option<Resolution> {
    exif.and_then(exif_resolution)
        .or_else(|| jfif_resolution(path))
}

/// XResolution, YResolution and ResolutionUnit of the first directory of an EXIF block (a
/// little TIFF structure).
fn exif_resolution(exif: &[u8]) -> Option<Resolution> {
    let little = match exif.get(..2)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b = exif.get(at..at + 2)?;
        Some(if little {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = exif.get(at..at + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let ifd = u32_at(4)? as usize;
    let (mut x, mut y, mut unit) = (None, None, 2u16);
    for k in 0..usize::from(u16_at(ifd)?) {
        let entry = ifd + 2 + 12 * k;
        let rational = || -> Option<(u32, u32)> {
            let at = u32_at(entry + 8)? as usize;
            Some((u32_at(at)?, u32_at(at + 4)?)).filter(|(n, d)| *n > 0 && *d > 0)
        };
        match u16_at(entry)? {
            282 => x = rational(),
            283 => y = rational(),
            296 => unit = u16_at(entry + 8)?,
            _ => {}
        }
    }
    Some(Resolution { x: x?, y: y?, unit }).filter(|r| r.unit == 2 || r.unit == 3)
}

/// The density of a JFIF APP0 segment at the start of a JPEG (units 1: per inch, 2: per cm).
fn jfif_resolution(path: &Path) -> Option<Resolution> {
    let mut head = [0u8; 18];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    if head[..4] != [0xFF, 0xD8, 0xFF, 0xE0] || &head[6..11] != b"JFIF\0" {
        return None;
    }
    let unit = match head[13] {
        1 => 2,
        2 => 3,
        _ => return None,
    };
    let x = u32::from(u16::from_be_bytes([head[14], head[15]]));
    let y = u32::from(u16::from_be_bytes([head[16], head[17]]));
    (x > 0 && y > 0).then_some(Resolution {
        x: (x, 1),
        y: (y, 1),
        unit,
    })
}

/// Pixels per inch of a resolution (per centimetre converted), `None` without a unit.
pub fn dots_per_inch(r: &Resolution) -> Option<(f64, f64)> {
    let ratio = |(n, d): (u32, u32)| f64::from(n) / f64::from(d.max(1));
    match r.unit {
        2 => Some((ratio(r.x), ratio(r.y))),
        3 => Some((ratio(r.x) * 2.54, ratio(r.y) * 2.54)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exif_resolution_is_read_in_both_byte_orders() {
        // II, IFD at 8 with 3 entries; rationals after the directory.
        let mut le = b"II\x2a\x00\x08\x00\x00\x00\x03\x00".to_vec();
        let entry = |tag: u16, kind: u16, value: u32| {
            [
                tag.to_le_bytes().as_slice(),
                &kind.to_le_bytes(),
                &1u32.to_le_bytes(),
                &value.to_le_bytes(),
            ]
            .concat()
        };
        le.extend(entry(282, 5, 50));
        le.extend(entry(283, 5, 58));
        le.extend(entry(296, 3, 2));
        le.extend([0, 0, 0, 0]);
        le.extend(
            [
                300u32.to_le_bytes(),
                1u32.to_le_bytes(),
                300u32.to_le_bytes(),
                1u32.to_le_bytes(),
            ]
            .concat(),
        );
        let r = exif_resolution(&le).unwrap();
        assert_eq!((r.x, r.y, r.unit), ((300, 1), (300, 1), 2));
        assert_eq!(dots_per_inch(&r), Some((300.0, 300.0)));
        assert!(exif_resolution(b"XX\x2a\x00").is_none());
    }
}
