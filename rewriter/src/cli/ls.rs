//! `wasifs ls`: the embedded files, like `ls` (`-l` long, `-R` recursive; `-lR` reads like
//! `tar -tv`).

use super::{fail, read};
use std::path::PathBuf;
use std::process::ExitCode;
use wasifs::{ImageEntry, ImageEntryKind};

/// `wasifs ls` arguments.
#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// A module written by `wasifs rewrite`.
    input: PathBuf,
    /// The guest path to list [default: every mount].
    guest_path: Option<String>,
    /// Long format: mode, links, size, mtime (UTC), path, symlink target.
    #[arg(short, long)]
    long: bool,
    /// List directories recursively.
    #[arg(short = 'R', long)]
    recursive: bool,
}

/// Runs `wasifs ls`.
pub fn run(args: LsArgs) -> ExitCode {
    let bytes = match read(&args.input) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let entries = match wasifs::list(&bytes, args.guest_path.as_deref(), args.recursive) {
        Ok(e) => e,
        Err(e) => return fail(e.in_file(&args.input)),
    };
    let mut out = String::new();
    for e in &entries {
        if args.long {
            out.push_str(&long(e));
        } else {
            out.push_str(&e.path);
        }
        out.push('\n');
    }
    print!("{out}");
    ExitCode::SUCCESS
}

/// `-rw-r--r--  1      1234 2024-05-01 12:00 /path -> target`.
pub fn long(e: &ImageEntry) -> String {
    let mut s = format!(
        "{} {:>2} {:>10} {} {}",
        mode_string(e.kind, e.mode),
        e.nlink,
        e.size,
        date(e.mtime_ns),
        e.path
    );
    if let Some(t) = &e.target {
        s.push_str(" -> ");
        s.push_str(t);
    }
    s
}

/// `drwxr-xr-x` (with setuid/setgid/sticky as `ls` shows them).
fn mode_string(kind: ImageEntryKind, mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(match kind {
        ImageEntryKind::Dir => 'd',
        ImageEntryKind::File => '-',
        ImageEntryKind::Symlink => 'l',
    });
    let special = [(0o4000, 's', 'S'), (0o2000, 's', 'S'), (0o1000, 't', 'T')];
    for (who, (bit, lower, upper)) in special.into_iter().enumerate() {
        let shift = 6 - 3 * who;
        let r = mode >> shift & 4 != 0;
        let w = mode >> shift & 2 != 0;
        let x = mode >> shift & 1 != 0;
        s.push(if r { 'r' } else { '-' });
        s.push(if w { 'w' } else { '-' });
        s.push(match (mode & bit != 0, x) {
            (true, true) => lower,
            (true, false) => upper,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// `YYYY-MM-DD HH:MM` in UTC.
fn date(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(date(0), "1970-01-01 00:00");
        assert_eq!(date(951_782_400 * 1_000_000_000), "2000-02-29 00:00");
        assert_eq!(date(1_700_000_000 * 1_000_000_000), "2023-11-14 22:13");
    }

    #[test]
    fn modes_read_like_ls() {
        assert_eq!(mode_string(ImageEntryKind::Dir, 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(ImageEntryKind::File, 0o4644), "-rwSr--r--");
        assert_eq!(mode_string(ImageEntryKind::Symlink, 0o1777), "lrwxrwxrwt");
    }
}
