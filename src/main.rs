//! The `bigstyle` command: see `bigstyle --help`.

fn main() {
    std::process::exit(bigstyle::cli::main());
}
