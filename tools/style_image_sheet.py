#!/usr/bin/env python3
"""Any image as the style: docs/images/style-images.jpg.

Row 1: the style images: a painting-like image (the astronaut photo painted by the built-in
network's style 15, "stained glass", at 512 px) and the Chelsea photo (fur texture).
Row 2: the sample photo stylized with the first at --strength 0.25, 0.5 and 1, and with a
50/50 blend of both (--style-image A --style-image B).

Usage: python3 tools/style_image_sheet.py [BIGSTYLE_BINARY]   (needs pillow)
"""
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
W, H, LABEL = 300, 200, 18


def run(binary, *args):
    subprocess.run([binary, "-q", *map(str, args)], check=True)


def main(binary):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        content = tmp / "coffee.png"
        Image.open(ROOT / "samples" / "coffee.tif").convert("RGB").resize((600, 400)).save(content)
        painting = tmp / "painting.png"
        run(binary, "--style", "15", ROOT / "tests" / "data" / "astronaut.png", "-o", painting)
        fur = ROOT / "tests" / "data" / "chelsea.png"
        panels = [("style image A (painted)", painting), ("style image B (photo)", fur), ("content", content), (None, None)]
        for strength in ["0.25", "0.5", "1"]:
            out = tmp / f"s{strength}.png"
            run(binary, "--style-image", painting, "--strength", strength, content, "-o", out)
            panels.append((f"A, --strength {strength}", out))
        blend = tmp / "blend.png"
        run(binary, "--style-image", painting, "--style-image", fur, content, "-o", blend)
        panels.append(("blend of A and B", blend))
        sheet = Image.new("RGB", (4 * W, 2 * (H + LABEL)), "white")
        draw = ImageDraw.Draw(sheet)
        for k, (label, path) in enumerate(panels):
            if path is None:
                continue
            x, y = (k % 4) * W, (k // 4) * (H + LABEL)
            img = Image.open(path).convert("RGB")
            img.thumbnail((W, H))
            sheet.paste(img, (x, y))
            draw.text((x + 4, y + H + 3), label, fill="black")
    out = ROOT / "docs" / "images" / "style-images.jpg"
    sheet.save(out, quality=88)
    print("wrote", out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "release" / "bigstyle"))
