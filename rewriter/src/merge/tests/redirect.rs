//! Redirected imports reach the shim by call, ref.func, table and export; the shim reaches the intrinsics.

use super::*;

#[test]
fn merged_module_validates_and_reports_redirects() {
    let out = merge(&wasm(APP), IMAGE).expect("merges");
    assert_eq!(
        out.redirected,
        vec!["fd_read".to_string(), "fd_write".to_string()]
    );
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    // merge_modules validates; validate again independently.
    wasmparser::Validator::new_with_features(plan::features())
        .validate_all(&out.bytes)
        .expect("valid");
}

#[test]
fn redirected_call_and_ref_func_reach_the_shim() {
    let out = merge(&wasm(APP), IMAGE).expect("merges");
    let calls = callees(&out.bytes, "main");
    assert_eq!(
        calls,
        [
            "wasifs::fd_read",
            "wasifs::fd_write",
            "wasifs::fd_read",
            "proc_exit"
        ]
    );
}

#[test]
fn element_segment_and_export_of_redirected_import_point_at_the_shim() {
    let out = merge(&wasm(APP), IMAGE).expect("merges");
    let text = print(&out.bytes);
    assert!(
        text.contains(r#"(export "read" (func $wasifs::fd_read))"#),
        "{text}"
    );
    assert!(
        text.contains("(elem (;0;) (i32.const 1) func $wasifs::fd_read $main $proc_exit)"),
        "{text}"
    );
}

#[test]
fn kept_import_is_shared_and_redirected_one_gets_a_fresh_host_import() {
    let out = merge(&wasm(APP), IMAGE).expect("merges");
    let imports = imports(&out.bytes);
    // proc_exit is kept (shim has no shim_proc_exit); fd_read and fd_write are redirected, so
    // the shim's host import of fd_write (called by shim_fd_write) is a fresh import after it.
    // Its host imports of fd_read and proc_exit are unreachable from the entry points: gone.
    let expect = [(WASI_P1, "proc_exit"), (WASI_P1, "fd_write")];
    let expect: Vec<_> = expect
        .iter()
        .map(|(m, n)| (m.to_string(), n.to_string()))
        .collect();
    assert_eq!(imports, expect);
    // Host imports keep no names (the shim's internal names are dropped): index 1 is fd_write.
    assert_eq!(
        callees(&out.bytes, "wasifs::fd_write")
            .last()
            .map(String::as_str),
        Some("#1")
    );
}

#[test]
fn shim_calls_to_intrinsics_resolve_to_merged_intrinsics() {
    let out = merge(&wasm(APP), IMAGE).expect("merges");
    let calls = callees(&out.bytes, "wasifs::fd_read");
    // The intrinsics' functions come after the 2 imports, 2 app and 3 kept shim functions; only
    // the four the kept shim functions call are there, in the intrinsics' order.
    let intr = intrinsics_wasm().expect("intrinsics");
    let intr = ModuleInfo::parse(Path::new("intrinsics"), &intr, false, false).expect("parses");
    let index = |name: &str| {
        intr.export(name, wasmparser::ExternalKind::Func)
            .expect("exported")
    };
    let mut kept: Vec<u32> = [
        "image_to_shim",
        "app_store_u32",
        "app_load_u32",
        "app_memory_size",
    ]
    .map(index)
    .to_vec();
    kept.sort();
    let at = |name: &str| {
        let rank = kept.iter().position(|&i| i == index(name)).expect("kept");
        format!("#{}", 7 + rank)
    };
    assert_eq!(calls, [at("image_to_shim"), at("app_store_u32")]);
    let info = ModuleInfo::parse(Path::new("out"), &out.bytes, false, false).expect("parses");
    assert_eq!(
        info.func_types.len(),
        7 + kept.len(),
        "unused intrinsics are pruned"
    );
    let text = print(&out.bytes);
    // image_to_shim initialises shim memory (1) from the image segment (the last one).
    assert!(text.contains("memory.init 1 $wasifs::image"), "{text}");
    assert!(
        !text.contains("(memory $wasifs::app"),
        "intrinsics' import names do not rename app entities"
    );
}

#[test]
fn intrinsics_import_app_memory_and_shim_memory_and_no_global() {
    let intr = intrinsics_wasm().expect("compiles");
    let info = ModuleInfo::parse(Path::new("intrinsics"), &intr, true, true).expect("valid");
    let imports: Vec<_> = info
        .imports
        .iter()
        .map(|i| (i.module, i.name, matches!(i.ty, TypeRef::Memory(_))))
        .collect();
    assert_eq!(
        imports,
        [
            ("wasifs", "app_memory", true),
            ("wasifs", "shim_memory", true),
        ]
    );
    for name in [
        "copy_to_app",
        "copy_from_app",
        "zero_app",
        "image_to_shim",
        "image_to_app",
        "app_load_u8",
        "app_load_u16",
        "app_load_u32",
        "app_load_u64",
        "app_store_u8",
        "app_store_u16",
        "app_store_u32",
        "app_store_u64",
        "app_memory_size",
    ] {
        assert!(
            info.export(name, wasmparser::ExternalKind::Func).is_some(),
            "{name}"
        );
    }
    assert_eq!(info.data, 1);
}

#[test]
fn app_memory_exported_under_another_index_is_the_intrinsics_app_memory() {
    let app = r#"(module
      (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (memory $scratch 1)
      (memory $main (export "memory") 2)
      (global (mut i32) (i32.const 0)))"#;
    // A shim whose fd_write copies to the app, so that copy_to_app is reachable.
    let shim = SHIM
        .replace(
            "(memory (export",
            "(import \"wasifs_intrinsics\" \"copy_to_app\" (func $copy_to_app (param i32 i32 i32)))\n  (memory (export",
        )
        .replace(
            "(drop (call $app_load_u32 (call $app_size)))",
            "(drop (call $app_load_u32 (call $app_size)))\n    (call $copy_to_app (i32.const 0) (i32.const 0) (i32.const 0))",
        );
    let out = merge_with(&wasm(app), &shim, IMAGE).expect("merges");
    let text = print(&out.bytes);
    // copy_to_app copies from shim memory (2) into the exported memory (1).
    assert!(text.contains("memory.copy $main 2"), "{text}");
}
