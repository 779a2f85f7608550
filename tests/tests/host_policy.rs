//! The image's host preopen policy, enforced by the shim: `--preopen GUEST=HOSTNAME` shows the
//! runtime's preopen HOSTNAME to the app as GUEST (calls still reach the host directory), and
//! `--host-fs=deny` hides every host preopen no alias names. `fixtures/wat/wat_preopens.wat` lists
//! its preopens (`preopen <fd> <name>`) and writes `written.txt` into the one named `/out`;
//! `fixtures/go/cmd/go_preopen` (Go's runtime finds preopens itself and picks one by path prefix)
//! reads from the image and writes, renames and removes in `/out`.

use std::path::{Path, PathBuf};

use wasifs::{HostFs, HostPreopen, Rewriter};
use wasifs_tests::{
    assert_same_outcome, pack_specs_with, run, tree_snapshot, workspace_root, Outcome, RunOptions,
};

/// What wat_preopens writes into `/out`.
const WRITTEN: &[u8] = b"written by wat_preopens\n";

fn fixture() -> PathBuf {
    fixture_named("wat_preopens")
}

fn fixture_named(name: &str) -> PathBuf {
    workspace_root().join(format!("fixtures/bin/{name}.wasm"))
}

/// `wat_preopens` packed with `fixtures/tree` read-only at `/`, the host preopens `host_fs`, and
/// each alias of `preopens` (`GUEST=HOSTNAME`).
fn packed(host_fs: HostFs, preopens: &[HostPreopen]) -> Vec<u8> {
    packed_fixture(&fixture(), host_fs, preopens)
}

/// `module` packed like [`packed`] packs `wat_preopens`.
fn packed_fixture(module: &Path, host_fs: HostFs, preopens: &[HostPreopen]) -> Vec<u8> {
    let tree = workspace_root().join("fixtures/tree");
    let rewriter = preopens
        .iter()
        .fold(Rewriter::new().host_fs(host_fs), |r, p| {
            r.preopen(p.clone())
        });
    pack_specs_with(module, &[format!("/={}:ro", tree.display())], rewriter)
}

fn alias(guest: &str, host: &str) -> HostPreopen {
    format!("{guest}={host}")
        .parse()
        .expect("a well-formed --preopen")
}

/// Runs `module` with each `(host dir, runtime preopen name)` preopened writable.
fn run_with(module: &[u8], preopens: &[(&Path, &str)]) -> Outcome {
    let opts = RunOptions {
        preopens: preopens
            .iter()
            .map(|(dir, name)| (dir.to_path_buf(), name.to_string()))
            .collect(),
        ..RunOptions::default()
    };
    let out = run(module, &opts).expect("the packed module runs");
    assert_eq!(out.exit_code, 0, "stderr: {}", out.stderr_str());
    out
}

fn written() -> Vec<(String, Vec<u8>)> {
    vec![("written.txt".to_string(), WRITTEN.to_vec())]
}

#[test]
fn an_aliased_host_preopen_is_seen_under_its_guest_name_and_written_through() {
    let host_dir = tempfile::tempdir().unwrap();
    let module = packed(HostFs::Allow, &[alias("/out", "/real-host-name")]);
    let actual = run_with(&module, &[(host_dir.path(), "/real-host-name")]);
    assert_eq!(
        actual.stdout_str(),
        "preopen 3 /\npreopen 4 /out\nwrote\n",
        "stderr: {}",
        actual.stderr_str()
    );
    assert_eq!(tree_snapshot(host_dir.path()), written());

    // Exactly what the original does with the tree at `/` and the directory preopened as `/out`.
    let reference_dir = tempfile::tempdir().unwrap();
    let original = RunOptions {
        preopens: vec![
            (workspace_root().join("fixtures/tree"), "/".into()),
            (reference_dir.path().to_path_buf(), "/out".into()),
        ],
        read_only: vec!["/".into()],
        ..RunOptions::default()
    };
    let expected = run(&std::fs::read(fixture()).unwrap(), &original).unwrap();
    assert_same_outcome("wat_preopens (alias)", &expected, &actual);
    assert_eq!(tree_snapshot(reference_dir.path()), written());
}

#[test]
fn deny_hides_every_host_preopen_that_no_alias_names() {
    let host_dir = tempfile::tempdir().unwrap();
    let module = packed(HostFs::Deny, &[]);
    let actual = run_with(&module, &[(host_dir.path(), "/real-host-name")]);
    assert_eq!(actual.stdout_str(), "preopen 3 /\nno /out\n");
    assert!(tree_snapshot(host_dir.path()).is_empty());
}

