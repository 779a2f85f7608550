//! Tests of the merge: layout, redirection, code patching, DWARF, names, re-rewrite, errors.

use super::*;
use crate::plan::WASI_P1;
use std::collections::HashMap;
use wasmparser::{Parser, Payload, TypeRef};

/// A small shim: serves fd_read/fd_write, passes fd_write through to the host, uses intrinsics,
/// has its own memory, stack pointer, active data, table and element segment. Its host imports
/// of fd_read and proc_exit and its `shim_proc_exit_unused` are reached from no entry point the
/// app can import, so they are pruned.
const SHIM: &str = r#"
(module
  (type $rw (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $host_fd_read (type $rw)))
  (import "wasi_snapshot_preview1" "fd_write" (func $host_fd_write (type $rw)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $host_proc_exit (param i32)))
  (import "wasifs_intrinsics" "app_load_u32" (func $app_load_u32 (param i32) (result i32)))
  (import "wasifs_intrinsics" "app_store_u32" (func $app_store_u32 (param i32 i32)))
  (import "wasifs_intrinsics" "image_to_shim" (func $image_to_shim (param i32 i32 i32)))
  (import "wasifs_intrinsics" "app_stack_pointer" (func $app_sp (result i32)))
  (memory (export "memory") 1)
  (global $__stack_pointer (mut i32) (i32.const 65536))
  (table 2 funcref)
  (elem (i32.const 0) $seven $shim_fd_read)
  (data (i32.const 16) "shim data")
  (func $seven (result i32) (i32.const 7))
  (func $shim_fd_read (export "shim_fd_read") (type $rw)
    (call $image_to_shim (i32.const 32) (i32.const 0) (i32.const 4))
    (call $app_store_u32 (local.get 3) (i32.load (i32.const 32)))
    (drop (call_indirect (result i32) (i32.const 0)))
    (i32.const 0))
  (func $shim_fd_write (export "shim_fd_write") (type $rw)
    (global.set $__stack_pointer (i32.sub (global.get $__stack_pointer) (i32.const 16)))
    (drop (call $app_load_u32 (call $app_sp)))
    (global.set $__stack_pointer (i32.add (global.get $__stack_pointer) (i32.const 16)))
    (call $host_fd_write (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "shim_proc_exit_unused") (param i32)
    (call $host_proc_exit (local.get 0)))
)
"#;

/// An app that calls a redirected import (fd_read) by call, by ref.func in an element segment and
/// through an export, and keeps an import (proc_exit) the shim does not serve.
const APP: &str = r#"
(module $app
  (type $rw (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (type $rw)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (type $rw)))
  (memory (export "memory") 2)
  (global $__stack_pointer (mut i32) (i32.const 65536))
  (global $other (mut i32) (i32.const 0))
  (table 4 funcref)
  (elem (i32.const 1) $fd_read $main $proc_exit)
  (data (i32.const 8) "app data")
  (export "read" (func $fd_read))
  (export "_start" (func $main))
  (start $init)
  (func $init)
  (func $main
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0)))
    (drop (ref.func $fd_read))
    (call $proc_exit (i32.const 0)))
)
"#;

const IMAGE: &[u8] = b"WASIFS\0\x01 pretend image";

fn wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("test WAT compiles")
}

/// A merge result with the output concatenated.
#[derive(Debug)]
struct Merged {
    bytes: Vec<u8>,
    warnings: Vec<String>,
    redirected: Vec<String>,
}

/// Merges and concatenates the output; also validates the whole output (the merge itself only
/// validates it part by part with the image emptied).
fn merge(app: &[u8], image: &[u8]) -> Result<Merged> {
    merge_with(app, SHIM, image)
}

/// [`merge`] with another shim (WAT).
fn merge_with(app: &[u8], shim: &str, image: &[u8]) -> Result<Merged> {
    let intrinsics = intrinsics_wasm().expect("intrinsics compile");
    let out = merge_modules(Path::new("app.wasm"), app, &wasm(shim), &intrinsics, image)?;
    let bytes = out.module.to_vec();
    assert_eq!(bytes.len() as u64, out.module.len());
    wasmparser::Validator::new_with_features(plan::features())
        .validate_all(&bytes)
        .expect("the concatenated output validates");
    Ok(Merged {
        bytes,
        warnings: out.warnings,
        redirected: out.redirected,
    })
}

fn print(bytes: &[u8]) -> String {
    wasmprinter::print_bytes(bytes).expect("output prints")
}

