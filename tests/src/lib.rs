//! Shared harness for the end-to-end tests: run modules under wasmtime with captured stdio, pack them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use anyhow::{bail, Context as _};
use wasmtime::{Config, Engine, Linker, Module, Store};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

/// Captured stdout/stderr are cut off beyond this many bytes (a runaway guest must not eat memory).
const PIPE_CAPACITY: usize = 64 << 20;

/// How a module is started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Entry {
    /// A command: call `_start`.
    #[default]
    Command,
    /// A reactor: call `_initialize` (if exported), then this export (no parameters).
    Reactor(String),
}

/// What the guest sees: arguments, environment, preopened directories and stdin.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `argv`, including `argv[0]` (empty means just the program name `main.wasm`).
    pub args: Vec<String>,
    /// Environment variables, in order.
    pub env: Vec<(String, String)>,
    /// `(host directory, guest name)`, in preopen order (fd 3, 4, …), like `wasmtime --dir HOST::GUEST`.
    pub preopens: Vec<(PathBuf, String)>,
    /// Guest names of preopens that are read-only (like an embedded image); the others are read-write.
    pub read_only: Vec<String>,
    /// Bytes on stdin; `None` is an empty stdin.
    pub stdin: Option<Vec<u8>>,
    /// Command or reactor.
    pub entry: Entry,
}

impl RunOptions {
    /// Options with one preopen `host` at `guest` and nothing else.
    pub fn with_preopen(host: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        Self {
            preopens: vec![(host.into(), guest.into())],
            ..Self::default()
        }
    }
}

/// What a run produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// 0 when the entry point returns normally, else the `proc_exit` code.
    pub exit_code: i32,
    /// What a reactor export returned (integers; floats as their bits). Empty for commands.
    pub results: Vec<i64>,
}

impl Outcome {
    /// stdout as (lossy) UTF-8, for messages.
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as (lossy) UTF-8, for messages.
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// The engine every run shares: the features real toolchains emit, plus multi-memory for packed modules.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config
            .wasm_multi_memory(true)
            .wasm_bulk_memory(true)
            .wasm_reference_types(true)
            .wasm_simd(true)
            .wasm_relaxed_simd(true)
            .wasm_tail_call(true)
            .wasm_function_references(true)
            .wasm_gc(true)
            .wasm_exceptions(true)
            .wasm_extended_const(true)
            // The tests check behaviour, not speed: unoptimised code compiles ~20% faster, which
            // counts for Go fixtures (3 MB of code each).
            .cranelift_opt_level(wasmtime::OptLevel::None);
        Engine::new(&config).expect("wasmtime engine configuration is valid")
    })
}

/// Compiles `module` (binary wasm) with the shared engine. A test binary that runs the same bytes
/// again (a reference run repeated, or shared by several tests) reuses the compiled module.
pub fn compile(module: &[u8]) -> anyhow::Result<Module> {
    static COMPILED: OnceLock<Mutex<HashMap<Vec<u8>, Module>>> = OnceLock::new();
    let cache = COMPILED.get_or_init(Default::default);
    if let Some(found) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(module) {
        return Ok(found.clone());
    }
    let compiled = Module::new(engine(), module)?;
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(module.to_vec(), compiled.clone());
    Ok(compiled)
}

/// Runs a wasm32-wasip1 module under wasmtime's own preview1 implementation, as `wasmtime run` does.
///
/// A trap (or any failure to instantiate) is an error whose message includes the trap.
pub fn run(module: &[u8], opts: &RunOptions) -> anyhow::Result<Outcome> {
    let module = compile(module).context("compiling the module")?;
    run_module(&module, opts)
}

