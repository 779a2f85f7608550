//! Lays out the output's index spaces: where every app, shim and intrinsics entity ends up.

use super::data::AppData;
use crate::plan::{same_sig, ModuleInfo, Plan, WASI_P1};
use std::collections::HashMap;
use wasm_encoder::reencode::{Error as ReencodeError, Reencode};
use wasmparser::{ExternalKind, FuncType, TypeRef};

/// The import module through which the shim reaches the intrinsics.
pub const INTRINSICS_MODULE: &str = "wasifs_intrinsics";
/// The import module through which the intrinsics name the app's and shim's entities.
pub const INTRINSICS_LINK_MODULE: &str = "wasifs";

/// Maps one index space of an input module to the output's.
#[derive(Debug, Clone)]
pub enum IndexMap {
    /// Indices `0..len` move up by `by`.
    Shift {
        /// Number of indices in the input space.
        len: u32,
        /// Amount added to every index.
        by: u32,
    },
    /// Index `i` becomes `table[i]`; [`DROPPED`] marks an index left out of the output.
    Table(Vec<u32>),
}

/// In an [`IndexMap::Table`]: the entity is not in the output (an unreachable shim function).
pub const DROPPED: u32 = u32::MAX;

impl IndexMap {
    /// The identity on `0..len`.
    pub fn identity(len: u32) -> Self {
        IndexMap::Shift { len, by: 0 }
    }

    /// The output index of input index `i`, if `i` is in range.
    #[inline]
    pub fn get(&self, i: u32) -> Option<u32> {
        match self {
            IndexMap::Shift { len, by } => (i < *len).then(|| i + by),
            IndexMap::Table(t) => t.get(i as usize).copied().filter(|&o| o != DROPPED),
        }
    }

    /// Whether input index `i` is in range but left out of the output.
    pub fn is_dropped(&self, i: u32) -> bool {
        matches!(self, IndexMap::Table(t) if t.get(i as usize) == Some(&DROPPED))
    }
}

/// Where every index space of one input module goes; also a [`Reencode`] that applies it.
#[derive(Debug, Clone)]
pub struct Remap {
    /// Type indices.
    pub types: IndexMap,
    /// Function indices.
    pub funcs: IndexMap,
    /// Table indices.
    pub tables: IndexMap,
    /// Memory indices.
    pub memories: IndexMap,
    /// Global indices.
    pub globals: IndexMap,
    /// Tag indices.
    pub tags: IndexMap,
    /// Element segment indices.
    pub elems: IndexMap,
    /// Data segment indices.
    pub data: IndexMap,
}

/// An index that a [`Remap`] cannot map (a wasifs bug or a malformed shim).
#[derive(Debug, Clone)]
pub struct Unmapped(pub &'static str, pub u32);

impl std::fmt::Display for Unmapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} index {} has no place in the merged module",
            self.0, self.1
        )
    }
}

fn map(m: &IndexMap, what: &'static str, i: u32) -> Result<u32, ReencodeError<Unmapped>> {
    m.get(i).ok_or(ReencodeError::UserError(Unmapped(what, i)))
}

impl Reencode for Remap {
    type Error = Unmapped;
    fn type_index(&mut self, i: u32) -> Result<u32, ReencodeError<Unmapped>> {
        map(&self.types, "type", i)
    }
    fn function_index(&mut self, i: u32) -> Result<u32, ReencodeError<Unmapped>> {
        map(&self.funcs, "function", i)
    }
    fn table_index(&mut self, i: u32) -> Result<u32, ReencodeError<Unmapped>> {
        map(&self.tables, "table", i)
    }
    fn memory_index(&mut self, i: u32) -> Result<u32, ReencodeError<Unmapped>> {
        map(&self.memories, "memory", i)
    }
    fn global_index(&mut self, i: u32) -> Result<u32, ReencodeError<Unmapped>> {
        map(&self.globals, "global", i)
    }
    fn tag_index(&mut self, i: u32) -> Result<u32, ReencodeError<Unmapped>> {
        map(&self.tags, "tag", i)
    }
    fn element_index(&mut self, i: u32) -> Result<u32, ReencodeError<Unmapped>> {
        map(&self.elems, "element segment", i)
    }
    fn data_index(&mut self, i: u32) -> Result<u32, ReencodeError<Unmapped>> {
        map(&self.data, "data segment", i)
    }

    /// Every segment but those `elements::omitted` leaves out.
    fn parse_element_section(
        &mut self,
        elements: &mut wasm_encoder::ElementSection,
        section: wasmparser::ElementSectionReader<'_>,
    ) -> Result<(), ReencodeError<Unmapped>> {
        super::elements::section(self, elements, section)
    }

