#!/usr/bin/env python3
"""onnxruntime on the same network and image as benches/network.rs.

Usage: python3 benches/onnxruntime_network.py MODEL.onnx SIZE REPS THREADS
Prints one line: seconds (best of REPS) and megapixels per second.
"""
import sys
import time

import numpy as np
import onnxruntime as ort


def test_image(size: int) -> np.ndarray:
    """The same synthetic image as benches/network.rs."""
    y, x = np.mgrid[0:size, 0:size]
    planes = []
    for c in range(3):
        t = ((x * (c + 3) + y * 7) % 97) / 97.0
        g = (x + y) / (2 * size)
        planes.append(0.6 * g + 0.4 * t)
    return np.stack(planes)[None].astype(np.float32)


def main(model: str, size: int, reps: int, threads: int) -> None:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    x = test_image(size)
    w = np.zeros(26, np.float32)
    w[0] = 1.0
    best = float("inf")
    for _ in range(reps):
        started = time.perf_counter()
        session.run(None, {"image": x, "style_weights": w})
        best = min(best, time.perf_counter() - started)
    mpx = size * size / 1e6
    print(f"onnxruntime {ort.__version__}: {size}x{size}, best of {reps}: {best:.3f} s, {mpx / best:.3f} Mpx/s, {threads} threads")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
