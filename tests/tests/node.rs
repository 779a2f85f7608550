//! Second engine: Node's `node:wasi` runs packed fixtures (no preopens) with the same stdout as wasmtime.

use std::path::PathBuf;
use std::process::Command;

use wasifs_tests::{diff_between, pack_comparable, run, skip_or_fail, workspace_root, RunOptions};

/// `$WASIFS_NODE`, else the Node installed by `scripts/install-toolchains.sh --test`, else `node` on PATH;
/// the first one that is Node ≥ 22.
fn find_node() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("WASIFS_NODE") {
        candidates.push(PathBuf::from(p));
    }
    candidates.push(workspace_root().join(".tools/node24/node_modules/.bin/node"));
    candidates.push(PathBuf::from("node"));
    candidates.into_iter().find(|node| {
        let Ok(out) = Command::new(node).arg("--version").output() else {
            return false;
        };
        let version = String::from_utf8_lossy(&out.stdout);
        let major = version
            .trim()
            .trim_start_matches('v')
            .split('.')
            .next()
            .unwrap_or("");
        out.status.success() && major.parse::<u32>().is_ok_and(|m| m >= 22)
    })
}

/// Fixtures that need writable `/data` and `/ro` trees (tests/tests/conformance.rs runs them).
const WRITE_FIXTURES: &[&str] = &[
    "c_conformance",
    "go_write",
    "rust_conformance",
    "rust_stress",
];

#[test]
fn node_runs_packed_fixtures_with_the_same_stdout_as_wasmtime() {
    let Some(node) = find_node() else {
        skip_or_fail(
            "no Node >= 22 found (scripts/install-toolchains.sh --test, or set WASIFS_NODE)",
        );
        return;
    };
    let root = workspace_root();
    let tree = root.join("fixtures/tree");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(root.join("fixtures/bin"))
        .expect("fixtures/bin exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .filter(|p| !p.file_name().unwrap().to_string_lossy().contains("reactor"))
        .filter(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy();
            !WRITE_FIXTURES.contains(&stem.as_ref())
        })
        .collect();
    fixtures.sort();
    assert!(!fixtures.is_empty(), "no command fixtures in fixtures/bin");

    let dir = tempfile::tempdir().unwrap();
    // No preopens; every WASI import wrapped in a plain JS function, so that Node 22 works too (its
    // V8 aborts on fast API calls from a module with two memories).
    let runner = root.join("scripts/run_wasm_node.js");
    let mut failures = Vec::new();
    for fixture in &fixtures {
        let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
        let packed_path = dir.path().join(&name);
        // Read-only, as in the differential test: these fixtures also try writes, and a writable
        // mount would give new files the clock's time, which differs between the two runs.
        let spec = format!("/={}:ro", tree.display());
        std::fs::write(&packed_path, pack_comparable(fixture, &[spec])).unwrap();
        let opts = RunOptions {
            args: vec![name.clone()],
            ..RunOptions::default()
        };
        let expected = run(&std::fs::read(&packed_path).unwrap(), &opts).unwrap();
        // stdout goes to a file: with stdout on a pipe, Zig programs fail with WriteFailed under
        // Node's WASI (the unpacked module too), which is not what this test is about.

        let stdout_path = dir.path().join(format!("{name}.stdout"));
        let out = Command::new(&node)
            .arg("--no-warnings")
            .arg(&runner)
            .arg(&packed_path)
            .stdout(std::fs::File::create(&stdout_path).unwrap())
            .output()
            .expect("running node");
        let stdout = std::fs::read(&stdout_path).unwrap();
        let code = out.status.code().unwrap_or(-1);
        if stdout != expected.stdout || code != expected.exit_code {
            failures.push(format!(
                "{name}: node exit {code}, wasmtime exit {}\n{}node stderr:\n{}",
                expected.exit_code,
                diff_between(
                    "stdout (wasmtime)",
                    "stdout (node)",
                    &expected.stdout,
                    &stdout
                ),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
