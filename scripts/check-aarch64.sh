#!/usr/bin/env bash
# `cargo check` for aarch64 Linux (ARM servers; the same code paths as Apple Silicon): the
# generic kernels and the gemm crate's NEON path must keep compiling. Needs the target's
# standard library (rustup) and a C cross compiler with the target's C headers for lcms2's and
# zstd's build scripts (Debian's gcc-aarch64-linux-gnu, libc6-dev-arm64-cross); installs what is
# missing. Where rustup cannot fetch the standard library (no network to static.rust-lang.org),
# it says so and skips; a compile error fails.
set -euo pipefail
cd "$(dirname "$0")/.."
target=aarch64-unknown-linux-gnu
if ! rustup target list --installed | grep -qx "$target"; then
    if ! rustup target add "$target"; then
        echo "aarch64 check skipped: rustup could not fetch the $target standard library" >&2
        exit 0
    fi
fi
# The compiler, and the C library's headers that zstd's build includes (a Recommends of the
# compiler, so not installed with it here).
if ! command -v aarch64-linux-gnu-gcc >/dev/null ||
    [ ! -f /usr/aarch64-linux-gnu/include/bits/libc-header-start.h ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        gcc-aarch64-linux-gnu libc6-dev-arm64-cross
fi
CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc cargo check --release --target "$target"
