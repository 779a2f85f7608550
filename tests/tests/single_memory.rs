//! The single-memory layout (`--memory=single`): runs on an engine without multi-memory (the
//! system Node 20) exactly as under wasmtime; Go modules are refused with a reason; `auto` picks
//! single except for Go.

use std::path::{Path, PathBuf};
use std::process::Command;

use wasifs::{MemoryLayout, Rewriter};
use wasifs_tests::{
    diff_between, pack_specs_with, run, skip_or_fail, try_pack_specs_with, workspace_root,
    RunOptions,
};

/// Runs a wasip1 command under `node:wasi` with no preopens.
const RUNNER_JS: &str = r#"
const { WASI } = require('node:wasi');
const fs = require('node:fs');
const [file, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args, env: {}, preopens: {}, returnOnExit: true });
const instance = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(file)),
  wasi.getImportObject());
process.exitCode = wasi.start(instance);
"#;

/// Fixtures left out: those that need writable `/data` and `/ro` trees (tests/tests/conformance.rs
/// runs them), and those that print the clock and random bytes (tests/tests/policies.rs).
const WRITE_FIXTURES: &[&str] = &[
    "c_conformance",
    "rust_conformance",
    "rust_stress",
    "c_policy",
    "rust_policy",
];

fn layout(layout: MemoryLayout) -> Rewriter {
    Rewriter::new().memory_layout(layout)
}

fn memory_count(module: &[u8]) -> u32 {
    let mut n = 0;
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        match payload.expect("parses") {
            wasmparser::Payload::MemorySection(r) => n += r.count(),
            wasmparser::Payload::ImportSection(r) => {
                for i in r.into_imports() {
                    if matches!(i.unwrap().ty, wasmparser::TypeRef::Memory(_)) {
                        n += 1;
                    }
                }
            }
            _ => {}
        }
    }
    n
}

/// `$WASIFS_NODE_SINGLE`, else the system `/usr/bin/node`, when it is a Node that refuses a
/// module with two memories (no multi-memory), checked with `multi` (a packed module).
fn find_single_memory_node(multi: &Path, dir: &Path) -> Option<PathBuf> {
    let node = std::env::var_os("WASIFS_NODE_SINGLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/node"));
    let runner = dir.join("compile.js");
    std::fs::write(
        &runner,
        "new WebAssembly.Module(require('fs').readFileSync(process.argv[2]));",
    )
    .ok()?;
    let out = Command::new(&node).arg(&runner).arg(multi).output().ok()?;
    let refused = !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("memor");
    refused.then_some(node)
}

