//! `wasifs extract`: writes the embedded files back to a directory.

use super::{fail, human, read};
use std::path::PathBuf;
use std::process::ExitCode;

/// `wasifs extract` arguments.
#[derive(clap::Args, Debug)]
pub struct ExtractArgs {
    /// A module written by `wasifs rewrite`.
    input: PathBuf,
    /// Guest paths to extract, each with everything below it [default: every mount].
    guest_paths: Vec<String>,
    /// Write into DIR (created if missing); guest `/a/b` becomes `DIR/a/b`. Nothing is written
    /// outside DIR: symlinks are written as stored but never followed.
    #[arg(
        short = 'C',
        long = "directory",
        value_name = "DIR",
        default_value = "."
    )]
    dir: PathBuf,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `wasifs extract`.
pub fn run(args: ExtractArgs) -> ExitCode {
    let bytes = match read(&args.input) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let paths: Vec<&str> = args.guest_paths.iter().map(String::as_str).collect();
    match wasifs::extract(&bytes, &args.dir, &paths) {
        Ok(done) => {
            if !args.quiet {
                eprintln!(
                    "extracted {} files, {} dirs, {} symlinks ({}) into {}",
                    done.files,
                    done.dirs,
                    done.symlinks,
                    human(done.bytes),
                    args.dir.display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e.in_file(&args.input)),
    }
}
