//! The subcommands of the `wasifs` binary, one file each, and the helpers they share.

pub mod bar;
pub mod completions;
pub mod extract;
pub mod inspect;
pub mod ls;
pub mod man;
pub mod policy;
pub mod rewrite;
pub mod strip;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Examples under `wasifs --help`.
pub const EXAMPLES: &str = "\
Examples:
  wasifs rewrite app.wasm --mount /=./assets -o out.wasm    embed ./assets at /
  wasmtime out.wasm                                          run it: no --dir needed
  wasifs inspect out.wasm                                    what it carries (--json for scripts)
  wasifs ls out.wasm /data -lR                               list the embedded files
  wasifs extract out.wasm -C tree/                           write them back
  wasifs strip out.wasm -o app.wasm                          the original module again
  wasifs completions bash > ~/.local/share/bash-completion/completions/wasifs";

/// Examples under `wasifs rewrite --help`.
pub const REWRITE_EXAMPLES: &str = "\
Examples:
  One mount:
    wasifs rewrite app.wasm --mount /=./assets -o out.wasm
  Several mounts, read-only ones with :ro (a file can be mounted too):
    wasifs rewrite app.wasm -m /data=./data:ro -m /etc/app.toml=./app.toml:ro -m /tmp=./empty -o out.wasm
  Globs (relative to each mount source; --exclude wins):
    wasifs rewrite app.wasm -m /=./site --include '**/*.html' --include 'img/**' --exclude '**/*.tmp'
  Policies: hide the runtime's own --dir preopens except one, shown to the app as /out:
    wasifs rewrite app.wasm -m /=./assets --host-fs deny --preopen /out=/tmp/out -o out.wasm
    wasmtime --dir /tmp/out out.wasm
  WASI policies: baked environment and argument, no host variables, a fixed clock, seeded random:
    wasifs rewrite app.wasm -m /=./assets --env LANG=C --arg --verbose --env-from-host deny \\
      --clock fixed:2024-01-01T00:00:00Z --random seed:42 --stdin null -o out.wasm
  See what is inside afterwards: wasifs inspect out.wasm";

/// `wasifs 0.1.0 (shim 0123456789abcdef, image format 2, record 2)`.
pub fn version() -> String {
    let v = wasifs::versions();
    format!(
        "{} (shim {:016x}, image format {}, record {})",
        v.wasifs, v.shim_hash, v.image_format, v.record
    )
}

/// A byte count for people: `1.4 MiB`.
pub fn human(bytes: u64) -> String {
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

/// Reads the packed module at `path`, or prints the error.
pub fn read(path: &Path) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(path).map_err(|e| fail(format!("{}: {e}", path.display())))
}

/// Prints `error: {message}` and gives the failure exit code.
pub fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

/// Writes `bytes` to `path` atomically: a temporary file next to it, renamed over it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = PathBuf::from(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tmp.set_file_name(format!(".{name}.wasifs-tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
