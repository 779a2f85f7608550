//! `wasifs rewrite`: embed host files and the WASI shim into a module.

use super::policy::PolicyArgs;
use super::{bar, human};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wasifs::{
    BlockSize, CacheSize, ChunkSize, Dictionaries, DryRun, EntryKind, Glob, HostFs, HostPreopen,
    Input, Level, MemoryLayout, MemorySize, MountSpec, Output, Rewriter, Timestamp,
};

/// Examples shown after `wasifs rewrite --help`.
const EXAMPLES: &str = "\
Patterns (--include/--exclude) are .gitignore lines, relative to each mount source:
  --exclude target/                        directories named target, at any depth
  --exclude '*.log' --exclude '!keep.log'  every .log but keep.log (the last matching line wins)
  --exclude /build   (or ./build)          only build at the top of the mount source
  --exclude '**/node_modules'              every node_modules directory
  --include src --include '*.md'           src with everything below it, and every .md file

Reproducible output:
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) wasifs rewrite app.wasm -m /=assets
  wasifs rewrite app.wasm -m /=assets --mtime 2024-01-01T00:00:00Z";

/// `wasifs rewrite` arguments.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct RewriteArgs {
    /// The core module to rewrite (built for wasm32-wasip1); `-` reads it from stdin.
    input: PathBuf,
    /// Embed HOST (a directory or a file) at GUEST. Repeatable; the order is the preopen order.
    /// Append `:ro` to make the mount read-only. With none, the module keeps the runtime's preopens
    /// (the shim passes them through).
    #[arg(short, long = "mount", value_name = "GUEST=HOST")]
    mounts: Vec<MountSpec>,
    /// Where to write the result [default: INPUT with `.packed.wasm`; stdout for `-`]. `-` is
    /// stdout (not a terminal); a symlink's target is replaced, a device or FIFO written through.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Only embed what matches this .gitignore pattern (a directory: with all below it); a
    /// directory with nothing included is left out. Repeatable.
    #[arg(long, value_name = "PATTERN")]
    include: Vec<Glob>,
    /// Leave out what matches this .gitignore pattern (`target/`, `*.log`, `!keep.log`, `/build`).
    /// Repeatable; wins over --include.
    #[arg(long, value_name = "PATTERN")]
    exclude: Vec<Glob>,
    /// Record this modification time for every embedded node: RFC 3339 or unix seconds. Without
    /// it, mtimes later than SOURCE_DATE_EPOCH (when set) are clamped to it.
    #[arg(long, value_name = "TIME")]
    mtime: Option<Timestamp>,
    /// Copy what symlinks point to instead of keeping them as symlinks.
    #[arg(long)]
    follow_symlinks: bool,
    /// zstd compression level (1–22; files read at random use LZ4 HC at this level + 3, at most
    /// 12, and up to level 3 store matches of at most 6 bytes as literals: ~10 % faster random
    /// reads, those files 4–12 % larger); 0 stores files uncompressed.
    #[arg(short, long, default_value_t = Level::DEFAULT)]
    level: Level,
    /// Store files uncompressed (same as `--level 0`).
    #[arg(long, conflicts_with = "level")]
    store: bool,
    /// Memory the program may use to keep decompressed chunks for random reads (bytes, or with a
    /// K or M suffix); a file's chunks are freed when its last fd closes.
    #[arg(long, value_name = "SIZE", default_value_t = CacheSize::DEFAULT)]
    cache_size: CacheSize,
    /// Uncompressed size of the chunks files are compressed in: `auto` gives files larger than the
    /// cache size, and SQLite and redb databases of any size, 4K chunks (fast random reads),
    /// executables, object files, static libraries and wasm modules of any size 1M, text larger
    /// than the cache (logs, CSV, JSON: read through) an eighth of the cache from 1M to 4M, and
    /// the others 256K; or a power of two from 1 to 1M (bytes, or with a K or M suffix) for every file.
    #[arg(long, value_name = "SIZE", default_value_t = ChunkSize::AUTO)]
    chunk_size: ChunkSize,
    /// Store the files this .gitignore pattern matches (a directory: every file below it) for
    /// reading at random, like `auto` stores SQLite databases: 4K chunks whatever their size and
    /// --chunk-size, so a read at a random offset decodes a few KiB, not up to 256K or 4M (a
    /// larger image when they compress well). For databases, indexes and archives read a piece at
    /// a time, and text read at random (`auto` reads text larger than the cache through).
    /// Repeatable; `--dry-run` marks them.
    #[arg(long, value_name = "PATTERN")]
    random_access: Vec<Glob>,
    /// Most bytes in one shared block: files under 16K are packed together into compressed blocks
    /// of this size (a power of two from 16K to 1M); larger blocks compress files that share
    /// content better, smaller ones decompress less to read one file; `off` compresses every file
    /// alone (fastest first read of one small file, e.g. on an interpreter; larger image).
    #[arg(long, value_name = "SIZE", default_value_t = BlockSize::DEFAULT)]
    block_size: BlockSize,
    /// `auto` lets compression use content from elsewhere in the tree where it pays: a dictionary
    /// for files read at random (faster random reads), one for the shared blocks when small files
    /// repeat each other's content across blocks (much smaller; the first read of a small file
    /// then decodes it first, up to 2 MiB), and versions of one file (named alike up to digits,
    /// large with the same extension, or of one stem, as `index.js` and `index.mjs`; mostly the
    /// same bytes) compressed side by side (a later version costs what differs; reading it
    /// decodes the earlier ones' chunks too); `off` compresses every file on its own.
    #[arg(long, value_name = "auto|off", default_value_t = Dictionaries::Auto)]
    dictionaries: Dictionaries,
    /// Whether the runtime's own preopens (its `--dir`s) stay visible after the embedded ones:
    /// `deny` hides every one not named by `--preopen`, sealing the module.
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = HostFs::Allow)]
    host_fs: HostFs,
    /// Show the runtime's preopen HOSTNAME to the program as GUEST (e.g. `--preopen /out=/tmp/out`
    /// when the runtime is given `--dir /tmp/out`). Repeatable.
    #[arg(long = "preopen", value_name = "GUEST=HOSTNAME")]
    preopens: Vec<HostPreopen>,
    /// List what would be embedded (guest path, size, host path) and what is left out and why, on
    /// stdout; nothing is written.
    #[arg(long)]
    dry_run: bool,
    /// Cap the memory the program's writes take at run time (files written live in memory), e.g.
    /// 64M or 1G (K, M, G: powers of 1024; 256K to 4G). Past it, writes answer ENOMEM and the
    /// program goes on. Default: no cap but the 4 GiB address space.
    #[arg(long, value_name = "SIZE")]
    max_write_memory: Option<MemorySize>,
    /// Where the shim keeps its state: `multi` (its own memory; engines with multi-memory),
    /// `single` (pages of the program's memory its allocator never hands out; engines with one
    /// memory such as Node 20, wazero, pywasm; refused for Go and Emscripten) or `auto` (single unless the
    /// program is recognised as Go or Emscripten).
    #[arg(long, value_enum, value_name = "LAYOUT", default_value_t = MemoryLayout::Multi)]
    memory: MemoryLayout,
    /// Print nothing but errors and warnings.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    policy: PolicyArgs,
}