/// Function names of a module, by index.
fn func_names(bytes: &[u8]) -> HashMap<u32, String> {
    let info = ModuleInfo::parse(Path::new("out"), bytes, false, false).expect("parses");
    let mut out = HashMap::new();
    if let Some((data, off)) = info.custom("name") {
        let mut r = BinaryReader::new(data, off as u64);
        while !r.eof() {
            let id = r.read_u8().expect("id");
            let size = r.read_var_u32().expect("size") as usize;
            let at = r.original_position();
            let sub = r.read_bytes(size).expect("sub");
            if id == 1 {
                for n in wasmparser::NameMap::new(BinaryReader::new(sub, at)).expect("map") {
                    let n = n.expect("naming");
                    out.insert(n.index, n.name.to_string());
                }
            }
        }
    }
    out
}

/// Every function index called or referenced by defined function `name`.
fn callees(bytes: &[u8], name: &str) -> Vec<String> {
    let names = func_names(bytes);
    let (&idx, _) = names
        .iter()
        .find(|(_, n)| *n == name)
        .expect("function is named");
    callees_at(bytes, idx)
}

/// Every function called or referenced by function `idx`, by name (`#index` if unnamed).
fn callees_at(bytes: &[u8], idx: u32) -> Vec<String> {
    let names = func_names(bytes);
    let info = ModuleInfo::parse(Path::new("out"), bytes, false, true).expect("parses");
    let body = &info.bodies[(idx - info.imported_funcs) as usize];
    let mut ops = body.get_operators_reader().expect("ops");
    let mut out = Vec::new();
    while !ops.eof() {
        match ops.read().expect("op") {
            wasmparser::Operator::Call { function_index }
            | wasmparser::Operator::RefFunc { function_index } => out.push(
                names
                    .get(&function_index)
                    .cloned()
                    .unwrap_or_else(|| format!("#{function_index}")),
            ),
            _ => {}
        }
    }
    out
}

fn imports(bytes: &[u8]) -> Vec<(String, String)> {
    let info = ModuleInfo::parse(Path::new("out"), bytes, false, false).expect("parses");
    info.imports
        .iter()
        .map(|i| (i.module.to_string(), i.name.to_string()))
        .collect()
}

fn data_segments(bytes: &[u8]) -> Vec<(bool, Vec<u8>)> {
    let mut out = Vec::new();
    for p in Parser::new(0).parse_all(bytes) {
        if let Payload::DataSection(r) = p.expect("payload") {
            for d in r {
                let d = d.expect("segment");
                out.push((
                    matches!(d.kind, wasmparser::DataKind::Passive),
                    d.data.to_vec(),
                ));
            }
        }
    }
    out
}

fn custom_sections(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for p in Parser::new(0).parse_all(bytes) {
        if let Payload::CustomSection(c) = p.expect("payload") {
            out.push((c.name().to_string(), c.data().to_vec()));
        }
    }
    out
}

fn unsupported_what(err: Error) -> String {
    match err {
        Error::Unsupported { what, hint, .. } => format!("{what} / {hint}"),
        other => panic!("expected Unsupported, got {other}"),
    }
}

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
        "app_stack_pointer",
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

/// A hand-built app up to its exports: types `[(i32 x4) -> i32, () -> ()]`, one `fd_read` import,
/// `functions` functions of type `() -> ()`, one memory, a `__stack_pointer`-like global, and the
/// `memory` export (plus `_start` = function 1 when asked). The caller adds the code section.
fn synthetic_app(functions: u32, export_start: bool) -> wasm_encoder::Module {
    use wasm_encoder::*;
    let mut m = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32; 4], [ValType::I32]);
    types.ty().function([], []);
    m.section(&types);
    let mut imports = ImportSection::new();
    imports.import(WASI_P1, "fd_read", EntityType::Function(0));
    m.section(&imports);
    let mut funcs = FunctionSection::new();
    for _ in 0..functions {
        funcs.function(1);
    }
    m.section(&funcs);
    let mut mems = MemorySection::new();
    mems.memory(MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    m.section(&mems);
    let mut globals = GlobalSection::new();
    globals.global(
        GlobalType {
            val_type: ValType::I32,
            mutable: true,
            shared: false,
        },
        &ConstExpr::i32_const(1024),
    );
    m.section(&globals);
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    if export_start {
        exports.export("_start", ExportKind::Func, 1);
    }
    m.section(&exports);
    m
}

