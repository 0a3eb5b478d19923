#!/usr/bin/env bash
# What exact statistics cost: the default (exact) run of an N×N photo TIFF under --mem-budget
# 1GiB, with f32 and with f16 scratch maps, against the thumbnail-statistics run (one network
# pass over the tiles plus a thumbnail), back to back. Prints wall time, peak RSS, the largest
# scratch folder seen (polled every 0.2 s), the ratio to the thumbnail run, and the PSNR of the
# f16 output against the f32 one. With ROUNDS > 1 the three runs are repeated in turn (this VM's
# runs of one binary vary by ±10 %, more with what ran before them) and the median ratio is
# printed as well.
# Usage: benches/exact_vs_thumbnail.sh [N] [WORKDIR] [ROUNDS]   (default 10000, a temporary
# folder, 1; needs python3 with numpy, pillow, tifffile)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
work=${2:-$(mktemp -d)}
rounds=${3:-1}
# shellcheck source=benches/photo_setup.sh
. benches/photo_setup.sh
scratch="$work/scratch"
mkdir -p "$scratch"
run() { # name, flags...
    local name=$1
    shift
    local peak=0 used
    /usr/bin/time -f "%e %M" -o "$work/time.txt" \
        "$bin" -q --mem-budget 1GiB --scratch-dir "$scratch" -o "$work/$name.tif" "$@" "$photo" &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        # A map deleted while du walks the folder is not an error.
        used=$(du -sb "$scratch" 2>/dev/null | cut -f1 || true)
        ((${used:-0} > peak)) && peak=$used
        sleep 0.2
    done
    wait "$pid"
    read -r wall rss < "$work/time.txt"
    echo "$name $wall $rss $peak"
}
echo "bigstyle $build, ${n}x$n, --mem-budget 1GiB, $(nproc) threads"
printf '%-6s %-10s %9s %10s %12s %s\n' round run wall_s peak_MiB scratch_MiB vs_thumbnail
ratios=""
for round in $(seq "$rounds"); do
    thumb=$(run thumbnail --stats thumbnail)
    exact32=$(run exact-f32)
    exact16=$(run exact-f16 --scratch-precision f16)
    t_thumb=$(echo "$thumb" | cut -d' ' -f2)
    for line in "$thumb" "$exact32" "$exact16"; do
        read -r name wall rss peak <<< "$line"
        ratio=$(echo "$wall / $t_thumb" | bc -l)
        ratios+="$name $ratio"$'\n'
        printf '%-6s %-10s %9.1f %10.0f %12.0f %.2fx\n' "$round" "$name" "$wall" \
            "$(echo "$rss / 1024" | bc -l)" "$(echo "$peak / 1048576" | bc -l)" "$ratio"
    done
done
if ((rounds > 1)); then
    for name in exact-f32 exact-f16; do
        echo "$ratios" | awk -v name="$name" '$1 == name { print $2 }' | sort -n |
            awk -v name="$name" '{ r[NR] = $1 } END {
                m = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
                printf "median %s: %.2fx of the thumbnail run (%d rounds)\n", name, m, NR }'
    done
fi
python3 - "$work/exact-f32.tif" "$work/exact-f16.tif" <<'PY'
import sys, numpy as np
from PIL import Image
Image.MAX_IMAGE_PIXELS = None
a, b = (np.asarray(Image.open(p), dtype=np.float64) for p in sys.argv[1:3])
mse = np.mean((a - b) ** 2)
print(f"f16 scratch against f32 scratch: {10 * np.log10(255 ** 2 / mse):.1f} dB, max {int(np.abs(a - b).max())} levels")
PY
