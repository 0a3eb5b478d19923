#!/usr/bin/env bash
# What the kernel charges for scratch maps on this machine: the system time of writing MB
# megabytes into a new file, over the cached pages of the same file, and into a new file right
# after another was deleted (its pages freed a moment before) and 10 s later (on a VM with free
# page reporting, the host may have taken the freed pages back by then: 1.13 s of system time
# once, 0.29 s another time). Then reading them back.
# Usage: benches/page_cache_cost.sh [MB] [DIR]   (default 800, a new folder under /tmp)
set -euo pipefail
mb=${1:-800}
dir=${2:-$(mktemp -d)}
mkdir -p "$dir"
sys() { # label, dd arguments...
    local label=$1
    shift
    /usr/bin/time -f "%e %S" -o "$dir/t.txt" dd bs=1M status=none "$@"
    read -r wall system < "$dir/t.txt"
    printf '%-34s %6.2f s wall %6.2f s system\n' "$label" "$wall" "$system"
}
grep -qw avx512f /proc/cpuinfo && simd=avx512 || simd=avx2
echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) ($simd), $mb MB, $(date +%F)"
sys "new file" if=/dev/zero of="$dir/a" count="$mb"
sys "over its cached pages" if=/dev/zero of="$dir/a" count="$mb" conv=notrunc
sys "read back (cached)" if="$dir/a" of=/dev/null
rm "$dir/a"
sys "new file, just after a delete" if=/dev/zero of="$dir/b" count="$mb"
rm "$dir/b"
sleep 10
sys "new file, 10 s after a delete" if=/dev/zero of="$dir/c" count="$mb"
rm -f "$dir/c" "$dir/t.txt"
