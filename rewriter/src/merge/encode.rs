//! Encodes the merged module: one [`Merger`] method per section, in the canonical section order.

use super::dwarf::{self, Fate};
use super::error::MergeError;
use super::layout::{Layout, Remap, Unmapped};
use super::names::{self, NameInput};
use super::parts::Module;
use super::{code, entries, reader};
use crate::plan::{ModuleInfo, Plan, WasifsRecord, WASIFS_RECORD_VERSION, WASIFS_SECTION, WASI_P1};
use std::ops::Range;
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{Encode, SectionId};
use wasmparser::BinaryReader;

/// The canonical order of the non-custom sections.
const ORDER: [SectionId; 13] = [
    SectionId::Type,
    SectionId::Import,
    SectionId::Function,
    SectionId::Table,
    SectionId::Memory,
    SectionId::Tag,
    SectionId::Global,
    SectionId::Export,
    SectionId::Start,
    SectionId::Element,
    SectionId::DataCount,
    SectionId::Code,
    SectionId::Data,
];

/// Custom sections LLVM's object reader wants after the data section, in this order.
const LLVM_ORDERED: [&str; 3] = ["name", "producers", "target_features"];

/// Which of app (0), shim (1) and intrinsics (2) a re-encoded section takes entries from.
const ALL: Range<usize> = 0..3;
const APP: Range<usize> = 0..1;
const SHIM: Range<usize> = 1..2;
const SHIM_AND_INTRINSICS: Range<usize> = 1..3;

type ReResult = Result<(), wasm_encoder::reencode::Error<Unmapped>>;

/// The state of one merge: the inputs, their layout, and the output as it is written.
pub struct Merger<'p, 's, 'a> {
    plan: &'p Plan<'a>,
    shim: &'p ModuleInfo<'s>,
    intr: &'p ModuleInfo<'s>,
    layout: Layout,
    image: &'a [u8],
    hash: u64,
    /// The encoded code section, until it is written.
    code: Option<Vec<u8>>,
    out: Module<'a>,
    warnings: Vec<String>,
}

impl<'p, 's, 'a> Merger<'p, 's, 'a> {
    /// A merger of `plan.app`, `shim` and `intr` laid out by `layout`, with `image` as the image.
    pub fn new(
        plan: &'p Plan<'a>,
        shim: &'p ModuleInfo<'s>,
        intr: &'p ModuleInfo<'s>,
        layout: Layout,
        image: &'a [u8],
        hash: u64,
    ) -> Self {
        Merger {
            plan,
            shim,
            intr,
            layout,
            image,
            hash,
            code: None,
            out: Module::new(&plan.app.bytes[..8]),
            warnings: Vec::new(),
        }
    }

    /// Encodes the output module; returns it with the warnings of the merge.
    pub fn encode(mut self) -> Result<(Module<'a>, Vec<String>), MergeError> {
        let app = &self.plan.app;
        // The code first: whether DWARF survives decides which custom sections are written.
        let code = code::encode(
            app,
            &self.layout.app.funcs,
            &mut [
                (self.shim, &mut self.layout.shim),
                (self.intr, &mut self.layout.intrinsics),
            ],
        )?;
        let same_layout = code.same_layout || code.addresses.is_identity();
        // Moved code: the DWARF is rewritten for the new offsets (dropped only if it cannot be).
        let mut rewritten = None;
        let mut dwarf_dropped = None;
        if !same_layout && app.sections.iter().any(|s| is_dwarf(s.custom_name)) {
            match dwarf::rewrite(app, &code.addresses) {
                Ok(sections) => rewritten = Some(sections),
                Err(e) => dwarf_dropped = Some(e),
            }
        }
        self.code = Some(code.payload);
        let names = self.names();

        let mut next = 0usize;
        let mut names_written = false;
        for section in &app.sections {
            if section.id != u8::from(SectionId::Custom) {
                if let Some(pos) = ORDER.iter().position(|&id| u8::from(id) == section.id) {
                    for &id in &ORDER[next.min(pos + 1)..=pos] {
                        self.section(id)?;
                    }
                    next = next.max(pos + 1);
                }
                continue;
            }
            let name = section.custom_name.unwrap_or("");
            if LLVM_ORDERED.contains(&name) {
                // LLVM's tools want these after every known section, in this order.
                for &id in &ORDER[next..] {
                    self.section(id)?;
                }
                next = ORDER.len();
                if name != "name" && !names_written {
                    self.custom().copy(&names);
                    names_written = true;
                }
            }
            if name == "name" {
                if !names_written {
                    self.custom().copy(&names);
                    names_written = true;
                }
            } else if name == WASIFS_SECTION {
                // A stale record; the new one is written at the end.
            } else if is_dwarf(Some(name)) && dwarf_dropped.is_some() {
                // Left out: see the warning.
            } else if is_dwarf(Some(name)) && rewritten.is_some() {
                match dwarf::fate(name) {
                    Fate::Rewritten => {
                        // All rewritten sections go where the first of them was.
                        for (name, payload) in rewritten.take().into_iter().flatten() {
                            let mut custom = Vec::with_capacity(payload.len() + 20);
                            name.encode(&mut custom);
                            custom.extend_from_slice(&payload);
                            self.custom().owned(custom);
                        }
                        rewritten = Some(Vec::new());
                    }
                    Fate::Dropped => {}
                    Fate::Kept => {
                        self.custom().borrow(&app.bytes[section.payload.clone()]);
                    }
                }
            } else {
                self.custom().borrow(&app.bytes[section.payload.clone()]);
            }
        }
        for &id in &ORDER[next..] {
            self.section(id)?;
        }
        if !names_written {
            self.custom().copy(&names);
        }
        self.record();
        if let Some(e) = dwarf_dropped {
            self.warnings.push(format!(
                "DWARF debug sections (.debug_*) were dropped: patching calls moved code, and \
                 rewriting the DWARF for the new code offsets failed ({e})"
            ));
        }
        Ok((self.out, self.warnings))
    }

