//! `wasifs strip`: gives back the module a rewrite started from.

use super::{fail, read, write_atomic};
use std::path::PathBuf;
use std::process::ExitCode;

/// `wasifs strip` arguments.
#[derive(clap::Args, Debug)]
pub struct StripArgs {
    /// A module written by `wasifs rewrite`.
    input: PathBuf,
    /// Where to write the original module.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Print nothing but errors and warnings.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `wasifs strip`.
pub fn run(args: StripArgs) -> ExitCode {
    let bytes = match read(&args.input) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let stripped = match wasifs::strip(&bytes) {
        Ok(s) => s,
        Err(e) => return fail(e.in_file(&args.input)),
    };
    for w in &stripped.warnings {
        eprintln!("warning: {w}");
    }
    if let Err(e) = write_atomic(&args.output, &stripped.bytes) {
        return fail(format!("{}: {e}", args.output.display()));
    }
    if !args.quiet {
        eprintln!(
            "wrote {}: {} bytes (shim and image removed, WASI imports restored)",
            args.output.display(),
            stripped.bytes.len()
        );
    }
    ExitCode::SUCCESS
}
