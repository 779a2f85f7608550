//! `wasifs rewrite`: embed host files and the WASI shim into a module.

use super::{bar, human};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wasifs::{Glob, HostFs, HostPreopen, Level, MemoryLayout, MemorySize, MountSpec, Rewriter};

/// `wasifs rewrite` arguments.
#[derive(clap::Args, Debug)]
pub struct RewriteArgs {
    /// The core module to rewrite (built for wasm32-wasip1).
    input: PathBuf,
    /// Embed HOST (a directory or a file) at GUEST. Repeatable; the order is the preopen order.
    /// Append `:ro` to make the mount read-only. With none, the module keeps the runtime's preopens
    /// (the shim passes them through).
    #[arg(short, long = "mount", value_name = "GUEST=HOST")]
    mounts: Vec<MountSpec>,
    /// Where to write the result [default: INPUT with `.packed.wasm`].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Only embed files matching this glob (relative to the mount source). Repeatable.
    #[arg(long, value_name = "GLOB")]
    include: Vec<Glob>,
    /// Leave out files and directories matching this glob. Repeatable; wins over --include.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<Glob>,
    /// Copy what symlinks point to instead of keeping them as symlinks.
    #[arg(long)]
    follow_symlinks: bool,
    /// zstd compression level (1–22); 0 stores files uncompressed.
    #[arg(short, long, default_value_t = Level::DEFAULT)]
    level: Level,
    /// Store files uncompressed (same as `--level 0`).
    #[arg(long, conflicts_with = "level")]
    store: bool,
    /// Whether the runtime's own preopens (its `--dir`s) stay visible after the embedded ones:
    /// `deny` hides every one not named by `--preopen`, sealing the module.
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = HostFs::Allow)]
    host_fs: HostFs,
    /// Show the runtime's preopen HOSTNAME to the program as GUEST (e.g. `--preopen /out=/tmp/out`
    /// when the runtime is given `--dir /tmp/out`). Repeatable.
    #[arg(long = "preopen", value_name = "GUEST=HOSTNAME")]
    preopens: Vec<HostPreopen>,
    /// Cap the memory the program's writes take at run time (files written live in memory), e.g.
    /// 64M or 1G (K, M, G: powers of 1024; 256K to 4G). Past it, writes answer ENOMEM and the
    /// program goes on. Default: no cap but the 4 GiB address space.
    #[arg(long, value_name = "SIZE")]
    max_write_memory: Option<MemorySize>,
    /// Where the shim keeps its state: `multi` (its own memory; engines with multi-memory),
    /// `single` (pages of the program's memory its allocator never hands out; engines with one
    /// memory such as Node 20, wazero, wasm3; refused for Go and Emscripten) or `auto` (single unless the
    /// program is recognised as Go or Emscripten).
    #[arg(long, value_enum, value_name = "LAYOUT", default_value_t = MemoryLayout::Multi)]
    memory: MemoryLayout,
    /// Print nothing but errors and warnings.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `wasifs rewrite` and reports the outcome.
pub fn run(args: RewriteArgs) -> ExitCode {
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.input));
    let mut rewriter = Rewriter::new()
        .follow_symlinks(args.follow_symlinks)
        .level(if args.store { Level::STORE } else { args.level })
        .host_fs(args.host_fs)
        .memory_layout(args.memory);
    for mount in args.mounts {
        rewriter = rewriter.mount(mount);
    }
    for glob in args.include {
        rewriter = rewriter.include(glob);
    }
    for glob in args.exclude {
        rewriter = rewriter.exclude(glob);
    }
    for preopen in args.preopens {
        rewriter = rewriter.preopen(preopen);
    }
    if let Some(size) = args.max_write_memory {
        rewriter = rewriter.max_write_memory(size);
    }
    let bar = (!args.quiet && std::io::stderr().is_terminal()).then(bar::Bar::new);
    if let Some(bar) = &bar {
        let bar = bar.clone();
        rewriter = rewriter.progress(move |done, total| bar.update(done, total));
    }
    let result = rewriter.write_file(&args.input, &output);
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
                    output.display(),
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