/// A module by hand: wasm-ld style padded (5-byte) call operands and a `.debug_info` section.
fn padded_app(pad: bool, functions: u32) -> Vec<u8> {
    use wasm_encoder::*;
    let mut m = synthetic_app(functions, true);
    let mut code = CodeSection::new();
    for f in 0..functions {
        let mut body = vec![0u8]; // no locals
        let call = |body: &mut Vec<u8>, target: u32| {
            body.push(0x10);
            if pad {
                let at = body.len();
                body.resize(at + 5, 0);
                leb::overwrite_padded(&mut body[at..], target);
            } else {
                leb::write(body, target);
            }
        };
        // Every function calls the last one; function 1 also calls fd_read.
        call(&mut body, functions); // the last defined function (index `functions` with one import)
        if f == 0 {
            for _ in 0..4 {
                body.extend_from_slice(&[0x41, 0x00]);
            }
            call(&mut body, 0);
            body.push(0x1a); // drop
        }
        body.push(0x0b);
        code.raw(&body);
    }
    m.section(&code);
    m.section(&CustomSection {
        name: ".debug_info".into(),
        data: b"dwarf bytes".as_slice().into(),
    });
    m.finish()
}

/// The app's bodies (bytes after each size) and the code section payload offset, for comparison.
fn app_bodies(bytes: &[u8], n: usize) -> Vec<Vec<u8>> {
    let info = ModuleInfo::parse(Path::new("out"), bytes, false, true).expect("parses");
    info.bodies
        .iter()
        .take(n)
        .map(|b| b.as_bytes().len().to_le_bytes().to_vec())
        .collect()
}

#[test]
fn dwarf_is_kept_when_padded_call_operands_absorb_the_new_indices() {
    let app = padded_app(true, 3);
    let out = merge(&app, IMAGE).expect("merges");
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert!(custom_sections(&out.bytes)
        .iter()
        .any(|(n, d)| n == ".debug_info" && d == b"dwarf bytes"));
    assert_eq!(app_bodies(&app, 3), app_bodies(&out.bytes, 3));
    // The call in function 1 now goes to the shim.
    let names = func_names(&out.bytes);
    let info = ModuleInfo::parse(Path::new("out"), &out.bytes, false, true).expect("parses");
    let mut ops = info.bodies[0].get_operators_reader().expect("ops");
    let mut targets = Vec::new();
    while !ops.eof() {
        if let wasmparser::Operator::Call { function_index } = ops.read().expect("op") {
            targets.push(names.get(&function_index).cloned().unwrap_or_default());
        }
    }
    assert_eq!(targets[1], "wasifs::fd_read");
}

#[test]
fn dwarf_is_dropped_with_a_warning_when_a_call_operand_grows() {
    // 127 defined functions + 1 import (fd_read); the shim functions it reaches push the
    // function count past 127, so the code section's count LEB grows to two bytes.
    let app = padded_app(false, 127);
    let out = merge(&app, IMAGE).expect("merges");
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    assert!(out.warnings[0].contains("DWARF"), "{:?}", out.warnings);
    assert!(!custom_sections(&out.bytes)
        .iter()
        .any(|(n, _)| n.starts_with(".debug_")));
}

#[test]
fn rewriting_a_rewritten_module_replaces_only_the_image() {
    let first = merge(&wasm(APP), IMAGE).expect("merges");
    let image2 = b"WASIFS\0\x01 another image, longer than the first one";
    let second = merge(&first.bytes, image2).expect("re-merges");
    let data = data_segments(&second.bytes);
    assert_eq!(data.len(), 3, "one shim, one image");
    assert_eq!(data[2], (true, image2.to_vec()));
    let names = func_names(&second.bytes);
    assert_eq!(
        names.values().filter(|n| *n == "wasifs::fd_read").count(),
        1
    );
    assert_eq!(imports(&first.bytes), imports(&second.bytes));
    // Everything but the data section is byte-identical.
    let strip = |b: &[u8]| {
        let mut s = Vec::new();
        for p in Parser::new(0).parse_all(b) {
            if let Some((id, range)) = p.expect("payload").as_section() {
                if id != 11 {
                    s.push(b[range.start as usize..range.end as usize].to_vec());
                }
            }
        }
        s
    };
    assert_eq!(strip(&first.bytes), strip(&second.bytes));
    // And once more, back to the first image: identical to the first output.
    let third = merge(&second.bytes, IMAGE).expect("re-merges");
    assert_eq!(third.bytes, first.bytes);
}

