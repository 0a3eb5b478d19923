#!/usr/bin/env bash
# Every poster flag under a memory budget: wall time and peak RSS (/usr/bin/time -v) on an N×N
# photo (default 8192) with --mem-budget 1GiB, for 8-bit RGB, 16-bit RGBA and 8-bit CMYK input,
# --stroke-scale, --preserve-colour/--strength, --wrap and an enlargement (--width N from N/4).
# Thumbnail statistics keep the run short; the exact sweeps' memory is measured by
# benches/end_to_end.sh. Usage: benches/flag_memory.sh [N] [WORKDIR]
# (needs python3 with numpy, pillow, tifffile)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-8192}
work=${2:-$(mktemp -d)}
# shellcheck source=benches/photo_setup.sh
. benches/photo_setup.sh
python3 - "$photo" "$work" "$n" <<'PY'
import sys, numpy as np, tifffile
src, work, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
img = tifffile.imread(src)
rgba = np.concatenate([img.astype(np.uint16) * 257, np.full(img.shape[:2] + (1,), 65535, np.uint16)], 2)
rgba[: n // 4, : n // 4, 3] = 0
tifffile.imwrite(f"{work}/rgba16.tif", rgba, photometric="rgb", extrasamples=["unassalpha"], rowsperstrip=32)
k = 255 - img.max(2)
cmyk = np.stack([255 - img[..., 0] - k, 255 - img[..., 1] - k, 255 - img[..., 2] - k, k], 2).astype(np.uint8)
tifffile.imwrite(f"{work}/cmyk.tif", cmyk, photometric="separated", rowsperstrip=64)
tifffile.imwrite(f"{work}/quarter.tif", img[::4, ::4].copy(), photometric="rgb", rowsperstrip=64)
PY
run() {
    local label=$1 input=$2
    shift 2
    local log
    log=$(mktemp)
    /usr/bin/time -v "$bin" -q --mem-budget 1GiB --stats thumbnail "$@" -o "$work/out.tif" "$input" 2> "$log"
    local wall rss
    wall=$(grep "Elapsed (wall clock)" "$log" | awk '{print $NF}')
    rss=$(grep "Maximum resident set size" "$log" | awk '{print $NF}')
    echo "| $label | $wall | $((rss / 1024)) |"
    rm -f "$log"
}
echo "| ${n}² input, --mem-budget 1GiB --stats thumbnail | wall | peak RSS (MiB) |"
echo "|---|---|---|"
run "8-bit RGB, plain" "$photo"
run "8-bit RGB, --stroke-scale 4" "$photo" --stroke-scale 4
run "8-bit RGB, --preserve-colour --strength 0.6" "$photo" --preserve-colour --strength 0.6
run "8-bit RGB, --wrap" "$photo" --wrap
run "16-bit RGBA (quarter transparent), --stroke-scale 2" "$work/rgba16.tif" --stroke-scale 2
run "8-bit CMYK, --preserve-colour" "$work/cmyk.tif" --preserve-colour
run "$((n / 4))² → --width $n (Lanczos-3 enlargement)" "$work/quarter.tif" --width "$n"
