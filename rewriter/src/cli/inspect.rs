//! `wasifs inspect`: what a packed module carries, for people or (`--json`) for scripts.
//!
//! The JSON schema is documented in docs/inspect-schema.md; `schema_version` changes only when a
//! key is removed or changes meaning — new keys are added without a bump.

use super::{fail, human, read};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use wasifs::{Clock, EnvFromHost, Inspection, Random, Trace};

/// The version of the `--json` schema (docs/inspect-schema.md).
pub const SCHEMA_VERSION: u32 = 1;

/// `wasifs inspect` arguments.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// A module written by `wasifs rewrite`.
    input: PathBuf,
    /// Print JSON (schema: docs/inspect-schema.md) instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `wasifs inspect`.
pub fn run(args: InspectArgs) -> ExitCode {
    let bytes = match read(&args.input) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let inspection = match wasifs::inspect(&bytes) {
        Ok(i) => i,
        Err(e) => return fail(e.in_file(&args.input)),
    };
    if args.json {
        let text = serde_json::to_string_pretty(&to_json(&inspection)).unwrap_or_default();
        println!("{text}");
    } else {
        print!(
            "{}",
            to_text(&args.input.display().to_string(), &inspection)
        );
    }
    ExitCode::SUCCESS
}

/// The `--json` document.
pub fn to_json(i: &Inspection) -> Value {
    json!({
        "schema_version": SCHEMA_VERSION,
        "module": { "size": i.module_len },
        "wasifs_version": i.wasifs_version,
        "record_version": i.record_version,
        "shim": { "hash": format!("{:016x}", i.shim_hash), "current": i.shim_current },
        "image": {
            "format_version": i.image_version,
            "size": i.image_len,
            "data_size": i.data_len,
            "ratio": (i.ratio() * 1000.0).round() / 1000.0,
            "files": i.files,
            "dirs": i.dirs,
            "symlinks": i.symlinks,
        },
        "mounts": i.mounts.iter().map(|m| json!({
            "guest": m.guest,
            "read_only": m.read_only,
            "files": m.files,
            "dirs": m.dirs,
            "symlinks": m.symlinks,
            "data_size": m.data_len,
        })).collect::<Vec<_>>(),
        "policies": {
            "host_fs": if i.host_fs.deny { "deny" } else { "allow" },
            "max_write_memory": i.max_write_memory,
            "env": i.wasi.env.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect::<Vec<_>>(),
            "env_from_host": match &i.wasi.env_from_host {
                EnvFromHost::Allow => json!({ "mode": "allow", "names": [] }),
                EnvFromHost::Deny => json!({ "mode": "deny", "names": [] }),
                EnvFromHost::Only(names) => json!({ "mode": "only", "names": names }),
            },
            "args": i.wasi.args,
            "stdin": i.wasi.stdio[0].to_string(),
            "stdout": i.wasi.stdio[1].to_string(),
            "stderr": i.wasi.stdio[2].to_string(),
            "clock": match i.wasi.clock {
                Clock::Host => json!({ "mode": "host", "fixed_ns": null }),
                Clock::Deny => json!({ "mode": "deny", "fixed_ns": null }),
                Clock::Fixed(ns) => json!({ "mode": "fixed", "fixed_ns": ns }),
            },
            "random": match i.wasi.random {
                Random::Host => json!({ "mode": "host", "seed": null }),
                Random::Deny => json!({ "mode": "deny", "seed": null }),
                Random::Seed(n) => json!({ "mode": "seed", "seed": n }),
            },
            "deny": if i.wasi.deny == wasifs::Deny::Trap { "trap" } else { "errno" },
            "trace": match i.wasi.trace {
                Trace::Off => "off",
                Trace::On => "on",
                Trace::Env => "env",
            },
            "preopens": i.host_fs.preopens.iter().map(|(guest, host)| json!({
                "guest": guest, "host": host,
            })).collect::<Vec<_>>(),
        },
        "largest": i.largest.iter().map(|e| json!({ "path": e.path, "size": e.size })).collect::<Vec<_>>(),
        "layout": {
            "cache_size": i.layout.cache_size,
            "chunks": i.layout.chunk_sizes.iter().map(|&(size, files)| json!({ "size": size, "files": files })).collect::<Vec<_>>(),
            "packed_files": i.layout.packed_files,
            "lz4_files": i.layout.lz4_files,
            "dict_size": i.layout.dict_len,
            "blocks": i.layout.blocks,
            "block_dict_size": i.layout.block_dict_len,
            "shared_files": i.layout.shared_files,
            "zero_bytes": i.layout.zero_bytes,
            "grouped_files": i.layout.grouped_files,
            "groups": i.layout.groups,
            "tables": json!({ "compressed": i.layout.meta_block_size.is_some(), "block_size": i.layout.meta_block_size }),
        },
        "imports": {
            "served_by_shim": i.served,
            "to_host": i.to_host,
            "other": i.other_imports,
        },
    })
}

