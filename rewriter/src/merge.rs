//! Lays out the index spaces of app + shim + intrinsics + image and encodes the output module.

mod code;
pub mod layout;
mod leb;
pub mod parts;
mod reach;
mod reimage;
#[cfg(test)]
mod tests;

use crate::plan::{self, ModuleInfo, Plan, WasifsRecord, WASIFS_RECORD_VERSION, WASIFS_SECTION};
use crate::{Error, Result};
use layout::{Layout, Remap};
use parts::Module;
use std::path::Path;
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::Encode;
use wasmparser::BinaryReader;

/// The merged module and what happened on the way.
#[derive(Debug, Clone, Default)]
pub struct MergeOutput<'a> {
    /// The output module, as parts borrowing the image and large app sections.
    pub module: Module<'a>,
    /// Non-fatal problems, e.g. DWARF sections dropped.
    pub warnings: Vec<String>,
    /// Names of the `wasi_snapshot_preview1` imports now served by the shim.
    pub redirected: Vec<String>,
    /// The input was already rewritten by this wasifs: only its image was replaced.
    pub image_replaced: bool,
}

/// Merges the committed shim and the intrinsics into `app` with `image` as the filesystem image.
pub fn rewrite_module<'a>(path: &Path, app: &'a [u8], image: &'a [u8]) -> Result<MergeOutput<'a>> {
    if crate::SHIM_WASM.is_empty() {
        return Err(internal(
            "the embedded shim (rewriter/assets/shim.wasm) is empty; build it with scripts/build-shim.sh",
        ));
    }
    let intrinsics = intrinsics_wasm()?;
    merge_modules(path, app, crate::SHIM_WASM, &intrinsics, image)
}

/// Compiles `shim-wat/intrinsics.wat`.
pub fn intrinsics_wasm() -> Result<Vec<u8>> {
    wat::parse_str(crate::INTRINSICS_WAT)
        .map_err(|e| internal(format!("shim-wat/intrinsics.wat does not compile: {e}")))
}

/// Merges `shim` and `intrinsics` (compiled) into `app` with `image` as the image segment.
///
/// If `app` was already rewritten with the same shim and intrinsics, only its image is replaced.
pub fn merge_modules<'a>(
    path: &Path,
    app: &'a [u8],
    shim: &[u8],
    intrinsics: &[u8],
    image: &'a [u8],
) -> Result<MergeOutput<'a>> {
    let shim_info = parse_own(shim, "shim")?;
    let intr_info = parse_own(intrinsics, "intrinsics")?;
    if u32::try_from(image.len()).is_err() {
        return Err(Error::usage(
            "the filesystem image is 4 GiB or larger; mount less data",
        ));
    }
    let hash = shim_hash(shim, intrinsics);
    let plan = plan::analyse(path, app, &shim_info, hash)?;

    let image_replaced = plan.rewritten.is_some();
    let (module, warnings, redirected) = match plan.rewritten {
        Some(record) => (
            reimage::replace_image(path, &plan, record, image)?,
            Vec::new(),
            Vec::new(),
        ),
        None => {
            let mut layout = Layout::new(&plan, &shim_info, &intr_info)
                .map_err(|m| internal(format!("cannot merge the shim: {m}")))?;
            let mut warnings = Vec::new();
            let module = encode(
                path,
                &plan,
                &shim_info,
                &intr_info,
                &mut layout,
                image,
                hash,
                &mut warnings,
            )?;
            (
                module,
                warnings,
                plan.redirects.iter().map(|r| r.name.clone()).collect(),
            )
        }
    };
    // Validated part by part, with the image segment emptied: see `parts`.
    module
        .validate()
        .map_err(|e| internal(format!("the merged module does not validate: {e}")))?;
    Ok(MergeOutput {
        module,
        warnings,
        redirected,
        image_replaced,
    })
}

/// FNV-1a (64-bit) of the shim and the intrinsics: identifies the shim a module was rewritten with.
pub fn shim_hash(shim: &[u8], intrinsics: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in shim.iter().chain(&[0xff]).chain(intrinsics) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn internal(message: impl Into<String>) -> Error {
    Error::Internal {
        message: message.into(),
    }
}

fn parse_own<'a>(bytes: &'a [u8], what: &str) -> Result<ModuleInfo<'a>> {
    ModuleInfo::parse(Path::new(what), bytes, false, true).map_err(|e| {
        internal(format!(
            "the embedded {what} is not a usable core module: {e}"
        ))
    })
}

