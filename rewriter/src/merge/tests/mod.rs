//! Tests of the merge: layout, redirection, code patching, DWARF, names, re-rewrite, errors.

mod dwarf;
mod dwarf_lines;
mod errors;
mod layout;
mod prune;
mod redirect;
mod reimage;

use super::*;
use crate::plan::WASI_P1;
use crate::Error;
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
  (import "wasifs_intrinsics" "app_memory_size" (func $app_size (result i32)))
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
    (drop (call $app_load_u32 (call $app_size)))
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
