#!/usr/bin/env python3
"""Render every built-in style on the sample photo and lay them out as docs/images/styles.jpg.

Usage: python3 tools/style_sheet.py [BIGSTYLE_BINARY]   (needs pillow)
"""
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent


def main(binary: str) -> None:
    src = Image.open(ROOT / "samples" / "coffee.tif").convert("RGB").resize((240, 160))
    cols, rows, (w, h) = 7, 4, src.size
    sheet = Image.new("RGB", (cols * w, rows * (h + 18)), "white")
    draw = ImageDraw.Draw(sheet)
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "in.png"
        src.save(small)
        panels = [("original", src)]
        for style in range(26):
            out = Path(tmp) / f"s{style}.png"
            subprocess.run([binary, "-q", "--style", str(style), str(small), "-o", str(out)], check=True)
            panels.append((f"--style {style}", Image.open(out).convert("RGB")))
        for k, (label, img) in enumerate(panels):
            x, y = (k % cols) * w, (k // cols) * (h + 18)
            sheet.paste(img, (x, y))
            draw.text((x + 4, y + h + 3), label, fill="black")
    out = ROOT / "docs" / "images" / "styles.jpg"
    sheet.save(out, quality=88)
    print("wrote", out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "release" / "bigstyle"))
