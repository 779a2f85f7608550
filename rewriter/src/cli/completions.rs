//! `wasifs completions SHELL`: a completion script generated from the clap definitions.

use std::process::ExitCode;

/// `wasifs completions` arguments.
#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Prints the completion script for `args.shell` on stdout.
pub fn run(args: CompletionsArgs) -> ExitCode {
    let mut cmd = crate::command();
    clap_complete::generate(args.shell, &mut cmd, "wasifs", &mut std::io::stdout());
    ExitCode::SUCCESS
}
