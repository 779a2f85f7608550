//! wasmtime's answers in the last path corners, pinned (issue 8 item 7): `path_rename` with `.`
//! or `..` as the last component of either side is EBUSY, `path_remove_directory` of `dir/..` or
//! `dir/.` is EINVAL, and a `..` that leaves the preopen is EPERM (rename and link alike). The
//! same module runs on a writable tree under wasmtime `--dir` and packed with a copy of that tree
//! mounted writable; both must print the same errnos.

use std::path::Path;

use wasifs_tests::{assert_same_outcome, pack, run, RunOptions};

/// Prints, for each call on fd 3, its errno as two digits and a space.
const CORNERS_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename"
    (func $rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_link"
    (func $link (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_remove_directory"
    (func $rmdir (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $__stack_pointer (mut i32) (i32.const 131072))
  (data (i32.const 256) "a")
  (data (i32.const 264) ".")
  (data (i32.const 272) "..")
  (data (i32.const 280) "c/..")
  (data (i32.const 288) "c/.")
  (data (i32.const 296) "b")
  (data (i32.const 304) "deep/..")
  (data (i32.const 312) "deep/.")
  (func $emit (param $e i32)
    (i32.store8 (i32.const 0) (i32.add (i32.const 48) (i32.div_u (local.get $e) (i32.const 10))))
    (i32.store8 (i32.const 1) (i32.add (i32.const 48) (i32.rem_u (local.get $e) (i32.const 10))))
    (i32.store8 (i32.const 2) (i32.const 32))
    (i32.store (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (i32.const 3))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 32))))
  (func $mv (param $old i32) (param $old_len i32) (param $new i32) (param $new_len i32)
    (call $emit (call $rename (i32.const 3) (local.get $old) (local.get $old_len)
      (i32.const 3) (local.get $new) (local.get $new_len))))
  (func (export "_start")
    (call $mv (i32.const 256) (i32.const 1) (i32.const 264) (i32.const 1))  ;; a -> .
    (call $mv (i32.const 256) (i32.const 1) (i32.const 272) (i32.const 2))  ;; a -> ..
    (call $mv (i32.const 256) (i32.const 1) (i32.const 280) (i32.const 4))  ;; a -> c/..
    (call $mv (i32.const 256) (i32.const 1) (i32.const 288) (i32.const 3))  ;; a -> c/.
    (call $mv (i32.const 280) (i32.const 4) (i32.const 296) (i32.const 1))  ;; c/.. -> b
    (call $mv (i32.const 288) (i32.const 3) (i32.const 296) (i32.const 1))  ;; c/. -> b
    (call $emit (call $rmdir (i32.const 3) (i32.const 304) (i32.const 7)))  ;; deep/..
    (call $emit (call $rmdir (i32.const 3) (i32.const 312) (i32.const 6)))  ;; deep/.
    (call $emit (call $link (i32.const 3) (i32.const 0) (i32.const 256) (i32.const 1)
      (i32.const 3) (i32.const 272) (i32.const 2)))  ;; link a -> ..
    (call $emit (call $link (i32.const 3) (i32.const 0) (i32.const 256) (i32.const 1)
      (i32.const 3) (i32.const 280) (i32.const 4)))  ;; link a -> c/..
    (call $emit (call $link (i32.const 3) (i32.const 0) (i32.const 272) (i32.const 2)
      (i32.const 3) (i32.const 296) (i32.const 1)))))  ;; link .. -> b
"#;

/// The tree the module works on: file `a`, directories `c` and `deep/x`.
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("c")).unwrap();
    std::fs::create_dir_all(root.join("deep/x")).unwrap();
    std::fs::write(root.join("a"), "a\n").unwrap();
}

#[test]
fn rename_of_dot_or_dotdot_is_ebusy_and_rmdir_of_dir_dotdot_is_einval_like_wasmtime() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("corners.wasm");
    std::fs::write(&module, wat::parse_str(CORNERS_WAT).unwrap()).unwrap();
    let (host, image) = (dir.path().join("host"), dir.path().join("image"));
    make_tree(&host);
    make_tree(&image);

    let expected = run(
        &std::fs::read(&module).unwrap(),
        &RunOptions::with_preopen(&host, "/"),
    )
    .unwrap();
    // What wasmtime answers: EBUSY (10) for every rename but `a -> ..` at the preopen's root,
    // which leaves it (EPERM, 63); EINVAL (28) for both rmdirs; for links, EPERM when `..` leaves
    // the preopen, else EEXIST (20) for a `..` target.
    assert_eq!(
        expected.stdout_str(),
        "10 63 10 10 10 10 28 28 63 20 63 ",
        "wasmtime's own answers changed; stderr: {}",
        expected.stderr_str()
    );

    let packed = pack(&module, &[("/", &image)]);
    let actual = run(&packed, &RunOptions::default()).unwrap();
    assert_same_outcome("path_corners", &expected, &actual);
}
