#!/usr/bin/env bash
# GPU check and benchmark, for one call on a machine with an NVIDIA GPU, CUDA and PyTorch but no
# Rust: carry target/release/bigstyle built with `cargo build --release --features cuda`.
#   1. CUDA output vs CPU output on a 1024x1024 photo (max difference, 8-bit levels; must be <= 2)
#   2. a 10000x10000 end-to-end run on the GPU (thumbnail statistics, uncompressed output)
#   3. the same network in PyTorch on the same GPU over the same tiles
#   4. the raw read + write time of the same image (the I/O floor)
# Prints a short table. Usage: scripts/device-bench.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-/tmp/bigstyle-device}}
mkdir -p "$out"
bin=target/release/bigstyle
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt"

python3 scripts/device_images.py "$out"           # photo1024.tif, photo10000.tif
"$bin" -q --device cpu --compress none --tile 512 "$out/photo1024.tif" -o "$out/cpu.tif"
"$bin" -q --device cuda --compress none --tile 512 "$out/photo1024.tif" -o "$out/gpu.tif"
diff=$(python3 scripts/device_images.py --max-diff "$out/cpu.tif" "$out/gpu.tif")

start=$(date +%s.%N)
"$bin" --json --device cuda --stats thumbnail --compress none --tile 1024 \
    "$out/photo10000.tif" -o "$out/gpu10000.tif" > "$out/gpu10000.json"
gpu_s=$(echo "$(date +%s.%N) - $start" | bc)
torch_line=$(python3 scripts/torch_network.py src/network/multistyle26.bsw 10000 1024 128)
torch_s=$(echo "$torch_line" | sed -E 's/.*, ([0-9.]+) s,.*/\1/')
io_s=$(python3 scripts/device_images.py --io-time "$out/photo10000.tif" "$out/copy.tif")

printf '%-34s %s\n' "GPU" "$(cat "$out/gpu.txt")" \
    "CUDA vs CPU, 1024^2, max diff" "$diff levels" \
    "bigstyle 10000^2 end to end" "$gpu_s s ($(echo "100 / $gpu_s" | bc -l | cut -c1-5) Mpx/s)" \
    "PyTorch network, same tiles" "$torch_s s" \
    "ratio bigstyle / PyTorch" "$(echo "$gpu_s / $torch_s" | bc -l | cut -c1-5)" \
    "read + write of the image" "$io_s s" \
    "ratio bigstyle / (read + write)" "$(echo "$gpu_s / $io_s" | bc -l | cut -c1-5)" | tee "$out/table.txt"
