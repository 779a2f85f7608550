//! The `wasifs` command line: a thin clap front-end over the `wasifs` library, one file per
//! subcommand under `cli/`.

mod cli;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

/// Give any wasm32-wasip1 module its files: embed a compressed tree and a WASI shim into it.
#[derive(Parser, Debug)]
#[command(
    name = "wasifs",
    version,
    about,
    propagate_version = true,
    after_help = cli::EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Embed host files into a module so it sees them at run time without `--dir`.
    #[command(after_help = cli::REWRITE_EXAMPLES)]
    Rewrite(Box<cli::rewrite::RewriteArgs>),
    /// Show what a packed module carries: versions, mounts, policies, sizes, largest files, imports.
    Inspect(cli::inspect::InspectArgs),
    /// List the files embedded in a packed module, like `ls` (or `tar -tv` with -lR).
    Ls(cli::ls::LsArgs),
    /// Write the embedded files back to a directory: bytes, modes, mtimes, symlinks.
    Extract(cli::extract::ExtractArgs),
    /// Give back the original module: the shim and the image removed, the WASI imports restored.
    Strip(cli::strip::StripArgs),
    /// Print a shell completion script (e.g. `wasifs completions bash > /etc/bash_completion.d/wasifs`).
    Completions(cli::completions::CompletionsArgs),
    /// Print the man page (or write one page per subcommand with --dir).
    Man(cli::man::ManArgs),
}

/// The full clap definition, `--version` naming the shim and the image format.
pub fn command() -> clap::Command {
    // Made once: it hashes the shim and compiles the intrinsics.
    let version = cli::version();
    Cli::command()
        .version(version.clone())
        .long_version(version)
}

fn main() -> ExitCode {
    let matches = command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::Rewrite(args) => cli::rewrite::run(*args),
        Command::Inspect(args) => cli::inspect::run(args),
        Command::Ls(args) => cli::ls::run(args),
        Command::Extract(args) => cli::extract::run(args),
        Command::Strip(args) => cli::strip::run(args),
        Command::Completions(args) => cli::completions::run(args),
        Command::Man(args) => cli::man::run(args),
    }
}
