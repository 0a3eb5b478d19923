#!/usr/bin/env bash
# Runs the input fuzz target (fuzz/fuzz_targets/read_input.rs) for a time budget, seeded with
# the test images, without cargo-fuzz or a nightly toolchain: RUSTC_BOOTSTRAP=1 lets the stable
# compiler take the sanitizer-coverage flags libFuzzer needs (the flags cargo-fuzz passes, minus
# AddressSanitizer: the reader is safe Rust, and the budget goes to coverage instead). A crash,
# a hang (-timeout) or an allocation past -rss_limit_mb fails the script and leaves the input
# under fuzz/artifacts/.
# Usage: scripts/fuzz-ci.sh [SECONDS]   (default 60; CI runs 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
host=$(rustc -vV | sed -n 's/^host: //p')
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# --target keeps the flags off build scripts and procedural macros, as cargo-fuzz does.
cargo build --release --manifest-path fuzz/Cargo.toml --target "$host" --bin read_input
corpus=fuzz/corpus/read_input
mkdir -p "$corpus" fuzz/artifacts/read_input
cp -n tests/data/formats/*.tif tests/data/formats/*.jpg "$corpus"/ 2>/dev/null || true
fuzz/target/"$host"/release/read_input "$corpus" \
    -artifact_prefix=fuzz/artifacts/read_input/ \
    -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=262144 -print_final_stats=1
