//! The `bigstyle` command: see `bigstyle --help`. The work lives in the library; this binary
//! parses the command line, draws progress and reports errors.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
