#!/usr/bin/env python3
"""onnxruntime on the same network and image as benches/network.rs.

Usage: python3 benches/onnxruntime_network.py FAMILY SIZE REPS THREADS   (SIZE: N or WxH)
FAMILY: multistyle26 (shared/models/multistyle26.onnx, style 0), arbitrary (the float graph of
shared/models/arbitrary_transform.onnx, as tools/make_arbitrary_reference.py builds it, with the
same style vector as the Rust bench) or transformer_net (tests/data/models/tnet-zip.pth exported
to ONNX with PyTorch; needs torch). Set BIGSTYLE_SHARED for another models directory.
Prints one line: seconds (best of REPS) and megapixels per second.
"""
import io
import os
import sys
import time
import warnings

import numpy as np
import onnxruntime as ort

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SHARED = os.environ.get("BIGSTYLE_SHARED", os.path.join(ROOT, "..", "shared", "models"))
sys.path.insert(0, os.path.join(ROOT, "tools"))


def test_image(width: int, height: int) -> np.ndarray:
    """The same synthetic image as benches/network.rs, planar [1, 3, height, width]."""
    y, x = np.mgrid[0:height, 0:width]
    planes = []
    for c in range(3):
        t = ((x * (c + 3) + y * 7) % 97) / 97.0
        g = (x + y) / (2 * max(width, height))
        planes.append(0.6 * g + 0.4 * t)
    return np.stack(planes)[None].astype(np.float32)


def model_and_feed(family: str, image: np.ndarray):
    """The ONNX model bytes (or path) and its inputs for `image`."""
    if family == "arbitrary":
        from make_arbitrary_reference import float_graph_model

        vector = np.array([((i % 7) - 3.0) / 4.0 for i in range(100)], np.float32).reshape(1, 1, 1, 100)
        model = float_graph_model(os.path.join(SHARED, "arbitrary_transform.onnx"), True)
        names = [i.name for i in model.graph.input]
        return model.SerializeToString(), {names[0]: image.transpose(0, 2, 3, 1).copy(), names[1]: vector}
    if family == "transformer_net":
        import torch

        warnings.filterwarnings("ignore")  # the legacy exporter's notices
        from make_transformer_net import TransformerNet

        net = TransformerNet().eval()
        state = torch.load(os.path.join(ROOT, "tests", "data", "models", "tnet-zip.pth"))
        net.load_state_dict({k: v.float() for k, v in state.items()})
        buffer = io.BytesIO()
        example = torch.zeros(1, 3, 64, 64)
        torch.onnx.export(net, example, buffer, input_names=["image"], dynamic_axes={"image": {2: "h", 3: "w"}}, dynamo=False)
        return buffer.getvalue(), {"image": image * 255.0}
    w = np.zeros(26, np.float32)
    w[0] = 1.0
    return os.path.join(SHARED, "multistyle26.onnx"), {"image": image, "style_weights": w}


def main(family: str, size: str, reps: int, threads: int) -> None:
    width, height = (int(v) for v in size.split("x")) if "x" in size else (int(size), int(size))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    model, feed = model_and_feed(family, test_image(width, height))
    session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    best = float("inf")
    for _ in range(reps):
        started = time.perf_counter()
        session.run(None, feed)
        best = min(best, time.perf_counter() - started)
    mpx = width * height / 1e6
    print(f"onnxruntime {ort.__version__}, {family}: {width}x{height}, best of {reps}: {best:.3f} s, {mpx / best:.3f} Mpx/s, {threads} threads")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
