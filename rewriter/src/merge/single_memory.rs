//! The single-memory layout (`--memory=single`): the merged module's shim memory folded into the
//! app's memory 0 at a fixed base, for engines without multi-memory.
//!
//! The shim's memory (the last memory of the merged module) becomes the pages `[B, B + S)` of
//! memory 0, where `B` is the app's initial memory size (at least one page) and `S` the shim
//! memory's initial size: memory 0 starts `S` pages larger. Every shim address stays relative to
//! `B`: loads and stores on the shim memory use memory 0 with `B` added to their static offset,
//! active shim data segments move up by `B`, and `memory.size/grow/fill/copy/init` on the shim
//! memory become calls to small helpers appended after every function (no index moves; bodies
//! that do not touch the shim memory are copied byte for byte). `memory.grow` by the shim returns
//! the page it got less `B`'s pages; the shim's heap uses that returned base and tolerates pages
//! that do not follow its own (the app may grow in between).
//!
//! Why the app never gets these pages: wasi-libc's malloc (C, C++, Rust's std on wasip1) takes
//! its first region from `__heap_base` up to `__heap_end`, constants fixed at link time (the
//! memory as linked), and every later one from `memory.grow`'s return value (sbrk); Rust's
//! `dlmalloc` and Zig's allocators use only `memory.grow`'s return value. Go, TinyGo and
//! Emscripten's sbrk treat everything below `memory.size` as theirs, so they are refused
//! (`refuse_unsafe_runtime`).

use std::collections::BTreeMap;
use std::path::Path;

use wasm_encoder::reencode::{Error as ReencodeError, Reencode};
use wasm_encoder::{
    CodeSection, ConstExpr, DataSection, Function, FunctionSection, Instruction, MemorySection,
    TypeSection, ValType,
};
use wasmparser::{KnownCustom, Name, Operator, Parser, Payload, TypeRef, Validator};

use crate::{Error, Result};

/// Bytes per wasm page.
const PAGE: u64 = 65536;
/// Most pages of a 32-bit memory.
const MAX_PAGES: u64 = 65536;

