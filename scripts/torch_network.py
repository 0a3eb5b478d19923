#!/usr/bin/env python3
"""The multistyle26 generator in PyTorch, loaded from bigstyle's embedded weight file, for the
device benchmark (scripts/device-bench.sh): times the network over the same tiles bigstyle runs.

Usage: python3 scripts/torch_network.py WEIGHTS.bsw IMAGE_SIDE TILE OVERLAP
Prints one line: tiles, seconds, megapixels per second.
"""
import struct
import sys
import time

import torch
import torch.nn.functional as F

LAYERS = ["contract.0", "contract.1", "contract.2"] + [
    f"res.{b}.{i}" for b in range(6) for i in range(2)
] + ["expand.0", "expand.1", "expand.2"]


def load(path):
    data = open(path, "rb").read()
    assert data[:4] == b"BSW1"
    count, at = struct.unpack_from("<I", data, 4)[0], 8
    tensors = {}
    for _ in range(count):
        (n,) = struct.unpack_from("<I", data, at)
        name = data[at + 4 : at + 4 + n].decode()
        at += 4 + n
        (rank,) = struct.unpack_from("<I", data, at)
        dims = struct.unpack_from(f"<{rank}I", data, at + 4)
        at += 4 + 4 * rank
        size = 1
        for d in dims:
            size *= d
        values = torch.frombuffer(bytearray(data[at : at + 4 * size]), dtype=torch.float32)
        tensors[name] = values.reshape(dims)
        at += 4 * size
    return tensors


class Generator(torch.nn.Module):
    def __init__(self, tensors, style):
        super().__init__()
        self.w = [tensors[f"{l}.w"] for l in LAYERS]
        self.g = [(style @ tensors[f"{l}.norm.gamma"]) for l in LAYERS]
        self.b = [(style @ tensors[f"{l}.norm.beta"]) for l in LAYERS]

    def to(self, device):
        self.w = [t.to(device) for t in self.w]
        self.g = [t.to(device) for t in self.g]
        self.b = [t.to(device) for t in self.b]
        return self

    def step(self, i, x, stride=1, up=False):
        if up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        k = self.w[i].shape[-1] // 2
        x = F.conv2d(F.pad(x, (k, k, k, k), mode="reflect"), self.w[i], stride=stride)
        mean = x.mean(dim=(2, 3), keepdim=True)
        var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
        x = (x - mean) / torch.sqrt(var + 1e-5)
        return x * self.g[i].view(1, -1, 1, 1) + self.b[i].view(1, -1, 1, 1)

    def forward(self, x):
        x = F.relu(self.step(0, x))
        x = F.relu(self.step(1, x, stride=2))
        x = F.relu(self.step(2, x, stride=2))
        for b in range(6):
            y = F.relu(self.step(3 + 2 * b, x))
            x = x + self.step(4 + 2 * b, y)
        x = F.relu(self.step(15, x, up=True))
        x = F.relu(self.step(16, x, up=True))
        return torch.sigmoid(self.step(17, x))


def main(weights, side, tile, overlap):
    style = torch.zeros(26)
    style[0] = 1.0
    net = Generator(load(weights), style).to("cuda")
    window = min(side, tile + 2 * overlap)
    tiles = (-(-side // tile)) ** 2
    x = torch.rand(1, 3, window, window, device="cuda")
    with torch.no_grad():
        net(x)
        torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(tiles):
            net(x)
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    print(f"pytorch {torch.__version__}: {tiles} tiles of {window}x{window}, {seconds:.2f} s, "
          f"{side * side / 1e6 / seconds:.1f} Mpx/s of image")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