    /// Items remapped as `elements::items` says.
    fn element_items<'a>(
        &mut self,
        items: wasmparser::ElementItems<'a>,
    ) -> Result<wasm_encoder::Elements<'a>, ReencodeError<Unmapped>> {
        super::elements::items(self, items)
    }
}

/// A host import added for the shim.
#[derive(Debug, Clone)]
pub struct HostImport {
    /// The WASI function name.
    pub name: String,
    /// Its output type index.
    pub ty: u32,
}

/// The output's index spaces.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The app's indices (only functions move).
    pub app: Remap,
    /// The shim's indices.
    pub shim: Remap,
    /// The intrinsics' indices.
    pub intrinsics: Remap,
    /// For each app import in order, whether it stays (redirected function imports go).
    pub kept_imports: Vec<bool>,
    /// Host imports added after the app's kept imports, in order.
    pub host_imports: Vec<HostImport>,
    /// Function types appended after the app's types, in order.
    pub new_types: Vec<FuncType>,
    /// The app's data segments in the output (joined where there would be too many).
    pub app_data: AppData,
    /// Total number of data segments.
    pub data_count: u32,
    /// Index of the image data segment (the last one).
    pub image_segment: u32,
}

impl Layout {
    /// Lays out `plan.app` (its data segments as `app_data`) + `shim` + `intrinsics`; errors
    /// describe a malformed shim.
    pub fn new(
        plan: &Plan<'_>,
        shim: &ModuleInfo<'_>,
        intr: &ModuleInfo<'_>,
        app_data: AppData,
    ) -> Result<Self, String> {
        let app = &plan.app;

        // Types: the app's stay, the shim's and intrinsics' are appended unless already present.
        let mut by_sig: HashMap<FuncType, u32> = HashMap::new();
        for (i, t) in app.types.iter().enumerate() {
            if let (true, Some(f)) = (t.plain, &t.func) {
                by_sig.entry(f.clone()).or_insert(i as u32);
            }
        }
        let mut new_types = Vec::new();
        let mut type_table = |m: &ModuleInfo<'_>, what: &str| -> Result<Vec<u32>, String> {
            let mut table = Vec::with_capacity(m.types.len());
            for t in &m.types {
                let f = match (t.plain, &t.func) {
                    (true, Some(f)) => f,
                    _ => {
                        return Err(format!(
                            "the {what} uses a type other than a plain function type"
                        ))
                    }
                };
                let next = app.types.len() as u32 + new_types.len() as u32;
                let idx = *by_sig.entry(f.clone()).or_insert_with(|| {
                    new_types.push(f.clone());
                    next
                });
                table.push(idx);
            }
            Ok(table)
        };
        let shim_types = type_table(shim, "shim")?;
        let intr_types = type_table(intr, "intrinsics")?;

        // App function imports: redirected ones go, the rest keep their order.
        let app_funcs = app.func_types.len();
        let mut app_func_table = vec![u32::MAX; app_funcs];
        let mut kept_imports = Vec::with_capacity(app.imports.len());
        let mut kept_funcs = 0u32;
        let mut func = 0u32;
        for import in &app.imports {
            let is_fn = matches!(import.ty, TypeRef::Func(_) | TypeRef::FuncExact(_));
            if !is_fn {
                kept_imports.push(true);
                continue;
            }
            let redirected = plan.redirect_of(func).is_some();
            kept_imports.push(!redirected);
            if !redirected {
                app_func_table[func as usize] = kept_funcs;
                kept_funcs += 1;
            }
            func += 1;
        }

