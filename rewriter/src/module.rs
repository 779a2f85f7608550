//! The parsed-module model: a core module's sections, index spaces, imports and exports, read
//! (and optionally validated) in one pass while the section bytes stay in the input.

use crate::{Error, Result};
use std::ops::Range;
use std::path::Path;
use wasmparser::{
    BinaryReaderError, Encoding, Export, ExternalKind, FuncType, FuncValidatorAllocations,
    FunctionBody, GlobalType, Import, Parser, Payload, TypeRef, ValType, ValidPayload, Validator,
    WasmFeatures,
};

/// The WebAssembly features wasifs accepts: what wasmtime and browsers run.
///
/// `MEMORY64` is enabled so that a 64-bit memory is reported as unsupported rather than invalid.
/// `THREADS` is enabled because toolchains leave atomic instructions on a plain (unshared) memory
/// in single-threaded wasm32-wasip1 builds (yowasp's nextpnr, for one), which wasmtime runs; a
/// shared memory is still refused as unsupported by the parse-time check, before validation.
pub fn features() -> WasmFeatures {
    WasmFeatures::WASM3 | WasmFeatures::LEGACY_EXCEPTIONS | WasmFeatures::WIDE_ARITHMETIC
}

/// Turns a wasmparser error into [`Error::Invalid`] for `path`.
pub fn invalid(path: &Path, err: BinaryReaderError) -> Error {
    Error::Invalid {
        path: path.to_path_buf(),
        offset: err.offset() as usize,
        message: err.message().to_string(),
    }
}

/// One section of a module: its id and the byte range of its payload (after id and size).
#[derive(Debug, Clone)]
pub struct Section<'a> {
    /// The section id (0 for custom sections).
    pub id: u8,
    /// The payload: for a custom section this includes the section's name.
    pub payload: Range<usize>,
    /// The name of a custom section.
    pub custom_name: Option<&'a str>,
}

/// One entry of a module's type index space.
#[derive(Debug, Clone)]
pub struct TypeEntry {
    /// The signature, if this is a function type.
    pub func: Option<FuncType>,
    /// Whether the type is a lone final function type without supertype or type references, so
    /// that any structurally equal such type in another module is the same type.
    pub plain: bool,
}

/// What the rewriter needs to know about a core module; the sections stay in the input bytes.
#[derive(Debug, Clone, Default)]
pub struct ModuleInfo<'a> {
    /// The module's bytes.
    pub bytes: &'a [u8],
    /// Every section in input order.
    pub sections: Vec<Section<'a>>,
    /// The type index space.
    pub types: Vec<TypeEntry>,
    /// Every import in order.
    pub imports: Vec<Import<'a>>,
    /// Type index of every function (imported ones first).
    pub func_types: Vec<u32>,
    /// Number of imported functions.
    pub imported_funcs: u32,
    /// Number of imported globals.
    pub imported_globals: u32,
    /// Number of imported memories.
    pub imported_memories: u32,
    /// Number of imported tables.
    pub imported_tables: u32,
    /// Number of imported tags.
    pub imported_tags: u32,
    /// Every global's type (imported ones first).
    pub globals: Vec<GlobalType>,
    /// Number of memories, imported included.
    pub memories: u32,
    /// Number of tables, imported included.
    pub tables: u32,
    /// Number of tags, imported included.
    pub tags: u32,
    /// Every export in order.
    pub exports: Vec<Export<'a>>,
    /// The start function.
    pub start: Option<u32>,
    /// Number of element segments.
    pub elements: u32,
    /// Number of data segments.
    pub data: u32,
    /// Function bodies, in order (only collected when asked for).
    pub bodies: Vec<FunctionBody<'a>>,
    /// Payload range of the code section.
    pub code: Option<Range<usize>>,
}

impl<'a> ModuleInfo<'a> {
    /// Parses `bytes`; validates with [`features`] when `validate` is set. Bodies are collected
    /// when `keep_bodies` is set. Errors are [`Error::Invalid`] (or `Unsupported` for a component).
    pub fn parse(path: &Path, bytes: &'a [u8], validate: bool, keep_bodies: bool) -> Result<Self> {
        let mut checks = |_: &Payload<'a>| Ok(());
        let validate = match validate {
            true => Validation::Full,
            false => Validation::Off,
        };
        parse_module(path, bytes, validate, keep_bodies, &mut checks)
    }

