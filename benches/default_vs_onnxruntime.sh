#!/usr/bin/env bash
# What a user runs against what they would otherwise run: bigstyle's default run (exact
# statistics, TIFF in and out, the whole process) on a W×H photo TIFF, against onnxruntime's
# network alone on an image of the same size, same threads, back to back; best of REPS each.
# Prints both and the ratio (onnxruntime's network time / bigstyle's whole run; above 1: the
# whole bigstyle run is faster than onnxruntime's network alone).
# Usage: benches/default_vs_onnxruntime.sh [W] [H] [REPS] [WORKDIR]   (default 2048 2048 3)
# (needs python3 with numpy, pillow, tifffile, onnxruntime, onnx)
set -euo pipefail
cd "$(dirname "$0")/.."
w=${1:-2048}
h=${2:-$w}
reps=${3:-3}
work=${4:-$(mktemp -d)}
threads=$(nproc)
# shellcheck source=benches/binary_setup.sh
. benches/binary_setup.sh
photo="$work/photo${w}x$h.tif"
if [ ! -f "$photo" ]; then
    square="$work/photo$((w > h ? w : h)).tif"
    [ -f "$square" ] || python3 benches/make_photo_tiff.py "$((w > h ? w : h))" "$square"
    python3 -c "import tifffile,sys; a=tifffile.imread('$square')[:$h,:$w]; tifffile.imwrite('$photo', a, photometric='rgb', rowsperstrip=64, resolution=(300,300), resolutionunit='INCH')"
fi
best=999999
for ((i = 0; i < reps; i++)); do
    t0=$(date +%s.%N)
    "$bin" -q -o "$work/out.tif" "$photo"
    t=$(echo "$(date +%s.%N) - $t0" | bc)
    best=$(echo "if ($t < $best) $t else $best" | bc)
done
ort=$(python3 benches/onnxruntime_network.py multistyle26 "${w}x$h" "$reps" "$threads")
ort_s=$(echo "$ort" | sed -E 's/.*best of [0-9]+: ([0-9.]+) s.*/\1/')
echo "bigstyle $build default run (exact, TIFF in and out, whole process): ${w}x$h, best of $reps: $best s"
echo "$ort"
python3 -c "print(f'ratio onnxruntime network / bigstyle whole run: {$ort_s / $best:.2f}x')"
