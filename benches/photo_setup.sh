# Sourced by the bench scripts once `n` and `work` are set (from the repository root): builds
# the release binary into $bin and makes the N×N photo TIFF $photo in the work folder unless it
# is already there (benches/make_photo_tiff.py).
cargo build --release -q
bin=$PWD/target/release/bigstyle
photo="$work/photo$n.tif"
[ -f "$photo" ] || python3 benches/make_photo_tiff.py "$n" "$photo"
