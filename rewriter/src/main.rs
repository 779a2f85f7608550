//! The `wasifs` command line: a thin clap front-end over the `wasifs` library, one file per
//! subcommand under `cli/`.

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Give any wasm32-wasip1 module its files: embed a compressed tree and a WASI shim into it.
#[derive(Parser, Debug)]
#[command(name = "wasifs", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Embed host files into a module so it sees them at run time without `--dir`.
    Rewrite(cli::rewrite::RewriteArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Rewrite(args) => cli::rewrite::run(args),
    }
}
