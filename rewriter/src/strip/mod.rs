//! `strip`: gives back the module a rewrite started from — the shim, the intrinsics and the image
//! removed, the redirected WASI imports restored at their places — from what the rewrite left in
//! its record (see `record::StripInfo`).
//!
//! Every index space of the merged module starts with the app's entities (functions after the
//! kept imports and the shim's host imports), so the app is the leading entries of each section
//! with function indices mapped back. Sections the merge borrowed (types, functions, memories,
//! tags, data) come back byte for byte; the app's code bodies get their call operands mapped back
//! at the widths they had; the sections it re-encoded (imports, tables, globals, exports, start,
//! elements) are the app's own, kept in the record; the name section is rebuilt without the
//! shim's names, the restored imports' names put back from the record.

use crate::packed::{Packed, BYTES_NAME};
use crate::record::{StripInfo, WASIFS_SECTION};
use crate::{Error, Result};
use std::collections::HashMap;

mod code;
mod names;

use code::{code, CodeError};
use names::names;
use std::path::Path;
use wasm_encoder::{Encode, SectionId};
use wasmparser::{BinaryReader, FromReader, ImportSectionReader, TypeRef};

/// A module given back by [`strip`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Stripped {
    /// The module as it was before the rewrite.
    pub bytes: Vec<u8>,
    /// Non-fatal differences from the original (e.g. DWARF dropped).
    pub warnings: Vec<String>,
}