#[test]
fn large_image_and_custom_sections_are_borrowed_and_written_whole() {
    // Larger than the borrow threshold, so the output borrows them from the inputs.
    let image: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let image2: Vec<u8> = (0..200_000u32).map(|i| (i * 13 % 241) as u8).collect();
    let dwarf = "\\00".repeat(50_000);
    let app = APP.replace(
        "(module $app",
        &format!("(module $app (@custom \"big\" (after code) \"{dwarf}\")"),
    );
    let app = wasm(&app);
    let first = merge(&app, &image).expect("merges");
    assert_eq!(data_segments(&first.bytes)[2], (true, image.clone()));
    let big = |b: &[u8]| {
        custom_sections(b)
            .into_iter()
            .find(|(n, _)| n == "big")
            .map(|(_, d)| d.len())
    };
    assert_eq!(big(&first.bytes), Some(50_000));
    let second = merge(&first.bytes, &image2).expect("re-merges");
    assert_eq!(data_segments(&second.bytes)[2], (true, image2));
    assert_eq!(big(&second.bytes), Some(50_000));
    assert_eq!(
        merge(&second.bytes, &image).expect("again").bytes,
        first.bytes
    );
}

#[test]
fn output_validation_sees_a_broken_module() {
    // A function section without its code section: the view (image emptied) must not validate.
    let mut m = parts::Module::new(b"\0asm\x01\0\0\0");
    m.section(1).leb(1).copy(&[0x60, 0, 0]);
    m.section(3).leb(1).leb(0);
    m.section(5).leb(1).copy(&[0, 1]);
    m.section(12).leb(1);
    m.section(11).leb(1).image(&[1u8; 5000]);
    assert!(m.validate().is_err());
}

#[test]
fn rewriting_a_module_rewritten_by_another_shim_is_unsupported() {
    let first = merge(&wasm(APP), IMAGE).expect("merges");
    let other_shim = SHIM.replace("shim data", "other shim data");
    let intrinsics = intrinsics_wasm().expect("intrinsics");
    let err = merge_modules(
        Path::new("app.wasm"),
        &first.bytes,
        &wasm(&other_shim),
        &intrinsics,
        IMAGE,
    )
    .expect_err("refused");
    assert!(unsupported_what(err).contains("rewritten by another wasifs version"));
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
fn component_is_unsupported() {
    let err = merge(&wasm("(component)"), IMAGE).expect_err("refused");
    assert!(unsupported_what(err).contains("component, not a core module"));
}

#[test]
fn memory64_is_unsupported() {
    let err = merge(
        &wasm("(module (memory (export \"memory\") i64 1) (global (mut i32) (i32.const 0)))"),
        IMAGE,
    )
    .expect_err("refused");
    assert!(unsupported_what(err).contains("memory64"));
}

#[test]
fn shared_memory_is_unsupported() {
    let err = merge(
        &wasm("(module (memory (export \"memory\") 1 1 shared) (global (mut i32) (i32.const 0)))"),
        IMAGE,
    )
    .expect_err("refused");
    assert!(unsupported_what(err).contains("threads"));
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
fn wasi_unstable_import_is_unsupported() {
    let app = r#"(module (import "wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1) (global (mut i32) (i32.const 0)))"#;
    let err = merge(&wasm(app), IMAGE).expect_err("refused");
    assert!(unsupported_what(err).contains("wasm32-wasip1"));
}

#[test]
fn missing_memory_export_is_unsupported() {
    let app = "(module (memory 1) (global (mut i32) (i32.const 0)))";
    let err = merge(&wasm(app), IMAGE).expect_err("refused");
    assert!(unsupported_what(err).contains("`memory`"));
}

#[test]
fn missing_stack_pointer_is_unsupported() {
    let app = "(module (memory (export \"memory\") 1) (global i32 (i32.const 0)))";
    let err = merge(&wasm(app), IMAGE).expect_err("refused");
    assert!(unsupported_what(err).contains("__stack_pointer"));
}

#[test]
fn stack_pointer_is_found_by_name_before_position() {
    let app = r#"(module (memory (export "memory") 1)
      (global $first (mut i32) (i32.const 0))
      (global $__stack_pointer (mut i32) (i32.const 1024)))"#;
    let shim = ModuleInfo::parse(Path::new("shim"), &[], false, false);
    assert!(shim.is_err(), "an empty shim is not a module");
    let shim_bytes = wasm(SHIM);
    let shim = ModuleInfo::parse(Path::new("shim"), &shim_bytes, false, true).expect("shim");
    let app = wasm(app);
    let plan = plan::analyse(Path::new("app.wasm"), &app, &shim, 0).expect("plans");
    assert_eq!(plan.stack_pointer, 1);
}

#[test]
fn import_with_a_different_signature_is_unsupported_naming_it() {
    let app = r#"(module (import "wasi_snapshot_preview1" "fd_read" (func (param i32) (result i32)))
      (memory (export "memory") 1) (global (mut i32) (i32.const 0)))"#;
    let err = merge(&wasm(app), IMAGE).expect_err("refused");
    assert!(unsupported_what(err).contains("wasi_snapshot_preview1.fd_read"));
}

