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
use std::path::Path;
use wasm_encoder::{Encode, SectionId};
use wasmparser::{
    BinaryReader, FromReader, FunctionBody, ImportSectionReader, KnownCustom, Name, Operator,
    TypeRef,
};

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
/// removed, the WASI imports restored. The result validates and behaves as the original; its
/// non-custom sections are the original's bytes when the original's encoding was canonical
/// (what LLVM's `wasm-ld` writes).
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

    let mut out = module.bytes[..8].to_vec();
    let mut warnings = Vec::new();
    let mut same_layout = true;
    let mut debug = Vec::new();
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
                } else if name.starts_with(".debug_") {
                    debug.push(out.len());
                    Some(payload.to_vec())
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
                let (code, same) = code(payload, app_funcs, info.code_count_width as usize, &funcs)
                    .map_err(|e| match e {
                        CodeError::Wasm(e) => wasm(e),
                        CodeError::Map(m) => bad(m),
                    })?;
                same_layout = same;
                (app_funcs > 0).then_some(code)
            }
        };
        if let Some(body) = body {
            out.push(section.id);
            (body.len() as u32).encode(&mut out);
            out.extend_from_slice(&body);
        }
    }
    if !same_layout && !debug.is_empty() {
        // Drop the DWARF sections: their code addresses no longer hold.
        let mut kept = out[..8].to_vec();
        let parsed = crate::module::ModuleInfo::parse(path, &out, false, false)?;
        for s in &parsed.sections {
            if s.custom_name.is_some_and(|n| n.starts_with(".debug_")) {
                continue;
            }
            kept.push(s.id);
            (s.payload.len() as u32).encode(&mut kept);
            kept.extend_from_slice(&out[s.payload.clone()]);
        }
        out = kept;
        warnings.push(
            "DWARF debug sections (.debug_*) were dropped: restoring calls changed the length of some function bodies"
                .into(),
        );
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

/// Why the code section could not be given back.
enum CodeError {
    Wasm(wasmparser::BinaryReaderError),
    Map(String),
}

impl From<wasmparser::BinaryReaderError> for CodeError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        CodeError::Wasm(e)
    }
}

/// The app's `n` bodies (the first ones) with call, return_call and ref.func operands mapped back,
/// in place at the width the merge left where they fit; and whether every body kept its length.
fn code(
    payload: &[u8],
    n: u32,
    app_width: usize,
    funcs: &FuncMap,
) -> Result<(Vec<u8>, bool), CodeError> {
    let mut reader = BinaryReader::new(payload, 0);
    reader.read_var_u32()?;
    let width = reader.current_position();
    let mut out = Vec::with_capacity(payload.len());
    // The app's own width, as the record keeps it (0 in none).
    let width = if app_width > 0 { app_width } else { width };
    let mut same = leb_fits(n, width);
    if same {
        leb_padded(&mut out, n, width);
    } else {
        n.encode(&mut out);
    }
    let mut patches: Vec<(usize, usize, u32)> = Vec::new();
    for _ in 0..n {
        let size_start = reader.current_position();
        let size = reader.read_var_u32()? as usize;
        let body_start = reader.current_position();
        let body = reader.read_bytes(size)?;
        patches.clear();
        let fb = FunctionBody::new(BinaryReader::new(body, body_start as u64));
        let mut ops = fb.get_operators_reader()?;
        let mut fits = true;
        while !ops.eof() {
            let at = ops.original_position();
            let old = match ops.read()? {
                Operator::Call { function_index }
                | Operator::ReturnCall { function_index }
                | Operator::RefFunc { function_index } => function_index,
                _ => continue,
            };
            let new = funcs.get(old).map_err(CodeError::Map)?;
            let start = at as usize - body_start + 1;
            let end = ops.original_position() as usize - body_start;
            // The merge keeps an operand's width when the new index fits it, else writes it
            // minimal: a minimal operand under 5 bytes (padded ones are 5, as wasm-ld writes
            // them) was minimal in the app too.
            let width = end - start;
            let minimal = width < 5 && leb_len(old) == width && leb_len(new) < width;
            if new != old || minimal {
                fits &= !minimal && leb_fits(new, width);
                patches.push((start, end, new));
            }
        }
        if fits {
            out.extend_from_slice(&payload[size_start..body_start]);
            let base = out.len();
            out.extend_from_slice(body);
            for &(s, e, v) in &patches {
                let mut b = Vec::new();
                leb_padded(&mut b, v, e - s);
                out[base + s..base + e].copy_from_slice(&b);
            }
        } else {
            same = false;
            let mut spliced = Vec::with_capacity(body.len());
            let mut at = 0;
            for &(s, e, v) in &patches {
                spliced.extend_from_slice(&body[at..s]);
                let was_minimal = e - s < 5 && leb_len(old_at(body, s)) == e - s;
                if leb_fits(v, e - s) && !was_minimal {
                    leb_padded(&mut spliced, v, e - s);
                } else {
                    v.encode(&mut spliced);
                }
                at = e;
            }
            spliced.extend_from_slice(&body[at..]);
            (spliced.len() as u32).encode(&mut out);
            out.extend_from_slice(&spliced);
        }
    }
    Ok((out, same))
}

