//! An embedded mount wins over a host preopen at the same guest path (issue 11 item 1): wasmer
//! preopens `/` and `.` by itself, and wasmtime users often pass `--dir X::/`; wasi-libc (C, Rust)
//! takes the last of equal matches, so without the shim hiding such a host preopen the program
//! would look for its files on the host (Zig's own std resolves differently and is checked too).
//! A packed fixture must print exactly what it prints with no host preopen at all, and the host
//! directory must stay untouched.

use std::path::Path;

use wasifs_tests::{
    assert_same_outcome, pack_specs, run, tree_snapshot, workspace_root, RunOptions,
};

/// A host directory that looks like the tree but is not it: same names, other contents.
fn decoy(dir: &Path) {
    std::fs::write(dir.join("hello.txt"), "not the embedded file\n").unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
}

/// Runs fixture `name` packed with `fixtures/tree` read-only at `/`, without host preopens and
/// with each list of `(host dir, guest name)` preopens, and checks that every run is the same.
fn same_with_host_preopens(name: &str, host_sets: &[&[&str]]) {
    let fixture = workspace_root().join(format!("fixtures/bin/{name}.wasm"));
    let tree = workspace_root().join("fixtures/tree");
    let packed = pack_specs(&fixture, &[format!("/={}:ro", tree.display())]);
    let base = RunOptions {
        args: vec![format!("{name}.wasm")],
        ..RunOptions::default()
    };
    let alone = run(&packed, &base).unwrap();
    assert!(
        alone.stdout_str().contains("Hello, wasifs!"),
        "{name} reads hello.txt from the image: {}",
        alone.stdout_str()
    );
    for guests in host_sets {
        let dirs: Vec<tempfile::TempDir> = guests
            .iter()
            .map(|_| tempfile::tempdir().unwrap())
            .collect();
        for d in &dirs {
            decoy(d.path());
        }
        let before: Vec<_> = dirs.iter().map(|d| tree_snapshot(d.path())).collect();
        let opts = RunOptions {
            preopens: dirs
                .iter()
                .zip(guests.iter())
                .map(|(d, g)| (d.path().to_path_buf(), g.to_string()))
                .collect(),
            ..base.clone()
        };
        let with_host = run(&packed, &opts).unwrap();
        assert_same_outcome(&format!("{name} with host {guests:?}"), &alone, &with_host);
        let after: Vec<_> = dirs.iter().map(|d| tree_snapshot(d.path())).collect();
        assert_eq!(before, after, "{name}: a hidden host preopen was changed");
    }
}

/// wasmtime `--dir X::/`, wasmer's own `/` and `.`, and `./` (how some runtimes name the cwd).
const HOST_ROOTS: &[&[&str]] = &[&["/"], &["/", "."], &["./"]];

#[test]
fn a_host_root_preopen_does_not_shadow_the_embedded_root_for_c() {
    same_with_host_preopens("c_posix", HOST_ROOTS);
}

#[test]
fn a_host_root_preopen_does_not_shadow_the_embedded_root_for_rust() {
    same_with_host_preopens("rust_read", HOST_ROOTS);
}

#[test]
fn a_host_root_preopen_does_not_shadow_the_embedded_root_for_zig() {
    same_with_host_preopens("zig_fs", HOST_ROOTS);
}

/// Go's runtime scans the preopens itself, picks the longest matching name (the first of equal
/// ones) and makes the first preopen its working directory: the embedded `/` must come first as
/// well as hide the host's (`go_read` reads by absolute and relative paths and after `Chdir`).
#[test]
fn a_host_root_preopen_does_not_shadow_the_embedded_root_for_go() {
    same_with_host_preopens("go_read", HOST_ROOTS);
}

#[test]
fn only_the_shadowed_host_preopen_is_hidden_the_others_follow_the_mounts() {
    // wat_preopens lists its preopens and writes into the one named `/out`.
    let fixture = workspace_root().join("fixtures/bin/wat_preopens.wasm");
    let tree = workspace_root().join("fixtures/tree");
    let packed = pack_specs(&fixture, &[format!("/={}:ro", tree.display())]);
    let (root, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let opts = RunOptions {
        preopens: vec![
            (root.path().to_path_buf(), "/".into()),
            (out.path().to_path_buf(), "/out".into()),
        ],
        ..RunOptions::default()
    };
    let actual = run(&packed, &opts).unwrap();
    assert_eq!(
        actual.stdout_str(),
        "preopen 3 /\npreopen 4 /out\nwrote\n",
        "stderr: {}",
        actual.stderr_str()
    );
    assert!(tree_snapshot(root.path()).is_empty());
    assert_eq!(tree_snapshot(out.path()).len(), 1);
}
