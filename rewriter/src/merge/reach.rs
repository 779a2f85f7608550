//! Which shim and intrinsics functions the merged module needs: those reachable from the entry
//! points the app now calls. Everything else (entry points the app does not import, helpers only
//! they use, host imports only they call) is left out of the output.
//!
//! A function is reachable if it is a root — an entry point the app calls, a start function, a
//! `ref.func` in a global initialiser or in an element item that cannot be nulled — or if a
//! reachable function refers to it by `call`, `return_call` or `ref.func`, or (for a shim import
//! of an intrinsic) imports it. The tables are handled conservatively: as soon as reachable code
//! of a module reads one of its tables (`call_indirect`, `return_call_indirect`, `table.get`,
//! `table.copy`, `table.init`), every function in that module's active and passive element
//! segments is reachable (a declarative segment only declares what `ref.func` may name).
//! Otherwise element entries of unreachable functions become `ref.null func` in the output
//! (see [`super::layout::Remap`]'s `element_items`), which no kept code can observe.

use super::reader;
use crate::plan::ModuleInfo;
use wasm_encoder::SectionId;
use wasmparser::{ElementItems, ElementSectionReader, GlobalSectionReader, Operator};

/// One module's part of the call graph.
struct Graph {
    /// Functions in element segments, reachable once the module reads a table.
    elem_funcs: Vec<u32>,
    /// Functions that are always reachable (start, global initialisers, element items that
    /// cannot be replaced by a null).
    roots: Vec<u32>,
}

fn ref_funcs(expr: &wasmparser::ConstExpr<'_>, out: &mut Vec<u32>) -> Result<(), String> {
    let mut ops = expr.get_operators_reader();
    while !ops.eof() {
        if let Operator::RefFunc { function_index } = ops.read().map_err(|e| e.to_string())? {
            out.push(function_index);
        }
    }
    Ok(())
}

/// Whether a const expression is exactly `ref.func f` (then `Some(f)`).
pub(crate) fn lone_ref_func(expr: &wasmparser::ConstExpr<'_>) -> Option<u32> {
    let mut ops = expr.get_operators_reader();
    let f = match ops.read().ok()? {
        Operator::RefFunc { function_index } => function_index,
        _ => return None,
    };
    matches!(ops.read().ok()?, Operator::End).then_some(())?;
    ops.eof().then_some(f)
}

fn graph(m: &ModuleInfo<'_>) -> Result<Graph, String> {
    let mut g = Graph {
        elem_funcs: Vec::new(),
        roots: m.start.into_iter().collect(),
    };
    if let Some(r) = reader(m, SectionId::Global) {
        for global in GlobalSectionReader::new(r).map_err(|e| e.to_string())? {
            let global = global.map_err(|e| e.to_string())?;
            ref_funcs(&global.init_expr, &mut g.roots)?;
        }
    }
    if let Some(r) = reader(m, SectionId::Element) {
        for elem in ElementSectionReader::new(r).map_err(|e| e.to_string())? {
            let elem = elem.map_err(|e| e.to_string())?;
            if let wasmparser::ElementKind::Active { offset_expr, .. } = &elem.kind {
                ref_funcs(offset_expr, &mut g.roots)?;
            }
            // A declarative segment never reaches a table: its functions are reachable only by
            // a `ref.func`, which the walk follows.
            let declared = matches!(elem.kind, wasmparser::ElementKind::Declared);
            match elem.items {
                ElementItems::Functions(fs) => {
                    for f in fs {
                        let f = f.map_err(|e| e.to_string())?;
                        if !declared {
                            g.elem_funcs.push(f);
                        }
                    }
                }
                ElementItems::Expressions(ty, exprs) => {
                    for expr in exprs {
                        let expr = expr.map_err(|e| e.to_string())?;
                        // A lone `ref.func` can become `ref.null` in a nullable segment; any
                        // other expression keeps every function it names.
                        match lone_ref_func(&expr) {
                            Some(_) if ty.is_nullable() && declared => {}
                            Some(f) if ty.is_nullable() => g.elem_funcs.push(f),
                            _ => ref_funcs(&expr, &mut g.roots)?,
                        }
                    }
                }
            }
        }
    }
    Ok(g)
}

/// The reachable functions of the shim and of the intrinsics (imports included, by function index).
///
/// `roots` are shim function indices; `shim_to_intr[i]` is the intrinsics function that shim
/// import `i` resolves to, if it resolves to one.
pub fn reachable(
    shim: &ModuleInfo<'_>,
    intr: &ModuleInfo<'_>,
    roots: impl IntoIterator<Item = u32>,
    shim_to_intr: &[Option<u32>],
) -> Result<(Vec<bool>, Vec<bool>), String> {
    let modules = [shim, intr];
    let graphs = [graph(shim)?, graph(intr)?];
    let mut live: [Vec<bool>; 2] = [
        vec![false; shim.func_types.len()],
        vec![false; intr.func_types.len()],
    ];
    let mut table_read = [false; 2];
    let mut work: Vec<(usize, u32)> = roots.into_iter().map(|f| (0, f)).collect();
    for (m, g) in graphs.iter().enumerate() {
        work.extend(g.roots.iter().map(|&f| (m, f)));
    }
    while let Some((m, f)) = work.pop() {
        match live[m].get_mut(f as usize) {
            Some(l) if !*l => *l = true,
            // Already seen, or out of range (re-encoding reports the latter).
            _ => continue,
        }
        let module = modules[m];
        if f < module.imported_funcs {
            if m == 0 {
                if let Some(Some(i)) = shim_to_intr.get(f as usize) {
                    work.push((1, *i));
                }
            }
            continue;
        }
        let Some(body) = module.bodies.get((f - module.imported_funcs) as usize) else {
            continue;
        };
        let mut ops = body.get_operators_reader().map_err(|e| e.to_string())?;
        let mut reads_table = false;
        while !ops.eof() {
            match ops.read().map_err(|e| e.to_string())? {
                Operator::Call { function_index }
                | Operator::ReturnCall { function_index }
                | Operator::RefFunc { function_index } => work.push((m, function_index)),
                Operator::CallIndirect { .. }
                | Operator::ReturnCallIndirect { .. }
                | Operator::TableGet { .. }
                | Operator::TableCopy { .. }
                | Operator::TableInit { .. } => reads_table = true,
                _ => {}
            }
        }
        if reads_table && !table_read[m] {
            table_read[m] = true;
            work.extend(graphs[m].elem_funcs.iter().map(|&f| (m, f)));
        }
    }
    let [shim_live, intr_live] = live;
    Ok((shim_live, intr_live))
}