/// Refuses a Go, TinyGo or Emscripten module: their runtimes use memory up to `memory.size`
/// without asking `memory.grow`, so they could be handed the shim's pages. Detected by Go's
/// `go:buildid` custom section, a function named `runtime.*` in the name section, or Emscripten's
/// `env.emscripten_notify_memory_growth` import.
pub fn refuse_unsafe_runtime(path: &Path, app: &[u8]) -> Result<()> {
    let go = |why: &str| {
        Error::unsupported(
            path,
            format!("is a Go program ({why}): the single-memory layout is not safe for it (Go's runtime uses memory below `memory.size` without asking `memory.grow`, so it would overwrite the shim)"),
            "use --memory=multi (the default) and an engine with multi-memory",
        )
    };
    for payload in Parser::new(0).parse_all(app) {
        if let Ok(Payload::ImportSection(r)) = &payload {
            // Emscripten's standalone sbrk also takes every page below `memory.size`.
            let emscripten = r
                .clone()
                .into_imports()
                .flatten()
                .any(|i| i.module == "env" && i.name == "emscripten_notify_memory_growth");
            if emscripten {
                return Err(Error::unsupported(
                    path,
                    "is an Emscripten program: the single-memory layout is not safe for it (its sbrk uses memory below `memory.size` without asking `memory.grow`, so it would overwrite the shim)",
                    "use --memory=multi (the default) and an engine with multi-memory",
                ));
            }
        }
        let Ok(Payload::CustomSection(c)) = payload else {
            continue;
        };
        if c.name() == "go:buildid" {
            return Err(go("it has a `go:buildid` section"));
        }
        if let KnownCustom::Name(names) = c.as_known() {
            for sub in names.into_iter().flatten() {
                if let Name::Function(map) = sub {
                    if map
                        .into_iter()
                        .flatten()
                        .any(|n| n.name.starts_with("runtime."))
                    {
                        return Err(go("it has `runtime.*` functions"));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Whether the app module `app` passes [`refuse_unsafe_runtime`] (what `--memory=auto` asks).
pub fn suits(app: &[u8]) -> bool {
    refuse_unsafe_runtime(Path::new(""), app).is_ok()
}

/// Whether `module` defines exactly one memory (a packed module in the single-memory layout).
pub fn is_single(module: &[u8]) -> bool {
    let mut count = 0;
    for payload in Parser::new(0).parse_all(module) {
        if let Ok(Payload::MemorySection(r)) = payload {
            count += r.count();
        }
    }
    count == 1
}

/// The helpers appended to the module, by what they stand for.
#[derive(Default)]
struct Helpers {
    /// `memory.size` of the shim memory: `() -> i32`.
    size: u32,
    /// `memory.grow`: `(pages) -> i32`.
    grow: u32,
    /// `memory.fill`: `(dst, value, len)`.
    fill: u32,
    /// `memory.copy` by (dst is shim, src is shim): `(dst, src, len)`.
    copy: [u32; 3],
    /// `memory.init` of each data segment into the shim memory: `(dst, offset, len)`.
    init: BTreeMap<u32, u32>,
}

/// The re-encoder that folds memory `shim` into memory 0 at `base`.
struct Fold {
    shim: u32,
    base: u32,
    base_pages: u32,
    /// Memory 0 as it becomes.
    memory0: wasm_encoder::MemoryType,
    /// The first appended type: `() -> i32`, then `(i32) -> i32`, then `(i32 i32 i32)`.
    first_type: u32,
    helpers: Helpers,
    /// How many function bodies are the app's (they come first), and how many were seen.
    app_bodies: u32,
    bodies_seen: u32,
    /// Whether the app's bodies move within the code section (a length or the count re-encoded
    /// shorter), so DWARF code offsets no longer hold: `.debug_*` sections are then dropped.
    code_moves: bool,
    /// Names of the custom sections dropped.
    dropped: Vec<String>,
}

type R<T> = std::result::Result<T, ReencodeError<String>>;

fn fail<T>(message: impl Into<String>) -> R<T> {
    Err(ReencodeError::UserError(message.into()))
}

impl Reencode for Fold {
    type Error = String;

    fn mem_arg(&mut self, arg: wasmparser::MemArg) -> R<wasm_encoder::MemArg> {
        let mut arg = arg;
        if arg.target == wasmparser::MemArgTarget::Memory(self.shim) {
            arg.offset += u64::from(self.base);
            if arg.offset >= 1 << 32 {
                return fail("a shim access lies beyond 4 GiB in the single-memory layout");
            }
            arg.target = wasmparser::MemArgTarget::Memory(0);
        }
        wasm_encoder::reencode::utils::mem_arg(self, arg)
    }

    fn instruction<'a>(&mut self, op: Operator<'a>) -> R<Instruction<'a>> {
        let s = self.shim;
        let h = &self.helpers;
        let helper = match op {
            Operator::MemorySize { mem } if mem == s => h.size,
            Operator::MemoryGrow { mem } if mem == s => h.grow,
            Operator::MemoryFill { mem } if mem == s => h.fill,
            Operator::MemoryCopy { dst_mem, src_mem } if dst_mem == s || src_mem == s => {
                match (dst_mem == s, src_mem == s) {
                    (true, true) => h.copy[0],
                    (false, true) => h.copy[1],
                    _ => h.copy[2],
                }
            }
            Operator::MemoryInit { data_index, mem } if mem == s => match h.init.get(&data_index) {
                Some(&f) => f,
                None => return fail(format!("no helper for memory.init of segment {data_index}")),
            },
            Operator::MemoryDiscard { mem } if mem == s => {
                return fail("the shim discards memory (memory.discard)")
            }
            op => return wasm_encoder::reencode::utils::instruction(self, op),
        };
        Ok(Instruction::Call(helper))
    }

    fn parse_type_section(
        &mut self,
        types: &mut TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> R<()> {
        wasm_encoder::reencode::utils::parse_type_section(self, types, section)?;
        types.ty().function([], [ValType::I32]);
        types.ty().function([ValType::I32], [ValType::I32]);
        types
            .ty()
            .function([ValType::I32, ValType::I32, ValType::I32], []);
        Ok(())
    }

    fn parse_function_section(
        &mut self,
        funcs: &mut FunctionSection,
        section: wasmparser::FunctionSectionReader<'_>,
    ) -> R<()> {
        wasm_encoder::reencode::utils::parse_function_section(self, funcs, section)?;
        let t = self.first_type;
        funcs.function(t).function(t + 1);
        for _ in 0..4 + self.helpers.init.len() {
            funcs.function(t + 2);
        }
        Ok(())
    }

    fn parse_memory_section(
        &mut self,
        memories: &mut MemorySection,
        section: wasmparser::MemorySectionReader<'_>,
    ) -> R<()> {
        for (i, m) in section.into_iter().enumerate() {
            m?;
            if i == 0 {
                memories.memory(self.memory0);
            }
        }
        Ok(())
    }

    fn parse_data(&mut self, data: &mut DataSection, datum: wasmparser::Data<'_>) -> R<()> {
        match datum.kind {
            wasmparser::DataKind::Active {
                memory_index,
                offset_expr,
            } if memory_index == self.shim => {
                let mut ops = offset_expr.get_operators_reader();
                let Ok(Operator::I32Const { value }) = ops.read() else {
                    return fail("a shim data segment's offset is not a constant");
                };
                let at = (value as u32).checked_add(self.base);
                let Some(at) = at else {
                    return fail("a shim data segment lies beyond 4 GiB");
                };
                data.active(
                    0,
                    &ConstExpr::i32_const(at as i32),
                    datum.data.iter().copied(),
                );
                Ok(())
            }
            _ => wasm_encoder::reencode::utils::parse_data(self, data, datum),
        }
    }

    fn parse_function_body(
        &mut self,
        code: &mut CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> R<()> {
        // The app's bodies (first) never name the shim memory: copied byte for byte.
        if self.bodies_seen < self.app_bodies {
            self.bodies_seen += 1;
            code.raw(func.as_bytes());
            Ok(())
        } else {
            wasm_encoder::reencode::utils::parse_function_body(self, code, func)
        }
    }

    fn parse_custom_section(
        &mut self,
        module: &mut wasm_encoder::Module,
        section: wasmparser::CustomSectionReader<'_>,
    ) -> R<()> {
        if self.code_moves && section.name().starts_with(".debug_") {
            self.dropped.push(section.name().to_string());
            return Ok(());
        }
        wasm_encoder::reencode::utils::parse_custom_section(self, module, section)
    }

    fn parse_code_section(
        &mut self,
        code: &mut CodeSection,
        section: wasmparser::CodeSectionReader<'_>,
    ) -> R<()> {
        wasm_encoder::reencode::utils::parse_code_section(self, code, section)?;
        for f in self.helper_bodies() {
            code.function(&f);
        }
        Ok(())
    }
}

impl Fold {
    /// The helpers' bodies, in the order `parse_function_section` declared them.
    fn helper_bodies(&self) -> Vec<Function> {
        let mut out = Vec::new();
        // size
        let mut f = Function::new([]);
        f.instructions()
            .memory_size(0)
            .i32_const(self.base_pages as i32)
            .i32_sub()
            .end();
        out.push(f);
        // grow: the page got, less the base's pages; -1 stays -1.
        let mut f = Function::new([(1, ValType::I32)]);
        f.instructions()
            .local_get(0)
            .memory_grow(0)
            .local_tee(1)
            .i32_const(-1)
            .i32_eq()
            .if_(wasm_encoder::BlockType::Result(ValType::I32))
            .i32_const(-1)
            .else_()
            .local_get(1)
            .i32_const(self.base_pages as i32)
            .i32_sub()
            .end()
            .end();
        out.push(f);
        // fill
        let mut f = Function::new([]);
        f.instructions()
            .local_get(0)
            .i32_const(self.base as i32)
            .i32_add()
            .local_get(1)
            .local_get(2)
            .memory_fill(0)
            .end();
        out.push(f);
        // copy: (shim, shim), (app, shim), (shim, app)
        for (dst, src) in [(true, true), (false, true), (true, false)] {
            let mut f = Function::new([]);
            let mut b = f.instructions();
            b.local_get(0);
            if dst {
                b.i32_const(self.base as i32).i32_add();
            }
            b.local_get(1);
            if src {
                b.i32_const(self.base as i32).i32_add();
            }
            b.local_get(2).memory_copy(0, 0).end();
            out.push(f);
        }
        for &segment in self.helpers.init.keys() {
            let mut f = Function::new([]);
            f.instructions()
                .local_get(0)
                .i32_const(self.base as i32)
                .i32_add()
                .local_get(1)
                .local_get(2)
                .memory_init(0, segment)
                .end();
            out.push(f);
        }
        out
    }
}

/// Whether re-encoding the code section moves the first `app_bodies` bodies: the function count
/// (`funcs` after the helpers are added) or one of their lengths was written wider than needed.
fn code_moves(section: &[u8], offset: usize, app_bodies: u32, funcs: u32) -> bool {
    let width = |n: u32| (1..5).find(|&w| super::leb::fits(n, w)).unwrap_or(5);
    let mut r = wasmparser::BinaryReader::new(section, offset as u64);
    let Ok(count) = r.read_var_u32() else {
        return true;
    };
    if r.current_position() != width(funcs) || count > funcs {
        return true;
    }
    for _ in 0..app_bodies {
        let at = r.current_position();
        let Ok(len) = r.read_var_u32() else {
            return true;
        };
        if r.current_position() - at != width(len) || r.read_bytes(len as usize).is_err() {
            return true;
        }
    }
    false
}

/// Rewrites the merged module `merged` of the app `app` (read from `path`) into the single-memory
/// layout; also returns a warning when DWARF had to be dropped.
pub fn fold(path: &Path, app: &[u8], merged: &[u8]) -> Result<(Vec<u8>, Option<String>)> {
    let internal = |message: String| Error::Internal {
        message: format!("single-memory layout: {message}"),
    };
    // What the layout depends on: the memories, the type and function counts, the segments
    // `memory.init` copies into the shim memory.
    let mut memories = Vec::new();
    let (mut types, mut funcs, mut imported_funcs) = (0u32, 0u32, 0u32);
    let mut init_segments = Vec::new();
    let mut app_bodies = 0;
    let mut code = None;
    for payload in Parser::new(0).parse_all(app) {
        if let Ok(Payload::FunctionSection(r)) = payload {
            app_bodies = r.count();
        }
    }
    for payload in Parser::new(0).parse_all(merged) {
        match payload.map_err(|e| internal(e.to_string()))? {
            Payload::ImportSection(r) => {
                for import in r.into_imports() {
                    match import.map_err(|e| internal(e.to_string()))?.ty {
                        TypeRef::Func(_) | TypeRef::FuncExact(_) => {
                            funcs += 1;
                            imported_funcs += 1;
                        }
                        TypeRef::Memory(_) => {
                            return Err(Error::unsupported(
                                path,
                                "imports its memory: the single-memory layout needs to size it",
                                "use --memory=multi, or export the memory instead of importing it",
                            ))
                        }
                        _ => {}
                    }
                }
            }
            Payload::TypeSection(r) => {
                for group in r {
                    let group = group.map_err(|e| internal(e.to_string()))?;
                    types += group.types().len() as u32;
                }
            }
            Payload::FunctionSection(r) => funcs += r.count(),
            Payload::MemorySection(r) => {
                for m in r {
                    memories.push(m.map_err(|e| internal(e.to_string()))?);
                }
            }
            Payload::CodeSectionStart {
                unchecked_range, ..
            } => code = Some(unchecked_range.start as usize..unchecked_range.end as usize),
            Payload::CodeSectionEntry(body) => {
                let mut ops = body
                    .get_operators_reader()
                    .map_err(|e| internal(e.to_string()))?;
                while !ops.eof() {
                    if let Operator::MemoryInit { data_index, mem } =
                        ops.read().map_err(|e| internal(e.to_string()))?
                    {
                        init_segments.push((data_index, mem));
                    }
                }
            }
            _ => {}
        }
    }
    if memories.len() != 2 {
        return Err(Error::unsupported(
            path,
            format!(
                "has {} memories: the single-memory layout needs an app with exactly one",
                memories.len().saturating_sub(1)
            ),
            "use --memory=multi",
        ));
    }
    let (app_mem, shim_mem) = (memories[0], memories[1]);
    let app_pages = app_mem.initial.max(1);
    let grown = app_pages - app_mem.initial + shim_mem.initial;
    let initial = app_pages + shim_mem.initial;
    let maximum = app_mem.maximum.map(|m| m + grown);
    if initial > MAX_PAGES || maximum.is_some_and(|m| m > MAX_PAGES) {
        return Err(Error::unsupported(
            path,
            format!(
                "needs {initial} pages of memory with the shim's {} in it, more than 4 GiB",
                shim_mem.initial
            ),
            "use --memory=multi",
        ));
    }
    let shim = 1;
    let mut helpers = Helpers {
        size: funcs,
        grow: funcs + 1,
        fill: funcs + 2,
        copy: [funcs + 3, funcs + 4, funcs + 5],
        init: BTreeMap::new(),
    };
    for (segment, mem) in init_segments {
        if mem == shim {
            helpers.init.insert(segment, 0);
        }
    }
    // In segment order, as `helper_bodies` writes them.
    for (i, f) in helpers.init.values_mut().enumerate() {
        *f = funcs + 6 + i as u32;
    }
    let defined = funcs - imported_funcs + 6 + helpers.init.len() as u32;
    let moves = code.is_none_or(|r: std::ops::Range<usize>| {
        code_moves(&merged[r.clone()], r.start, app_bodies, defined)
    });
    let mut fold = Fold {
        shim,
        base: (app_pages * PAGE) as u32,
        base_pages: app_pages as u32,
        memory0: wasm_encoder::MemoryType {
            minimum: initial,
            maximum,
            memory64: false,
            shared: false,
            page_size_log2: None,
        },
        first_type: types,
        helpers,
        app_bodies,
        bodies_seen: 0,
        code_moves: moves,
        dropped: Vec::new(),
    };
    let mut module = wasm_encoder::Module::new();
    fold.parse_core_module(&mut module, Parser::new(0), merged)
        .map_err(|e| internal(e.to_string()))?;
    let bytes = module.finish();
    Validator::new_with_features(crate::plan::features())
        .validate_all(&bytes)
        .map_err(|e| internal(format!("the output does not validate: {e}")))?;
    let warning = (!fold.dropped.is_empty()).then(|| {
        format!(
            "DWARF debug sections ({}) were dropped by the single-memory layout: the app's code moved within the code section",
            fold.dropped.join(", ")
        )
    });
    Ok((bytes, warning))
}
