//! The contact sheet (`bigstyle sheet`): every built-in style, and any style images, on a small
//! copy of the user's own image, laid out in a grid with each cell numbered, so that a style is
//! chosen on the picture it is for.

use std::path::Path;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::io::InputImage;
use crate::network::StyleCode;
use crate::pipeline::stylize_whole;
use crate::stats::thumbnail::downscale;

/// Height of the label strip under each cell (px).
const LABEL: usize = 16;
/// Digits 0–9 in a 3×5 font: five rows, top first, each row's three low bits left to right.
const DIGITS: [[u8; 5]; 10] = [
    [7, 5, 5, 5, 7],
    [2, 6, 2, 2, 7],
    [7, 1, 7, 4, 7],
    [7, 1, 7, 1, 7],
    [5, 5, 7, 1, 1],
    [7, 4, 7, 1, 7],
    [7, 4, 7, 5, 7],
    [7, 1, 1, 1, 1],
    [7, 5, 7, 5, 7],
    [7, 5, 7, 1, 7],
];

/// One cell of the sheet: which network and style, and its number.
pub struct Cell<'a, E: Engine> {
    /// The engine holding the network.
    pub engine: &'a E,
    /// The style for it.
    pub style: StyleCode,
    /// The number printed under the cell.
    pub label: usize,
}

/// Writes the sheet of `cells` on `input` (its longer side scaled to `side` px) to `output`
/// (8-bit RGB PNG); the first cell is the input itself, unnumbered.
pub fn contact_sheet<E: Engine>(
    input: &Path,
    output: &Path,
    cells: &[Cell<'_, E>],
    side: usize,
    budget: u64,
) -> Result<()> {
    let mut image = InputImage::open_with(input, budget, &Default::default())?;
    let size = (image.info().width, image.info().height);
    let (w, h, original) = downscale(&mut image, size, side, 16)?;
    let mut panels = vec![(None, original.clone())];
    for cell in cells {
        let out = stylize_whole(cell.engine, &cell.style, &original, w, h)?;
        panels.push((Some(cell.label), out));
    }
    let cols = (panels.len() as f64).sqrt().ceil() as usize;
    let rows = panels.len().div_ceil(cols);
    let (sheet_w, cell_h) = (cols * w, h + LABEL);
    let mut sheet =
        image::RgbImage::from_pixel(sheet_w as u32, (rows * cell_h) as u32, image::Rgb([255; 3]));
    for (k, (label, planar)) in panels.iter().enumerate() {
        let (x0, y0) = ((k % cols) * w, (k / cols) * cell_h);
        for y in 0..h {
            for x in 0..w {
                let px = std::array::from_fn(|c| {
                    (planar[c * w * h + y * w + x].clamp(0.0, 1.0) * 255.0 + 0.5) as u8
                });
                sheet.put_pixel((x0 + x) as u32, (y0 + y) as u32, image::Rgb(px));
            }
        }
        if let Some(number) = label {
            draw_number(&mut sheet, *number, x0 + 4, y0 + h + 3);
        }
    }
    sheet
        .save_with_format(output, image::ImageFormat::Png)
        .map_err(|e| Error::io(output, std::io::Error::other(e.to_string())))
}

/// Draws `number` with the 3×5 digit font at twice its size (each digit 6×10 px) at (x, y).
fn draw_number(sheet: &mut image::RgbImage, number: usize, x: usize, y: usize) {
    for (i, digit) in number.to_string().bytes().enumerate() {
        let glyph = DIGITS[usize::from(digit - b'0')];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0 {
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        let (px, py) = (x + i * 8 + 2 * col + dx, y + 2 * row + dy);
                        if px < sheet.width() as usize && py < sheet.height() as usize {
                            sheet.put_pixel(px as u32, py as u32, image::Rgb([0; 3]));
                        }
                    }
                }
            }
        }
    }
}