    /// The custom section named `name`, as (data, offset of data).
    pub fn custom(&self, name: &str) -> Option<(&'a [u8], usize)> {
        self.sections
            .iter()
            .find(|s| s.custom_name == Some(name))
            .and_then(|s| custom_data(self.bytes, s))
    }

    /// The export of `kind` named `name`.
    pub fn export(&self, name: &str, kind: ExternalKind) -> Option<u32> {
        let same = |k: ExternalKind| k == kind || (is_func(k) && is_func(kind));
        self.exports
            .iter()
            .find(|e| e.name == name && same(e.kind))
            .map(|e| e.index)
    }

    /// The signature of function `func`, if its type is a function type.
    pub fn func_sig(&self, func: u32) -> Option<&FuncType> {
        let ty = *self.func_types.get(func as usize)?;
        self.types.get(ty as usize)?.func.as_ref()
    }

    /// The number of defined functions.
    pub fn defined_funcs(&self) -> u32 {
        self.func_types.len() as u32 - self.imported_funcs
    }
}

/// The data of a custom section and its offset in the module.
pub fn custom_data<'a>(bytes: &'a [u8], section: &Section<'a>) -> Option<(&'a [u8], usize)> {
    let payload = bytes.get(section.payload.clone())?;
    let mut reader = wasmparser::BinaryReader::new(payload, section.payload.start as u64);
    reader.read_string().ok()?;
    let start = reader.original_position() as usize;
    Some((bytes.get(start..section.payload.end)?, start))
}

/// Whether an export kind is a function.
pub fn is_func(kind: ExternalKind) -> bool {
    matches!(kind, ExternalKind::Func | ExternalKind::FuncExact)
}

/// Whether a value type refers to a module's own type indices.
fn has_type_ref(ty: &ValType) -> bool {
    matches!(ty, ValType::Ref(r) if r.type_index().is_some())
}

/// Whether two function signatures are the same (both free of type references).
pub fn same_sig(a: &FuncType, b: &FuncType) -> bool {
    a == b && !a.params().iter().chain(a.results()).any(has_type_ref)
}

/// How [`parse_module`] validates a module.
pub(crate) enum Validation<'v, 'a> {
    /// Not at all.
    Off,
    /// Every section and every function body.
    Full,
    /// Every section; the function bodies are handed over unchecked, to be validated with
    /// [`validate_bodies`] only if need be (a merged module is validated whole, its app bodies
    /// included: checking them in the input too doubled the cost, 0.3 s of a 1 s rewrite of a
    /// 75 MB module).
    BodiesLater(&'v mut Vec<FuncJob<'a>>),
}

/// Parses `bytes` like [`ModuleInfo::parse`], passing every payload to `check` first.
pub(crate) fn parse_module<'a>(
    path: &Path,
    bytes: &'a [u8],
    mut validate: Validation<'_, 'a>,
    keep_bodies: bool,
    check: &mut dyn FnMut(&Payload<'a>) -> Result<()>,
) -> Result<ModuleInfo<'a>> {
    let inv = |e: BinaryReaderError| invalid(path, e);
    let mut info = ModuleInfo {
        bytes,
        ..Default::default()
    };
    let mut validator = Validator::new_with_features(features());
    let mut funcs = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(inv)?;
        if let Payload::Version {
            encoding: Encoding::Component,
            ..
        } = payload
        {
            return Err(crate::input::component(path));
        }
        check(&payload)?;
        record(&mut info, &payload, keep_bodies).map_err(inv)?;
        let later = match &mut validate {
            Validation::Off => continue,
            Validation::Full => &mut funcs,
            Validation::BodiesLater(later) => &mut **later,
        };
        if let ValidPayload::Func(func, body) = validator.payload(&payload).map_err(inv)? {
            later.push((func, body));
        }
    }
    validate_bodies(funcs).map_err(inv)?;
    Ok(info)
}

