#!/usr/bin/env python3
"""Figures of docs/POSTER.md, made with the bigstyle binary on a 4096² poster (the astronaut
photo upscaled with Lanczos):

  docs/images/stroke-scale.jpg     the whole poster at S = 1, 2, 4, 8 (top row, downscaled as a
                                   viewer sees the print whole) and the same 512² crop at full
                                   resolution (bottom row), style 13
  docs/images/preserve-colour.jpg  the sample photo: input, style 13, style 13 --preserve-colour
  docs/images/wrap.jpg             a 3x3 repeat of a seamless 256x256 texture stylized without and with --wrap

Usage: python3 tools/poster_figures.py [BIGSTYLE_BINARY]   (needs pillow)
"""
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
TILE = 384


def run(binary, *args):
    subprocess.run([binary, "-q", *map(str, args)], check=True)


def sheet(columns, labels):
    out = Image.new("RGB", (TILE * len(columns), TILE * len(columns[0]) + 18), "white")
    draw = ImageDraw.Draw(out)
    for i, column in enumerate(columns):
        for j, img in enumerate(column):
            out.paste(img, (i * TILE, j * TILE))
        draw.text((i * TILE + 4, TILE * len(column) + 3), labels[i], fill="black")
    return out


def main(binary):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        poster = tmp / "poster.tif"
        Image.open(ROOT / "tests" / "data" / "astronaut.png").convert("RGB").resize((4096, 4096), Image.LANCZOS).save(poster)
        columns, labels = [], []
        for s in [1, 2, 4, 8]:
            out = tmp / f"s{s}.tif"
            run(binary, "--style", "13", "--stroke-scale", s, poster, "-o", out)
            img = Image.open(out).convert("RGB")
            whole = img.resize((TILE, TILE), Image.LANCZOS)
            crop = img.crop((1700, 900, 1700 + 512, 900 + 512)).resize((TILE, TILE), Image.LANCZOS)
            columns.append([whole, crop])
            labels.append(f"--stroke-scale {s}: whole / crop")
        sheet(columns, labels).save(ROOT / "docs" / "images" / "stroke-scale.jpg", quality=88)
        sample = tmp / "coffee.png"
        Image.open(ROOT / "samples" / "coffee.tif").convert("RGB").save(sample)
        plain, kept = tmp / "plain.png", tmp / "kept.png"
        run(binary, "--style", "13", sample, "-o", plain)
        run(binary, "--style", "13", "--preserve-colour", sample, "-o", kept)
        fit = lambda p: Image.open(p).convert("RGB").resize((TILE, 256))
        row = Image.new("RGB", (3 * TILE, 256 + 18), "white")
        draw = ImageDraw.Draw(row)
        for i, (p, label) in enumerate([(sample, "input"), (plain, "--style 13"), (kept, "--style 13 --preserve-colour")]):
            row.paste(fit(p), (i * TILE, 0))
            draw.text((i * TILE + 4, 259), label, fill="black")
        row.save(ROOT / "docs" / "images" / "preserve-colour.jpg", quality=88)
        wrap_figure(binary, tmp)
    print("wrote docs/images/stroke-scale.jpg, preserve-colour.jpg and wrap.jpg")


def seamless_texture(img):
    """A periodic input: the image cross-faded with itself shifted by half its size (tent
    weights, 1 at the centre, 0 at the edges), so that the input itself has no seam."""
    w, h = img.size
    tent = lambda t, n: 1 - abs(2 * t / (n - 1) - 1)
    mask = Image.new("L", (w, h))
    mask.putdata([round(255 * tent(x, w) * tent(y, h)) for y in range(h) for x in range(w)])
    return Image.composite(img, ImageChops.offset(img, w // 2, h // 2), mask)


def wrap_figure(binary, tmp):
    """The same crop stylized without and with --wrap, each repeated 3x3 as a wallpaper is."""
    crop = tmp / "crop.png"
    seamless_texture(Image.open(ROOT / "tests" / "data" / "chelsea.png").convert("RGB").crop((100, 20, 356, 276))).save(crop)
    side = 3 * 256
    out = Image.new("RGB", (2 * side + 16, side + 18), "white")
    draw = ImageDraw.Draw(out)
    for i, (flags, label) in enumerate([([], "--style 13, repeated 3x3"), (["--wrap"], "--style 13 --wrap, repeated 3x3")]):
        result = tmp / f"wrap{i}.png"
        run(binary, "--style", "13", *flags, crop, "-o", result)
        img = Image.open(result).convert("RGB")
        for tx in range(3):
            for ty in range(3):
                out.paste(img, (i * (side + 16) + tx * 256, ty * 256))
        draw.text((i * (side + 16) + 4, side + 3), label, fill="black")
    out.save(ROOT / "docs" / "images" / "wrap.jpg", quality=85)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "release" / "bigstyle"))
