#!/usr/bin/env bash
# Shards of one N×N image (default 8192) run one after another on this machine: the time of
# each, their sum against one whole run with the same statistics file (the shards' overhead: a
# neighbouring tile row each), the merge, and the speed-up N machines would see (whole run /
# slowest shard + merge). Usage: benches/shard_scaling.sh [N] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-8192}
work=${2:-$(mktemp -d)}
# shellcheck source=benches/photo_setup.sh
. benches/photo_setup.sh
flags=(-q --mem-budget 1GiB)
now() { date +%s.%N; }
"$bin" "${flags[@]}" --stats thumbnail --save-stats "$work/stats.json" -o "$work/thumb.tif" "$photo"
t=$(now); "$bin" "${flags[@]}" --stats-file "$work/stats.json" -o "$work/whole.tif" "$photo"; whole=$(echo "$(now) - $t" | bc)
echo "| shards | slowest shard (s) | sum of shards (s) | merge (s) | sum / whole | speed-up on N machines |"
echo "|---|---|---|---|---|---|"
echo "| 1 (whole run) | $whole | $whole | – | 1.00 | 1.00 |"
for count in 2 4 8; do
    rm -f "$work"/out.tif*
    slowest=0; sum=0
    for ((i = 0; i < count; i++)); do
        t=$(now)
        "$bin" "${flags[@]}" --shard "$i/$count" --stats-file "$work/stats.json" -o "$work/out.tif" "$photo"
        d=$(echo "$(now) - $t" | bc)
        sum=$(echo "$sum + $d" | bc)
        slowest=$(echo "if ($d > $slowest) $d else $slowest" | bc)
    done
    t=$(now); "$bin" merge -q "$work"/out.tif.shard-*; m=$(echo "$(now) - $t" | bc)
    cmp -s "$work/out.tif" "$work/whole.tif" || { echo "merged file differs"; exit 1; }
    printf '| %d | %.1f | %.1f | %.1f | %.2f | %.2f |\n' "$count" "$slowest" "$sum" "$m" \
        "$(echo "$sum / $whole" | bc -l)" "$(echo "$whole / ($slowest + $m)" | bc -l)"
done