/// Gives back the module that the packed module `bytes` was rewritten from: the shim and image
/// removed, the WASI imports restored. The result validates and is the original byte for byte,
/// but for DWARF sections the merge dropped (it drops them when it moves code) and, should the
/// original have padded a call operand that the merge had to widen, that operand's padding.
///
/// ```
/// # fn main() -> wasifs::Result<()> {
/// let app = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/bin/wat_cat.wasm"));
/// let tree = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/tree");
/// let packed = wasifs::Rewriter::new().mount(format!("/={tree}").parse()?).rewrite(app)?;
/// let stripped = wasifs::strip(&packed.bytes)?;
/// assert!(stripped.bytes.len() < packed.bytes.len());
/// # Ok(())
/// # }
/// ```
pub fn strip(bytes: &[u8]) -> Result<Stripped> {
    let path = Path::new(BYTES_NAME);
    let packed = Packed::open(path, bytes)?;
    let info = packed.record.strip.as_ref().ok_or_else(|| {
        Error::unsupported(
            path,
            "has a `wasifs` record without what strip needs",
            "rewrite the original module with this wasifs",
        )
    })?;
    let module = &packed.info;
    let bad = |what: String| {
        Error::unsupported(
            path,
            format!("cannot be stripped: {what}"),
            "the module was changed after the rewrite; keep the original module",
        )
    };
    let wasm = |e: wasmparser::BinaryReaderError| crate::module::invalid(path, e);

    let app = AppImports::read(&info.imports).map_err(wasm)?;
    let funcs = FuncMap::new(info, &app, module.imported_funcs).map_err(bad)?;
    let types = type_count(module, info).map_err(wasm)?;

    let aliases: HashMap<(u32, u32), u32> = info
        .aliases
        .iter()
        .map(|&(body, ordinal, f)| ((body, ordinal), f))
        .collect();
    // (id, custom section name, payload) of each output section, in order.
    let mut sections: Vec<(u8, Option<&str>, Vec<u8>)> = Vec::new();
    let mut warnings = Vec::new();
    let mut same_layout = true;
    for section in &module.sections {
        let payload = &module.bytes[section.payload.clone()];
        let Some(id) = section_id(section.id) else {
            return Err(bad(format!("unknown section id {}", section.id)));
        };
        let count = info.count(id);
        let body = match id {
            SectionId::Custom => {
                let name = section.custom_name.unwrap_or("");
                if name == WASIFS_SECTION {
                    None
                } else if name == "name" {
                    names(payload, section.payload.start, &funcs, info, &app, types).map_err(bad)?
                } else {
                    Some(payload.to_vec())
                }
            }
            SectionId::Type => first::<wasmparser::RecGroup>(payload, count).map_err(wasm)?,
            SectionId::Function => first::<u32>(payload, count).map_err(wasm)?,
            SectionId::Memory => first::<wasmparser::MemoryType>(payload, count).map_err(wasm)?,
            SectionId::Tag => first::<wasmparser::TagType>(payload, count).map_err(wasm)?,
            SectionId::Data => first::<wasmparser::Data<'_>>(payload, count).map_err(wasm)?,
            SectionId::Import => (!info.imports.is_empty()).then(|| info.imports.clone()),
            SectionId::Table
            | SectionId::Global
            | SectionId::Element
            | SectionId::Export
            | SectionId::Start => info
                .verbatim
                .iter()
                .find(|(v, _)| *v == section.id)
                .map(|(_, payload)| payload.clone()),
            SectionId::DataCount => info.data_count.then(|| {
                let mut b = Vec::new();
                info.count(SectionId::Data).encode(&mut b);
                b
            }),
            SectionId::Code => {
                let app_funcs = info.count(SectionId::Function);
                let width = info.code_count_width as usize;
                let (code, same) =
                    code(payload, app_funcs, width, &funcs, &aliases).map_err(|e| match e {
                        CodeError::Wasm(e) => wasm(e),
                        CodeError::Map(m) => bad(m),
                    })?;
                same_layout = same;
                (app_funcs > 0).then_some(code)
            }
        };
        if let Some(body) = body {
            sections.push((section.id, section.custom_name, body));
        }
    }
    let is_debug = |n: Option<&str>| n.is_some_and(|n| n.starts_with(".debug_"));
    if !same_layout && sections.iter().any(|s| is_debug(s.1)) {
        // Drop the DWARF sections: their code addresses no longer hold.
        sections.retain(|s| !is_debug(s.1));
        warnings.push(
            "DWARF debug sections (.debug_*) were dropped: restoring calls changed the length of some function bodies"
                .into(),
        );
    }
    // The name section back at its place among the custom sections (the merge writes it before
    // `producers` and `target_features`, as LLVM's tools want).
    if let Some(from) = sections.iter().position(|s| s.1 == Some("name")) {
        let name = sections.remove(from);
        let to = sections
            .iter()
            .enumerate()
            .filter(|(_, s)| s.0 == 0)
            .nth(info.name_at as usize)
            .map_or(
                if info.name_at == u32::MAX {
                    from
                } else {
                    sections.len()
                },
                |(i, _)| i,
            );
        sections.insert(to.min(sections.len()), name);
    }
    let mut out = module.bytes[..8].to_vec();
    for (i, (id, _, body)) in sections.iter().enumerate() {
        out.push(*id);
        let width = info
            .widths
            .iter()
            .find(|w| w.0 == i as u32 && w.1 == *id)
            .map_or(0, |w| usize::from(w.2));
        write_size(&mut out, body.len() as u32, width);
        out.extend_from_slice(body);
    }
    let mut validator = wasmparser::Validator::new_with_features(crate::module::features());
    validator.validate_all(&out).map_err(|e| Error::Internal {
        message: format!("the stripped module does not validate: {e}"),
    })?;
    Ok(Stripped {
        bytes: out,
        warnings,
    })
}

/// Writes a size as an unsigned LEB128 `width` bytes wide where it fits, else minimal (`width`
/// 0: minimal).
pub(super) fn write_size(out: &mut Vec<u8>, size: u32, width: usize) {
    if width > 0 && code::leb_fits(size, width) {
        code::leb_padded(out, size, width);
    } else {
        size.encode(out);
    }
}

/// The section id `id`, if it is one.
fn section_id(id: u8) -> Option<SectionId> {
    use SectionId::*;
    [
        Custom, Type, Import, Function, Table, Memory, Global, Export, Start, Element, Code, Data,
        DataCount, Tag,
    ]
    .into_iter()
    .find(|s| u8::from(*s) == id)
}

