#!/usr/bin/env bash
# `bigstyle info`'s time estimate against the real run it describes: for each plan below, the
# estimate (and, given a second binary, that binary's estimate) and the wall time of the run
# itself (whole process, quiet), back to back on an N×N photo TIFF.
# Usage: benches/info_vs_real.sh [N] [WORKDIR] [BEFORE_BINARY]   (default 2048; needs python3
# with numpy, pillow, tifffile)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2048}
work=${2:-$(mktemp -d)}
before=${3:-}
# shellcheck source=benches/photo_setup.sh
. benches/photo_setup.sh
scratch="$work/scratch"
mkdir -p "$scratch"
estimate() { # binary, flags...: the estimate in seconds
    "$@" --json "$photo" | python3 -c "import json,sys; print(json.load(sys.stdin)['estimated_seconds'])"
}
plans=("" "--tile 128" "--tile 256" "--tile 512" "--tile 1024" "--tile 512 --stats thumbnail"
    "--tile 512 --scratch-precision f16")
printf '%-38s %10s %10s %10s %7s\n' "flags (${n}x$n)" before_s info_s real_s info/real
for flags in "${plans[@]}"; do
    # shellcheck disable=SC2086
    now=$(estimate "$bin" info $flags)
    was=-
    # shellcheck disable=SC2086
    [ -n "$before" ] && was=$(printf '%.2f' "$(estimate "$before" info $flags)")
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$bin" -q $flags --scratch-dir "$scratch" -o "$work/out.tif" "$photo"
    real=$(echo "$(date +%s.%N) - $t0" | bc)
    printf '%-38s %10s %10.2f %10.2f %7.2f\n' "${flags:-(default)}" "$was" "$now" "$real" \
        "$(echo "$now / $real" | bc -l)"
done
