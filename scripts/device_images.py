#!/usr/bin/env python3
"""Helpers of scripts/device-bench.sh that need only numpy (the device has no tifffile/PIL):
write the test photos as uncompressed TIFF, compare two uncompressed 8-bit TIFFs written by
bigstyle, and time a raw read + write of an image.

Usage: device_images.py OUT_DIR | --max-diff A.tif B.tif | --io-time IN.tif OUT.tif
"""
import struct
import sys
import time

import numpy as np


def write_tiff(path, img):
    """Minimal uncompressed RGB TIFF (one strip per 64 rows)."""
    h, w, _ = img.shape
    rps = 64
    strips = -(-h // rps)
    header = 8
    entries = 10
    ifd = 2 + 12 * entries + 4
    offsets_at = header + ifd
    counts_at = offsets_at + 4 * strips
    bits_at = counts_at + 4 * strips
    data_at = bits_at + 8
    with open(path, "wb") as f:
        f.write(b"II*\0" + struct.pack("<I", header))
        tags = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 3, bits_at), (259, 3, 1, 1), (262, 3, 1, 2),
                (273, 4, strips, offsets_at), (277, 3, 1, 3), (278, 4, 1, rps),
                (279, 4, strips, counts_at), (284, 3, 1, 1)]
        f.write(struct.pack("<H", entries))
        for tag, kind, count, value in tags:
            f.write(struct.pack("<HHII", tag, kind, count, value))
        f.write(struct.pack("<I", 0))
        row = w * 3
        f.write(struct.pack(f"<{strips}I", *[data_at + i * rps * row for i in range(strips)]))
        f.write(struct.pack(f"<{strips}I", *[min(rps, h - i * rps) * row for i in range(strips)]))
        f.write(struct.pack("<4H", 8, 8, 8, 0))
        img.tofile(f)


def read_tiff(path):
    """Reads an uncompressed, contiguous 8-bit RGB TIFF as written by bigstyle (classic TIFF)."""
    data = np.memmap(path, dtype=np.uint8, mode="r")
    (ifd,) = struct.unpack_from("<I", data, 4)
    (n,) = struct.unpack_from("<H", data, ifd)
    tags = {}
    for i in range(n):
        tag, kind, count, value = struct.unpack_from("<HHII", data, ifd + 2 + 12 * i)
        if kind == 3 and count == 1:
            value &= 0xFFFF
        tags[tag] = (count, value)
    w, h = tags[256][1], tags[257][1]
    count, value = tags[273]
    first = value if count == 1 else struct.unpack_from("<I", data, value)[0]
    return np.asarray(data[first:first + w * h * 3]).reshape(h, w, 3)


def photo(n):
    y, x = np.mgrid[0:n, 0:n]
    planes = [((x * (c + 3) + y * 7) % 97) / 97.0 * 0.4 + (x + y) / (2 * n) * 0.6 for c in range(3)]
    return (np.stack(planes, 2) * 255).astype(np.uint8)


def main(args):
    if args[0] == "--max-diff":
        a, b = read_tiff(args[1]).astype(int), read_tiff(args[2]).astype(int)
        print(int(np.abs(a - b).max()))
    elif args[0] == "--io-time":
        started = time.perf_counter()
        img = np.array(read_tiff(args[1]))
        write_tiff(args[2], img)
        print(f"{time.perf_counter() - started:.2f}")
    else:
        for n in (1024, 10000):
            write_tiff(f"{args[0]}/photo{n}.tif", photo(n))


if __name__ == "__main__":
    if not sys.argv[1:]:
        sys.exit(__doc__)
    main(sys.argv[1:])