    /// Emits the merged section `id`.
    fn section(&mut self, id: SectionId) -> Result<(), MergeError> {
        match id {
            SectionId::Type => self.types(),
            SectionId::Import => self.imports(),
            SectionId::Function => self.functions(),
            SectionId::Table => self.tables(),
            SectionId::Memory => self.memories(),
            SectionId::Tag => self.tags(),
            SectionId::Global => self.globals(),
            SectionId::Export => self.exports(),
            SectionId::Start => self.start(),
            SectionId::Element => self.elements(),
            SectionId::DataCount => {
                self.out
                    .section(SectionId::DataCount.into())
                    .leb(self.layout.data_count);
                Ok(())
            }
            SectionId::Code => {
                let code = self.code.take().unwrap_or_default();
                self.out.section(SectionId::Code.into()).owned(code);
                Ok(())
            }
            SectionId::Data => self.data(),
            SectionId::Custom => Ok(()),
        }
    }

    /// The app's types, then the shim's and intrinsics' that the app does not have.
    fn types(&mut self) -> Result<(), MergeError> {
        let (n, rest) = raw_entries(&self.plan.app, SectionId::Type);
        let err = reencode_error(SectionId::Type);
        let mut types = wasm_encoder::TypeSection::new();
        for f in &self.layout.new_types {
            let mut rt = RoundtripReencoder;
            let params = f
                .params()
                .iter()
                .map(|t| rt.val_type(*t))
                .collect::<Result<Vec<_>, _>>()
                .map_err(&err)?;
            let results = f
                .results()
                .iter()
                .map(|t| rt.val_type(*t))
                .collect::<Result<Vec<_>, _>>()
                .map_err(&err)?;
            types.ty().function(params, results);
        }
        self.write_vec(SectionId::Type, n + types.len(), rest, &entries(&types));
        Ok(())
    }

    /// The app's kept imports, then the host imports the shim still needs.
    fn imports(&mut self) -> Result<(), MergeError> {
        let app = &self.plan.app;
        let mut imports = wasm_encoder::ImportSection::new();
        for (import, kept) in app.imports.iter().zip(&self.layout.kept_imports) {
            if *kept {
                let ty = RoundtripReencoder
                    .entity_type(import.ty)
                    .map_err(reencode_error(SectionId::Import))?;
                imports.import(import.module, import.name, ty);
            }
        }
        for h in &self.layout.host_imports {
            imports.import(WASI_P1, &h.name, wasm_encoder::EntityType::Function(h.ty));
        }
        self.write_vec(SectionId::Import, imports.len(), &[], &entries(&imports));
        Ok(())
    }

    /// The app's function declarations, then those of the shim's and intrinsics' kept functions.
    fn functions(&mut self) -> Result<(), MergeError> {
        let (n, rest) = raw_entries(&self.plan.app, SectionId::Function);
        let mut funcs = wasm_encoder::FunctionSection::new();
        for (m, remap) in [
            (self.shim, &self.layout.shim),
            (self.intr, &self.layout.intrinsics),
        ] {
            let defined = m
                .func_types
                .iter()
                .enumerate()
                .skip(m.imported_funcs as usize);
            // Unreachable functions are left out (see `reach`).
            let kept = defined.filter(|&(f, _)| remap.funcs.get(f as u32).is_some());
            for (_, &t) in kept {
                let ty = remap
                    .types
                    .get(t)
                    .ok_or(MergeError::OutOfRange("shim function type"))?;
                funcs.function(ty);
            }
        }
        self.write_vec(SectionId::Function, n + funcs.len(), rest, &entries(&funcs));
        Ok(())
    }

