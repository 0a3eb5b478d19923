#!/usr/bin/env python3
"""Write the small TIFF layouts the tiff crate's encoder cannot (tiled, planar, palette, 1-bit,
float, CMYK, profiled Adobe RGB / CMYK / gray) for bigstyle's format tests, with tifffile; the
profiled colours are converted from the sRGB photo with Little CMS (PIL's ImageCms).

Palette images of 1, 2 and 4 bits are written by hand (tifffile packs only 8-bit palettes) and
recompressed/tiled with libtiff's tiffcp (apt-get install libtiff-tools); each palette file gets a
`.expected.png` with its colours looked up here, independently of bigstyle's decoder.

Usage: python3 tools/make_format_samples.py tests/data/formats
"""
import io
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, ImageCms

W, H = 72, 56


def photo() -> np.ndarray:
    here = Path(__file__).resolve().parent.parent
    img = Image.open(here / "tests/data/chelsea.png").convert("RGB").resize((W, H))
    return np.asarray(img)


def icc(name: str) -> bytes:
    here = Path(__file__).resolve().parent.parent
    return (here / "tests/data/icc" / name).read_bytes()


def convert(rgb: np.ndarray, profile: str, mode: str) -> np.ndarray:
    """The sRGB photo in another profile's colour space (relative colorimetric, 8-bit)."""
    out = ImageCms.profileToProfile(
        Image.fromarray(rgb), ImageCms.createProfile("sRGB"),
        ImageCms.ImageCmsProfile(io.BytesIO(icc(profile))),
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC, outputMode=mode)
    return np.asarray(out)


def widen(samples: np.ndarray) -> np.ndarray:
    """8-bit samples as 16-bit, with a deterministic low-bit pattern so all 16 bits matter."""
    ramp = (np.arange(samples.size, dtype=np.uint32) % 251).reshape(samples.shape)
    return (samples.astype(np.uint32) * 257 - ramp * (samples > 0)).astype(np.uint16)


def profiled(d: Path, rgb: np.ndarray) -> None:
    res = dict(resolution=(300, 300), resolutionunit="INCH")
    tag = lambda name: [(34675, 7, len(icc(name)), icc(name), True)]
    cmyk = convert(rgb, "FOGRA39L-argyll.icc", "CMYK")
    Image.fromarray(cmyk, "CMYK").save(d / "cmyk-fogra.jpg", quality=90,
                                      icc_profile=icc("FOGRA39L-argyll.icc"))
    tifffile.imwrite(d / "cmyk8-fogra.tif", cmyk, photometric="separated",
                     compression="zlib", extratags=tag("FOGRA39L-argyll.icc"), **res)
    alpha = (np.arange(W * H, dtype=np.uint32).reshape(H, W, 1) * 977 % 65536).astype(np.uint16)
    cmyka = np.concatenate([widen(cmyk), alpha], axis=2).transpose(2, 0, 1)
    tifffile.imwrite(d / "cmyka16-fogra-planar.tif", cmyka, photometric="separated",
                     planarconfig="separate", extrasamples=[2], compression="zlib",
                     extratags=tag("FOGRA39L-argyll.icc"), **res)
    adobe = widen(convert(rgb, "compatibleWithAdobeRGB1998.icc", "RGB"))
    tifffile.imwrite(d / "adobergb16-tiled.tif", adobe, photometric="rgb", tile=(32, 32),
                     extratags=tag("compatibleWithAdobeRGB1998.icc"), **res)
    gray = widen(np.asarray(Image.fromarray(rgb).convert("L")))
    tifffile.imwrite(d / "gray16-profiled.tif", gray, photometric="minisblack",
                     extratags=tag("Gray.icc"), **res)


