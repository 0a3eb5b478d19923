#!/usr/bin/env python3
"""Float reference outputs of Magenta arbitrary stylization, for bigstyle's golden tests.

The shipped ONNX files are int8 QDQ exports: weights *and activations* pass through
Quantize/DequantizeLinear. bigstyle runs the network in float (dequantized weights, float
activations), so the reference is the same graph with every activation Q/DQ node replaced by an
Identity (weight DequantizeLinear nodes stay) and the transformer's spatial dimensions freed.
onnxruntime then computes:

  tests/data/golden/arbitrary_style256.png   the style image as the predictor sees it: chelsea.png,
                                             shorter side resized to 256 (PIL bicubic), centre crop
  tests/data/golden/arbitrary_style.json     its 100-d style vector
  tests/data/golden/arbitrary_<case>.png     the transformer's output with that vector, for the
                                             384x384 centre of astronaut.png ("square384") and
                                             the ragged 130x87 golden/wide_in.png ("wide"),
                                             reflect-padded to a multiple of 4 and cropped

Usage: python3 tools/make_arbitrary_reference.py SHARED_MODELS_DIR  (needs onnx, onnxruntime,
numpy, pillow)
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

ROOT = os.path.join(os.path.dirname(__file__), "..")
DATA = os.path.join(ROOT, "tests", "data")
GOLDEN = os.path.join(DATA, "golden")


def float_graph_model(path, free_spatial):
    """The QDQ graph at `path` with its activation Q/DQ nodes made Identity (see above)."""
    model = onnx.load(path)
    graph = model.graph
    weights = {i.name for i in graph.initializer}
    for node in graph.node:
        activation_q = node.op_type == "QuantizeLinear"
        activation_dq = node.op_type == "DequantizeLinear" and node.input[0] not in weights
        if activation_q or activation_dq:
            node.op_type = "Identity"
            del node.input[1:]
            del node.attribute[:]
            node.domain = ""
    del graph.value_info[:]
    if free_spatial:
        for value in list(graph.input[:1]) + list(graph.output[:1]):
            dims = value.type.tensor_type.shape.dim
            dims[1].dim_param, dims[2].dim_param = "height", "width"
    return model


def float_graph(path, free_spatial):
    model = float_graph_model(path, free_spatial)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the freed Q/DQ parameters are reported as unused
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def style_image():
    img = Image.open(os.path.join(DATA, "chelsea.png")).convert("RGB")
    scale = 256 / min(img.size)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BICUBIC)
    left, top = (img.width - 256) // 2, (img.height - 256) // 2
    return img.crop((left, top, left + 256, top + 256))


def stylize(transform, content, vector):
    h, w = content.shape[:2]
    ph, pw = -(-h // 4) * 4, -(-w // 4) * 4
    x = np.pad(content, ((0, ph - h), (0, pw - w), (0, 0)), mode="reflect")[None]
    names = [i.name for i in transform.get_inputs()]
    y = transform.run(None, {names[0]: x, names[1]: vector})[0][0, :h, :w]
    return Image.fromarray(np.floor(np.clip(y, 0, 1) * 255 + 0.5).astype(np.uint8))


def main():
    shared = sys.argv[1]
    predict = float_graph(os.path.join(shared, "arbitrary_predict.onnx"), False)
    transform = float_graph(os.path.join(shared, "arbitrary_transform.onnx"), True)
    style = style_image()
    style.save(os.path.join(GOLDEN, "arbitrary_style256.png"))
    pixels = np.asarray(style, np.float32)[None] / 255.0
    vector = predict.run(None, {predict.get_inputs()[0].name: pixels})[0]
    with open(os.path.join(GOLDEN, "arbitrary_style.json"), "w") as f:
        json.dump([float(v) for v in vector.reshape(-1)], f)
    astronaut = np.asarray(Image.open(os.path.join(DATA, "astronaut.png")).convert("RGB"), np.float32) / 255.0
    cases = {
        "square384": astronaut[64:448, 64:448],
        "wide": np.asarray(Image.open(os.path.join(GOLDEN, "wide_in.png")).convert("RGB"), np.float32) / 255.0,
    }
    for name, content in cases.items():
        stylize(transform, np.ascontiguousarray(content), vector).save(os.path.join(GOLDEN, f"arbitrary_{name}.png"))
    print("style vector:", vector.reshape(-1)[:4], "...")


if __name__ == "__main__":
    main()