/// The first `n` entries of a vector section's payload, with the count `n`; `None` for none.
fn first<'a, T: FromReader<'a>>(payload: &'a [u8], n: u32) -> wasmparser::Result<Option<Vec<u8>>> {
    if n == 0 {
        return Ok(None);
    }
    let mut r = BinaryReader::new(payload, 0);
    r.read_var_u32()?;
    let start = r.current_position();
    for _ in 0..n {
        r.read::<T>()?;
    }
    let mut out = Vec::new();
    n.encode(&mut out);
    out.extend_from_slice(&payload[start..r.current_position()]);
    Ok(Some(out))
}

/// What the app imported, read from its import section as the record keeps it.
#[derive(Default)]
struct AppImports {
    /// Number of imported functions.
    funcs: u32,
    /// Imported tables, memories, globals and tags.
    tables: u32,
    memories: u32,
    globals: u32,
    tags: u32,
}

impl AppImports {
    fn read(imports: &[u8]) -> wasmparser::Result<Self> {
        let mut app = AppImports::default();
        if imports.is_empty() {
            return Ok(app);
        }
        for import in ImportSectionReader::new(BinaryReader::new(imports, 0))?.into_imports() {
            match import?.ty {
                TypeRef::Func(_) | TypeRef::FuncExact(_) => app.funcs += 1,
                TypeRef::Table(_) => app.tables += 1,
                TypeRef::Memory(_) => app.memories += 1,
                TypeRef::Global(_) => app.globals += 1,
                TypeRef::Tag(_) => app.tags += 1,
            }
        }
        Ok(app)
    }
}

/// Maps the merged module's function indices back to the app's.
struct FuncMap {
    /// The app's function index of each kept function import, in order.
    kept: Vec<u32>,
    /// Function imports the shim added (after the kept ones).
    hosts: u32,
    /// The app's imported and defined function counts.
    imported: u32,
    defined: u32,
    /// Shim entry point → the app's import it replaced.
    redirects: HashMap<u32, u32>,
}

impl FuncMap {
    fn new(info: &StripInfo, app: &AppImports, merged_imported: u32) -> Result<Self, String> {
        let mut redirects = HashMap::new();
        for (a, m, _) in &info.redirects {
            redirects.entry(*m).or_insert(*a);
        }
        let redirected: std::collections::HashSet<u32> =
            info.redirects.iter().map(|r| r.0).collect();
        let kept: Vec<u32> = (0..app.funcs).filter(|f| !redirected.contains(f)).collect();
        let hosts = merged_imported
            .checked_sub(kept.len() as u32)
            .ok_or("it imports fewer functions than the app kept")?;
        Ok(FuncMap {
            kept,
            hosts,
            imported: app.funcs,
            defined: info.count(SectionId::Function),
            redirects,
        })
    }

    /// The app's index of merged function `f` if it is one of the app's own (a kept import or a
    /// defined function), not a shim entry point.
    fn own(&self, f: u32) -> Option<u32> {
        self.get(f)
            .ok()
            .filter(|_| !self.redirects.contains_key(&f))
    }

    /// The app's index of merged function `f`.
    fn get(&self, f: u32) -> Result<u32, String> {
        let kept = self.kept.len() as u32;
        if f < kept {
            return Ok(self.kept[f as usize]);
        }
        let base = kept + self.hosts;
        if f >= base && f - base < self.defined {
            return Ok(self.imported + (f - base));
        }
        self.redirects
            .get(&f)
            .copied()
            .ok_or_else(|| format!("the app refers to function {f}, which belongs to the shim"))
    }
}

/// The number of types in the app's leading rec groups.
fn type_count(module: &crate::module::ModuleInfo<'_>, info: &StripInfo) -> wasmparser::Result<u32> {
    let Some(s) = module
        .sections
        .iter()
        .find(|s| s.id == u8::from(SectionId::Type))
    else {
        return Ok(0);
    };
    let mut r = BinaryReader::new(&module.bytes[s.payload.clone()], 0);
    r.read_var_u32()?;
    let mut n = 0;
    for _ in 0..info.count(SectionId::Type) {
        n += r.read::<wasmparser::RecGroup>()?.types().len() as u32;
    }
    Ok(n)
}
