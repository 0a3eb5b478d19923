#!/bin/sh
# Rebuilds the ICC profiles in tests/data/icc from Debian packages (see tests/data/icc/README.md).
# Needs: apt-get install argyll icc-profiles-free
set -eu
out=${1:-tests/data/icc}
src=/usr/share/color/icc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$src/compatibleWithAdobeRGB1998.icc" "$src/Gray.icc" "$out/"
# A CMYK print profile from FOGRA39 (ISO coated v2) characterization data, low quality so the
# file stays small: A2B/B2A tables, relative black generation, 300 % total ink.
cp "$src/FOGRA39L.ti3" "$work/"
(cd "$work" && colprof -ql -kr -l 300 \
    -D "FOGRA39L (Argyll colprof, low quality) - bigstyle test profile" \
    -C "Characterization data: FOGRA39L.ti3 from icc-profiles-free (Zlib, Kai-Uwe Behrmann)" \
    FOGRA39L >/dev/null)
cp "$work/FOGRA39L.icc" "$out/FOGRA39L-argyll.icc"
ls -l "$out"