        // Shim function imports: host WASI functions (shared with a kept app import, or new host
        // imports if reachable) or intrinsics.
        #[derive(Clone, Copy)]
        enum Target<'n> {
            Fixed(u32),
            Host(&'n str, u32),
            Intrinsic(u32),
        }
        let mut shim_targets = Vec::with_capacity(shim.imported_funcs as usize);
        let mut shim_func = 0u32;
        for import in &shim.imports {
            let ty = match import.ty {
                TypeRef::Func(t) | TypeRef::FuncExact(t) => t,
                _ => {
                    return Err(format!(
                        "the shim imports `{}.{}`, which is not a function; the shim must define its own memory, globals and tables",
                        import.module, import.name
                    ))
                }
            };
            let sig = shim.types.get(ty as usize).and_then(|t| t.func.as_ref());
            let sig =
                sig.ok_or_else(|| format!("shim import `{}` has no function type", import.name))?;
            let target = match import.module {
                WASI_P1 => {
                    let shared = app_import_index(plan, import.name, sig);
                    match shared.map(|f| app_func_table[f as usize]) {
                        Some(new) if new != u32::MAX => Target::Fixed(new),
                        _ => Target::Host(import.name, shim_types[ty as usize]),
                    }
                }
                INTRINSICS_MODULE => {
                    let idx = intr.export(import.name, ExternalKind::Func);
                    let ok = idx
                        .filter(|&i| i >= intr.imported_funcs)
                        .filter(|&i| intr.func_sig(i).is_some_and(|s| same_sig(s, sig)));
                    let i = ok.ok_or_else(|| {
                        format!("the shim imports intrinsic `{}`, which the intrinsics do not export with that signature", import.name)
                    })?;
                    Target::Intrinsic(i)
                }
                other => {
                    return Err(format!(
                        "the shim imports `{other}.{}`, which wasifs cannot provide",
                        import.name
                    ))
                }
            };
            shim_targets.push(target);
            shim_func += 1;
        }
        debug_assert_eq!(shim_func, shim.imported_funcs);
        if intr.imported_funcs != 0 {
            return Err("the intrinsics import a function".into());
        }

        // Only what the redirected entry points reach goes into the output (see `reach`).
        let shim_to_intr: Vec<Option<u32>> = shim_targets
            .iter()
            .map(|t| match t {
                Target::Intrinsic(i) => Some(*i),
                _ => None,
            })
            .collect();
        let (shim_live, intr_live) = super::reach::reachable(
            shim,
            intr,
            plan.redirects.iter().map(|r| r.shim_func),
            &shim_to_intr,
        )
        .map_err(|e| format!("cannot read the shim's code: {e}"))?;

        // New host imports: those of reachable shim imports not served by a kept app import,
        // one per (name, type), in the shim's import order.
        let mut host_imports: Vec<HostImport> = Vec::new();
        let mut host_of = vec![None; shim_targets.len()];
        for (i, t) in shim_targets.iter().enumerate() {
            if let (Target::Host(name, ty), true) = (t, shim_live[i]) {
                let pos = host_imports
                    .iter()
                    .position(|h| h.name == *name && h.ty == *ty);
                host_of[i] = Some(pos.unwrap_or_else(|| {
                    host_imports.push(HostImport {
                        name: name.to_string(),
                        ty: *ty,
                    });
                    host_imports.len() - 1
                }) as u32);
            }
        }

        // Reachable defined functions, numbered in order; the others are dropped.
        let number = |live: &[bool], first: u32, base: u32| -> (Vec<u32>, u32) {
            let mut next = base;
            let table = live[first as usize..]
                .iter()
                .map(|&l| {
                    if l {
                        next += 1;
                        next - 1
                    } else {
                        DROPPED
                    }
                })
                .collect();
            (table, next - base)
        };
        let hosts = host_imports.len() as u32;
        let app_def_base = kept_funcs + hosts;
        let shim_def_base = app_def_base + app.defined_funcs();
        let (shim_defined, shim_kept) = number(&shim_live, shim.imported_funcs, shim_def_base);
        let intr_def_base = shim_def_base + shim_kept;
        let (intr_func_table, _) = number(&intr_live, 0, intr_def_base);

        let mut shim_func_table: Vec<u32> = Vec::with_capacity(shim.func_types.len());
        for (i, t) in shim_targets.iter().enumerate() {
            shim_func_table.push(match (*t, host_of[i]) {
                _ if !shim_live[i] => DROPPED,
                (Target::Fixed(f), _) => f,
                (Target::Host(..), Some(h)) => kept_funcs + h,
                (Target::Host(..), None) => DROPPED,
                (Target::Intrinsic(i), _) => {
                    intr_func_table.get(i as usize).copied().unwrap_or(DROPPED)
                }
            });
        }
        shim_func_table.extend(shim_defined);

        for (f, slot) in app_func_table.iter_mut().enumerate() {
            let f = f as u32;
            if f >= app.imported_funcs {
                *slot = app_def_base + (f - app.imported_funcs);
            } else if let Some(r) = plan.redirect_of(f) {
                *slot = shim_func_table
                    .get(r.shim_func as usize)
                    .copied()
                    .filter(|&f| f != DROPPED)
                    .ok_or_else(|| format!("shim export `shim_{}` is out of range", r.name))?;
            }
        }

