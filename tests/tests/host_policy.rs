//! The image's host preopen policy, enforced by the shim: `--preopen GUEST=HOSTNAME` shows the
//! runtime's preopen HOSTNAME to the app as GUEST (calls still reach the host directory), and
//! `--host-fs=deny` hides every host preopen no alias names. `fixtures/wat/wat_preopens.wat` lists
//! its preopens (`preopen <fd> <name>`) and writes `written.txt` into the one named `/out`.

use std::path::{Path, PathBuf};

use wasifs::{HostFs, HostPreopen, Rewriter};
use wasifs_tests::{
    assert_same_outcome, pack_specs_with, run, tree_snapshot, workspace_root, Outcome, RunOptions,
};

/// What wat_preopens writes into `/out`.
const WRITTEN: &[u8] = b"written by wat_preopens\n";

fn fixture() -> PathBuf {
    workspace_root().join("fixtures/bin/wat_preopens.wasm")
}

/// `wat_preopens` packed with `fixtures/tree` read-only at `/`, the host preopens `host_fs`, and
/// each alias of `preopens` (`GUEST=HOSTNAME`).
fn packed(host_fs: HostFs, preopens: &[HostPreopen]) -> Vec<u8> {
    let tree = workspace_root().join("fixtures/tree");
    let rewriter = preopens
        .iter()
        .fold(Rewriter::new().host_fs(host_fs), |r, p| {
            r.preopen(p.clone())
        });
    pack_specs_with(&fixture(), &[format!("/={}:ro", tree.display())], rewriter)
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
