//! Write-side conformance: fixtures that change a tree (`c_conformance`, `go_write`,
//! `rust_conformance`, `rust_stress`) must behave the same on an embedded writable mount as on a
//! real directory.
//!
//! (a) The original runs under wasmtime with fresh copies of `fixtures/rwtree` preopened:
//!     `/data` writable, `/ro` read-only. (b) The module packed with `--mount /data=<seed>` and
//!     `--mount /ro=<seed>:ro` runs with no preopen. stdout, stderr and exit code must be
//!     identical. The `original_is_deterministic` tests also check that (a) alone is
//!     deterministic (two runs, same output, exit 0).
//!
//! A fixture is never given a writable preopen inside the repository: every run gets its own
//! copy of the seed in a tempdir.

use std::path::{Path, PathBuf};

use wasifs_tests::{
    assert_same_outcome, copy_tree, diff_between, pack_specs, run, tree_snapshot, workspace_root,
    Outcome, RunOptions,
};

/// Directories of the seed tree that git cannot keep (they are empty): created in every copy.
const EMPTY_DIRS: &[&str] = &["empty-dir", "sub/empty"];

fn seed() -> PathBuf {
    workspace_root().join("fixtures/rwtree")
}

fn module_path(name: &str) -> PathBuf {
    workspace_root().join(format!("fixtures/bin/{name}.wasm"))
}

fn read_module(name: &str) -> Vec<u8> {
    let path = module_path(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/build-fixtures.sh)", path.display()))
}

/// A fresh copy of the seed (with its empty dirs) at `dir/<label>`.
fn fresh_seed(dir: &Path, label: &str) -> PathBuf {
    let copy = dir.join(label);
    copy_tree(&seed(), &copy, EMPTY_DIRS)
        .unwrap_or_else(|e| panic!("copying the seed tree to {}: {e:#}", copy.display()));
    copy
}

fn base_options(name: &str) -> RunOptions {
    RunOptions {
        args: vec![format!("{name}.wasm")],
        ..RunOptions::default()
    }
}

/// (a) The original under wasmtime: fresh copies preopened, `/data` writable, `/ro` read-only.
fn run_original(name: &str, module: &[u8]) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let data = fresh_seed(dir.path(), "data");
    let ro = fresh_seed(dir.path(), "ro");
    let opts = RunOptions {
        preopens: vec![(data, "/data".into()), (ro.clone(), "/ro".into())],
        read_only: vec!["/ro".into()],
        ..base_options(name)
    };
    let out = run(module, &opts)
        .unwrap_or_else(|e| panic!("{name}: the ORIGINAL module failed under wasmtime: {e:?}"));
    // The read-only preopen must have stayed as it was.
    let pristine = fresh_seed(dir.path(), "pristine");
    assert_eq!(
        tree_snapshot(&ro),
        tree_snapshot(&pristine),
        "{name}: the read-only preopen /ro was modified"
    );
    out
}

/// The non-ignored half: the reference run is deterministic and succeeds.
fn check_original_deterministic(name: &str) {
    let module = read_module(name);
    let first = run_original(name, &module);
    assert_eq!(
        first.exit_code,
        0,
        "{name}: exit code {} under wasmtime\nstdout:\n{}\nstderr:\n{}",
        first.exit_code,
        first.stdout_str(),
        first.stderr_str()
    );
    assert!(
        first.stderr.is_empty(),
        "{name}: unexpected stderr: {}",
        first.stderr_str()
    );
    let second = run_original(name, &module);
    assert!(
        first == second,
        "{name}: two runs on fresh copies of the seed differ\n{}{}",
        diff_between(
            "stdout (run 1)",
            "stdout (run 2)",
            &first.stdout,
            &second.stdout
        ),
        diff_between(
            "stderr (run 1)",
            "stderr (run 2)",
            &first.stderr,
            &second.stderr
        ),
    );
}

/// (a) against (b): the packed module with the seed embedded behaves like the original.
fn check_packed_matches_original(name: &str) {
    let module = read_module(name);
    let expected = run_original(name, &module);
    assert_eq!(
        expected.exit_code, 0,
        "{name}: the reference run must succeed"
    );

    let dir = tempfile::tempdir().unwrap();
    let data_seed = fresh_seed(dir.path(), "data");
    let ro_seed = fresh_seed(dir.path(), "ro");
    let before = (tree_snapshot(&data_seed), tree_snapshot(&ro_seed));
    let packed = pack_specs(
        &module_path(name),
        &[
            format!("/data={}", data_seed.display()),
            format!("/ro={}:ro", ro_seed.display()),
        ],
    );
    let actual = run(&packed, &base_options(name)).unwrap_or_else(|e| {
        panic!(
            "{name}: the PACKED module failed: {e:?}\noriginal stdout:\n{}",
            expected.stdout_str()
        )
    });
    assert_same_outcome(name, &expected, &actual);
    // Writes go to the in-memory layer, never to the directories the image was built from.
    assert_eq!(
        (tree_snapshot(&data_seed), tree_snapshot(&ro_seed)),
        before,
        "{name}: the packed run changed the host seed directories"
    );
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod original_is_deterministic {
            $(
                #[test]
                fn $name() {
                    super::check_original_deterministic(stringify!($name));
                }
            )*
        }
        mod packed_matches_original {
            $(
                #[test]
                fn $name() {
                    super::check_packed_matches_original(stringify!($name));
                }
            )*
        }
    };
}

conformance!(c_conformance, go_write, rust_conformance, rust_stress);

#[test]
fn copy_tree_keeps_symlinks_and_adds_the_empty_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let copy = fresh_seed(dir.path(), "copy");
    assert_eq!(
        std::fs::read_link(copy.join("link-to-hello")).unwrap(),
        Path::new("hello.txt")
    );
    assert!(std::fs::symlink_metadata(copy.join("dangling"))
        .unwrap()
        .file_type()
        .is_symlink());
    for d in EMPTY_DIRS {
        assert!(copy.join(d).is_dir(), "{d} missing in the copy");
        assert!(!seed().join(d).exists(), "{d} should not be committed");
    }
    let mut expected = tree_snapshot(&seed());
    expected.extend(EMPTY_DIRS.iter().map(|d| (format!("{d}/"), Vec::new())));
    expected.sort();
    assert_eq!(tree_snapshot(&copy), expected);
}