/// The entries of an encoded wasm-encoder section: its encoding without size and count.
pub(crate) fn entries(section: &impl Encode) -> Vec<u8> {
    let mut buf = Vec::new();
    section.encode(&mut buf);
    let mut r = BinaryReader::new(&buf, 0);
    let skip = r
        .read_var_u32()
        .and_then(|_| r.read_var_u32())
        .map(|_| r.current_position());
    match skip {
        Ok(at) => buf.split_off(at),
        Err(_) => Vec::new(),
    }
}

/// Splits a section payload into its leading count and the entries after it.
fn split_count(payload: &[u8]) -> Option<(u32, &[u8])> {
    let mut r = BinaryReader::new(payload, 0);
    let n = r.read_var_u32().ok()?;
    Some((n, &payload[r.current_position()..]))
}

/// Writes a vector section: id, size, count, then the app's entries (borrowed) and the merged
/// ones; nothing when `count` is 0.
fn write_vec_section<'a>(out: &mut Module<'a>, id: u8, count: u32, app: &'a [u8], rest: &[u8]) {
    if count == 0 {
        return;
    }
    out.section(id).leb(count).borrow(app).copy(rest);
}

/// The canonical order of the non-custom sections.
const ORDER: [u8; 13] = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];

/// A section reader over `module`'s section `id`, if it has one.
fn reader<'a>(module: &ModuleInfo<'a>, id: u8) -> Option<BinaryReader<'a>> {
    let s = module.sections.iter().find(|s| s.id == id)?;
    Some(BinaryReader::new(
        &module.bytes[s.payload.clone()],
        s.payload.start as u64,
    ))
}

/// The entries of `module`'s section `id` (count, bytes after the count).
fn raw_entries<'a>(module: &ModuleInfo<'a>, id: u8) -> (u32, &'a [u8]) {
    module
        .sections
        .iter()
        .find(|s| s.id == id)
        .and_then(|s| split_count(&module.bytes[s.payload.clone()]))
        .unwrap_or((0, &[]))
}

type ReResult = std::result::Result<(), wasm_encoder::reencode::Error<layout::Unmapped>>;