#[test]
fn deny_keeps_the_aliased_preopen_and_hides_the_others() {
    let (kept, hidden) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let module = packed(HostFs::Deny, &[alias("/out", "/real-host-name")]);
    let actual = run_with(
        &module,
        &[(hidden.path(), "/other"), (kept.path(), "/real-host-name")],
    );
    assert_eq!(actual.stdout_str(), "preopen 3 /\npreopen 4 /out\nwrote\n");
    assert_eq!(tree_snapshot(kept.path()), written());
    assert!(tree_snapshot(hidden.path()).is_empty());
}

#[test]
fn without_a_policy_host_preopens_keep_their_runtime_names() {
    let host_dir = tempfile::tempdir().unwrap();
    let module = packed(HostFs::Allow, &[]);
    let actual = run_with(&module, &[(host_dir.path(), "/real-host-name")]);
    assert_eq!(
        actual.stdout_str(),
        "preopen 3 /\npreopen 4 /real-host-name\nno /out\n"
    );
    // An alias naming no runtime preopen changes nothing for the others.
    let module = packed(HostFs::Allow, &[alias("/out", "/not-there")]);
    let actual = run_with(&module, &[(host_dir.path(), "/real-host-name")]);
    assert_eq!(
        actual.stdout_str(),
        "preopen 3 /\npreopen 4 /real-host-name\nno /out\n"
    );
    assert!(tree_snapshot(host_dir.path()).is_empty());
}

/// The original `go_preopen` with `fixtures/tree` read-only at `/` and a fresh directory at `/out`:
/// its outcome and what it left in the directory.
fn go_preopen_reference() -> (Outcome, Vec<(String, Vec<u8>)>) {
    let out = tempfile::tempdir().unwrap();
    let original = RunOptions {
        args: vec!["go_preopen.wasm".into()],
        preopens: vec![
            (workspace_root().join("fixtures/tree"), "/".into()),
            (out.path().to_path_buf(), "/out".into()),
        ],
        read_only: vec!["/".into()],
        ..RunOptions::default()
    };
    let expected = run(
        &std::fs::read(fixture_named("go_preopen")).unwrap(),
        &original,
    )
    .unwrap();
    assert_eq!(
        expected.exit_code,
        0,
        "the reference run must succeed; stderr: {}",
        expected.stderr_str()
    );
    assert!(
        expected.stdout_str().contains("walk /out: ok"),
        "the reference run must find /out:\n{}",
        expected.stdout_str()
    );
    (expected, tree_snapshot(out.path()))
}

/// Runs the packed `go_preopen` with each `(host dir, runtime preopen name)` preopened writable.
fn run_go_preopen(module: &[u8], preopens: &[(&Path, &str)]) -> Outcome {
    let opts = RunOptions {
        args: vec!["go_preopen.wasm".into()],
        preopens: preopens
            .iter()
            .map(|(dir, name)| (dir.to_path_buf(), name.to_string()))
            .collect(),
        ..RunOptions::default()
    };
    run(module, &opts).expect("the packed go_preopen runs")
}

#[test]
fn go_writes_into_a_host_out_preopen_like_the_original() {
    let (expected, expected_files) = go_preopen_reference();
    let host_dir = tempfile::tempdir().unwrap();
    let module = packed_fixture(&fixture_named("go_preopen"), HostFs::Allow, &[]);
    let actual = run_go_preopen(&module, &[(host_dir.path(), "/out")]);
    assert_same_outcome("go_preopen (host /out)", &expected, &actual);
    assert_eq!(tree_snapshot(host_dir.path()), expected_files);
}

#[test]
fn go_writes_through_an_aliased_host_preopen_like_the_original() {
    let (expected, expected_files) = go_preopen_reference();
    let (kept, hidden) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let module = packed_fixture(
        &fixture_named("go_preopen"),
        HostFs::Deny,
        &[alias("/out", "/real-host-name")],
    );
    let actual = run_go_preopen(
        &module,
        &[(hidden.path(), "/other"), (kept.path(), "/real-host-name")],
    );
    assert_same_outcome("go_preopen (alias, deny)", &expected, &actual);
    assert_eq!(tree_snapshot(kept.path()), expected_files);
    assert!(tree_snapshot(hidden.path()).is_empty());
}

#[test]
fn go_sees_no_out_when_deny_hides_the_host_preopen() {
    let host_dir = tempfile::tempdir().unwrap();
    let module = packed_fixture(&fixture_named("go_preopen"), HostFs::Deny, &[]);
    let actual = run_go_preopen(&module, &[(host_dir.path(), "/out")]);
    assert_eq!(actual.exit_code, 0, "stderr: {}", actual.stderr_str());
    assert!(
        actual.stdout_str().ends_with(
            "no /out: error: stat /out: No such file or directory errno=44 [not-exist]\n"
        ),
        "{}",
        actual.stdout_str()
    );
    assert!(tree_snapshot(host_dir.path()).is_empty());
}
