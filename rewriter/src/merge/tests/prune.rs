//! Shim functions no entry point the app calls can reach are left out.

use super::*;

/// A shim for pruning: `shim_fd_write` reads its table (so both functions of the active element
/// segment are needed), calls `clock_time_get` and `app_load_u32`; `shim_sock_send` also calls
/// `clock_time_get`, plus a helper, `app_store_u32` and its own host import `sock_send`, and
/// takes a `ref.func` of a function declared in a declarative segment. A global holds a
/// `ref.func`, so that function is always kept.
const PRUNE_SHIM: &str = r#"
(module
  (type $rw (func (param i32 i32 i32 i32) (result i32)))
  (type $send (func (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $host_fd_write (type $rw)))
  (import "wasi_snapshot_preview1" "sock_send" (func $host_sock_send (type $send)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $host_clock (param i32 i64 i32) (result i32)))
  (import "wasifs_intrinsics" "app_load_u32" (func $app_load_u32 (param i32) (result i32)))
  (import "wasifs_intrinsics" "app_store_u32" (func $app_store_u32 (param i32 i32)))
  (memory (export "memory") 1)
  (global $__stack_pointer (mut i32) (i32.const 65536))
  (global $keep funcref (ref.func $from_global))
  (table 4 funcref)
  (elem (i32.const 0) $via_table $also_via_table)
  (elem declare func $declared)
  (func $via_table (result i32) (i32.const 7))
  (func $also_via_table (result i32) (i32.const 8))
  (func $from_global (result i32) (i32.const 9))
  (func $helper (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $declared (result i32) (i32.const 10))
  (func $shim_fd_write (export "shim_fd_write") (type $rw)
    (drop (call_indirect (result i32) (local.get 0)))
    (drop (call $host_clock (i32.const 0) (i64.const 0) (i32.const 0)))
    (drop (call $app_load_u32 (local.get 1)))
    (call $host_fd_write (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func $shim_sock_send (export "shim_sock_send") (type $send)
    (drop (call $host_clock (i32.const 0) (i64.const 0) (i32.const 0)))
    (call $app_store_u32 (local.get 0) (call $helper (local.get 1)))
    (drop (ref.func $declared))
    (call $host_sock_send (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)))
)
"#;

/// An app importing `fd_write` and, with `sock`, `sock_send`.
fn prune_app(sock: bool) -> Vec<u8> {
    let sock_import = if sock {
        r#"(import "wasi_snapshot_preview1" "sock_send" (func $sock_send (param i32 i32 i32 i32 i32) (result i32)))"#
    } else {
        ""
    };
    let sock_call = if sock {
        "(drop (call $sock_send (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))"
    } else {
        ""
    };
    wasm(&format!(
        r#"(module
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      {sock_import}
      (memory (export "memory") 1)
      (global $sp (mut i32) (i32.const 1024))
      (func (export "_start")
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0)))
        {sock_call}))"#
    ))
}

/// Number of defined functions of a module.
fn defined_funcs(bytes: &[u8]) -> u32 {
    let info = ModuleInfo::parse(Path::new("out"), bytes, false, false).expect("parses");
    info.defined_funcs()
}

/// The output bodies of the kept functions, by the constant each returns (`i32.const N; end`).
fn constant_bodies(bytes: &[u8]) -> Vec<i32> {
    let info = ModuleInfo::parse(Path::new("out"), bytes, false, true).expect("parses");
    let mut out = Vec::new();
    for body in &info.bodies {
        let mut ops = body.get_operators_reader().expect("ops");
        if let (Ok(wasmparser::Operator::I32Const { value }), Ok(wasmparser::Operator::End)) =
            (ops.read(), ops.read())
        {
            if ops.eof() {
                out.push(value);
            }
        }
    }
    out
}

#[test]
fn entry_point_the_app_does_not_import_is_pruned_with_its_host_import_and_helpers() {
    let out = merge_with(&prune_app(false), PRUNE_SHIM, IMAGE).expect("merges");
    assert_eq!(out.redirected, ["fd_write"]);
    // sock_send's host import goes with shim_sock_send; clock_time_get, which shim_fd_write
    // also calls, stays.
    let imports = imports(&out.bytes);
    let names: Vec<&str> = imports.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["fd_write", "clock_time_get"]);
    // Kept: _start; via_table, also_via_table (the table is read), from_global (a global's
    // ref.func) and shim_fd_write; app_load_u32 of the intrinsics. Dropped: helper, declared,
    // shim_sock_send and the other 13 intrinsics.
    assert_eq!(
        defined_funcs(&out.bytes),
        1 + 4 + 1,
        "{}",
        print(&out.bytes)
    );
    assert_eq!(constant_bodies(&out.bytes), [7, 8, 9]);
    let text = print(&out.bytes);
    assert!(
        !text.contains("i32.store"),
        "app_store_u32 is pruned: {text}"
    );
    assert!(
        text.contains("(elem (;0;) (i32.const 0) func 3 4)"),
        "the table's functions are kept: {text}"
    );
    // The declared segment's only function is pruned: the segment would declare nothing and
    // is left out.
    assert!(!text.contains("(elem (;1;)"), "{text}");
    assert!(!text.contains("ref.null"), "{text}");
}