/// Like [`run`], for an already compiled module.
pub fn run_module(module: &Module, opts: &RunOptions) -> anyhow::Result<Outcome> {
    let stdout = MemoryOutputPipe::new(PIPE_CAPACITY);
    let stderr = MemoryOutputPipe::new(PIPE_CAPACITY);
    let mut builder = WasiCtxBuilder::new();
    let args = if opts.args.is_empty() {
        vec!["main.wasm".to_string()]
    } else {
        opts.args.clone()
    };
    builder
        .args(&args)
        .envs(&opts.env)
        .stdout(stdout.clone())
        .stderr(stderr.clone());
    builder.stdin(MemoryInputPipe::new(opts.stdin.clone().unwrap_or_default()));
    for (host, guest) in &opts.preopens {
        let perms = if opts.read_only.contains(guest) {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        builder
            .preopened_dir(host, guest, perms)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("preopening {} as {guest}", host.display()))?;
    }
    let ctx = builder.build_p1();

    let mut linker: Linker<WasiP1Ctx> = Linker::new(module.engine());
    p1::add_to_linker_sync(&mut linker, |ctx| ctx)?;
    let mut store = Store::new(module.engine(), ctx);

    let mut results = Vec::new();
    let result = (|| -> wasmtime::Result<()> {
        let instance = linker.instantiate(&mut store, module)?;
        match &opts.entry {
            Entry::Command => {
                let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
                start.call(&mut store, ())
            }
            Entry::Reactor(export) => {
                if let Some(init) = instance.get_func(&mut store, "_initialize") {
                    init.typed::<(), ()>(&store)?.call(&mut store, ())?;
                }
                let func = instance.get_func(&mut store, export).ok_or_else(|| {
                    wasmtime::format_err!("the module exports no function `{export}`")
                })?;
                let mut vals = vec![wasmtime::Val::I32(0); func.ty(&store).results().len()];
                func.call(&mut store, &[], &mut vals)?;
                results = vals.iter().map(val_to_i64).collect();
                Ok(())
            }
        }
    })();

    let exit_code = match result {
        Ok(()) => 0,
        Err(err) => match err.downcast_ref::<I32Exit>() {
            Some(exit) => exit.0,
            None => {
                let err = anyhow::Error::from(err);
                let stderr = String::from_utf8_lossy(&stderr.contents()).into_owned();
                return Err(err.context(format!("the guest failed; its stderr so far:\n{stderr}")));
            }
        },
    };
    drop(store);
    Ok(Outcome {
        stdout: stdout.contents().to_vec(),
        stderr: stderr.contents().to_vec(),
        exit_code,
        results,
    })
}

fn val_to_i64(v: &wasmtime::Val) -> i64 {
    match v {
        wasmtime::Val::I32(x) => i64::from(*x),
        wasmtime::Val::I64(x) => *x,
        wasmtime::Val::F32(bits) => i64::from(*bits),
        wasmtime::Val::F64(bits) => *bits as i64,
        _ => 0,
    }
}

/// Rewrites `module_path` with [`wasifs::Rewriter`], embedding each `(guest, host)` mount, and returns the
/// packed module's bytes.
pub fn try_pack(module_path: &Path, mounts: &[(&str, &Path)]) -> anyhow::Result<Vec<u8>> {
    let specs: Vec<String> = mounts
        .iter()
        .map(|(guest, host)| format!("{guest}={}", host.display()))
        .collect();
    try_pack_specs(module_path, &specs)
}

/// Like [`try_pack`], with each mount given as the CLI writes it: `GUEST=HOST[:ro|:rw]`.
pub fn try_pack_specs(module_path: &Path, specs: &[String]) -> anyhow::Result<Vec<u8>> {
    try_pack_specs_with(module_path, specs, wasifs::Rewriter::new())
}

/// Like [`try_pack_specs`], with the other options (globs, level, host preopen policy) set on
/// `rewriter`.
pub fn try_pack_specs_with(
    module_path: &Path,
    specs: &[String],
    rewriter: wasifs::Rewriter,
) -> anyhow::Result<Vec<u8>> {
    let mut rewriter = rewriter;
    for spec in specs {
        let mount = spec
            .parse::<wasifs::MountSpec>()
            .map_err(|e| anyhow::anyhow!("bad mount {spec}: {e}"))?;
        rewriter = rewriter.mount(mount);
    }
    let bytes = rewriter
        .rewrite_file(module_path)
        .map_err(|e| anyhow::anyhow!("wasifs rewrite {}: {e}", module_path.display()))?
        .bytes;
    if bytes.is_empty() {
        bail!(
            "wasifs rewrite of {} wrote an empty module",
            module_path.display()
        );
    }
    Ok(bytes)
}

/// [`try_pack`], panicking with the rewriter's message on failure (for tests).
pub fn pack(module_path: &Path, mounts: &[(&str, &Path)]) -> Vec<u8> {
    try_pack(module_path, mounts).unwrap_or_else(|e| panic!("{e:#}"))
}

/// [`try_pack_specs`], panicking with the rewriter's message on failure (for tests).
pub fn pack_specs(module_path: &Path, specs: &[String]) -> Vec<u8> {
    try_pack_specs(module_path, specs).unwrap_or_else(|e| panic!("{e:#}"))
}

