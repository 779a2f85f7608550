//! `wasifs man`: the man page, generated from the clap definitions by the binary itself, so it
//! always matches the installed wasifs (no build script, nothing generated to commit).

use super::fail;
use std::path::PathBuf;
use std::process::ExitCode;

/// `wasifs man` arguments.
#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Write `wasifs.1` and one `wasifs-SUBCOMMAND.1` per subcommand into DIR instead of
    /// printing `wasifs.1` (e.g. `--dir /usr/local/share/man/man1`).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Prints `wasifs.1`, or writes every page into `args.dir`.
pub fn run(args: ManArgs) -> ExitCode {
    let cmd = crate::command();
    let Some(dir) = args.dir else {
        let mut out = Vec::new();
        if let Err(e) = clap_mangen::Man::new(cmd).render(&mut out) {
            return fail(e);
        }
        use std::io::Write;
        return match std::io::stdout().write_all(&out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        };
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return fail(format!("{}: {e}", dir.display()));
    }
    let mut pages = vec![("wasifs".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands() {
        let name = format!("wasifs-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut out = Vec::new();
        let written = clap_mangen::Man::new(page)
            .render(&mut out)
            .and_then(|()| std::fs::write(&path, &out));
        if let Err(e) = written {
            return fail(format!("{}: {e}", path.display()));
        }
    }
    ExitCode::SUCCESS
}