/// Runs `wasifs rewrite` and reports the outcome.
pub fn run(args: RewriteArgs) -> ExitCode {
    let input = if args.input.as_os_str() == "-" {
        Input::Stdin
    } else {
        Input::File(args.input.clone())
    };
    let output = match (&args.output, &input) {
        (Some(o), _) if o.as_os_str() == "-" => Output::Stdout,
        (Some(o), _) => Output::File(o.clone()),
        (None, Input::Stdin) => Output::Stdout,
        (None, Input::File(i)) => Output::File(default_output(i)),
    };
    let mut rewriter = Rewriter::new()
        .follow_symlinks(args.follow_symlinks)
        .level(if args.store { Level::STORE } else { args.level })
        .cache_size(args.cache_size)
        .chunk_size(args.chunk_size)
        .block_size(args.block_size)
        .dictionaries(args.dictionaries)
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
    for glob in args.random_access {
        rewriter = rewriter.random_access(glob);
    }
    for preopen in args.preopens {
        rewriter = rewriter.preopen(preopen);
    }
    if let Some(mtime) = args.mtime {
        rewriter = rewriter.mtime(mtime);
    }
    rewriter = args.policy.apply(rewriter);
    if let Some(size) = args.max_write_memory {
        rewriter = rewriter.max_write_memory(size);
    }
    if args.dry_run {
        return match rewriter.dry_run(&input, &output) {
            Ok(plan) => print_dry_run(&plan, &output),
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let bar = (!args.quiet && std::io::stderr().is_terminal()).then(bar::Bar::new);
    if let Some(bar) = &bar {
        let bar = bar.clone();
        rewriter = rewriter.progress(move |done, total| bar.update(done, total));
    }
    let result = rewriter.write(&input, &output);
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
                    output.name(),
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

/// Prints a dry run: one line per node (`d`/`f`/`h`/`l`, size, guest path, host path), then what
/// was left out and why, then the totals; warnings go to stderr.
fn print_dry_run(plan: &DryRun, output: &Output) -> ExitCode {
    for warning in &plan.warnings {
        eprintln!("warning: {warning}");
    }
    let mut out = String::new();
    for e in &plan.entries {
        let (kind, extra) = match &e.kind {
            EntryKind::Dir => ('d', String::new()),
            EntryKind::File if e.random_access => ('f', " (random access)".into()),
            EntryKind::File => ('f', String::new()),
            EntryKind::HardLink if e.random_access => ('h', " (hard link, random access)".into()),
            EntryKind::HardLink => ('h', " (hard link)".into()),
            EntryKind::Symlink(target) => ('l', format!(" -> {target}")),
            _ => ('?', String::new()),
        };
        out += &format!(
            "{kind} {:>10}  {}{extra}  <- {}\n",
            e.size,
            e.guest,
            e.host.display()
        );
    }
    for s in &plan.skipped {
        out += &format!(
            "- {:>10}  {}  left out: {}\n",
            "",
            s.host.display(),
            s.reason
        );
    }
    out += &format!(
        "dry run, nothing written to {}: {} files, {} dirs, {} symlinks, {} of data before compression\n",
        output.name(),
        plan.files,
        plan.dirs,
        plan.symlinks,
        human(plan.data_len)
    );
    match std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: <stdout>: {e}");
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