/// [`try_pack_specs_with`], panicking with the rewriter's message on failure (for tests).
pub fn pack_specs_with(
    module_path: &Path,
    specs: &[String],
    rewriter: wasifs::Rewriter,
) -> Vec<u8> {
    try_pack_specs_with(module_path, specs, rewriter).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Fixtures that print the clock and random bytes (`fixtures/c/c_policy.c`, `rust_policy`).
pub const POLICY_FIXTURES: &[&str] = &["c_policy", "rust_policy"];

/// Packs a fixture for a test that compares two runs of it: with `specs` as mounts, except that a
/// [`POLICY_FIXTURES`] one gets a fixed clock and a seeded random source instead, so that two runs
/// print the same.
pub fn pack_comparable(module_path: &Path, specs: &[String]) -> Vec<u8> {
    let stem = module_path
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy();
    if POLICY_FIXTURES.contains(&stem.as_ref()) {
        let deterministic = wasifs::Rewriter::new()
            .clock(wasifs::Clock::Fixed(5_000_000_000))
            .random(wasifs::Random::Seed(7));
        pack_specs_with(module_path, &[], deterministic)
    } else {
        pack_specs(module_path, specs)
    }
}

/// Copies the directory `src` to `dst` (which must not exist): directories, regular files
/// (contents only) and symlinks (as symlinks, target unchanged), then creates each of
/// `empty_dirs` (relative paths) in the copy — git keeps no empty directories, so seed trees
/// list theirs here. A fixture that writes must only ever get such a copy, never `src` itself.
pub fn copy_tree(src: &Path, dst: &Path, empty_dirs: &[&str]) -> anyhow::Result<()> {
    fn walk(src: &Path, dst: &Path) -> anyhow::Result<()> {
        std::fs::create_dir(dst).with_context(|| format!("creating {}", dst.display()))?;
        for entry in std::fs::read_dir(src).with_context(|| format!("listing {}", src.display()))? {
            let entry = entry?;
            let (from, to) = (entry.path(), dst.join(entry.file_name()));
            let kind = entry.file_type()?;
            if kind.is_symlink() {
                let target = std::fs::read_link(&from)?;
                std::os::unix::fs::symlink(&target, &to)
                    .with_context(|| format!("symlinking {}", to.display()))?;
            } else if kind.is_dir() {
                walk(&from, &to)?;
            } else {
                std::fs::copy(&from, &to)
                    .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
            }
        }
        Ok(())
    }
    walk(src, dst)?;
    for dir in empty_dirs {
        let path = dst.join(dir);
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
    }
    Ok(())
}

/// Sorted `(relative path, what)` of everything under `dir`: `dir/` for directories,
/// `-> target` for symlinks (not followed), the contents for files. For "this tree did not
/// change" checks.
pub fn tree_snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let kind = entry.file_type().unwrap();
            if kind.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.push((rel, format!("-> {}", target.display()).into_bytes()));
            } else if kind.is_dir() {
                out.push((format!("{rel}/"), Vec::new()));
                walk(root, &path, out);
            } else {
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The workspace root (the directory holding `fixtures/`, `rewriter/`, …).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The path of the built fixture `name` (`fixtures/bin/NAME.wasm`, made by scripts/build-fixtures.sh).
pub fn fixture(name: &str) -> PathBuf {
    workspace_root().join(format!("fixtures/bin/{name}.wasm"))
}

/// The bytes of the built fixture `name`; panics naming it and the script that builds it.
pub fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name))
        .unwrap_or_else(|e| panic!("{name}: {e} (run scripts/build-fixtures.sh)"))
}

/// Whether `module` holds the `wasifs` custom section (the record a rewrite adds).
pub fn has_wasifs_record(module: &[u8]) -> bool {
    wasmparser::Parser::new(0)
        .parse_all(module)
        .any(|p| matches!(p, Ok(wasmparser::Payload::CustomSection(c)) if c.name() == "wasifs"))
}

/// Whether we run under CI (`CI=true`), where a missing prerequisite is a failure instead of a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Skips the current test with a printed notice, or panics under CI.
pub fn skip_or_fail(reason: &str) {
    if in_ci() {
        panic!("CI=true and a test prerequisite is missing: {reason}");
    }
    eprintln!("SKIPPED: {reason} (set CI=true to make this a failure)");
}

/// A line-by-line diff of an original run's output against the packed run's (`-` original, `+` packed).
pub fn diff(label: &str, expected: &[u8], actual: &[u8]) -> String {
    diff_between(
        &format!("{label} (original, --dir)"),
        &format!("{label} (packed)"),
        expected,
        actual,
    )
}