def write_palette(path: Path, index: np.ndarray, bits: int, colormap: np.ndarray) -> None:
    """An uncompressed single-strip palette TIFF with `bits` per index (MSB first)."""
    h, w = index.shape
    rows = [np.packbits(np.unpackbits(r[:, None], axis=1)[:, 8 - bits:].reshape(-1)).tobytes()
            for r in index.astype(np.uint8)]
    pixels = b"".join(rows)
    cmap = colormap.astype("<u2").tobytes()
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, bits), (259, 3, 1, 1),
               (262, 3, 1, 3), (273, 4, 1, None), (277, 3, 1, 1), (278, 4, 1, h),
               (279, 4, 1, len(pixels)), (284, 3, 1, 1), (320, 3, colormap.size, None)]
    ifd_at = 8
    ifd_len = 2 + 12 * len(entries) + 4
    cmap_at = ifd_at + ifd_len
    data_at = cmap_at + len(cmap)
    out = bytearray(b"II*\0" + struct.pack("<I", ifd_at) + struct.pack("<H", len(entries)))
    for tag, kind, count, value in entries:
        value = {273: data_at, 320: cmap_at}.get(tag, value)
        packed = struct.pack("<H", value) + b"\0\0" if kind == 3 else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, count) + packed
    out += struct.pack("<I", 0) + cmap + pixels
    path.write_bytes(bytes(out))


def palettes(d: Path, rgb: np.ndarray) -> None:
    gray = np.asarray(Image.fromarray(rgb).convert("L")).astype(np.uint16)
    for bits, options in [(4, ["-c", "lzw", "-t", "-w", "16", "-l", "16"]),
                          (2, ["-c", "packbits", "-r", "7"]),
                          (1, ["-c", "zip", "-r", "9"])]:
        entries = 1 << bits
        index = (gray * entries // 256).astype(np.uint8)
        levels = np.arange(entries, dtype=np.uint32)
        colormap = np.stack([levels * 65535 // (entries - 1),
                             (entries - 1 - levels) * 65535 // (entries - 1),
                             (levels * 40503 + 12345) % 65536]).astype(np.uint16)
        name = f"palette{bits}"
        raw = d / f"{name}.raw.tif"
        write_palette(raw, index, bits, colormap)
        subprocess.run(["tiffcp", *options, str(raw), str(d / f"{name}.tif")], check=True)
        raw.unlink()
        expected = ((colormap.astype(np.uint32) + 128) // 257).astype(np.uint8).T[index]
        Image.fromarray(expected).save(d / f"{name}.expected.png")


def main(out: str) -> None:
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    rgb = photo()
    res = dict(resolution=(300, 300), resolutionunit="INCH")
    tifffile.imwrite(d / "tiled-rgb8.tif", rgb, tile=(32, 32), photometric="rgb", **res)
    tifffile.imwrite(d / "planar-rgb16.tif", (rgb.astype(np.uint16) * 257).transpose(2, 0, 1),
                     planarconfig="separate", photometric="rgb", compression="zlib", **res)
    tifffile.imwrite(d / "tiled-planar-rgb8.tif", rgb.transpose(2, 0, 1), tile=(16, 32),
                     planarconfig="separate", photometric="rgb")
    index = (rgb[..., 0] // 32 * 32 + rgb[..., 1] // 64 * 4 + rgb[..., 2] // 128).astype(np.uint8)
    levels = np.arange(256, dtype=np.uint16)
    colormap = np.stack([levels * 257, (255 - levels) * 257, (levels * 7 % 256) * 257])
    tifffile.imwrite(d / "palette8.tif", index, photometric="palette", colormap=colormap)
    expected = ((colormap.astype(np.uint32) + 128) // 257).astype(np.uint8).T[index]
    Image.fromarray(expected).save(d / "palette8.expected.png")
    tifffile.imwrite(d / "float32.tif", rgb.astype(np.float32) / 255, photometric="rgb")
    tifffile.imwrite(d / "bilevel.tif", rgb[..., 0] > 128, photometric="minisblack")
    cmyk = np.concatenate([255 - rgb, np.zeros((H, W, 1), np.uint8)], axis=2)
    tifffile.imwrite(d / "cmyk8.tif", cmyk, photometric="separated")
    profiled(d, rgb)
    palettes(d, rgb)
    # JPEG-in-TIFF (YCbCr, 2x2 subsampled), and libtiff's own RGB decode of it through PIL.
    tifffile.imwrite(d / "jpeg-ycbcr.tif", rgb, photometric="ycbcr", compression="jpeg",
                     rowsperstrip=16)
    Image.open(d / "jpeg-ycbcr.tif").convert("RGB").save(d / "jpeg-ycbcr.expected.png")
    print("wrote", sorted(p.name for p in d.iterdir()))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
