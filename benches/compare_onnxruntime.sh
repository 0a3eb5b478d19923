#!/usr/bin/env bash
# Runs bigstyle's CPU engine and onnxruntime on the same network, image size and thread count,
# back to back, and prints the throughput ratio (bigstyle / onnxruntime; above 1 is faster).
# Usage: benches/compare_onnxruntime.sh [SIZE] [REPS] [FAMILY]
#   FAMILY: multistyle26 (default), arbitrary or transformer_net (see benches/onnxruntime_network.py)
#   (needs: pip install onnxruntime onnx numpy, and torch for transformer_net)
# BIGSTYLE_SIMD=avx2|generic forces bigstyle's kernels down; BIGSTYLE_CARGO_FLAGS=--no-default-features
# also drops gemm's AVX-512 kernels (the whole AVX2 path on an AVX-512 machine).
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-2048}
reps=${2:-3}
threads=$(nproc)
family=${3:-multistyle26}
# shellcheck disable=SC2086
report=$(RAYON_NUM_THREADS=$threads cargo bench -q ${BIGSTYLE_CARGO_FLAGS:-} --bench network -- "$size" "$reps" "$family")
echo "$report"
ours=$(echo "$report" | head -1)
theirs=$(python3 benches/onnxruntime_network.py "$family" "$size" "$reps" "$threads")
echo "$theirs"
a=$(echo "$ours" | sed -E 's/.* ([0-9.]+) Mpx\/s.*/\1/')
b=$(echo "$theirs" | sed -E 's/.* ([0-9.]+) Mpx\/s.*/\1/')
python3 -c "print(f'throughput ratio bigstyle/onnxruntime: {$a / $b:.2f}x')"
