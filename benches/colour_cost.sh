#!/usr/bin/env bash
# Cost of colour management: the same 2048² photo as untagged sRGB, as Adobe RGB and as FOGRA39
# CMYK (both with their profiles embedded, converted by Little CMS through PIL), stylized in
# alternation so that the machine's drift hits every variant alike.
# Usage: benches/colour_cost.sh [WORKDIR] [ROUNDS]   (needs python3 with numpy, pillow, tifffile)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
rounds=${2:-2}
# shellcheck source=benches/binary_setup.sh
. benches/binary_setup.sh
srgb="$work/photo2048.tif"
[ -f "$srgb" ] || python3 benches/make_photo_tiff.py 2048 "$srgb"
python3 - "$srgb" "$work" <<'PY'
import io, sys
import numpy as np, tifffile
from PIL import Image, ImageCms
src, work = sys.argv[1], sys.argv[2]
img = Image.open(src).convert("RGB")
for name, profile, mode in [("adobe", "compatibleWithAdobeRGB1998.icc", "RGB"),
                            ("cmyk", "FOGRA39L-argyll.icc", "CMYK")]:
    icc = open(f"tests/data/icc/{profile}", "rb").read()
    out = ImageCms.profileToProfile(img, ImageCms.createProfile("sRGB"),
                                    ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                    renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
                                    outputMode=mode)
    tifffile.imwrite(f"{work}/{name}2048.tif", np.asarray(out), rowsperstrip=64,
                     photometric="separated" if mode == "CMYK" else "rgb",
                     extratags=[(34675, 7, len(icc), icc, True)])
PY
echo "machine: $(nproc) cores, $(lscpu | grep 'Model name' | sed 's/.*: *//')"
for stats in thumbnail exact; do
    for round in $(seq "$rounds"); do
        for variant in photo adobe cmyk; do
            start=$(date +%s.%N)
            "$bin" -q --tile 1024 --stats "$stats" "$work/${variant}2048.tif" -o "$work/out.tif"
            echo "$stats round $round $variant: $(echo "$(date +%s.%N) - $start" | bc) s"
        done
    done
done
