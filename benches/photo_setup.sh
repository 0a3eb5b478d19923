# Sourced by the bench scripts once `n` and `work` are set (from the repository root): builds
# the release binary into $bin (or takes the binary BIGSTYLE_BIN names, to measure an older
# build the same way) and makes the N×N photo TIFF $photo in the work folder unless it is
# already there (benches/make_photo_tiff.py). $build says which binary it is.
if [ -n "${BIGSTYLE_BIN:-}" ]; then
    bin=$BIGSTYLE_BIN
    build="$bin"
else
    cargo build --release -q
    bin=$PWD/target/release/bigstyle
    build=$(git rev-parse --short HEAD)
fi
photo="$work/photo$n.tif"
[ -f "$photo" ] || python3 benches/make_photo_tiff.py "$n" "$photo"