/// `n` and `what`, plural unless `n` is 1.
fn count(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// The text report: one `label  value` line per fact.
pub fn to_text(name: &str, i: &Inspection) -> String {
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut line = |label: &str, value: String| lines.push((label.to_string(), value));
    line(
        "module",
        format!(
            "{name}: {}, rewritten by wasifs {} (record {})",
            human(i.module_len),
            i.wasifs_version.as_deref().unwrap_or("?"),
            i.record_version
        ),
    );
    line(
        "shim",
        format!(
            "{:016x} ({})",
            i.shim_hash,
            if i.shim_current {
                "one this wasifs merges"
            } else {
                "not one this wasifs merges"
            }
        ),
    );
    line(
        "image",
        format!(
            "format {}, {} for {} of data (ratio {:.2})",
            i.image_version,
            human(i.image_len),
            human(i.data_len),
            i.ratio()
        ),
    );
    line(
        "contents",
        format!(
            "{} files, {} dirs, {} symlinks",
            i.files, i.dirs, i.symlinks
        ),
    );
    for (n, m) in i.mounts.iter().enumerate() {
        line(
            if n == 0 { "mounts" } else { "" },
            format!(
                "{}{}  {} files, {} dirs, {} symlinks, {}",
                m.guest,
                if m.read_only { ":ro" } else { "" },
                m.files,
                m.dirs,
                m.symlinks,
                human(m.data_len)
            ),
        );
    }
    if i.mounts.is_empty() {
        line(
            "mounts",
            "none (the runtime's preopens pass through)".into(),
        );
    }
    line(
        "host fs",
        if i.host_fs.deny {
            "deny (only the runtime preopens named by --preopen are visible)".into()
        } else {
            "allow (the runtime's preopens stay visible after the embedded ones)".into()
        },
    );
    for (guest, host) in &i.host_fs.preopens {
        line("preopen", format!("{guest}={host}"));
    }
    line(
        "writes",
        match i.max_write_memory {
            Some(m) => format!("at most {} in memory (--max-write-memory)", human(m)),
            None => "no memory limit".into(),
        },
    );
    for (n, policy) in i.wasi.to_string().lines().enumerate() {
        line(if n == 0 { "wasi" } else { "" }, policy.to_string());
    }
    let l = &i.layout;
    let mut data: Vec<String> = l
        .chunk_sizes
        .iter()
        .map(|&(size, files)| format!("{} in {} chunks", count(files, "file"), human(size)))
        .collect();
    if l.lz4_files > 0 {
        data.push(format!(
            "{} as LZ4 blocks against a {} dictionary",
            count(l.lz4_files, "file"),
            human(u64::from(l.dict_len))
        ));
    }
    if l.packed_files > 0 {
        data.push(format!(
            "{} packed in {}",
            count(l.packed_files, "small file"),
            count(l.blocks, "shared block")
        ));
    }
    if l.block_dict_len > 0 {
        let dict = human(u64::from(l.block_dict_len));
        let what = match (l.packed_files > 0, l.shared_files) {
            (true, 0) => "the blocks".to_string(),
            (true, n) => format!("the blocks and {}", count(n, "larger file")),
            (false, n) => count(n, "file"),
        };
        data.push(format!("{what} against a {dict} dictionary"));
    }
    if l.grouped_files > 0 {
        data.push(format!(
            "{} compressed with similar ones ({})",
            count(l.grouped_files, "file"),
            count(l.groups, "group")
        ));
    }
    if l.zero_bytes > 0 {
        data.push(format!(
            "{} in chunks of zeros (nothing stored)",
            human(l.zero_bytes)
        ));
    }
    if data.is_empty() {
        data.push("no file data".into());
    }
    line("data", data.join(", "));
    line(
        "tables",
        match l.meta_block_size {
            Some(b) => format!("compressed ({} blocks)", human(u64::from(b))),
            None => "raw".into(),
        },
    );
    line(
        "cache",
        format!(
            "{} of decompressed chunks at most (--cache-size)",
            human(l.cache_size)
        ),
    );
    for (n, e) in i.largest.iter().enumerate() {
        line(
            if n == 0 { "largest" } else { "" },
            format!("{:>10}  {}", human(e.size), e.path),
        );
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            format!("{}: {}", v.len(), v.join(", "))
        }
    };
    line("served", list(&i.served));
    line("to host", list(&i.to_host));
    if !i.other_imports.is_empty() {
        line("other", list(&i.other_imports));
    }
    let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    lines
        .iter()
        .map(|(l, v)| format!("{l:<width$}  {v}\n"))
        .collect()
}
