//! Index spaces, exports, names, features and custom sections of the merged module.

use super::*;
use crate::plan::{WasifsRecord, WASIFS_SECTION};

#[test]
fn index_spaces_put_shim_memory_second_and_image_segment_last() {
    let out = merge(&wasm(APP), IMAGE).expect("merges");
    let info = ModuleInfo::parse(Path::new("out"), &out.bytes, true, false).expect("valid");
    assert_eq!(info.memories, 2);
    assert_eq!(
        info.export("memory", wasmparser::ExternalKind::Memory),
        Some(0)
    );
    assert_eq!(
        info.globals.len(),
        3,
        "app's two globals then the shim's stack pointer"
    );
    assert_eq!(info.tables, 2);
    assert!(
        info.sections.iter().any(|s| s.id == 12),
        "DataCount section present"
    );
    let data = data_segments(&out.bytes);
    assert_eq!(data.len(), 3);
    assert_eq!(data[0], (false, b"app data".to_vec()));
    assert_eq!(data[1], (false, b"shim data".to_vec()));
    assert_eq!(data[2], (true, IMAGE.to_vec()));
    let text = print(&out.bytes);
    assert!(
        text.contains(r#"(data (;1;) (memory 1) (i32.const 16) "shim data")"#),
        "{text}"
    );
}

#[test]
fn exports_are_exactly_the_apps_and_start_survives() {
    let out = merge(&wasm(APP), IMAGE).expect("merges");
    let info = ModuleInfo::parse(Path::new("out"), &out.bytes, false, false).expect("parses");
    let names: Vec<_> = info.exports.iter().map(|e| e.name).collect();
    assert_eq!(names, ["memory", "read", "_start"]);
    let start = info.start.expect("start kept");
    assert_eq!(
        func_names(&out.bytes).get(&start).map(String::as_str),
        Some("init")
    );
}

#[test]
fn reactor_initialize_export_survives() {
    let app = r#"(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (global $sp (mut i32) (i32.const 1024))
      (func $_initialize (export "_initialize"))
      (func (export "work") (result i32) (call $w (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0))))"#;
    let out = merge(&wasm(app), IMAGE).expect("merges");
    let info = ModuleInfo::parse(Path::new("out"), &out.bytes, false, false).expect("parses");
    let init = info
        .export("_initialize", wasmparser::ExternalKind::Func)
        .expect("exported");
    assert_eq!(
        func_names(&out.bytes).get(&init).map(String::as_str),
        Some("_initialize")
    );
    assert!(info.start.is_none());
}

#[test]
fn names_keep_module_name_and_prefix_shim_functions() {
    let out = merge(&wasm(APP), IMAGE).expect("merges");
    let text = print(&out.bytes);
    assert!(text.starts_with("(module $app"), "{text}");
    let names = func_names(&out.bytes);
    for n in [
        "main",
        "init",
        "proc_exit",
        "wasifs::fd_read",
        "wasifs::fd_write",
    ] {
        assert!(names.values().any(|v| v == n), "missing {n}: {names:?}");
    }
    assert!(
        !names.values().any(|v| v == "fd_read"),
        "redirected import keeps no name"
    );
    // Shim helpers, intrinsics and entry points the app does not call keep no names.
    assert_eq!(names.len(), 5, "{names:?}");
    // Non-function names of the shim and the intrinsics stay.
    assert!(text.contains("(global $wasifs::__stack_pointer"), "{text}");
    assert!(text.contains("(data $wasifs::image"), "{text}");
}

