//! Rebuilds the name section of the merged module.

use super::layout::{IndexMap, Remap};
use std::collections::BTreeMap;
use wasm_encoder::{IndirectNameMap, NameMap, NameSection};
use wasmparser::BinaryReader;

/// One input module's contribution to the output's name section.
pub struct NameInput<'a> {
    /// The data of the module's `name` section and its offset, if it has one.
    pub section: Option<(&'a [u8], usize)>,
    /// Where the module's indices went.
    pub remap: &'a Remap,
    /// Prepended to every name (empty for the app, `wasifs::` for the shim).
    pub prefix: &'a str,
    /// Whether the section's function, local and label names are carried over (the app's are;
    /// the shim's internal helpers keep no names).
    pub keep_func_names: bool,
    /// Names for functions the name section does not name (e.g. export names), by input index.
    pub fallback_funcs: Vec<(u32, &'a str)>,
    /// Input function indices whose names must not be carried over (redirected imports).
    pub skip_funcs: &'a dyn Fn(u32) -> bool,
    /// Memories and globals below these input indices are imports naming another module's
    /// entities; their names are not carried over.
    pub first_named: (u32, u32),
}

/// Names collected for the output, by output index.
#[derive(Default)]
struct Names {
    module: Option<String>,
    funcs: BTreeMap<u32, String>,
    locals: BTreeMap<u32, BTreeMap<u32, String>>,
    labels: BTreeMap<u32, BTreeMap<u32, String>>,
    types: BTreeMap<u32, String>,
    tables: BTreeMap<u32, String>,
    memories: BTreeMap<u32, String>,
    globals: BTreeMap<u32, String>,
    elems: BTreeMap<u32, String>,
    data: BTreeMap<u32, String>,
    tags: BTreeMap<u32, String>,
    /// Subsections copied unchanged (type-indexed ones of the app, unknown ones), by id.
    raw: Vec<(u8, Vec<u8>)>,
}

/// Builds the output's name section from the app's (first) and the other modules' names.
///
/// The app keeps its module name and every name (remapped); the other inputs' entities get their
/// names with the input's prefix (function names only if `keep_func_names`, else from
/// `fallback_funcs`). A malformed app name section is dropped with a
/// warning, never an error.
pub fn rebuild(inputs: &[NameInput<'_>]) -> (NameSection, Vec<String>) {
    let mut names = Names::default();
    let mut warnings = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        if let Some((data, offset)) = input.section {
            let mut scratch = Names::default();
            match collect(&mut scratch, data, offset, input, i == 0) {
                Ok(()) => merge(&mut names, scratch),
                Err(e) => warnings.push(format!(
                    "the name section is malformed at byte offset {:#x} ({}); function names were dropped",
                    e.offset(),
                    e.message()
                )),
            }
        }
        for &(f, name) in &input.fallback_funcs {
            if (input.skip_funcs)(f) {
                continue;
            }
            if let Some(out) = input.remap.funcs.get(f) {
                names
                    .funcs
                    .entry(out)
                    .or_insert_with(|| format!("{}{name}", input.prefix));
            }
        }
    }
    (encode(&names), warnings)
}

fn merge(into: &mut Names, from: Names) {
    if into.module.is_none() {
        into.module = from.module;
    }
    fn add(a: &mut BTreeMap<u32, String>, b: BTreeMap<u32, String>) {
        for (k, v) in b {
            a.entry(k).or_insert(v);
        }
    }
    add(&mut into.funcs, from.funcs);
    for (k, v) in from.locals {
        into.locals.entry(k).or_insert(v);
    }
    for (k, v) in from.labels {
        into.labels.entry(k).or_insert(v);
    }
    add(&mut into.types, from.types);
    add(&mut into.tables, from.tables);
    add(&mut into.memories, from.memories);
    add(&mut into.globals, from.globals);
    add(&mut into.elems, from.elems);
    add(&mut into.data, from.data);
    add(&mut into.tags, from.tags);
    into.raw.extend(from.raw);
}

fn collect(
    names: &mut Names,
    data: &[u8],
    offset: usize,
    input: &NameInput<'_>,
    is_app: bool,
) -> Result<(), wasmparser::BinaryReaderError> {
    let reader = BinaryReader::new(data, offset as u64);
    let p = input.prefix;
    let remap = input.remap;
    let map_into = |out: &mut BTreeMap<u32, String>,
                    map: wasmparser::NameMap<'_>,
                    idx: &IndexMap,
                    first: u32|
     -> Result<(), wasmparser::BinaryReaderError> {
        for naming in map {
            let naming = naming?;
            if naming.index < first {
                continue;
            }
            if let Some(i) = idx.get(naming.index) {
                out.entry(i)
                    .or_insert_with(|| format!("{p}{}", naming.name));
            }
        }
        Ok(())
    };
    let indirect_into = |out: &mut BTreeMap<u32, BTreeMap<u32, String>>,
                         map: wasmparser::IndirectNameMap<'_>|
     -> Result<(), wasmparser::BinaryReaderError> {
        for entry in map {
            let entry = entry?;
            if (input.skip_funcs)(entry.index) {
                continue;
            }
            let Some(f) = remap.funcs.get(entry.index) else {
                continue;
            };
            let inner = out.entry(f).or_default();
            for naming in entry.names {
                let naming = naming?;
                inner
                    .entry(naming.index)
                    .or_insert_with(|| naming.name.to_string());
            }
        }
        Ok(())
    };
    let mut reader = reader;
    while !reader.eof() {
        let id = reader.read_u8()?;
        let size = reader.read_var_u32()? as usize;
        let at = reader.original_position();
        let bytes = reader.read_bytes(size)?;
        let sub = BinaryReader::new(bytes, at);
        match id {
            0 if is_app => {
                let mut sub = sub;
                names.module = Some(sub.read_string()?.to_string());
            }
            // Function, local and label names of an input whose helpers keep no names.
            1..=3 if !input.keep_func_names => {}
            1 => {
                for naming in wasmparser::NameMap::new(sub)? {
                    let naming = naming?;
                    if (input.skip_funcs)(naming.index) {
                        continue;
                    }
                    if let Some(i) = remap.funcs.get(naming.index) {
                        names
                            .funcs
                            .entry(i)
                            .or_insert_with(|| format!("{p}{}", naming.name));
                    }
                }
            }
            2 => indirect_into(&mut names.locals, wasmparser::IndirectNameMap::new(sub)?)?,
            3 => indirect_into(&mut names.labels, wasmparser::IndirectNameMap::new(sub)?)?,
            4 if is_app => map_into(
                &mut names.types,
                wasmparser::NameMap::new(sub)?,
                &remap.types,
                0,
            )?,
            5 => map_into(
                &mut names.tables,
                wasmparser::NameMap::new(sub)?,
                &remap.tables,
                0,
            )?,
            6 => map_into(
                &mut names.memories,
                wasmparser::NameMap::new(sub)?,
                &remap.memories,
                input.first_named.0,
            )?,
            7 => map_into(
                &mut names.globals,
                wasmparser::NameMap::new(sub)?,
                &remap.globals,
                input.first_named.1,
            )?,
            8 => map_into(
                &mut names.elems,
                wasmparser::NameMap::new(sub)?,
                &remap.elems,
                0,
            )?,
            9 => map_into(
                &mut names.data,
                wasmparser::NameMap::new(sub)?,
                &remap.data,
                0,
            )?,
            11 => map_into(
                &mut names.tags,
                wasmparser::NameMap::new(sub)?,
                &remap.tags,
                0,
            )?,
            // Field, parameter and unknown subsections: the app's type indices do not change, so
            // they are copied unchanged; the shim's types are merged into the app's, so its are
            // not carried over.
            _ if is_app && id >= 10 => names.raw.push((id, bytes.to_vec())),
            _ => {}
        }
    }
    Ok(())
}

fn encode(names: &Names) -> NameSection {
    let mut section = NameSection::new();
    if let Some(m) = &names.module {
        section.module(m);
    }
    let name_map = |m: &BTreeMap<u32, String>| {
        let mut out = NameMap::new();
        for (i, n) in m {
            out.append(*i, n);
        }
        out
    };
    let indirect = |m: &BTreeMap<u32, BTreeMap<u32, String>>| {
        let mut out = IndirectNameMap::new();
        for (i, inner) in m {
            out.append(*i, &name_map(inner));
        }
        out
    };
    if !names.funcs.is_empty() {
        section.functions(&name_map(&names.funcs));
    }
    if !names.locals.is_empty() {
        section.locals(&indirect(&names.locals));
    }
    if !names.labels.is_empty() {
        section.labels(&indirect(&names.labels));
    }
    type Add = fn(&mut NameSection, &NameMap);
    let simple: [(&BTreeMap<u32, String>, Add); 7] = [
        (&names.types, NameSection::types),
        (&names.tables, NameSection::tables),
        (&names.memories, NameSection::memories),
        (&names.globals, NameSection::globals),
        (&names.elems, NameSection::elements),
        (&names.data, NameSection::data),
        (&names.tags, NameSection::tag),
    ];
    for (map, add) in simple {
        if !map.is_empty() {
            add(&mut section, &name_map(map));
        }
    }
    let mut raw = names.raw.clone();
    raw.sort_by_key(|(id, _)| *id);
    for (id, data) in &raw {
        section.raw(*id, data);
    }
    section
}
