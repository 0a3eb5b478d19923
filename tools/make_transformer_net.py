#!/usr/bin/env python3
"""Test checkpoints of the PyTorch fast_neural_style TransformerNet, and PyTorch's own outputs.

Writes to tests/data/models/:
  tnet-zip.pth      the zip format (torch >= 1.6), float16 weights (half the size; the reader
                    must convert them)
  tnet-legacy.pth   the legacy format (_use_new_zipfile_serialization=False), float16, with the
                    in*.running_mean/var keys that checkpoints of older PyTorch carry
  foreign.pth       a state dict of another architecture (must be refused)
  tnet_<image>.png  PyTorch's output for tests/data/golden/<image>_in.png (reflect-padded to a
                    multiple of 4, as bigstyle and the other references do, then cropped)

The weights are random (seeded) and scaled so that the output spans the whole 0..255 range.
Usage: python3 tools/make_transformer_net.py   (needs torch, numpy, pillow)
"""
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

ROOT = os.path.join(os.path.dirname(__file__), "..")
OUT = os.path.join(ROOT, "tests", "data", "models")
GOLDEN = os.path.join(ROOT, "tests", "data", "golden")


class Conv(nn.Module):
    """Reflection padding of kernel // 2, then a biased convolution (module names as upstream)."""

    def __init__(self, cin, cout, k, stride, upsample=False):
        super().__init__()
        self.upsample = upsample
        self.pad = k // 2
        self.conv2d = nn.Conv2d(cin, cout, k, stride)

    def forward(self, x):
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv2d(F.pad(x, [self.pad] * 4, mode="reflect"))


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.in1 = Conv(c, c, 3, 1), nn.InstanceNorm2d(c, affine=True)
        self.conv2, self.in2 = Conv(c, c, 3, 1), nn.InstanceNorm2d(c, affine=True)

    def forward(self, x):
        return x + self.in2(self.conv2(F.relu(self.in1(self.conv1(x)))))


class TransformerNet(nn.Module):
    """pytorch/examples fast_neural_style's generator: same parameter names and computation."""

    def __init__(self):
        super().__init__()
        self.conv1, self.in1 = Conv(3, 32, 9, 1), nn.InstanceNorm2d(32, affine=True)
        self.conv2, self.in2 = Conv(32, 64, 3, 2), nn.InstanceNorm2d(64, affine=True)
        self.conv3, self.in3 = Conv(64, 128, 3, 2), nn.InstanceNorm2d(128, affine=True)
        for i in range(1, 6):
            setattr(self, f"res{i}", Residual(128))
        self.deconv1, self.in4 = Conv(128, 64, 3, 1, True), nn.InstanceNorm2d(64, affine=True)
        self.deconv2, self.in5 = Conv(64, 32, 3, 1, True), nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = Conv(32, 3, 9, 1)

    def forward(self, x):
        y = F.relu(self.in1(self.conv1(x)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        for i in range(1, 6):
            y = getattr(self, f"res{i}")(y)
        y = F.relu(self.in4(self.deconv1(y)))
        y = F.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


def random_net():
    torch.manual_seed(7)
    net = TransformerNet().eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.startswith("in") or ".in" in name:
                p.copy_(1.0 + 0.3 * torch.randn_like(p) if name.endswith("weight") else 0.3 * torch.randn_like(p))
        # Spread the output over 0..255 (random weights otherwise give a flat gray).
        net.deconv3.conv2d.weight.mul_(120.0)
        net.deconv3.conv2d.bias.fill_(128.0)
    return net


def stylize(net, path):
    img = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    h, w = img.shape[:2]
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    ph, pw = -(-h // 4) * 4, -(-w // 4) * 4
    x = F.pad(x, (0, pw - w, 0, ph - h), mode="reflect")
    with torch.no_grad():
        y = net(x)[0, :, :h, :w]
    y = (y / 255.0).clamp(0, 1) * 255.0 + 0.5
    return Image.fromarray(y.floor().to(torch.uint8).permute(1, 2, 0).numpy())


def main():
    os.makedirs(OUT, exist_ok=True)
    net = random_net()
    state = net.state_dict()
    torch.save({k: v.half() for k, v in state.items()}, os.path.join(OUT, "tnet-zip.pth"))
    legacy = dict(state)
    for i in range(1, 6):
        legacy[f"in{i}.running_mean"] = torch.zeros(state[f"in{i}.weight"].shape)
        legacy[f"in{i}.running_var"] = torch.ones(state[f"in{i}.weight"].shape)
    legacy = {k: v.half() for k, v in legacy.items()}
    torch.save(legacy, os.path.join(OUT, "tnet-legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save(nn.Linear(4, 2).state_dict(), os.path.join(OUT, "foreign.pth"))
    # The reference runs on the weights as stored in the zip checkpoint (float16, widened).
    net.load_state_dict({k: v.half().float() for k, v in state.items()})
    for image in ["square", "wide"]:
        stylize(net, os.path.join(GOLDEN, f"{image}_in.png")).save(os.path.join(OUT, f"tnet_{image}.png"))
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
