//! The `wasifs` command line: a thin clap front-end over the `wasifs` library.

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wasifs::mount::{HostPolicy, HostPreopen, Progress};
use wasifs::{MountSpec, RewriteOptions, TreeOptions};
use wasifs_image::{CacheSize, Level};

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
    Rewrite(RewriteArgs),
}

/// `wasifs rewrite` arguments.
#[derive(clap::Args, Debug)]
struct RewriteArgs {
    /// The core module to rewrite (built for wasm32-wasip1).
    input: PathBuf,
    /// Embed HOST (a directory or a file) at GUEST. Repeatable; the order is the preopen order.
    /// Append `:ro` to make the mount read-only.
    #[arg(short, long = "mount", value_name = "GUEST=HOST", required = true)]
    mounts: Vec<MountSpec>,
    /// Where to write the result [default: INPUT with `.packed.wasm`].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Only embed files matching this glob (relative to the mount source). Repeatable.
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// Leave out files and directories matching this glob. Repeatable; wins over --include.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Copy what symlinks point to instead of keeping them as symlinks.
    #[arg(long)]
    follow_symlinks: bool,
    /// zstd compression level (1–22); 0 stores files uncompressed.
    #[arg(short, long, default_value_t = Level::DEFAULT)]
    level: Level,
    /// Store files uncompressed (same as `--level 0`).
    #[arg(long, conflicts_with = "level")]
    store: bool,
    /// Memory the program may use to keep decompressed chunks for random reads (bytes, or with a
    /// K or M suffix); a file's chunks are freed when its last fd closes.
    #[arg(long, value_name = "SIZE", default_value_t = CacheSize::DEFAULT)]
    cache_size: CacheSize,
    /// Whether the runtime's own preopens (its `--dir`s) stay visible after the embedded ones:
    /// `deny` hides every one not named by `--preopen`, sealing the module.
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = HostFs::Allow)]
    host_fs: HostFs,
    /// Show the runtime's preopen HOSTNAME to the program as GUEST (e.g. `--preopen /out=/tmp/out`
    /// when the runtime is given `--dir /tmp/out`). Repeatable.
    #[arg(long = "preopen", value_name = "GUEST=HOSTNAME")]
    preopens: Vec<HostPreopen>,
    /// Print nothing but errors and warnings.
    #[arg(short, long)]
    quiet: bool,
}

/// `--host-fs` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum HostFs {
    /// The runtime's preopens stay visible after the embedded ones, renumbered.
    Allow,
    /// Only the runtime preopens named by `--preopen` are visible.
    Deny,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Rewrite(args) => rewrite(args),
    }
}

/// Runs `wasifs rewrite` and reports the outcome.
fn rewrite(args: RewriteArgs) -> ExitCode {
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.input));
    let opts = RewriteOptions {
        input: args.input,
        output,
        mounts: args.mounts,
        tree: TreeOptions {
            include: args.include,
            exclude: args.exclude,
            follow_symlinks: args.follow_symlinks,
            level: if args.store { Level::STORE } else { args.level },
            cache_size: args.cache_size,
            threads: 0,
            progress: None,
            host: HostPolicy {
                deny: args.host_fs == HostFs::Deny,
                preopens: args.preopens,
            },
        },
    };
    let mut opts = opts;
    let bar = (!args.quiet && std::io::stderr().is_terminal()).then(bar::Bar::new);
    if let Some(bar) = &bar {
        let bar = bar.clone();
        opts.tree.progress = Some(Progress(std::sync::Arc::new(move |done, total| {
            bar.update(done, total)
        })));
    }
    let result = wasifs::rewrite(&opts);
    if let Some(bar) = &bar {
        bar.clear();
    }
    match result {
        Ok(report) => {
            for warning in &report.warnings {
                eprintln!("warning: {warning}");
            }
            if !args.quiet {
                let shim = if report.image_replaced {
                    "already rewritten by wasifs: image replaced".to_string()
                } else {
                    format!(
                        "{} WASI imports served by the shim",
                        report.redirected.len()
                    )
                };
                eprintln!(
                    "wrote {}: {} ({} in), image {} for {} files, {} dirs, {} symlinks ({} of data); \
                     {shim}",
                    opts.output.display(),
                    human(report.output_len),
                    human(report.input_len),
                    human(report.image_len),
                    report.files,
                    report.dirs,
                    report.symlinks,
                    human(report.data_len),
                );
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `dir/app.wasm` → `dir/app.packed.wasm`.
fn default_output(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    input.with_file_name(format!("{stem}.packed.wasm"))
}

/// A byte count for people: `1.4 MiB`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A one-line `\r` progress bar on stderr, shown only once a rewrite has taken more than a moment.
mod bar {
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    /// Nothing is drawn before this much time has passed (quick rewrites stay silent).
    const DELAY: Duration = Duration::from_millis(400);
    /// Least time between two redraws.
    const EVERY: Duration = Duration::from_millis(100);

    /// Shared state: when the rewrite started, when the bar was last drawn.
    #[derive(Clone)]
    pub struct Bar(Arc<Mutex<State>>);

    struct State {
        start: Instant,
        drawn: Option<Instant>,
    }

    impl Bar {
        /// A bar that has not drawn anything yet.
        pub fn new() -> Bar {
            Bar(Arc::new(Mutex::new(State {
                start: Instant::now(),
                drawn: None,
            })))
        }

        /// Redraws the bar for `done` of `total` bytes, if it is time to.
        pub fn update(&self, done: u64, total: u64) {
            let Ok(mut s) = self.0.lock() else { return };
            let now = Instant::now();
            let elapsed = now.duration_since(s.start);
            if elapsed < DELAY || s.drawn.is_some_and(|t| now.duration_since(t) < EVERY) {
                return;
            }
            s.drawn = Some(now);
            let frac = if total == 0 {
                1.0
            } else {
                done as f64 / total as f64
            };
            let filled = (frac * 30.0).round() as usize;
            let rate = done as f64 / elapsed.as_secs_f64() / 1048576.0;
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[2Kpacking [{}{}] {:3.0}%  {} / {}  {rate:.0} MiB/s",
                "#".repeat(filled.min(30)),
                " ".repeat(30 - filled.min(30)),
                frac * 100.0,
                super::human(done),
                super::human(total),
            );
            let _ = err.flush();
        }

        /// Erases the bar if it was drawn.
        pub fn clear(&self) {
            if let Ok(s) = self.0.lock() {
                if s.drawn.is_some() {
                    let _ = write!(std::io::stderr(), "\r\x1b[2K");
                }
            }
        }
    }
}
