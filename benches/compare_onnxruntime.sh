#!/usr/bin/env bash
# Runs bigstyle's CPU engine and onnxruntime on the same network, image size and thread count,
# back to back, and prints the throughput ratio (bigstyle / onnxruntime; above 1 is faster).
# Usage: benches/compare_onnxruntime.sh [SIZE] [REPS]   (needs: pip install onnxruntime numpy)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-2048}
reps=${2:-3}
threads=$(nproc)
model=${BIGSTYLE_ONNX:-../shared/models/multistyle26.onnx}
report=$(RAYON_NUM_THREADS=$threads cargo bench -q --bench network -- "$size" "$reps")
echo "$report"
ours=$(echo "$report" | head -1)
theirs=$(python3 benches/onnxruntime_network.py "$model" "$size" "$reps" "$threads")
echo "$theirs"
a=$(echo "$ours" | sed -E 's/.* ([0-9.]+) Mpx\/s.*/\1/')
b=$(echo "$theirs" | sed -E 's/.* ([0-9.]+) Mpx\/s.*/\1/')
python3 -c "print(f'throughput ratio bigstyle/onnxruntime: {$a / $b:.2f}x')"
