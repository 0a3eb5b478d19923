#!/usr/bin/env python3
"""Write the small TIFF layouts the tiff crate's encoder cannot (tiled, planar, palette, 1-bit,
float, CMYK) for bigstyle's format tests, with tifffile.

Usage: python3 tools/make_format_samples.py tests/data/formats
"""
import sys
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

W, H = 72, 56


def photo() -> np.ndarray:
    here = Path(__file__).resolve().parent.parent
    img = Image.open(here / "tests/data/chelsea.png").convert("RGB").resize((W, H))
    return np.asarray(img)


def main(out: str) -> None:
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    rgb = photo()
    res = dict(resolution=(300, 300), resolutionunit="INCH")
    tifffile.imwrite(d / "tiled-rgb8.tif", rgb, tile=(32, 32), photometric="rgb", **res)
    tifffile.imwrite(d / "planar-rgb16.tif", (rgb.astype(np.uint16) * 257).transpose(2, 0, 1),
                     planarconfig="separate", photometric="rgb", compression="zlib", **res)
    tifffile.imwrite(d / "tiled-planar-rgb8.tif", rgb.transpose(2, 0, 1), tile=(16, 32),
                     planarconfig="separate", photometric="rgb")
    index = (rgb[..., 0] // 32 * 32 + rgb[..., 1] // 64 * 4 + rgb[..., 2] // 128).astype(np.uint8)
    levels = np.arange(256, dtype=np.uint16)
    colormap = np.stack([levels * 257, (255 - levels) * 257, (levels * 7 % 256) * 257])
    tifffile.imwrite(d / "palette8.tif", index, photometric="palette", colormap=colormap)
    tifffile.imwrite(d / "float32.tif", rgb.astype(np.float32) / 255, photometric="rgb")
    tifffile.imwrite(d / "bilevel.tif", rgb[..., 0] > 128, photometric="minisblack")
    cmyk = np.concatenate([255 - rgb, np.zeros((H, W, 1), np.uint8)], axis=2)
    tifffile.imwrite(d / "cmyk8.tif", cmyk, photometric="separated")
    print("wrote", sorted(p.name for p in d.iterdir()))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
