#!/usr/bin/env python3
"""Convert the multistyle26 ONNX generator into bigstyle's embedded weight file.

Usage: python3 tools/convert_weights.py ../shared/models/multistyle26.onnx src/network/multistyle26.bsw

Format (all little-endian): b"BSW1", u32 tensor count, then per tensor:
u32 name length, UTF-8 name, u32 rank, u32 dims[rank], f32 data[prod(dims)].
Tensors keep the ONNX initializer names (e.g. `res.3.1.w`, `expand.2.norm.gamma`).
"""
import struct
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def main(src: str, dst: str) -> None:
    model = onnx.load(src)
    tensors = [(i.name, numpy_helper.to_array(i).astype("<f4")) for i in model.graph.initializer]
    with open(dst, "wb") as out:
        out.write(b"BSW1")
        out.write(struct.pack("<I", len(tensors)))
        for name, arr in tensors:
            encoded = name.encode()
            out.write(struct.pack("<I", len(encoded)))
            out.write(encoded)
            out.write(struct.pack("<I", arr.ndim))
            out.write(struct.pack(f"<{arr.ndim}I", *arr.shape))
            out.write(np.ascontiguousarray(arr).tobytes())
    params = sum(a.size for _, a in tensors)
    print(f"wrote {dst}: {len(tensors)} tensors, {params} parameters")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