#[test]
fn truncated_module_is_invalid_at_the_truncation_offset() {
    let app = wasm(APP);
    let cut = &app[..app.len() - 3];
    match merge(cut, IMAGE).expect_err("refused") {
        Error::Invalid { offset, .. } => {
            assert!(offset <= cut.len() && offset > 8, "offset {offset}")
        }
        other => panic!("expected Invalid, got {other}"),
    }
}

#[test]
fn invalid_code_is_invalid_not_internal() {
    let app = r#"(module (memory (export "memory") 1) (global (mut i32) (i32.const 0))
      (func (result i32) (i64.const 1)))"#;
    match merge(&wasm(app), IMAGE).expect_err("refused") {
        Error::Invalid {
            offset, message, ..
        } => {
            assert!(offset > 8);
            assert!(message.contains("type mismatch"), "{message}");
        }
        other => panic!("expected Invalid, got {other}"),
    }
}

#[test]
fn intrinsics_import_app_memory_shim_memory_and_stack_pointer() {
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
            ("wasifs", "app_stack_pointer", false)
        ]
    );
    for name in [
        "copy_to_app",
        "copy_from_app",
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
        "app_stack_pointer",
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
            "(drop (call $app_load_u32 (call $app_sp)))",
            "(drop (call $app_load_u32 (call $app_sp)))\n    (call $copy_to_app (i32.const 0) (i32.const 0) (i32.const 0))",
        );
    let out = merge_with(&wasm(app), &shim, IMAGE).expect("merges");
    let text = print(&out.bytes);
    // copy_to_app copies from shim memory (2) into the exported memory (1).
    assert!(text.contains("memory.copy $main 2"), "{text}");
}

/// Times the rewrite of a large synthetic module (~80 MB of code full of padded calls).
#[test]
#[ignore = "slow: run with --ignored --nocapture to time a large rewrite"]
fn large_module_rewrites_in_seconds() {
    use wasm_encoder::*;
    let functions = 40_000u32;
    let calls_per_function = 400u32;
    let mut m = synthetic_app(functions, false);
    let mut code = CodeSection::new();
    let mut body = Vec::new();
    for f in 0..functions {
        body.clear();
        body.push(0);
        for c in 0..calls_per_function {
            body.push(0x10);
            let at = body.len();
            body.resize(at + 5, 0);
            leb::overwrite_padded(&mut body[at..], 1 + (f * 7 + c * 13) % functions);
        }
        body.push(0x0b);
        code.raw(&body);
    }
    m.section(&code);
    m.section(&CustomSection {
        name: ".debug_info".into(),
        data: vec![0u8; 8 << 20].into(),
    });
    let app = m.finish();
    let t = std::time::Instant::now();
    let out = merge(&app, IMAGE).expect("merges");
    let took = t.elapsed();
    println!(
        "rewrote {:.1} MB in {:.2?} ({} warnings)",
        app.len() as f64 / 1e6,
        took,
        out.warnings.len()
    );
    assert!(out.warnings.is_empty());
}

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
    // The declared segment's only function is pruned: its entry becomes a null.
    assert!(
        text.contains("(elem (;1;) declare funcref (ref.null func))"),
        "{text}"
    );
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
fn function_reached_only_through_the_table_is_kept_and_nulled_when_the_table_is_unread() {
    // shim_fd_write reads the table: via_table/also_via_table are only reachable through it.
    let read = merge_with(&prune_app(false), PRUNE_SHIM, IMAGE).expect("merges");
    assert!(constant_bodies(&read.bytes).starts_with(&[7, 8]));
    // A shim whose fd_write never reads the table: the table's functions are dropped and their
    // element entries become nulls, which nothing can observe.
    let shim = PRUNE_SHIM.replace(
        "(drop (call_indirect (result i32) (local.get 0)))",
        "(drop (table.size))",
    );
    let unread = merge_with(&prune_app(false), &shim, IMAGE).expect("merges");
    assert_eq!(constant_bodies(&unread.bytes), [9]);
    let text = print(&unread.bytes);
    assert!(
        text.contains("(elem (;0;) (i32.const 0) funcref (ref.null func) (ref.null func))"),
        "{text}"
    );
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
