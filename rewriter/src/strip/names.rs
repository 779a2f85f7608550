//! The app's name section given back: the merged one without the shim's names, indices mapped
//! back, the names of the restored imports put back from the record.

use super::{AppImports, FuncMap};
use crate::record::StripInfo;
use wasm_encoder::{Encode, SectionId};
use wasmparser::{BinaryReader, KnownCustom, Name};

/// The app's name section, rebuilt from the merged one (`payload`, the custom section's name
/// included, at `offset`): its entities' names with indices mapped back, the shim's left out, the
/// names of the restored imports put back.
pub(super) fn names(
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
    // Each subsection's size as wide as the app wrote it.
    let mut r = BinaryReader::new(&custom.data, 0);
    while !r.eof() {
        let id = r.read_u8().map_err(err)?;
        let size = r.read_var_u32().map_err(err)?;
        let body = r.read_bytes(size as usize).map_err(err)?;
        let width = info
            .name_widths
            .iter()
            .find(|w| w.0 == id)
            .map_or(0, |w| usize::from(w.1));
        bytes.push(id);
        super::write_size(&mut bytes, size, width);
        bytes.extend_from_slice(body);
    }
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
