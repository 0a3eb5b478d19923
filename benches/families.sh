#!/usr/bin/env bash
# Every network family end to end under a memory budget: wall time and peak RSS
# (/usr/bin/time -v) of the default exact run on an N×N photo (default 4096) with
# --mem-budget 256MiB, and the plan `bigstyle info` makes for it.
# Usage: benches/families.sh [N] [WORKDIR]   (needs python3 with numpy, pillow, tifffile)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-4096}
work=${2:-$(mktemp -d)}
# shellcheck source=benches/photo_setup.sh
. benches/photo_setup.sh
for family in "--style 0" "--style-image tests/data/chelsea.png" "--model tests/data/models/tnet-zip.pth"; do
    # shellcheck disable=SC2086
    plan=$("$bin" info --mem-budget 256MiB $family "$photo" | grep -E "tiles|memory" | tr -s ' ' | paste -sd';')
    log=$(mktemp)
    # shellcheck disable=SC2086
    /usr/bin/time -v "$bin" -q --mem-budget 256MiB $family -o "$work/out.tif" "$photo" 2> "$log"
    wall=$(grep "Elapsed (wall clock)" "$log" | awk '{print $NF}')
    rss=$(grep "Maximum resident set size" "$log" | awk '{print $NF}')
    echo "$family: wall $wall, peak RSS $((rss / 1024)) MiB; plan:$plan"
    rm -f "$log"
done
