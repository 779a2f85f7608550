//! `wasifs strip` round trip: strip(rewrite(app)) runs under wasmtime exactly as app does, given
//! the same host directory, on every command fixture that only reads (C, Go, Rust, Zig, WAT).

use std::path::PathBuf;

use wasifs_tests::{assert_same_outcome, pack_specs, run, workspace_root, RunOptions};

/// The command fixtures that do not write (go_write needs a writable preopen of its own) and
/// print the same on every run (c_policy and rust_policy print the host clocks and random bytes).
const COMMANDS: &[&str] = &[
    "c_conformance",
    "c_posix",
    "c_wasi_raw",
    "go_preopen",
    "go_read",
    "go_walk",
    "rust_conformance",
    "rust_dirs",
    "rust_errors",
    "rust_exit",
    "rust_read",
    "rust_stress",
    "wat_cat",
    "wat_indirect",
    "zig_fs",
];

fn fixture(name: &str) -> PathBuf {
    workspace_root().join(format!("fixtures/bin/{name}.wasm"))
}

#[test]
fn a_stripped_module_runs_like_the_original_on_every_command_fixture() {
    let tree = workspace_root().join("fixtures/tree");
    for name in COMMANDS {
        let original = std::fs::read(fixture(name))
            .unwrap_or_else(|e| panic!("{name}: {e} (run scripts/build-fixtures.sh)"));
        let packed = pack_specs(&fixture(name), &[format!("/={}:ro", tree.display())]);
        let stripped = wasifs::strip(&packed).unwrap_or_else(|e| panic!("{name}: {e}"));
        let has_record = wasmparser::Parser::new(0).parse_all(&stripped.bytes).any(
            |p| matches!(p, Ok(wasmparser::Payload::CustomSection(c)) if c.name() == "wasifs"),
        );
        assert!(!has_record, "{name}: the stripped module kept the record");
        let opts = RunOptions {
            args: vec![format!("{name}.wasm")],
            preopens: vec![(tree.clone(), "/".to_string())],
            read_only: vec!["/".to_string()],
            ..RunOptions::default()
        };
        let expected = run(&original, &opts)
            .unwrap_or_else(|e| panic!("{name}: the ORIGINAL module failed: {e:?}"));
        let actual = run(&stripped.bytes, &opts)
            .unwrap_or_else(|e| panic!("{name}: the STRIPPED module failed: {e:?}"));
        assert_same_outcome(name, &expected, &actual);
    }
}
