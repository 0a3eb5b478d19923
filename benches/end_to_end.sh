#!/usr/bin/env bash
# End-to-end benchmarks of the bigstyle binary: wall time and peak RSS (/usr/bin/time -v) for
# each statistics mode and image size, with onnxruntime's whole-image run as the reference.
# Usage: benches/end_to_end.sh [WORKDIR] [quick]
#   (needs python3 with numpy, pillow, tifffile, onnxruntime; `quick` stops after the 2048² runs)
# Prints one line per run; docs/BENCHMARKS.md records the results.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
quick=${2:-}
model=${BIGSTYLE_ONNX:-../shared/models/multistyle26.onnx}
# shellcheck source=benches/binary_setup.sh
. benches/binary_setup.sh

input() { # size -> path of a photo-mosaic TIFF of that size
    local f="$work/photo$1.tif"
    [ -f "$f" ] || python3 benches/make_photo_tiff.py "$1" "$f"
    echo "$f"
}

run() { # label, bigstyle args...
    local label=$1; shift
    local log; log=$(mktemp)
    /usr/bin/time -v "$bin" -q "$@" 2> "$log" > /dev/null
    local wall rss
    wall=$(grep "Elapsed (wall clock)" "$log" | awk '{print $NF}')
    rss=$(grep "Maximum resident set size" "$log" | awk '{print $NF}')
    echo "$label: wall $wall, peak RSS $((rss / 1024)) MiB"
    rm -f "$log"
}

ort() { # size
    local log; log=$(mktemp)
    /usr/bin/time -v python3 benches/onnxruntime_network.py "$model" "$1" 2 "$(nproc)" 2> "$log" | sed 's/^/  /'
    echo "onnxruntime whole image $1x$1: peak RSS $(( $(grep "Maximum resident" "$log" | awk '{print $NF}') / 1024 )) MiB"
    rm -f "$log"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(lscpu | grep 'Model name' | sed 's/.*: *//')"
echo "== onnxruntime, whole image (reference)"
ort 1024
ort 2048
echo "== statistics modes on a 2048x2048 photo, tile 1024, overlap 128"
f=$(input 2048)
run "exact     2048" --tile 1024 --stats exact "$f" -o "$work/out.tif"
run "thumbnail 2048" --tile 1024 --stats thumbnail "$f" -o "$work/out.tif"
[ "$quick" = quick ] && exit 0
echo "== 10000x10000, default settings (exact statistics, LZW, automatic tile)"
f=$(input 10000)
run "exact     10000" "$f" -o "$work/out.tif"
run "thumbnail 10000" --stats thumbnail "$f" -o "$work/out.tif"
echo "== memory sweep with --mem-budget 1GiB (thumbnail statistics, uncompressed output)"
for n in 4096 10000 20000; do
    f=$(input "$n")
    run "budget 1GiB $n" --mem-budget 1GiB --stats thumbnail --compress none "$f" -o "$work/out.tif"
done
rm -f "$work/out.tif"