#[test]
fn host_import_shared_by_kept_and_pruned_entry_points_stays_once() {
    // With both entry points, nothing but the helpers they do not reach is dropped.
    let out = merge_with(&prune_app(true), PRUNE_SHIM, IMAGE).expect("merges");
    let imports = imports(&out.bytes);
    let names: Vec<&str> = imports.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["fd_write", "sock_send", "clock_time_get"]);
    assert_eq!(defined_funcs(&out.bytes), 1 + 7 + 2);
    assert_eq!(constant_bodies(&out.bytes), [7, 8, 9, 10]);
    let text = print(&out.bytes);
    assert!(text.contains("(elem (;1;) declare func 8)"), "{text}");
}

#[test]
fn function_reached_only_through_the_table_is_kept_and_its_null_segment_left_out_when_unread() {
    // shim_fd_write reads the table: via_table/also_via_table are only reachable through it.
    let read = merge_with(&prune_app(false), PRUNE_SHIM, IMAGE).expect("merges");
    assert!(constant_bodies(&read.bytes).starts_with(&[7, 8]));
    // A shim whose fd_write never reads the table: the table's functions are dropped and their
    // element entries would become nulls, which change nothing: the segment is left out.
    let shim = PRUNE_SHIM.replace(
        "(drop (call_indirect (result i32) (local.get 0)))",
        "(drop (table.size))",
    );
    let unread = merge_with(&prune_app(false), &shim, IMAGE).expect("merges");
    assert_eq!(constant_bodies(&unread.bytes), [9]);
    let text = print(&unread.bytes);
    // So is the declarative segment of the dropped `$declared`: it would declare nothing.
    assert!(!text.contains("(elem"), "{text}");
    // table.get counts as reading the table, like call_indirect.
    let shim = PRUNE_SHIM.replace(
        "(drop (call_indirect (result i32) (local.get 0)))",
        "(drop (table.get (local.get 0)))",
    );
    let get = merge_with(&prune_app(false), &shim, IMAGE).expect("merges");
    assert!(constant_bodies(&get.bytes).starts_with(&[7, 8]));
}

#[test]
fn app_importing_every_entry_point_keeps_the_whole_shim() {
    // Every function of SHIM but proc_exit_unused is reachable from fd_read and fd_write; with
    // an entry point named after it, the app importing everything keeps all of them.
    let shim = SHIM.replace("shim_proc_exit_unused", "shim_proc_exit");
    let out = merge_with(&wasm(APP), &shim, IMAGE).expect("merges");
    let shim_bytes = wasm(&shim);
    let shim_info = ModuleInfo::parse(Path::new("shim"), &shim_bytes, false, false).expect("ok");
    let app_defined = 2;
    let kept_intrinsics = 4;
    assert_eq!(
        defined_funcs(&out.bytes),
        app_defined + shim_info.defined_funcs() + kept_intrinsics
    );
    // proc_exit is now redirected, so both host imports the kept functions call are the
    // shim's, in its order (its host fd_read is called by no function at all).
    let imports = imports(&out.bytes);
    let names: Vec<&str> = imports.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["fd_write", "proc_exit"]);
}

#[test]
fn rewriting_a_pruned_module_keeps_the_pruned_shim() {
    let first = merge_with(&prune_app(false), PRUNE_SHIM, IMAGE).expect("merges");
    let second = merge_with(&first.bytes, PRUNE_SHIM, b"WASIFS\0\x01 other").expect("re-merges");
    assert_eq!(defined_funcs(&first.bytes), defined_funcs(&second.bytes));
    assert_eq!(imports(&first.bytes), imports(&second.bytes));
    let third = merge_with(&second.bytes, PRUNE_SHIM, IMAGE).expect("re-merges");
    assert_eq!(third.bytes, first.bytes);
}

#[test]
fn segment_mixing_kept_and_dropped_functions_keeps_its_nulls() {
    // The table is unread, but one function of the segment is kept (a global holds it).
    let shim = PRUNE_SHIM
        .replace(
            "(drop (call_indirect (result i32) (local.get 0)))",
            "(drop (table.size))",
        )
        .replace(
            "(elem (i32.const 0) $via_table $also_via_table)",
            "(elem (i32.const 0) $via_table $from_global)",
        );
    let out = merge_with(&prune_app(false), &shim, IMAGE).expect("merges");
    let text = print(&out.bytes);
    assert!(
        text.contains("(i32.const 0) funcref (ref.null func) (ref.func"),
        "{text}"
    );
}
