#!/usr/bin/env python3
"""Converts Magenta's arbitrary image stylization (Ghiasi et al., BMVC 2017; the int8 QDQ ONNX
exports of its TFLite models in shared/models) into src/network/arbitrary.bsw.

Weights are dequantized ((q - zero_point) * scale, per channel where the scale is); activations
are left in float. Written tensors (BSW1: name, shape, f32 data):

  transform.<layer>.w / .b                 convolution weights [out, in, k, k] and bias
  transform.<layer>.gamma_w / .gamma_b     1x1 conv from the 100-d style vector to gamma [C, 100]
  transform.<layer>.beta_w / .beta_b       ... and to beta (style-normalised layers only)
  predict.<i>.w / .b                       the style predictor's convolutions, in graph order
  predict.<i>.meta                         [kernel, stride, groups, pad top, left, bottom, right,
                                            relu6 (0/1), skip source (-1: none), pooled (0/1)]

Usage: python3 tools/convert_arbitrary.py SHARED_MODELS_DIR OUT.bsw   (needs onnx, numpy)
"""
import struct
import sys

import numpy as np
import onnx
from onnx import numpy_helper

TRANSFORM_LAYERS = (
    ["contract.conv1", "contract.conv2", "contract.conv3"]
    + [f"residual{b}.conv{c}" for b in range(1, 6) for c in (1, 2)]
    + ["expand.conv1", "expand.conv2", "expand.conv3"]
)


def onnx_prefix(layer):
    part, conv = layer.split(".")
    if part == "contract":
        return f"transformer/contract/{conv}"
    if part == "expand":
        return f"transformer/expand/{conv}/conv"
    return f"transformer/residual/{part}/{conv}"


class Graph:
    """An ONNX graph with its weight-side DequantizeLinear nodes evaluated."""

    def __init__(self, path):
        self.graph = onnx.load(path).graph
        self.inits = {i.name: numpy_helper.to_array(i) for i in self.graph.initializer}
        self.values = {}
        self.alias = {}
        for n in self.graph.node:
            if n.op_type == "DequantizeLinear" and n.input[0] in self.inits:
                self.values[n.output[0]] = self.dequantize(n)
            elif n.op_type in ("QuantizeLinear", "DequantizeLinear", "Identity"):
                self.alias[n.output[0]] = n.input[0]

    def dequantize(self, node):
        q = self.inits[node.input[0]].astype(np.float64)
        scale = self.inits[node.input[1]].astype(np.float64)
        zero = self.inits[node.input[2]].astype(np.float64) if len(node.input) > 2 else np.zeros_like(scale)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 1 and scale.size > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        return ((q - zero) * scale).astype(np.float32)

    def source(self, name):
        """The float tensor behind a chain of activation Q/DQ nodes."""
        while name in self.alias:
            name = self.alias[name]
        return name

    def conv(self, name_prefix):
        """Weight and bias of the Conv whose output name starts with `name_prefix`."""
        for n in self.graph.node:
            if n.op_type == "Conv" and n.output[0].startswith(name_prefix):
                return self.values[n.input[1]], self.values[n.input[2]]
        raise KeyError(name_prefix)


def transform_tensors(g):
    out = {}
    for layer in TRANSFORM_LAYERS:
        prefix = onnx_prefix(layer)
        w, b = g.conv(prefix + "/Conv2D") if not layer.startswith("contract") else g.conv(prefix + "/Relu")
        out[f"transform.{layer}.w"], out[f"transform.{layer}.b"] = w, b
        if not layer.startswith("contract"):
            # StyleNorm/Conv_1 multiplies the reciprocal deviation (gamma); StyleNorm/Conv is
            # the shift (beta), as the graph's Mul and Sub nodes show.
            gw, gb = g.conv(f"style_params/{prefix}/StyleNorm/Conv_1/")
            bw, bb = g.conv(f"style_params/{prefix}/StyleNorm/Conv/")
            out[f"transform.{layer}.gamma_w"] = gw.reshape(gw.shape[0], -1)
            out[f"transform.{layer}.gamma_b"] = gb
            out[f"transform.{layer}.beta_w"] = bw.reshape(bw.shape[0], -1)
            out[f"transform.{layer}.beta_b"] = bb
    return out


def producer_through_reshapes(g, name):
    """The op type that computes `name`, looking through Reshape and activation Q/DQ nodes."""
    producers = {n.output[0]: n for n in g.graph.node}
    while name in producers:
        node = producers[name]
        if node.op_type not in ("Reshape", "QuantizeLinear", "DequantizeLinear"):
            return node.op_type
        name = node.input[0]
    return None


def predict_tensors(g):
    nodes = g.graph.node
    consumers = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(g.source(i), []).append(n)
    convs = [n for n in nodes if n.op_type == "Conv"]
    conv_input = [g.source(n.input[0]) for n in convs]
    out = {}
    for i, n in enumerate(convs):
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        k = attrs["kernel_shape"][0]
        stride = attrs["strides"][0]
        groups = attrs.get("group", 1)
        top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
        after = [c for c in consumers.get(n.output[0], [])]
        relu6 = int(any(c.op_type == "Clip" for c in after))
        skip = -1
        for c in after:
            if c.op_type == "Add":
                other = [g.source(x) for x in c.input if g.source(x) != n.output[0]][0]
                # A residual add: the other term is the block's input, which an earlier
                # convolution reads (for the block's own input the add belongs to a later conv).
                skip = next((j for j in range(i) if conv_input[j] == other), skip)
        pooled = int(producer_through_reshapes(g, conv_input[i]) == "GlobalAveragePool")
        w, b = g.values[n.input[1]], g.values[n.input[2]]
        out[f"predict.{i}.w"], out[f"predict.{i}.b"] = w, b
        out[f"predict.{i}.meta"] = np.array([k, stride, groups, top, left, bottom, right, relu6, skip, pooled], np.float32)
    return out


def write_bsw(path, tensors):
    with open(path, "wb") as f:
        f.write(b"BSW1")
        f.write(struct.pack("<I", len(tensors)))
        for name, value in tensors.items():
            value = np.ascontiguousarray(value, dtype="<f4")
            f.write(struct.pack("<I", len(name)) + name.encode())
            f.write(struct.pack("<I", value.ndim) + struct.pack(f"<{value.ndim}I", *value.shape))
            f.write(value.tobytes())


def main():
    shared, out = sys.argv[1], sys.argv[2]
    tensors = transform_tensors(Graph(f"{shared}/arbitrary_transform.onnx"))
    tensors.update(predict_tensors(Graph(f"{shared}/arbitrary_predict.onnx")))
    write_bsw(out, tensors)
    print(f"wrote {len(tensors)} tensors to {out}")


if __name__ == "__main__":
    main()
