# Sourced by the bench scripts once `n` and `work` are set (from the repository root): the
# binary $bin and its name $build (benches/binary_setup.sh), and the N×N photo TIFF $photo in
# the work folder, made unless it is already there (benches/make_photo_tiff.py).
# shellcheck source=benches/binary_setup.sh
. benches/binary_setup.sh
photo="$work/photo$n.tif"
[ -f "$photo" ] || python3 benches/make_photo_tiff.py "$n" "$photo"
