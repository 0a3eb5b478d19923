#!/usr/bin/env bash
# Speed of --stroke-scale on an N×N photo TIFF: wall time and peak RSS (/usr/bin/time -v) of
# the default run at S = 1, 4 and 8 with --mem-budget 1GiB, against a plain libvips resize of
# the same file to 1/4 and back (the I/O floor), in one run.
# Usage: benches/stroke_speed.sh PHOTO.tif   (needs: pip install pyvips pyvips-binary)
set -euo pipefail
cd "$(dirname "$0")/.."
photo=$1
out=$(mktemp -d)
cargo build --release -q
for s in 1 4 8; do
    log=$(mktemp)
    /usr/bin/time -v target/release/bigstyle -q --mem-budget 1GiB --stroke-scale "$s" -o "$out/s$s.tif" "$photo" 2> "$log"
    echo "--stroke-scale $s: wall $(grep 'Elapsed (wall' "$log" | awk '{print $NF}'), peak RSS $(( $(grep 'Maximum resident' "$log" | awk '{print $NF}') / 1024 )) MiB"
done
python3 - "$photo" "$out" <<'PY'
import sys, time, pyvips
photo, out = sys.argv[1], sys.argv[2]
started = time.perf_counter()
image = pyvips.Image.new_from_file(photo, access="sequential")
image.resize(0.25).write_to_file(f"{out}/small.v")
pyvips.Image.new_from_file(f"{out}/small.v").resize(4).write_to_file(f"{out}/vips.tif", compression="lzw")
print(f"libvips resize 1/4 and back, LZW TIFF out: wall {time.perf_counter() - started:.1f} s")
PY
rm -rf "$out"
