#!/usr/bin/env python3
"""Stroke size measured, not eyeballed (docs/POSTER.md, docs/BENCHMARKS.md).

For an N×N photo TIFF and stroke scales S (default 1 2 4), runs `bigstyle --stroke-scale S`
and measures on the central 1024² crop:

- the texture wavelength of the stylization: the power-weighted geometric mean wavelength, over
  2 px to a quarter of the crop, of the radially averaged power spectrum of the luminance
  residual (stylized − content), Hann-windowed;
  (this reading of the definition: power averaged per ring of the 2-D spectrum, frequencies
  sampled linearly); and, as a second measure, the same mean over the spectrum of the
  stylized luminance itself with the power *summed* per ring;
- how well the content's edges survive: the correlation of the output's and the input's
  luminance gradient magnitudes.

A plain downscale → stylize → Lanczos upscale is measured the same way, as the reference.
Usage: python3 benches/stroke_size.py PHOTO.tif [S ...]   (needs numpy, pillow; prints a table)
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

Image.MAX_IMAGE_PIXELS = None
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BIN = os.path.join(ROOT, "target", "release", "bigstyle")
CROP = 1024


def luma(img):
    a = np.asarray(img.convert("RGB"), np.float64) / 255.0
    return 0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]


def centre(a):
    h, w = a.shape
    return a[(h - CROP) // 2:(h + CROP) // 2, (w - CROP) // 2:(w + CROP) // 2]


def wavelength(residual, ring="mean"):
    hann = np.hanning(CROP)
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2((residual - residual.mean()) * np.outer(hann, hann)))) ** 2
    y, x = np.indices(spectrum.shape) - CROP // 2
    radius = np.hypot(x, y).astype(int)
    power = np.bincount(radius.ravel(), spectrum.ravel())
    if ring == "mean":
        power = power / np.maximum(np.bincount(radius.ravel()), 1)
    f = np.arange(len(power))
    band = (f >= 4) & (f <= CROP // 2)  # wavelengths from CROP/4 down to 2 px
    lam = CROP / f[band]
    return float(np.exp(np.sum(power[band] * np.log(lam)) / np.sum(power[band])))


def measures(styled, content):
    return wavelength(styled - content), wavelength(styled, "sum"), edge_correlation(styled, content)


def edge_correlation(out, content):
    g = lambda a: np.hypot(*np.gradient(a))
    return float(np.corrcoef(g(out).ravel(), g(content).ravel())[0, 1])


def main():
    photo, scales = sys.argv[1], [float(s) for s in sys.argv[2:]] or [1, 2, 4]
    content_img = Image.open(photo)
    content = centre(luma(content_img))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in scales:
            out = os.path.join(tmp, f"s{s}.tif")
            subprocess.run([BIN, "-q", "--stroke-scale", str(s), photo, "-o", out], check=True)
            styled = centre(luma(Image.open(out)))
            rows.append((f"--stroke-scale {s:g}", measures(styled, content)))
            if s > 1:
                small_in, small_out = os.path.join(tmp, "small.png"), os.path.join(tmp, "small.out.png")
                w, h = content_img.size
                content_img.resize((round(w / s), round(h / s)), Image.LANCZOS).save(small_in)
                subprocess.run([BIN, "-q", small_in, "-o", small_out], check=True)
                naive = centre(luma(Image.open(small_out).resize((w, h), Image.LANCZOS)))
                rows.append((f"downscale, stylize, Lanczos up {s:g}", measures(naive, content)))
    base = rows[0][1]
    print(f"{os.path.basename(photo)}: residual wavelength (px, ratio), stylized-luminance wavelength (px, ratio), edge correlation")
    for name, (res, own, corr) in rows:
        print(f"  {name:36} {res:6.1f} {res / base[0]:4.2f}x   {own:6.1f} {own / base[1]:4.2f}x   {corr:.3f}")


if __name__ == "__main__":
    main()