/// The length of `v` as a minimal unsigned LEB128.
fn leb_len(v: u32) -> usize {
    (1..5)
        .find(|&n| u64::from(v) < 1u64 << (7 * n))
        .unwrap_or(5)
}

/// The unsigned LEB128 at `body[at..]` (0 if unreadable).
fn old_at(body: &[u8], at: usize) -> u32 {
    BinaryReader::new(&body[at..], 0)
        .read_var_u32()
        .unwrap_or(0)
}

/// Whether `v` fits an unsigned LEB128 of `width` bytes.
fn leb_fits(v: u32, width: usize) -> bool {
    width >= 5 || u64::from(v) < 1u64 << (7 * width)
}

/// Writes `v` as an unsigned LEB128 of exactly `width` bytes (`v` must fit).
fn leb_padded(out: &mut Vec<u8>, mut v: u32, width: usize) {
    for i in 0..width {
        let more = i + 1 < width;
        out.push((v & 0x7f) as u8 | if more { 0x80 } else { 0 });
        v >>= 7;
    }
}

/// The app's name section, rebuilt from the merged one (`payload`, the custom section's name
/// included, at `offset`): its entities' names with indices mapped back, the shim's left out, the
/// names of the restored imports put back.
fn names(
    payload: &[u8],
    offset: usize,
    funcs: &FuncMap,
    info: &StripInfo,
    app: &AppImports,
    types: u32,
) -> Result<Option<Vec<u8>>, String> {
    use wasm_encoder::{IndirectNameMap, NameMap, NameSection};
    let err = |e: wasmparser::BinaryReaderError| format!("its name section: {e}");
    let reader = BinaryReader::new(payload, offset as u64);
    let custom = wasmparser::CustomSectionReader::new(reader).map_err(err)?;
    let KnownCustom::Name(reader) = custom.as_known() else {
        return Err("its name section cannot be read".into());
    };
    let direct = |map: wasmparser::NameMap<'_>, keep: &dyn Fn(u32) -> Option<u32>| {
        let mut v: Vec<(u32, String)> = Vec::new();
        for n in map {
            let n = n.map_err(err)?;
            if let Some(i) = keep(n.index) {
                v.push((i, n.name.to_string()));
            }
        }
        Ok::<_, String>(v)
    };
    let to_map = |mut v: Vec<(u32, String)>| -> NameMap {
        v.sort_by_key(|e| e.0);
        v.dedup_by_key(|e| e.0);
        let mut m = NameMap::new();
        for (i, n) in &v {
            m.append(*i, n);
        }
        m
    };
    let indirect = |map: wasmparser::IndirectNameMap<'_>, keep: &dyn Fn(u32) -> Option<u32>| {
        let mut v: Vec<(u32, Vec<(u32, String)>)> = Vec::new();
        for n in map {
            let n = n.map_err(err)?;
            if let Some(i) = keep(n.index) {
                v.push((i, direct(n.names, &|j| Some(j))?));
            }
        }
        v.sort_by_key(|e| e.0);
        v.dedup_by_key(|e| e.0);
        if v.is_empty() {
            return Ok::<_, String>(None);
        }
        let mut m = IndirectNameMap::new();
        for (i, names) in v {
            m.append(i, &to_map(names));
        }
        Ok(Some(m))
    };
    // Only the app's own functions: the shim's entry points are named `wasifs::…`, and the
    // imports they replaced get their names back from the record.
    let func = |f: u32| funcs.own(f);
    let below = |n: u32| move |i: u32| (i < n).then_some(i);
    let mut out = NameSection::new();
    let mut any = false;
    for sub in reader {
        match sub.map_err(err)? {
            Name::Module { name, .. } => {
                any = true;
                out.module(name)
            }
            Name::Function(map) => {
                let mut v = direct(map, &func)?;
                v.extend(
                    info.redirects
                        .iter()
                        .filter(|r| !r.2.is_empty())
                        .map(|r| (r.0, r.2.clone())),
                );
                put(&mut out, &mut any, NameSection::functions, to_map(v));
            }
            Name::Local(map) => put_indirect(
                &mut out,
                &mut any,
                NameSection::locals,
                indirect(map, &func)?,
            ),
            Name::Label(map) => put_indirect(
                &mut out,
                &mut any,
                NameSection::labels,
                indirect(map, &func)?,
            ),
            Name::Type(map) => put(
                &mut out,
                &mut any,
                NameSection::types,
                to_map(direct(map, &below(types))?),
            ),
            Name::Table(map) => put(
                &mut out,
                &mut any,
                NameSection::tables,
                to_map(direct(
                    map,
                    &below(app.tables + info.count(SectionId::Table)),
                )?),
            ),
            Name::Memory(map) => put(
                &mut out,
                &mut any,
                NameSection::memories,
                to_map(direct(
                    map,
                    &below(app.memories + info.count(SectionId::Memory)),
                )?),
            ),
            Name::Global(map) => put(
                &mut out,
                &mut any,
                NameSection::globals,
                to_map(direct(
                    map,
                    &below(app.globals + info.count(SectionId::Global)),
                )?),
            ),
            Name::Element(map) => put(
                &mut out,
                &mut any,
                NameSection::elements,
                to_map(direct(map, &below(info.count(SectionId::Element)))?),
            ),
            Name::Data(map) => put(
                &mut out,
                &mut any,
                NameSection::data,
                to_map(direct(map, &below(info.count(SectionId::Data)))?),
            ),
            Name::Tag(map) => put(
                &mut out,
                &mut any,
                NameSection::tag,
                to_map(direct(map, &below(app.tags + info.count(SectionId::Tag)))?),
            ),
            Name::Field(map) => put_indirect(
                &mut out,
                &mut any,
                NameSection::fields,
                indirect(map, &below(types))?,
            ),
            Name::Parameter(map) => put_indirect(
                &mut out,
                &mut any,
                NameSection::parameters,
                indirect(map, &func)?,
            ),
            Name::TagParameter(map) => put_indirect(
                &mut out,
                &mut any,
                NameSection::tag_parameters,
                indirect(map, &below(app.tags + info.count(SectionId::Tag)))?,
            ),
            Name::Unknown { ty, data, .. } => {
                any = true;
                out.raw(ty, data)
            }
        }
    }
    if !any {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    "name".encode(&mut bytes);
    let custom = out.as_custom();
    bytes.extend_from_slice(&custom.data);
    Ok(Some(bytes))
}

/// Adds the subsection `add` writes for `map` unless `map` is empty.
fn put(
    out: &mut wasm_encoder::NameSection,
    any: &mut bool,
    add: fn(&mut wasm_encoder::NameSection, &wasm_encoder::NameMap),
    map: wasm_encoder::NameMap,
) {
    if !map.is_empty() {
        add(out, &map);
        *any = true;
    }
}

/// Adds the subsection `add` writes for `map` unless it is empty (`None`).
fn put_indirect(
    out: &mut wasm_encoder::NameSection,
    any: &mut bool,
    add: fn(&mut wasm_encoder::NameSection, &wasm_encoder::IndirectNameMap),
    map: Option<wasm_encoder::IndirectNameMap>,
) {
    if let Some(map) = map {
        add(out, &map);
        *any = true;
    }
}