    fn tables(&mut self) -> Result<(), MergeError> {
        let (n, bytes) = self.reencode(
            SectionId::Table,
            ALL,
            |r, s, b| r.parse_table_section(s, wasmparser::TableSectionReader::new(b)?),
            wasm_encoder::TableSection::len,
        )?;
        self.write_vec(SectionId::Table, n, &[], &bytes);
        Ok(())
    }

    /// The app's memories (borrowed), then the shim's and intrinsics'.
    fn memories(&mut self) -> Result<(), MergeError> {
        let (n, rest) = raw_entries(&self.plan.app, SectionId::Memory);
        let (m, bytes) = self.reencode(
            SectionId::Memory,
            SHIM_AND_INTRINSICS,
            |r, s, b| r.parse_memory_section(s, wasmparser::MemorySectionReader::new(b)?),
            wasm_encoder::MemorySection::len,
        )?;
        self.write_vec(SectionId::Memory, n + m, rest, &bytes);
        Ok(())
    }

    /// The app's tags (borrowed), then the shim's and intrinsics'.
    fn tags(&mut self) -> Result<(), MergeError> {
        let (n, rest) = raw_entries(&self.plan.app, SectionId::Tag);
        let (m, bytes) = self.reencode(
            SectionId::Tag,
            SHIM_AND_INTRINSICS,
            |r, s, b| r.parse_tag_section(s, wasmparser::TagSectionReader::new(b)?),
            wasm_encoder::TagSection::len,
        )?;
        self.write_vec(SectionId::Tag, n + m, rest, &bytes);
        Ok(())
    }

    fn globals(&mut self) -> Result<(), MergeError> {
        let (n, bytes) = self.reencode(
            SectionId::Global,
            ALL,
            |r, s, b| r.parse_global_section(s, wasmparser::GlobalSectionReader::new(b)?),
            wasm_encoder::GlobalSection::len,
        )?;
        self.write_vec(SectionId::Global, n, &[], &bytes);
        Ok(())
    }

    /// Exactly the app's exports, remapped.
    fn exports(&mut self) -> Result<(), MergeError> {
        let (n, bytes) = self.reencode(
            SectionId::Export,
            APP,
            |r, s, b| r.parse_export_section(s, wasmparser::ExportSectionReader::new(b)?),
            wasm_encoder::ExportSection::len,
        )?;
        self.write_vec(SectionId::Export, n, &[], &bytes);
        Ok(())
    }

    fn start(&mut self) -> Result<(), MergeError> {
        if let Some(start) = self.plan.app.start {
            let f = self
                .layout
                .app
                .funcs
                .get(start)
                .ok_or(MergeError::OutOfRange("start function"))?;
            self.out.section(SectionId::Start.into()).leb(f);
        }
        Ok(())
    }

    fn elements(&mut self) -> Result<(), MergeError> {
        let (n, bytes) = self.reencode(
            SectionId::Element,
            ALL,
            |r, s, b| r.parse_element_section(s, wasmparser::ElementSectionReader::new(b)?),
            wasm_encoder::ElementSection::len,
        )?;
        self.write_vec(SectionId::Element, n, &[], &bytes);
        Ok(())
    }

    /// The app's segments (borrowed, unless some were joined), the shim's, then the image segment
    /// (borrowed: see `parts`).
    fn data(&mut self) -> Result<(), MergeError> {
        let (_, rest) = raw_entries(&self.plan.app, SectionId::Data);
        let (m, bytes) = self.reencode(
            SectionId::Data,
            SHIM,
            |r, s, b| r.parse_data_section(s, wasmparser::DataSectionReader::new(b)?),
            wasm_encoder::DataSection::len,
        )?;
        let app = &self.layout.app_data;
        let mut section = self.out.section(SectionId::Data.into());
        section.leb(app.count + m + 1);
        match &app.joined {
            Some(joined) => section.copy(joined),
            None => section.borrow(rest),
        };
        section.copy(&bytes).image(self.image);
        Ok(())
    }

