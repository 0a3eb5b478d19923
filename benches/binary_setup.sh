# Sourced by the bench scripts (from the repository root): builds the release binary into $bin
# (with BIGSTYLE_CARGO_FLAGS, if set), or takes the binary BIGSTYLE_BIN names, to measure an
# older build the same way. $build says which binary it is.
if [ -n "${BIGSTYLE_BIN:-}" ]; then
    bin=$BIGSTYLE_BIN
    build="$bin"
else
    # shellcheck disable=SC2086
    cargo build --release -q ${BIGSTYLE_CARGO_FLAGS:-}
    bin=$PWD/target/release/bigstyle
    build=$(git rev-parse --short HEAD)
fi