/// Validates function bodies, on two threads when there are many.
pub(crate) fn validate_bodies(
    mut funcs: Vec<FuncJob<'_>>,
) -> std::result::Result<(), BinaryReaderError> {
    fn run(funcs: Vec<FuncJob<'_>>) -> std::result::Result<(), BinaryReaderError> {
        let mut allocs = FuncValidatorAllocations::default();
        for (func, body) in funcs {
            let mut v = func.into_validator(allocs);
            v.validate(&body)?;
            allocs = v.into_allocations();
        }
        Ok(())
    }
    if funcs.len() < 1024 {
        return run(funcs);
    }
    let second = funcs.split_off(funcs.len() / 2);
    let (first, second) = std::thread::scope(|s| {
        let handle = s.spawn(move || run(second));
        (run(funcs), handle.join())
    });
    first?;
    match second {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

pub(crate) type FuncJob<'a> = (
    wasmparser::FuncToValidate<wasmparser::ValidatorResources>,
    FunctionBody<'a>,
);

fn record<'a>(
    info: &mut ModuleInfo<'a>,
    payload: &Payload<'a>,
    keep_bodies: bool,
) -> std::result::Result<(), BinaryReaderError> {
    let mut section = |id: u8, range: Range<u64>, name: Option<&'a str>| {
        info.sections.push(Section {
            id,
            payload: range.start as usize..range.end as usize,
            custom_name: name,
        });
    };
    match payload {
        Payload::TypeSection(r) => {
            section(1, r.range(), None);
            for group in r.clone() {
                let group = group?;
                let explicit = group.is_explicit_rec_group();
                for sub in group.into_types() {
                    let func = match &sub.composite_type.inner {
                        wasmparser::CompositeInnerType::Func(f) if !sub.composite_type.shared => {
                            Some(f.clone())
                        }
                        _ => None,
                    };
                    let plain = !explicit
                        && sub.is_final
                        && sub.supertype_idxs.is_empty()
                        && sub.composite_type.descriptor_idx.is_none()
                        && sub.composite_type.describes_idx.is_none()
                        && func.as_ref().is_some_and(|f| {
                            !f.params().iter().chain(f.results()).any(has_type_ref)
                        });
                    info.types.push(TypeEntry { func, plain });
                }
            }
        }
        Payload::ImportSection(r) => {
            section(2, r.range(), None);
            for import in r.clone().into_imports() {
                let import = import?;
                match import.ty {
                    TypeRef::Func(t) | TypeRef::FuncExact(t) => {
                        info.imported_funcs += 1;
                        info.func_types.push(t);
                    }
                    TypeRef::Global(g) => {
                        info.imported_globals += 1;
                        info.globals.push(g);
                    }
                    TypeRef::Memory(_) => {
                        info.imported_memories += 1;
                        info.memories += 1;
                    }
                    TypeRef::Table(_) => {
                        info.imported_tables += 1;
                        info.tables += 1;
                    }
                    TypeRef::Tag(_) => {
                        info.imported_tags += 1;
                        info.tags += 1;
                    }
                }
                info.imports.push(import);
            }
        }
        Payload::FunctionSection(r) => {
            section(3, r.range(), None);
            for t in r.clone() {
                info.func_types.push(t?);
            }
        }
        Payload::TableSection(r) => {
            section(4, r.range(), None);
            info.tables += r.count();
        }
        Payload::MemorySection(r) => {
            section(5, r.range(), None);
            info.memories += r.count();
        }
        Payload::TagSection(r) => {
            section(13, r.range(), None);
            info.tags += r.count();
        }
        Payload::GlobalSection(r) => {
            section(6, r.range(), None);
            for g in r.clone() {
                info.globals.push(g?.ty);
            }
        }
        Payload::ExportSection(r) => {
            section(7, r.range(), None);
            for e in r.clone() {
                info.exports.push(e?);
            }
        }
        Payload::StartSection { func, range } => {
            section(8, range.clone(), None);
            info.start = Some(*func);
        }
        Payload::ElementSection(r) => {
            section(9, r.range(), None);
            info.elements = r.count();
        }
        Payload::DataCountSection { range, .. } => section(12, range.clone(), None),
        Payload::CodeSectionStart {
            unchecked_range: range,
            ..
        } => {
            let range = range.start..range.end.min(info.bytes.len() as u64);
            section(10, range.clone(), None);
            info.code = Some(range.start as usize..range.end as usize);
        }
        Payload::CodeSectionEntry(body) if keep_bodies => info.bodies.push(body.clone()),
        Payload::DataSection(r) => {
            section(11, r.range(), None);
            info.data = r.count();
        }
        Payload::CustomSection(r) => section(0, r.range(), Some(r.name())),
        _ => {}
    }
    Ok(())
}
