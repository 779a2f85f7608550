//! Element segments in the output: which of the shim's change nothing and are left out, and
//! how the kept ones are encoded (function-index form where possible, the one LLVM's tools read).

use super::layout::{IndexMap, Remap, Unmapped};
use crate::plan::ModuleInfo;
use wasm_encoder::reencode::{Error as ReencodeError, Reencode};
use wasm_encoder::SectionId;

/// Which of `m`'s element segments change nothing once the functions `funcs` drops are nulls:
/// declarative segments whose every item is null, and active ones whose every item is null at a
/// constant offset inside the initial size of a table that starts out null and that no earlier
/// segment of `m` writes. Leaving them out keeps the output free of expression-form segments
/// that only write nulls.
pub(super) fn omitted(m: &ModuleInfo<'_>, funcs: &IndexMap) -> Result<Vec<bool>, String> {
    use wasmparser::{ElementItems, ElementKind, Operator, TableInit};
    let bad = |e: wasmparser::BinaryReaderError| format!("the shim's tables or elements: {e}");
    // Per defined table: (initial size, starts null, written by an earlier segment).
    let mut tables: Vec<(u64, bool, bool)> = Vec::new();
    if let Some(r) = super::reader(m, SectionId::Table) {
        for t in wasmparser::TableSectionReader::new(r).map_err(bad)? {
            let t = t.map_err(bad)?;
            let null_init = matches!(t.init, TableInit::RefNull) && t.ty.element_type.is_nullable();
            tables.push((t.ty.initial, null_init, false));
        }
    }
    let mut out = Vec::new();
    let Some(r) = super::reader(m, SectionId::Element) else {
        return Ok(out);
    };
    for element in wasmparser::ElementSectionReader::new(r).map_err(bad)? {
        let element = element.map_err(bad)?;
        let (count, all_null) = match element.items {
            ElementItems::Functions(fs) => {
                let count = fs.count();
                let mut all = true;
                for f in fs {
                    all &= funcs.is_dropped(f.map_err(bad)?);
                }
                (count, all)
            }
            ElementItems::Expressions(ty, es) => {
                let count = es.count();
                let mut all = ty.is_nullable();
                for e in es {
                    let e = e.map_err(bad)?;
                    let mut ops = e.get_operators_reader();
                    all &= match ops.read().map_err(bad)? {
                        Operator::RefNull { .. } => true,
                        Operator::RefFunc { function_index } => funcs.is_dropped(function_index),
                        _ => false,
                    } && matches!(ops.read(), Ok(Operator::End))
                        && ops.eof();
                }
                (count, all)
            }
        };
        let (table_index, offset_expr) = match &element.kind {
            ElementKind::Active {
                table_index,
                offset_expr,
            } => (table_index, offset_expr),
            // A declarative segment only declares functions for `ref.func`: with none left it
            // declares nothing.
            ElementKind::Declared => {
                out.push(all_null);
                continue;
            }
            ElementKind::Passive => {
                out.push(false);
                continue;
            }
        };
        let table = table_index.unwrap_or(0).checked_sub(m.imported_tables);
        let table = table.and_then(|t| tables.get_mut(t as usize));
        let mut ops = offset_expr.get_operators_reader();
        let offset = match (ops.read(), ops.read()) {
            (Ok(Operator::I32Const { value }), Ok(Operator::End)) if ops.eof() => {
                Some(u64::from(value as u32))
            }
            _ => None,
        };
        let Some(table) = table else {
            out.push(false);
            continue;
        };
        let in_bounds = offset.is_some_and(|o| o + u64::from(count) <= table.0);
        out.push(all_null && in_bounds && table.1 && !table.2);
        table.2 = true;
    }
    Ok(out)
}

/// Re-encodes an element section with `remap`, leaving out the segments [`omitted`] chose.
pub(super) fn section(
    remap: &mut Remap,
    elements: &mut wasm_encoder::ElementSection,
    section: wasmparser::ElementSectionReader<'_>,
) -> Result<(), ReencodeError<Unmapped>> {
    for (i, element) in section.into_iter().enumerate() {
        let element = element?;
        if remap.elems.is_dropped(i as u32) {
            continue;
        }
        let items = remap.element_items(element.items)?;
        match element.kind {
            // Table 0 is left implicit (flags 0 or 4): LLVM 14's tools refuse the explicit
            // form with function indices.
            wasmparser::ElementKind::Active {
                table_index,
                offset_expr,
            } => {
                let table = remap.table_index(table_index.unwrap_or(0))?;
                let offset = remap.const_expr(offset_expr)?;
                elements.active((table != 0).then_some(table), &offset, items);
            }
            wasmparser::ElementKind::Passive => {
                elements.passive(items);
            }
            wasmparser::ElementKind::Declared => {
                elements.declared(items);
            }
        }
    }
    Ok(())
}

/// Element items remapped, with dropped functions (unreachable shim functions, see `reach`) turned into
/// `ref.null func`: no kept code reads the table they would go in. Items that are all kept
/// functions use the function-index form, the one LLVM's tools (14, 16) can read.
pub(super) fn items<'a>(
    remap: &mut Remap,
    items: wasmparser::ElementItems<'a>,
) -> Result<wasm_encoder::Elements<'a>, ReencodeError<Unmapped>> {
    use wasm_encoder::{ConstExpr, Elements, HeapType, RefType};
    let null = || ConstExpr::ref_null(HeapType::FUNC);
    match items {
        wasmparser::ElementItems::Functions(fs) => {
            let fs = fs.into_iter().collect::<Result<Vec<u32>, _>>()?;
            if !fs.iter().any(|&f| remap.funcs.is_dropped(f)) {
                let mapped = fs.iter().map(|&f| remap.function_index(f));
                return Ok(Elements::Functions(
                    mapped.collect::<Result<Vec<_>, _>>()?.into(),
                ));
            }
            let mut exprs = Vec::with_capacity(fs.len());
            for f in fs {
                exprs.push(if remap.funcs.is_dropped(f) {
                    null()
                } else {
                    ConstExpr::ref_func(remap.function_index(f)?)
                });
            }
            Ok(Elements::Expressions(RefType::FUNCREF, exprs.into()))
        }
        wasmparser::ElementItems::Expressions(ty, es) => {
            let out_ty = remap.ref_type(ty)?;
            if out_ty == RefType::FUNCREF {
                let funcs: Option<Vec<u32>> = es
                    .clone()
                    .into_iter()
                    .map(|e| {
                        let f = super::reach::lone_ref_func(&e.ok()?)?;
                        remap.funcs.get(f)
                    })
                    .collect();
                if let Some(funcs) = funcs {
                    return Ok(Elements::Functions(funcs.into()));
                }
            }
            let mut exprs = Vec::new();
            for e in es {
                let e = e?;
                exprs.push(match super::reach::lone_ref_func(&e) {
                    Some(f) if ty.is_nullable() && remap.funcs.is_dropped(f) => {
                        ConstExpr::ref_null(out_ty.heap_type)
                    }
                    _ => remap.const_expr(e)?,
                });
            }
            Ok(Elements::Expressions(out_ty, exprs.into()))
        }
    }
}