/// Re-encodes one vector section of each of `modules` with its remap; returns (count, entries).
fn reencode_sections<S: Default + Encode>(
    modules: &mut [(&ModuleInfo<'_>, &mut Remap)],
    id: u8,
    mut f: impl FnMut(&mut Remap, &mut S, BinaryReader<'_>) -> ReResult,
    len: impl Fn(&S) -> u32,
) -> Result<(u32, Vec<u8>)> {
    let mut section = S::default();
    for (module, remap) in modules.iter_mut() {
        if let Some(r) = reader(module, id) {
            f(remap, &mut section, r)
                .map_err(|e| internal(format!("re-encoding section {id}: {e}")))?;
        }
    }
    Ok((len(&section), entries(&section)))
}

#[allow(clippy::too_many_arguments)]
fn encode<'a>(
    path: &Path,
    plan: &Plan<'a>,
    shim: &ModuleInfo<'_>,
    intr: &ModuleInfo<'_>,
    layout: &mut Layout,
    image: &'a [u8],
    hash: u64,
    warnings: &mut Vec<String>,
) -> Result<Module<'a>> {
    let app = &plan.app;
    let Layout {
        app: app_remap,
        shim: shim_remap,
        intrinsics: intr_remap,
        ..
    } = layout;

    // The code first: whether DWARF survives decides which custom sections are written.
    let code = code::encode(
        app,
        &app_remap.funcs,
        &mut [(shim, shim_remap), (intr, intr_remap)],
    )
    .map_err(|e| match e {
        code::CodeError::Parse(e) => plan::invalid(path, e),
        code::CodeError::Trailing(offset) => Error::Invalid {
            path: path.to_path_buf(),
            offset: offset as usize,
            message: "trailing bytes at the end of the code section".into(),
        },
        code::CodeError::Unmapped(f) => {
            internal(format!("app function {f} has no place in the output"))
        }
        code::CodeError::Shim(m) => internal(format!("re-encoding the shim's code: {m}")),
    })?;

    // Names: every name of the app; for the shim and the intrinsics only their non-function
    // names (memory, globals, the image segment) and the names of the shim's entry points the app
    // now calls, as `wasifs::<wasi name>` — what shows up in a backtrace through the shim. Names of
    // internal helpers and of entry points the app does not import would only add bytes.
    let entry_points: Vec<(u32, &str)> = plan
        .redirects
        .iter()
        .map(|r| (r.shim_func, r.name.as_str()))
        .collect();
    let is_redirected = |f: u32| plan.redirect_of(f).is_some();
    let never = |_: u32| false;
    let (names, name_warnings) = crate::names::rebuild(&[
        crate::names::NameInput {
            section: app.custom("name"),
            remap: app_remap,
            prefix: "",
            keep_func_names: true,
            fallback_funcs: Vec::new(),
            skip_funcs: &is_redirected,
            first_named: (0, 0),
        },
        crate::names::NameInput {
            section: intr.custom("name"),
            remap: intr_remap,
            prefix: "wasifs::",
            keep_func_names: false,
            fallback_funcs: Vec::new(),
            skip_funcs: &never,
            first_named: (intr.imported_memories, intr.imported_globals),
        },
        crate::names::NameInput {
            section: shim.custom("name"),
            remap: shim_remap,
            prefix: "wasifs::",
            keep_func_names: false,
            fallback_funcs: entry_points,
            skip_funcs: &never,
            first_named: (0, 0),
        },
    ]);
    warnings.extend(name_warnings);
    let mut names_payload = Vec::new();
    {
        let custom = names.as_custom();
        custom.name.as_ref().encode(&mut names_payload);
        names_payload.extend_from_slice(&custom.data);
    }

    let mut code = (Some(code.payload), code.same_layout);
    let mut out = Module::new(&app.bytes[..8]);
    let mut next = 0usize;
    let mut names_written = false;
    let mut dwarf_dropped = false;
    for section in &app.sections {
        if section.id != 0 {
            if let Some(pos) = ORDER.iter().position(|&id| id == section.id) {
                for &id in &ORDER[next.min(pos + 1)..=pos] {
                    emit(&mut out, id, plan, shim, intr, layout, &mut code.0, image)?;
                }
                next = next.max(pos + 1);
            }
            continue;
        }
        let name = section.custom_name.unwrap_or("");
        if name == "name" {
            if !names_written {
                out.section(0).copy(&names_payload);
                names_written = true;
            }
        } else if name == WASIFS_SECTION {
            // A stale record; the new one is written at the end.
        } else if name.starts_with(".debug_") && !code.1 {
            dwarf_dropped = true;
        } else {
            out.section(0).borrow(&app.bytes[section.payload.clone()]);
        }
    }
    for &id in &ORDER[next..] {
        emit(&mut out, id, plan, shim, intr, layout, &mut code.0, image)?;
    }
    if !names_written {
        out.section(0).copy(&names_payload);
    }
    let record = WasifsRecord {
        version: WASIFS_RECORD_VERSION,
        shim_hash: hash,
        image_segment: layout.image_segment,
    };
    let mut rec = Vec::new();
    WASIFS_SECTION.encode(&mut rec);
    rec.extend_from_slice(&record.encode());
    out.section(0).copy(&rec);
    if dwarf_dropped {
        warnings.push(
            "DWARF debug sections (.debug_*) were dropped: patching calls changed the length of some \
             function bodies (or of the function count), so their code offsets no longer hold"
                .into(),
        );
    }
    Ok(out)
}

/// Emits the merged section `id`.
#[allow(clippy::too_many_arguments)]
fn emit<'a>(
    out: &mut Module<'a>,
    id: u8,
    plan: &Plan<'a>,
    shim: &ModuleInfo<'_>,
    intr: &ModuleInfo<'_>,
    layout: &mut Layout,
    code: &mut Option<Vec<u8>>,
    image: &'a [u8],
) -> Result<()> {
    let app = &plan.app;
    let Layout {
        app: app_remap,
        shim: shim_remap,
        intrinsics: intr_remap,
        ..
    } = layout;
    let mut all: [(&ModuleInfo<'_>, &mut Remap); 3] =
        [(app, app_remap), (shim, shim_remap), (intr, intr_remap)];
    let round = |e: wasm_encoder::reencode::Error| internal(format!("re-encoding an import: {e}"));
    match id {
        1 => {
            let (n, rest) = raw_entries(app, 1);
            let mut types = wasm_encoder::TypeSection::new();
            for f in &layout.new_types {
                let mut rt = RoundtripReencoder;
                let params = f
                    .params()
                    .iter()
                    .map(|t| rt.val_type(*t))
                    .collect::<std::result::Result<Vec<_>, _>>();
                let results = f
                    .results()
                    .iter()
                    .map(|t| rt.val_type(*t))
                    .collect::<std::result::Result<Vec<_>, _>>();
                types
                    .ty()
                    .function(params.map_err(round)?, results.map_err(round)?);
            }
            write_vec_section(out, 1, n + types.len(), rest, &entries(&types));
        }
        2 => {
            let mut imports = wasm_encoder::ImportSection::new();
            for (import, kept) in app.imports.iter().zip(&layout.kept_imports) {
                if *kept {
                    let ty = RoundtripReencoder.entity_type(import.ty).map_err(round)?;
                    imports.import(import.module, import.name, ty);
                }
            }
            for h in &layout.host_imports {
                imports.import(
                    plan::WASI_P1,
                    &h.name,
                    wasm_encoder::EntityType::Function(h.ty),
                );
            }
            write_vec_section(out, 2, imports.len(), &[], &entries(&imports));
        }
        3 => {
            let (n, rest) = raw_entries(app, 3);
            let mut funcs = wasm_encoder::FunctionSection::new();
            for (m, remap) in [(shim, &layout.shim), (intr, &layout.intrinsics)] {
                let defined = m
                    .func_types
                    .iter()
                    .enumerate()
                    .skip(m.imported_funcs as usize);
                // Unreachable functions are left out (see `reach`).
                let kept = defined.filter(|&(f, _)| remap.funcs.get(f as u32).is_some());
                for (_, &t) in kept {
                    funcs.function(
                        remap
                            .types
                            .get(t)
                            .ok_or_else(|| internal("shim function type out of range"))?,
                    );
                }
            }
            write_vec_section(out, 3, n + funcs.len(), rest, &entries(&funcs));
        }
        4 => {
            let (n, bytes) = reencode_sections(
                &mut all,
                4,
                |r, s, b| r.parse_table_section(s, wasmparser::TableSectionReader::new(b)?),
                wasm_encoder::TableSection::len,
            )?;
            write_vec_section(out, 4, n, &[], &bytes);
        }
        5 => {
            let (n, rest) = raw_entries(app, 5);
            let (m, bytes) = reencode_sections(
                &mut all[1..],
                5,
                |r, s, b| r.parse_memory_section(s, wasmparser::MemorySectionReader::new(b)?),
                wasm_encoder::MemorySection::len,
            )?;
            write_vec_section(out, 5, n + m, rest, &bytes);
        }
        13 => {
            let (n, rest) = raw_entries(app, 13);
            let (m, bytes) = reencode_sections(
                &mut all[1..],
                13,
                |r, s, b| r.parse_tag_section(s, wasmparser::TagSectionReader::new(b)?),
                wasm_encoder::TagSection::len,
            )?;
            write_vec_section(out, 13, n + m, rest, &bytes);
        }
        6 => {
            let (n, bytes) = reencode_sections(
                &mut all,
                6,
                |r, s, b| r.parse_global_section(s, wasmparser::GlobalSectionReader::new(b)?),
                wasm_encoder::GlobalSection::len,
            )?;
            write_vec_section(out, 6, n, &[], &bytes);
        }
        7 => {
            let (n, bytes) = reencode_sections(
                &mut all[..1],
                7,
                |r, s, b| r.parse_export_section(s, wasmparser::ExportSectionReader::new(b)?),
                wasm_encoder::ExportSection::len,
            )?;
            write_vec_section(out, 7, n, &[], &bytes);
        }
        8 => {
            if let Some(start) = app.start {
                let f = layout
                    .app
                    .funcs
                    .get(start)
                    .ok_or_else(|| internal("start function out of range"))?;
                out.section(8).leb(f);
            }
        }
        9 => {
            let (n, bytes) = reencode_sections(
                &mut all,
                9,
                |r, s, b| r.parse_element_section(s, wasmparser::ElementSectionReader::new(b)?),
                wasm_encoder::ElementSection::len,
            )?;
            write_vec_section(out, 9, n, &[], &bytes);
        }
        12 => {
            out.section(12).leb(layout.data_count);
        }
        10 => {
            out.section(10).owned(code.take().unwrap_or_default());
        }
        11 => {
            let (n, rest) = raw_entries(app, 11);
            let (m, bytes) = reencode_sections(
                &mut all[1..2],
                11,
                |r, s, b| r.parse_data_section(s, wasmparser::DataSectionReader::new(b)?),
                wasm_encoder::DataSection::len,
            )?;
            // The image segment comes last and is borrowed, not copied: see `parts`.
            out.section(11)
                .leb(n + m + 1)
                .borrow(rest)
                .copy(&bytes)
                .image(image);
        }
        _ => {}
    }
    Ok(())
}
