#!/usr/bin/env python3
"""Write an N×N 8-bit RGB TIFF tiled from the committed test photographs (striped, 64 rows per
strip, 300 dpi; BigTIFF past 4 GB), for the end-to-end benchmarks.

Usage: python3 benches/make_photo_tiff.py N OUT.tif
"""
import sys
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def mosaic() -> np.ndarray:
    a = np.asarray(Image.open(DATA / "astronaut.png").convert("RGB"))
    c = np.asarray(Image.open(DATA / "chelsea.png").convert("RGB").resize((512, 512)))
    top = np.concatenate([a, c], 1)
    bottom = np.concatenate([c[::-1], a[:, ::-1]], 1)
    return np.concatenate([top, bottom], 0)


def main(n: int, out: str) -> None:
    tile = mosaic()
    reps = -(-n // tile.shape[0])
    img = np.tile(tile, (reps, reps, 1))[:n, :n]
    tifffile.imwrite(out, img, photometric="rgb", rowsperstrip=64, resolution=(300, 300),
                     resolutionunit="INCH", bigtiff=img.nbytes > 3_900_000_000)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(int(sys.argv[1]), sys.argv[2])
