#!/usr/bin/env bash
# A big exact run killed (SIGKILL) five times and resumed: the final file must be byte-identical
# to a clean run's; prints the sweeps recorded at each kill and the time each interruption cost.
# Usage: benches/resume_stress.sh [N] [WORKDIR]   (default 10000; needs python3 with numpy,
# pillow, tifffile)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
work=${2:-$(mktemp -d)}
# shellcheck source=benches/photo_setup.sh
. benches/photo_setup.sh
scratch="$work/scratch"
mkdir -p "$scratch"
flags=(-q --mem-budget 1GiB --scratch-dir "$scratch")
now() { date +%s.%N; }
t0=$(now)
"$bin" "${flags[@]}" -o "$work/clean.tif" "$photo"
clean=$(echo "$(now) - $t0" | bc)
echo "clean run: ${clean} s"
rm -f "$work/resumed.tif"
total=0
for k in 1 2 3 4 5; do
    start=$(now)
    "$bin" "${flags[@]}" --resume -o "$work/resumed.tif" "$photo" &
    pid=$!
    sleep "$(echo "$clean / 6" | bc -l)"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    seg=$(echo "$(now) - $start" | bc)
    total=$(echo "$total + $seg" | bc)
    done_sweeps=$(python3 -c "import json,glob; f=glob.glob('$scratch/*/state.json'); print(json.load(open(f[0]))['sweeps_done'] if f else 0)")
    echo "kill $k after ${seg} s: ${done_sweeps} sweeps recorded"
done
start=$(now)
"$bin" "${flags[@]}" --resume -o "$work/resumed.tif" "$photo"
seg=$(echo "$(now) - $start" | bc)
total=$(echo "$total + $seg" | bc)
echo "final resumed run: ${seg} s; all segments ${total} s; lost to 5 interruptions: $(echo "$total - $clean" | bc) s"
cmp "$work/clean.tif" "$work/resumed.tif" && echo "byte-identical"