#[test]
fn node_without_multi_memory_runs_single_memory_fixtures_like_wasmtime() {
    let root = workspace_root();
    let tree = root.join("fixtures/tree");
    let spec = format!("/={}:ro", tree.display());
    let dir = tempfile::tempdir().unwrap();
    let probe = dir.path().join("multi.wasm");
    let rust_read = root.join("fixtures/bin/rust_read.wasm");
    std::fs::write(
        &probe,
        pack_specs_with(
            &rust_read,
            std::slice::from_ref(&spec),
            layout(MemoryLayout::Multi),
        ),
    )
    .unwrap();
    let Some(node) = find_single_memory_node(&probe, dir.path()) else {
        skip_or_fail(
            "no Node without multi-memory (Node 20) at /usr/bin/node or $WASIFS_NODE_SINGLE",
        );
        return;
    };
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(root.join("fixtures/bin"))
        .expect("fixtures/bin exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .filter(|p| !p.file_name().unwrap().to_string_lossy().contains("reactor"))
        .filter(|p| !WRITE_FIXTURES.contains(&p.file_stem().unwrap().to_string_lossy().as_ref()))
        // Go is refused in the single-memory layout (tests/tests/differential.rs checks that).
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with("go_"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 8, "command fixtures in fixtures/bin");

    let runner = dir.path().join("run.js");
    std::fs::write(&runner, RUNNER_JS).unwrap();
    let mut failures = Vec::new();
    for fixture in &fixtures {
        let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
        let packed_path = dir.path().join(&name);
        let packed = pack_specs_with(
            fixture,
            std::slice::from_ref(&spec),
            layout(MemoryLayout::Single),
        );
        assert_eq!(memory_count(&packed), 1, "{name}");
        std::fs::write(&packed_path, &packed).unwrap();
        let opts = RunOptions {
            args: vec![name.clone()],
            ..RunOptions::default()
        };
        let expected = run(&packed, &opts).unwrap();
        // stdout goes to a file: with stdout on a pipe, Zig programs fail with WriteFailed under
        // Node's WASI (the unpacked module too).
        let stdout_path = dir.path().join(format!("{name}.stdout"));
        let out = Command::new(&node)
            .arg("--no-warnings")
            .arg(&runner)
            .arg(&packed_path)
            .arg(&name)
            .stdout(std::fs::File::create(&stdout_path).unwrap())
            .output()
            .expect("running node");
        let stdout = std::fs::read(&stdout_path).unwrap();
        let code = out.status.code().unwrap_or(-1);
        if stdout != expected.stdout || code != expected.exit_code || stdout.is_empty() {
            failures.push(format!(
                "{name}: node exit {code}, wasmtime exit {}\n{}node stderr:\n{}",
                expected.exit_code,
                diff_between(
                    "stdout (wasmtime)",
                    "stdout (node 20)",
                    &expected.stdout,
                    &stdout
                ),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A minimal wasip1 module that looks like Go's output (`go:buildid` section) or not.
fn module(dir: &Path, go: bool) -> PathBuf {
    let custom = if go {
        r#"(@custom "go:buildid" "abc/def")"#
    } else {
        ""
    };
    let wat = format!(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (func (export "_start"))
          {custom})"#
    );
    let path = dir.join(if go { "go.wasm" } else { "c.wasm" });
    std::fs::write(&path, wat::parse_str(&wat).unwrap()).unwrap();
    path
}

#[test]
fn a_go_module_is_refused_in_the_single_memory_layout_naming_go_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let err = try_pack_specs_with(&module(dir.path(), true), &[], layout(MemoryLayout::Single))
        .expect_err("refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("is a Go program"), "{msg}");
    assert!(msg.contains("--memory=multi"), "{msg}");
    // The same module without the Go section packs.
    let packed = try_pack_specs_with(
        &module(dir.path(), false),
        &[],
        layout(MemoryLayout::Single),
    )
    .expect("packs");
    assert_eq!(memory_count(&packed), 1);
}

#[test]
fn an_emscripten_module_is_refused_in_the_single_memory_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("em.wasm");
    let wat = r#"(module
      (import "env" "emscripten_notify_memory_growth" (func (param i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start")))"#;
    std::fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
    let err = try_pack_specs_with(&path, &[], layout(MemoryLayout::Single)).expect_err("refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("is an Emscripten program"), "{msg}");
    assert!(msg.contains("--memory=multi"), "{msg}");
    let auto = try_pack_specs_with(&path, &[], layout(MemoryLayout::Auto)).expect("packs");
    assert_eq!(memory_count(&auto), 2, "auto: multi for Emscripten");
}

#[test]
fn auto_is_single_memory_except_for_go() {
    let dir = tempfile::tempdir().unwrap();
    let auto = || layout(MemoryLayout::Auto);
    let c = try_pack_specs_with(&module(dir.path(), false), &[], auto()).expect("packs");
    assert_eq!(
        memory_count(&c),
        1,
        "auto: single for a module that is not Go"
    );
    let go = try_pack_specs_with(&module(dir.path(), true), &[], auto()).expect("packs");
    assert_eq!(memory_count(&go), 2, "auto: multi for Go");
    let default =
        try_pack_specs_with(&module(dir.path(), false), &[], Rewriter::new()).expect("packs");
    assert_eq!(memory_count(&default), 2, "multi is the default");
}

/// Grows its memory between writes that grow the shim's heap, so the shim's pages and the app's
/// interleave in memory 0; checks its own pages after each step and the file's bytes at the end.
/// Exit codes: 0 ok, 1 a WASI call failed, 2 the app's new pages changed, 3 the file read back
/// differs from what was written.
const INTERLEAVE: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (global $new (mut i32) (i32.const 0))
  (data (i32.const 16) "big.bin")
  (func $ok (param i32) (if (local.get 0) (then (call $exit (i32.const 1)))))
  (func $byte (param $i i32) (result i32)
    (i32.shr_u (i32.mul (local.get $i) (i32.const 0x9E3779B1)) (i32.const 24)))
  ;; fill [from, to) with the pattern
  (func $fill (param $i i32) (param $to i32)
    (block (loop (br_if 1 (i32.ge_u (local.get $i) (local.get $to)))
      (i32.store8 (local.get $i) (call $byte (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1))) (br 0))))
  ;; 1 when [from, to) holds the pattern
  (func $holds (param $i i32) (param $to i32) (result i32)
    (block (loop (br_if 1 (i32.ge_u (local.get $i) (local.get $to)))
      (if (i32.ne (i32.load8_u (local.get $i)) (call $byte (local.get $i)))
        (then (return (i32.const 0))))
      (local.set $i (i32.add (local.get $i) (i32.const 1))) (br 0)))
    (i32.const 1))
  ;; writes [32768, 65536) to fd `n` times (iovec at 64, nwritten at 72)
  (func $write (param $fd i32) (param $n i32)
    (i32.store (i32.const 64) (i32.const 32768))
    (i32.store (i32.const 68) (i32.const 32768))
    (block (loop (br_if 1 (i32.eqz (local.get $n)))
      (call $ok (call $fd_write (local.get $fd) (i32.const 64) (i32.const 1) (i32.const 72)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br 0))))
  ;; grows by 2 pages and fills them; returns their address
  (func $grow (result i32) (local $at i32)
    (local.set $at (i32.mul (memory.grow (i32.const 2)) (i32.const 65536)))
    (call $fill (local.get $at) (i32.add (local.get $at) (i32.const 131072)))
    (local.get $at))
  (func (export "_start") (local $fd i32) (local $a i32) (local $b i32) (local $left i32)
    (call $fill (i32.const 32768) (i32.const 65536))
    (call $ok (call $path_open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 7)
      (i32.const 9) (i64.const 0x1fffffff) (i64.const 0) (i32.const 0) (i32.const 8)))
    (local.set $fd (i32.load (i32.const 8)))
    (call $write (local.get $fd) (i32.const 8))
    (local.set $a (call $grow))
    (call $write (local.get $fd) (i32.const 8))
    (local.set $b (call $grow))
    (call $write (local.get $fd) (i32.const 8))
    (if (i32.eqz (call $holds (local.get $a) (i32.add (local.get $a) (i32.const 131072))))
      (then (call $exit (i32.const 2))))
    (if (i32.eqz (call $holds (local.get $b) (i32.add (local.get $b) (i32.const 131072))))
      (then (call $exit (i32.const 2))))
    ;; read the 24 chunks back into the first new pages, each must equal [32768, 65536)
    (call $ok (call $fd_seek (local.get $fd) (i64.const 0) (i32.const 0) (i32.const 80)))
    (local.set $left (i32.const 24))
    (block (loop (br_if 1 (i32.eqz (local.get $left)))
      (i32.store (i32.const 64) (local.get $a))
      (i32.store (i32.const 68) (i32.const 32768))
      (call $ok (call $fd_read (local.get $fd) (i32.const 64) (i32.const 1) (i32.const 72)))
      (if (i32.ne (i32.load (i32.const 72)) (i32.const 32768)) (then (call $exit (i32.const 3))))
      (memory.copy (i32.add (local.get $a) (i32.const 32768)) (i32.const 32768) (i32.const 32768))
      (if (i32.ne (call $cmp (local.get $a)) (i32.const 1)) (then (call $exit (i32.const 3))))
      (local.set $left (i32.sub (local.get $left) (i32.const 1))) (br 0))))
  ;; 1 when the 32768 bytes at `at` equal those at `at + 32768`
  (func $cmp (param $at i32) (result i32) (local $i i32)
    (block (loop (br_if 1 (i32.ge_u (local.get $i) (i32.const 32768)))
      (if (i32.ne (i32.load8_u (i32.add (local.get $at) (local.get $i)))
                  (i32.load8_u (i32.add (i32.add (local.get $at) (i32.const 32768)) (local.get $i))))
        (then (return (i32.const 0))))
      (local.set $i (i32.add (local.get $i) (i32.const 1))) (br 0)))
    (i32.const 1))
)"#;

#[test]
fn app_and_shim_growing_memory_in_turns_keep_each_others_bytes_in_the_single_memory_layout() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("interleave.wasm");
    std::fs::write(&app, wat::parse_str(INTERLEAVE).unwrap()).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();

    let original = run(
        &std::fs::read(&app).unwrap(),
        &RunOptions::with_preopen(&data, "/data"),
    )
    .expect("the original runs");
    assert_eq!(
        original.exit_code,
        0,
        "the original: {}",
        original.stderr_str()
    );

    let packed = pack_specs_with(
        &app,
        &[format!("/data={}:rw", data.display())],
        layout(MemoryLayout::Single),
    );
    assert_eq!(memory_count(&packed), 1);
    let out = run(&packed, &RunOptions::default()).expect("the packed module runs");
    assert_eq!(
        out.exit_code,
        0,
        "1: a WASI call failed, 2: the app's pages changed, 3: the file differs; stderr {}",
        out.stderr_str()
    );
}

/// `$WASIFS_PYWASM` (a Python with the `pywasm` package, a pure-Python interpreter without
/// multi-memory), else `.tools/venv/bin/python` when it has pywasm.
fn find_pywasm() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("WASIFS_PYWASM") {
        candidates.push(PathBuf::from(p));
    }
    candidates.push(workspace_root().join(".tools/venv/bin/python"));
    candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import pywasm"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn pywasm_runs_a_single_memory_module_like_wasmtime_and_refuses_the_multi_memory_one() {
    let Some(python) = find_pywasm() else {
        skip_or_fail(
            "no Python with pywasm (scripts/install-toolchains.sh --test, or set WASIFS_PYWASM)",
        );
        return;
    };
    // wat_cat: pywasm interprets in Python, so the smallest fixture (seconds, where a C or Rust
    // fixture takes minutes).
    let root = workspace_root();
    let fixture = root.join("fixtures/bin/wat_cat.wasm");
    let spec = format!("/={}:ro", root.join("fixtures/tree").display());
    let dir = tempfile::tempdir().unwrap();
    let run_pywasm = |layout_: MemoryLayout| {
        let path = dir.path().join(format!("{layout_:?}.wasm"));
        let packed = pack_specs_with(&fixture, std::slice::from_ref(&spec), layout(layout_));
        std::fs::write(&path, &packed).unwrap();
        let out = Command::new(&python)
            .args([
                "-m",
                "pywasm",
                "--wasi",
                "preview1",
                "--wasi-args",
                "wat_cat.wasm",
            ])
            .arg(&path)
            .output()
            .expect("running pywasm");
        (packed, out)
    };
    let (packed, out) = run_pywasm(MemoryLayout::Single);
    let expected = run(
        &packed,
        &RunOptions {
            args: vec!["wat_cat.wasm".into()],
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(expected.exit_code),
        "pywasm stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!expected.stdout.is_empty());
    assert_eq!(
        out.stdout,
        expected.stdout,
        "{}",
        diff_between("wasmtime", "pywasm", &expected.stdout, &out.stdout)
    );
    let (_, multi) = run_pywasm(MemoryLayout::Multi);
    assert!(!multi.status.success(), "pywasm has no multi-memory");
}

/// The initial and maximum pages of each memory `module` defines.
fn memories(module: &[u8]) -> Vec<(u64, Option<u64>)> {
    let mut out = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        if let wasmparser::Payload::MemorySection(r) = payload.unwrap() {
            out.extend(r.into_iter().map(|m| {
                let m = m.unwrap();
                (m.initial, m.maximum)
            }));
        }
    }
    out
}

fn pack_wat(wat: &str, rewriter: Rewriter) -> wasifs::Result<Vec<u8>> {
    rewriter
        .rewrite(&wat::parse_str(wat).unwrap())
        .map(|r| r.bytes)
}

#[test]
fn the_shim_pages_follow_the_app_initial_memory_and_its_maximum_grows_by_as_many() {
    let app = r#"(module (memory (export "memory") 2 10) (func (export "_start")))"#;
    let multi = pack_wat(app, layout(MemoryLayout::Multi)).expect("packs");
    let [_, (shim_pages, _)] = memories(&multi)[..] else {
        panic!("two memories in the multi layout")
    };
    let single = pack_wat(app, layout(MemoryLayout::Single)).expect("packs");
    assert_eq!(memories(&single), [(2 + shim_pages, Some(10 + shim_pages))]);
    // An app with no initial memory gets one page first: the shim never starts at address 0
    // (which it borrows for host results).
    let empty = r#"(module (memory (export "memory") 0) (func (export "_start")))"#;
    let single = pack_wat(empty, layout(MemoryLayout::Single)).expect("packs");
    assert_eq!(memories(&single), [(1 + shim_pages, None)]);
}

#[test]
fn an_app_with_two_memories_or_no_room_for_the_shim_is_refused_in_the_single_layout() {
    let two = r#"(module (memory 1) (memory (export "memory") 1) (func (export "_start")))"#;
    let err = pack_wat(two, layout(MemoryLayout::Single)).expect_err("refused");
    assert!(err.to_string().contains("--memory=multi"), "{err}");
    let full = r#"(module (memory (export "memory") 65535) (func (export "_start")))"#;
    let err = pack_wat(full, layout(MemoryLayout::Single)).expect_err("refused");
    assert!(err.to_string().contains("more than 4 GiB"), "{err}");
}

#[test]
fn a_single_memory_module_rewritten_again_keeps_its_layout_and_runs_with_the_new_image() {
    let root = workspace_root();
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("once.wasm");
    let tree = root.join("fixtures/tree");
    let spec = format!("/={}:ro", tree.display());
    let fixture = root.join("fixtures/bin/wat_cat.wasm");
    let once = pack_specs_with(
        &fixture,
        std::slice::from_ref(&spec),
        layout(MemoryLayout::Single),
    );
    std::fs::write(&first, &once).unwrap();
    let opts = RunOptions {
        args: vec!["wat_cat.wasm".into()],
        ..RunOptions::default()
    };
    let expected = run(&once, &opts).unwrap();
    for again in [MemoryLayout::Single, MemoryLayout::Multi] {
        let twice = pack_specs_with(&first, std::slice::from_ref(&spec), layout(again));
        assert_eq!(memory_count(&twice), 1, "{again:?}: still one memory");
        let actual = run(&twice, &opts).unwrap();
        assert_eq!(actual.stdout, expected.stdout, "{again:?}");
    }
    // A module packed with two memories cannot be made single afterwards.
    let multi = dir.path().join("multi.wasm");
    std::fs::write(
        &multi,
        pack_specs_with(
            &fixture,
            std::slice::from_ref(&spec),
            layout(MemoryLayout::Multi),
        ),
    )
    .unwrap();
    let err =
        try_pack_specs_with(&multi, &[spec], layout(MemoryLayout::Single)).expect_err("refused");
    assert!(
        format!("{err:#}").contains("rewrite the original"),
        "{err:#}"
    );
}

/// Asks for its environment and exits with 1 when environ_sizes_get fails, 2 when environ_get
/// does, else 50 + the count.
const ENV_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $e i32)
    (local.set $e (call $sizes (i32.const 100) (i32.const 104)))
    (if (local.get $e) (then (call $exit (i32.const 1))))
    (local.set $e (call $get (i32.const 200) (i32.const 300)))
    (if (local.get $e) (then (call $exit (i32.const 2))))
    (call $exit (i32.add (i32.const 50) (i32.load (i32.const 100))))))"#;

#[test]
fn a_baked_environment_reaches_the_app_in_the_single_layout_under_node_20() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("env.wasm");
    std::fs::write(&app, wat::parse_str(ENV_WAT).unwrap()).unwrap();
    let packed = pack_specs_with(&app, &[], layout(MemoryLayout::Single).env("FOO", "bar"));
    let path = dir.path().join("env.packed.wasm");
    std::fs::write(&path, &packed).unwrap();
    let expected = run(&packed, &RunOptions::default()).unwrap();
    assert_eq!(expected.exit_code, 51, "wasmtime: one variable");
    let runner = dir.path().join("run.js");
    std::fs::write(&runner, RUNNER_JS).unwrap();
    let out = Command::new("/usr/bin/node")
        .arg("--no-warnings")
        .arg(&runner)
        .arg(&path)
        .output()
        .expect("node");
    assert_eq!(
        out.status.code(),
        Some(51),
        "node 20: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
