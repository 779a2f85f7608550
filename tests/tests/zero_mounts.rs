//! A module rewritten with no mount at all: the shim owns the fd table and passes the runtime's
//! preopens through, so the program behaves as it does unpacked with the same `--dir`.

use std::path::PathBuf;

use wasifs_tests::{
    assert_same_outcome, run, tree_snapshot, try_pack_specs, workspace_root, Outcome, RunOptions,
};

/// The command fixtures (the reactor needs an entry point of its own and opens no files).
const COMMANDS: &[&str] = &[
    "c_conformance",
    "c_posix",
    "c_wasi_raw",
    "go_read",
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

/// `name` rewritten with no `--mount`.
fn packed_without_mounts(name: &str) -> Vec<u8> {
    let packed = try_pack_specs(&fixture(name), &[])
        .unwrap_or_else(|e| panic!("{name}: a rewrite with no mount must succeed: {e:#}"));
    let has_record = wasmparser::Parser::new(0)
        .parse_all(&packed)
        .any(|p| matches!(p, Ok(wasmparser::Payload::CustomSection(c)) if c.name() == "wasifs"));
    assert!(
        has_record,
        "{name}: the shim was merged in (the wasifs record is there)"
    );
    packed
}

/// Runs the original and the packed module with the same options.
fn both(name: &str, opts: &RunOptions) -> (Outcome, Outcome) {
    let original = std::fs::read(fixture(name))
        .unwrap_or_else(|e| panic!("{name}: {e} (run scripts/build-fixtures.sh)"));
    let expected = run(&original, opts)
        .unwrap_or_else(|e| panic!("{name}: the ORIGINAL module failed under wasmtime: {e:?}"));
    let actual = run(&packed_without_mounts(name), opts)
        .unwrap_or_else(|e| panic!("{name}: the PACKED module failed: {e:?}"));
    (expected, actual)
}

#[test]
fn every_fixture_packed_without_mounts_behaves_like_the_original_given_the_same_host_dir() {
    for name in COMMANDS {
        let opts = RunOptions {
            args: vec![format!("{name}.wasm")],
            preopens: vec![(workspace_root().join("fixtures/tree"), "/".to_string())],
            read_only: vec!["/".to_string()],
            ..RunOptions::default()
        };
        let (expected, actual) = both(name, &opts);
        assert_same_outcome(name, &expected, &actual);
        if *name == "rust_read" {
            assert!(
                expected.exit_code == 0 && !expected.stdout.is_empty(),
                "rust_read reads the host tree: {}",
                expected.stderr_str()
            );
        }
    }
}

#[test]
fn a_module_packed_without_mounts_lists_and_writes_the_host_preopen_as_unpacked() {
    let (original_dir, packed_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let opts = |dir: &tempfile::TempDir| RunOptions::with_preopen(dir.path(), "/out");
    let original = std::fs::read(fixture("wat_preopens")).unwrap();
    let expected = run(&original, &opts(&original_dir)).expect("the original runs");
    let actual = run(&packed_without_mounts("wat_preopens"), &opts(&packed_dir))
        .expect("the packed module runs");
    assert_same_outcome("wat_preopens", &expected, &actual);
    assert!(
        expected.stdout_str().contains("preopen 3 /out"),
        "the fixture lists the host preopen: {}",
        expected.stdout_str()
    );
    let written = tree_snapshot(original_dir.path());
    assert!(!written.is_empty(), "the original wrote into /out");
    assert_eq!(tree_snapshot(packed_dir.path()), written);
}