    /// The payload of the output's name section.
    ///
    /// Every name of the app; for the shim and the intrinsics only their non-function names
    /// (memory, globals, the image segment) and the names of the shim's entry points the app now
    /// calls, as `wasifs::<wasi name>` — what shows up in a backtrace through the shim. Names of
    /// internal helpers and of entry points the app does not import would only add bytes.
    fn names(&mut self) -> Vec<u8> {
        let plan = self.plan;
        let entry_points: Vec<(u32, &str)> = plan
            .redirects
            .iter()
            .map(|r| (r.shim_func, r.name.as_str()))
            .collect();
        let is_redirected = |f: u32| plan.redirect_of(f).is_some();
        let never = |_: u32| false;
        let (names, warnings) = names::rebuild(&[
            NameInput {
                section: plan.app.custom("name"),
                remap: &self.layout.app,
                prefix: "",
                keep_func_names: true,
                fallback_funcs: Vec::new(),
                skip_funcs: &is_redirected,
                first_named: (0, 0),
            },
            NameInput {
                section: self.intr.custom("name"),
                remap: &self.layout.intrinsics,
                prefix: "wasifs::",
                keep_func_names: false,
                fallback_funcs: Vec::new(),
                skip_funcs: &never,
                first_named: (self.intr.imported_memories, self.intr.imported_globals),
            },
            NameInput {
                section: self.shim.custom("name"),
                remap: &self.layout.shim,
                prefix: "wasifs::",
                keep_func_names: false,
                fallback_funcs: entry_points,
                skip_funcs: &never,
                first_named: (0, 0),
            },
        ]);
        self.warnings.extend(warnings);
        let mut payload = Vec::new();
        let custom = names.as_custom();
        custom.name.as_ref().encode(&mut payload);
        payload.extend_from_slice(&custom.data);
        payload
    }

    /// The wasifs record, last: which shim the module carries and where its image is.
    fn record(&mut self) {
        let record = WasifsRecord {
            version: WASIFS_RECORD_VERSION,
            shim_hash: self.hash,
            image_segment: self.layout.image_segment,
        };
        let mut rec = Vec::new();
        WASIFS_SECTION.encode(&mut rec);
        rec.extend_from_slice(&record.encode());
        rec.extend_from_slice(&crate::record::fields_of(self.plan, &self.layout));
        self.custom().copy(&rec);
    }

    /// Starts a custom section.
    fn custom(&mut self) -> super::parts::SectionWriter<'_, 'a> {
        self.out.section(SectionId::Custom.into())
    }

    /// Writes a vector section: id, size, count, then the app's entries (borrowed) and the
    /// merged ones; nothing when `count` is 0.
    fn write_vec(&mut self, id: SectionId, count: u32, app: &'a [u8], rest: &[u8]) {
        if count == 0 {
            return;
        }
        self.out
            .section(id.into())
            .leb(count)
            .borrow(app)
            .copy(rest);
    }

    /// Re-encodes section `id` of each module in `from` with its remap; returns (count, entries).
    fn reencode<S: Default + Encode>(
        &mut self,
        id: SectionId,
        from: Range<usize>,
        mut f: impl FnMut(&mut Remap, &mut S, BinaryReader<'_>) -> ReResult,
        len: impl Fn(&S) -> u32,
    ) -> Result<(u32, Vec<u8>), MergeError> {
        let Layout {
            app,
            shim,
            intrinsics,
            ..
        } = &mut self.layout;
        let mut modules: [(&ModuleInfo<'_>, &mut Remap); 3] = [
            (&self.plan.app, app),
            (self.shim, shim),
            (self.intr, intrinsics),
        ];
        let mut section = S::default();
        for (module, remap) in modules[from].iter_mut() {
            if let Some(r) = reader(module, id) {
                f(remap, &mut section, r).map_err(|e| MergeError::Reencode {
                    section: id,
                    message: e.to_string(),
                })?;
            }
        }
        Ok((len(&section), entries(&section)))
    }
}

/// Whether a custom section named `name` is DWARF.
fn is_dwarf(name: Option<&str>) -> bool {
    name.is_some_and(|n| n.starts_with(".debug_"))
}

/// Maps a re-encoding error in section `section` to a [`MergeError`].
fn reencode_error(section: SectionId) -> impl Fn(wasm_encoder::reencode::Error) -> MergeError {
    move |e| MergeError::Reencode {
        section,
        message: e.to_string(),
    }
}

/// The entries of `module`'s section `id` (count, bytes after the count).
fn raw_entries<'a>(module: &ModuleInfo<'a>, id: SectionId) -> (u32, &'a [u8]) {
    module
        .sections
        .iter()
        .find(|s| s.id == u8::from(id))
        .and_then(|s| split_count(&module.bytes[s.payload.clone()]))
        .unwrap_or((0, &[]))
}

/// Splits a section payload into its leading count and the entries after it.
fn split_count(payload: &[u8]) -> Option<(u32, &[u8])> {
    let mut r = BinaryReader::new(payload, 0);
    let n = r.read_var_u32().ok()?;
    Some((n, &payload[r.current_position()..]))
}