        let none_imported = |n: u32, what: &str| -> Result<(), String> {
            if n == 0 {
                Ok(())
            } else {
                Err(format!("the shim imports a {what}; it must define its own"))
            }
        };
        none_imported(shim.imported_memories, "memory")?;
        none_imported(shim.imported_globals, "global")?;
        none_imported(shim.imported_tables, "table")?;
        none_imported(shim.imported_tags, "tag")?;
        if shim.start.is_some() || intr.start.is_some() {
            return Err("the shim has a start function".into());
        }
        if shim.memories == 0 {
            return Err("the shim defines no memory".into());
        }

        let app_globals = app.globals.len() as u32;
        let shim_globals = shim.globals.len() as u32;
        let shim_memory = app.memories;

        // Intrinsics: memories and globals are imports naming app/shim entities.
        let mut intr_memories = Vec::new();
        let mut intr_globals = Vec::new();
        for import in &intr.imports {
            if import.module != INTRINSICS_LINK_MODULE {
                return Err(format!(
                    "the intrinsics import `{}.{}`",
                    import.module, import.name
                ));
            }
            match (import.name, &import.ty) {
                ("app_memory", TypeRef::Memory(_)) => intr_memories.push(plan.memory),
                ("shim_memory", TypeRef::Memory(_)) => intr_memories.push(shim_memory),
                (name, _) => {
                    return Err(format!(
                        "the intrinsics import unknown entity `wasifs.{name}`"
                    ))
                }
            }
        }
        if intr.memories != intr.imported_memories || intr.tables != 0 || intr.tags != 0 {
            return Err("the intrinsics must define no memories, tables or tags".into());
        }
        intr_globals.extend(
            (intr.imported_globals..intr.globals.len() as u32)
                .map(|g| app_globals + shim_globals + g - intr.imported_globals),
        );
        if intr.data != 1 {
            return Err("the intrinsics must declare exactly one (image) data segment".into());
        }

        // The shim's element segments that would only write nulls are left out (LLVM's tools
        // cannot read the expression form they would need).
        let shim_funcs = IndexMap::Table(shim_func_table);
        let omitted = super::elements::omitted(shim, &shim_funcs)?;
        let mut shim_kept_elems = 0;
        let shim_elems = IndexMap::Table(
            omitted
                .iter()
                .map(|&gone| {
                    if gone {
                        DROPPED
                    } else {
                        shim_kept_elems += 1;
                        app.elements + shim_kept_elems - 1
                    }
                })
                .collect(),
        );

        let data_count = app_data.count + shim.data + 1;
        let image_segment = data_count - 1;
        let shift = |len: u32, by: u32| IndexMap::Shift { len, by };

        Ok(Layout {
            app: Remap {
                types: IndexMap::identity(app.types.len() as u32),
                funcs: IndexMap::Table(app_func_table),
                tables: IndexMap::identity(app.tables),
                memories: IndexMap::identity(app.memories),
                globals: IndexMap::identity(app_globals),
                tags: IndexMap::identity(app.tags),
                elems: IndexMap::identity(app.elements),
                data: app_data.remap.clone(),
            },
            shim: Remap {
                types: IndexMap::Table(shim_types),
                funcs: shim_funcs,
                tables: shift(shim.tables, app.tables),
                memories: shift(shim.memories, app.memories),
                globals: shift(shim_globals, app_globals),
                tags: shift(shim.tags, app.tags),
                elems: shim_elems,
                data: shift(shim.data, app_data.count),
            },
            intrinsics: Remap {
                types: IndexMap::Table(intr_types),
                funcs: IndexMap::Table(intr_func_table),
                tables: IndexMap::identity(0),
                memories: IndexMap::Table(intr_memories),
                globals: IndexMap::Table(intr_globals),
                tags: IndexMap::identity(0),
                elems: shift(intr.elements, app.elements + shim_kept_elems),
                data: IndexMap::Table(vec![image_segment]),
            },
            kept_imports,
            host_imports,
            new_types,
            app_data,
            data_count,
            image_segment,
        })
    }
}

/// The app's function index of its import `wasi_snapshot_preview1.<name>` with signature `sig`.
fn app_import_index(plan: &Plan<'_>, name: &str, sig: &FuncType) -> Option<u32> {
    let app = &plan.app;
    app.imports
        .iter()
        .filter(|i| matches!(i.ty, TypeRef::Func(_) | TypeRef::FuncExact(_)))
        .enumerate()
        .find(|(f, i)| {
            i.module == WASI_P1
                && i.name == name
                && app.func_sig(*f as u32).is_some_and(|s| same_sig(s, sig))
        })
        .map(|(f, _)| f as u32)
}