/// A line-by-line diff of two outputs, for failure messages (`-` expected, `+` actual).
pub fn diff_between(
    expected_label: &str,
    actual_label: &str,
    expected: &[u8],
    actual: &[u8],
) -> String {
    let expected = String::from_utf8_lossy(expected);
    let actual = String::from_utf8_lossy(actual);
    let e: Vec<&str> = expected.split_inclusive('\n').collect();
    let a: Vec<&str> = actual.split_inclusive('\n').collect();
    // Longest-common-subsequence table; outputs are small.
    let mut lcs = vec![vec![0usize; a.len() + 1]; e.len() + 1];
    for i in (0..e.len()).rev() {
        for j in (0..a.len()).rev() {
            lcs[i][j] = if e[i] == a[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // Walk the LCS into an edit script, then print changes with 3 lines of context.
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < e.len() || j < a.len() {
        if i < e.len() && j < a.len() && e[i] == a[j] {
            ops.push((' ', e[i]));
            i += 1;
            j += 1;
        } else if i < e.len() && (j == a.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', e[i]));
            i += 1;
        } else {
            ops.push(('+', a[j]));
            j += 1;
        }
    }
    const CONTEXT: usize = 3;
    let near_change = |k: usize| {
        let lo = k.saturating_sub(CONTEXT);
        let hi = (k + CONTEXT + 1).min(ops.len());
        ops[lo..hi].iter().any(|(sign, _)| *sign != ' ')
    };
    let mut out = format!("--- {expected_label}\n+++ {actual_label}\n");
    let mut skipped = false;
    for (k, (sign, text)) in ops.iter().enumerate() {
        if !near_change(k) {
            skipped = true;
            continue;
        }
        if skipped {
            out.push_str("@@ …\n");
            skipped = false;
        }
        out.push(*sign);
        out.push_str(text.strip_suffix('\n').unwrap_or(text));
        if !text.ends_with('\n') {
            out.push_str(" ⏎ (no newline at end)");
        }
        out.push('\n');
    }
    out
}

/// Panics with readable diffs unless the two outcomes are identical.
pub fn assert_same_outcome(name: &str, expected: &Outcome, actual: &Outcome) {
    if expected == actual {
        return;
    }
    let mut msg = format!("{name}: the packed module behaves differently from the original\n");
    if expected.exit_code != actual.exit_code {
        msg += &format!(
            "exit code: original {}, packed {}\n",
            expected.exit_code, actual.exit_code
        );
    }
    if expected.stdout != actual.stdout {
        msg += &diff("stdout", &expected.stdout, &actual.stdout);
    }
    if expected.stderr != actual.stderr {
        msg += &diff("stderr", &expected.stderr, &actual.stderr);
    }
    if expected.results != actual.results {
        msg += &format!(
            "results: original {:?}, packed {:?}\n",
            expected.results, actual.results
        );
    }
    panic!("{msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_marks_changed_lines() {
        let d = diff("stdout", b"a\nb\nc\n", b"a\nx\nc\n");
        assert!(d.contains("-b\n"), "{d}");
        assert!(d.contains("+x\n"), "{d}");
        assert!(d.contains(" a\n"), "{d}");
    }

    #[test]
    fn diff_leaves_out_lines_far_from_changes() {
        let expected: String = (0..20).map(|i| format!("line {i}\n")).collect();
        let actual = expected.replace("line 10\n", "changed\n");
        let d = diff("stdout", expected.as_bytes(), actual.as_bytes());
        assert!(d.contains(" line 7\n") && d.contains(" line 13\n"), "{d}");
        assert!(!d.contains("line 6\n") && !d.contains("line 14\n"), "{d}");
        assert!(
            d.contains("-line 10\n+changed\n") || d.contains("+changed\n-line 10\n"),
            "{d}"
        );
    }

    #[test]
    fn run_reports_proc_exit_code_and_stdout() {
        let wasm = wat::parse_str(
            r#"(module
              (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
              (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
              (memory (export "memory") 1)
              (data (i32.const 16) "hi\n")
              (func (export "_start")
                (i32.store (i32.const 0) (i32.const 16))
                (i32.store (i32.const 4) (i32.const 3))
                (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
                (call $exit (i32.const 7))))"#,
        )
        .unwrap();
        let out = run(&wasm, &RunOptions::default()).unwrap();
        assert_eq!(out.stdout, b"hi\n");
        assert_eq!(out.exit_code, 7);
    }

    #[test]
    fn run_turns_a_trap_into_an_error() {
        let wasm = wat::parse_str(
            r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#,
        )
        .unwrap();
        let err = run(&wasm, &RunOptions::default()).unwrap_err();
        assert!(format!("{err:?}").contains("unreachable"), "{err:?}");
    }

    #[test]
    fn run_calls_initialize_then_the_reactor_export() {
        let wasm = wat::parse_str(
            r#"(module
              (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
              (memory (export "memory") 1)
              (global $g (mut i32) (i32.const 0))
              (func (export "_initialize") (global.set $g (i32.const 40)))
              (func (export "go") (call $exit (i32.add (global.get $g) (i32.const 2)))))"#,
        )
        .unwrap();
        let opts = RunOptions {
            entry: Entry::Reactor("go".into()),
            ..RunOptions::default()
        };
        assert_eq!(run(&wasm, &opts).unwrap().exit_code, 42);
    }
}