#[test]
fn modern_features_and_custom_sections_survive_byte_identical() {
    let app = r#"(module
      (import "wasi_snapshot_preview1" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (global $sp (mut i32) (i32.const 1024))
      (tag $e (param i32))
      (@custom "producers-ish" "\01\02\03 raw bytes")
      (func $pair (result i32 i64) (i32.const 1) (i64.const 2))
      (func $simd (param v128) (result v128) (i32x4.add (local.get 0) (local.get 0)))
      (func $tail (param i32) (result i32) (return_call $id (local.get 0)))
      (func $id (param i32) (result i32) (local.get 0))
      (func $legacy (result i32)
        try (result i32)
          i32.const 3
          throw $e
        catch $e
        end)
      (func $eh (result i32)
        (block $h (result i32)
          (try_table (catch $e $h) (throw $e (i32.const 1)))
          (i32.const 0)))
      (func (export "_start")
        (drop (call $r (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
        (drop (call $pair)) (drop)
        (drop (call $tail (i32.const 4)))
        (drop (call $simd (v128.const i32x4 1 2 3 4)))
        (drop (call $legacy)) (drop (call $eh))))"#;
    let app = wasm(app);
    let out = merge(&app, IMAGE).expect("merges");
    let before = custom_sections(&app)
        .into_iter()
        .find(|(n, _)| n == "producers-ish")
        .expect("in app");
    let after = custom_sections(&out.bytes)
        .into_iter()
        .find(|(n, _)| n == "producers-ish")
        .expect("kept");
    assert_eq!(before, after);
    assert_eq!(
        callees(&out.bytes, "tail").len(),
        0,
        "return_call is not a call op here"
    );
    let text = print(&out.bytes);
    assert!(text.contains("return_call $id"), "{text}");
}

#[test]
fn app_without_functions_data_or_tables_gets_every_section_it_needs() {
    let app = r#"(module (@custom "first" "before everything")
      (memory (export "memory") 1) (global (mut i32) (i32.const 0)))"#;
    let out = merge(&wasm(app), IMAGE).expect("merges");
    let customs = custom_sections(&out.bytes);
    assert_eq!(
        customs.first().map(|(n, _)| n.as_str()),
        Some("first"),
        "custom sections keep their place"
    );
    assert_eq!(
        customs.last().map(|(n, _)| n.as_str()),
        Some(WASIFS_SECTION)
    );
    let data = data_segments(&out.bytes);
    assert_eq!(data.last(), Some(&(true, IMAGE.to_vec())));
    assert!(out.redirected.is_empty());
}

#[test]
fn wasifs_record_names_the_image_segment_and_the_shim() {
    let out = merge(&wasm(APP), IMAGE).expect("merges");
    let (_, data) = custom_sections(&out.bytes)
        .into_iter()
        .find(|(n, _)| n == WASIFS_SECTION)
        .expect("record");
    let record = WasifsRecord::decode(&data).expect("decodes");
    let intrinsics = intrinsics_wasm().expect("intrinsics");
    assert_eq!(record.shim_hash, shim_hash(&wasm(SHIM), &intrinsics));
    assert_eq!(record.image_segment, 2);
}

#[test]
fn atomics_on_an_unshared_memory_are_accepted() {
    // Single-threaded wasm32-wasip1 builds (yowasp's nextpnr) keep atomic instructions on a
    // plain memory; wasmtime runs them, so the rewrite must too, with the instructions intact.
    let app = r#"(module
      (import "wasi_snapshot_preview1" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (global $sp (mut i32) (i32.const 1024))
      (func $main (export "_start")
        (drop (i32.atomic.rmw.sub (i32.const 8) (i32.const 1)))
        (atomic.fence)
        (drop (call $r (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))))"#;
    let out = merge(&wasm(app), IMAGE).expect("merges");
    let text = print(&out.bytes);
    assert!(text.contains("i32.atomic.rmw.sub"), "{text}");
    assert_eq!(callees(&out.bytes, "main"), ["wasifs::fd_read"]);
}

#[test]
fn element_segments_of_functions_use_the_index_form_with_table_zero_implicit() {
    // Expression form and an explicit table 0: LLVM's tools (14, 16) read neither.
    let app = APP.replace(
        "(elem (i32.const 1) $fd_read $main $proc_exit)",
        "(elem (table 0) (i32.const 1) funcref (ref.func $main) (ref.func $init))",
    );
    let out = merge(&wasm(&app), IMAGE).expect("merges");
    let elems = wasmparser::Parser::new(0)
        .parse_all(&out.bytes)
        .find_map(|p| match p {
            Ok(Payload::ElementSection(r)) => Some(r),
            _ => None,
        })
        .expect("an element section");
    let flags: Vec<u8> = elems
        .into_iter()
        .map(|e| {
            let e = e.expect("element");
            let b = &out.bytes[e.range.start as usize..];
            assert!(
                matches!(e.items, wasmparser::ElementItems::Functions(_)),
                "index form"
            );
            b[0]
        })
        .collect();
    // The app's segment in table 0 (flags 0), the shim's in table 1 (flags 2, function indices).
    assert_eq!(flags, [0, 2]);
}

#[test]
fn name_section_goes_before_producers_and_after_data_as_llvm_wants() {
    // An app without a name section or data: the merge adds both; LLVM's tools refuse a module
    // with `name` after `producers`, or either before the data section.
    let app = r#"(module
      (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (global (mut i32) (i32.const 65536))
      (func (export "_start"))
      (@custom "producers" "\00")
      (@custom "target_features" "\00"))"#;
    let out = merge(&wasm(app), IMAGE).expect("merges");
    let order: Vec<String> = Parser::new(0)
        .parse_all(&out.bytes)
        .filter_map(|p| match p.expect("parses") {
            Payload::DataSection(_) => Some("data".to_string()),
            Payload::CustomSection(c) => Some(c.name().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(
        order,
        [
            "data",
            "name",
            "producers",
            "target_features",
            WASIFS_SECTION
        ]
    );
}
