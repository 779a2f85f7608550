//! Encodes the code section: app bodies patched in place, then the shim's and intrinsics' bodies.

use super::dwarf::AddressMap;
use super::error::MergeError;
use super::layout::{IndexMap, Remap};
use super::leb;
use crate::plan::ModuleInfo;
use wasm_encoder::reencode::Reencode;
use wasm_encoder::SectionId;
use wasmparser::{
    BinaryReader, FunctionBody, OperatorsReaderAllocations, VisitOperator, VisitSimdOperator,
};

/// The encoded code section payload.
pub struct Code {
    /// The section payload: function count then bodies.
    pub payload: Vec<u8>,
    /// Whether every app body kept its offset and length (so DWARF stays valid as it is).
    pub same_layout: bool,
    /// Where each code offset of the app's bodies went (for rewriting DWARF).
    pub addresses: AddressMap,
}

/// A function-index operand to rewrite: its byte range in the body and the new index.
#[derive(Clone, Copy)]
struct Patch {
    start: usize,
    end: usize,
    index: u32,
}

impl Patch {
    /// How many bytes longer the operand gets: 0 when the new index fits its old width.
    fn growth(&self) -> usize {
        let width = self.end - self.start;
        if leb::fits(self.index, width) {
            0
        } else {
            leb::len(self.index) - width
        }
    }
}

/// Visits an operator for what the patching needs: the function index of a `call`,
/// `return_call` or `ref.func`, `None` for any other (cheaper than building every [`Operator`]).
///
/// [`Operator`]: wasmparser::Operator
struct FuncRef;

macro_rules! func_ref {
    (@yields visit_call $index:ident) => { Some($index) };
    (@yields visit_return_call $index:ident) => { Some($index) };
    (@yields visit_ref_func $index:ident) => { Some($index) };
    (@yields $visit:ident $($arg:ident)*) => { None };
    ($(@$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        $(
            #[allow(unused_variables)]
            fn $visit(&mut self $($(,$arg: $argty)*)?) -> Option<u32> {
                func_ref!(@yields $visit $($($arg)*)?)
            }
        )*
    };
}

impl<'a> VisitOperator<'a> for FuncRef {
    type Output = Option<u32>;

    fn simd_visitor(&mut self) -> Option<&mut dyn VisitSimdOperator<'a, Output = Self::Output>> {
        Some(self)
    }

    wasmparser::for_each_visit_operator!(func_ref);
}

impl VisitSimdOperator<'_> for FuncRef {
    wasmparser::for_each_visit_simd_operator!(func_ref);
}

/// Fewest app bodies patched on two threads (fewer: on one, as `module::validate_bodies` does).
const PARALLEL_BODIES: usize = 1024;

/// App bodies patched: where code offsets went (the old one in the code section's payload, the
/// new one in the buffer they were appended to), and whether each kept its offset and length.
struct Patched {
    points: Vec<(usize, usize)>,
    same_layout: bool,
}

/// Appends the app's `bodies` (each a range of the code section's `payload`, which starts at
/// `offset` in the module: its size, then its body) to `out` with call/return_call/ref.func
/// operands remapped by `funcs`.
fn patch_bodies(
    payload: &[u8],
    offset: usize,
    bodies: &[std::ops::Range<usize>],
    funcs: &IndexMap,
    out: &mut Vec<u8>,
) -> Result<Patched, MergeError> {
    let mut done = Patched {
        points: Vec::new(),
        same_layout: true,
    };
    let mut patches: Vec<Patch> = Vec::new();
    let mut allocs = OperatorsReaderAllocations::default();
    for range in bodies {
        let mut reader = BinaryReader::new(&payload[range.clone()], (offset + range.start) as u64);
        let size_start = range.start;
        let size = reader.read_var_u32()? as usize;
        let body_start = range.start + reader.current_position();
        let body_pos = reader.original_position();
        let body_bytes = reader.read_bytes(size)?;
        let size_bytes = &payload[size_start..body_start];

        patches.clear();
        let body = FunctionBody::new(BinaryReader::new(body_bytes, body_pos));
        let ops = body.get_binary_reader_for_operators()?;
        let mut ops = wasmparser::OperatorsReader::new_with_allocs(ops, allocs);
        let mut fits = true;
        while !ops.eof() {
            let at = ops.original_position();
            let Some(old) = ops.visit_operator(&mut FuncRef)? else {
                continue;
            };
            let new = funcs.get(old).ok_or(MergeError::Unmapped { func: old })?;
            let start = (at - body_pos) as usize + 1;
            let end = (ops.original_position() - body_pos) as usize;
            if new != old {
                fits &= leb::fits(new, end - start);
                patches.push(Patch {
                    start,
                    end,
                    index: new,
                });
            }
        }
        allocs = ops.into_allocations();

        done.points.push((size_start, out.len()));
        if fits {
            out.extend_from_slice(size_bytes);
            let base = out.len();
            out.extend_from_slice(body_bytes);
            for p in &patches {
                leb::overwrite_padded(&mut out[base + p.start..base + p.end], p.index);
            }
        } else {
            // Spliced straight into `out`: the new size first, from what each operand grows by.
            done.same_layout = false;
            let grown: usize = patches.iter().map(Patch::growth).sum();
            leb::write(out, (body_bytes.len() + grown) as u32);
            let base = out.len();
            done.points.push((body_start, base));
            let mut at = 0;
            for p in &patches {
                out.extend_from_slice(&body_bytes[at..p.start]);
                if leb::fits(p.index, p.end - p.start) {
                    leb::write_padded(out, p.index, p.end - p.start);
                } else {
                    leb::write(out, p.index);
                    done.points.push((body_start + p.end, out.len()));
                }
                at = p.end;
            }
            out.extend_from_slice(&body_bytes[at..]);
            debug_assert_eq!(out.len() - base, body_bytes.len() + grown);
        }
    }
    Ok(done)
}

/// Copies the app's bodies with call/return_call/ref.func operands remapped by `funcs`, then
/// appends the re-encoded `extra` bodies (shim, then intrinsics) of the functions their remap
/// keeps (unreachable ones are dropped).
pub fn encode(
    app: &ModuleInfo<'_>,
    funcs: &IndexMap,
    extra: &mut [(&ModuleInfo<'_>, &mut Remap)],
) -> Result<Code, MergeError> {
    let mut extra_code = wasm_encoder::CodeSection::new();
    for (module, remap) in extra.iter_mut() {
        for (d, body) in module.bodies.iter().enumerate() {
            if remap.funcs.get(module.imported_funcs + d as u32).is_none() {
                continue;
            }
            remap
                .parse_function_body(&mut extra_code, body.clone())
                .map_err(|e| MergeError::Reencode {
                    section: SectionId::Code,
                    message: e.to_string(),
                })?;
        }
    }
    let extra_count = extra_code.len() as usize;
    let extra_bytes = super::entries(&extra_code);

    let (payload, offset) = match &app.code {
        Some(r) => (&app.bytes[r.clone()], r.start),
        None => (&[][..], 0),
    };
    let mut out = Vec::with_capacity(payload.len() + extra_bytes.len() + 16);
    let mut reader = BinaryReader::new(payload, offset as u64);
    let (app_count, count_width) = if payload.is_empty() {
        (0, 0)
    } else {
        let count = reader.read_var_u32()?;
        (count, reader.current_position())
    };
    let total = app_count as usize + extra_count;
    let total = u32::try_from(total).map_err(|_| MergeError::Reencode {
        section: SectionId::Code,
        message: "too many functions".into(),
    })?;
    let mut same_layout = if count_width > 0 && leb::fits(total, count_width) {
        leb::write_padded(&mut out, total, count_width);
        true
    } else {
        leb::write(&mut out, total);
        count_width == 0
    };

    // Where each body starts (its size's first byte) and ends, read ahead: the bodies are then
    // patched in two halves side by side when there are many.
    let mut bodies = Vec::with_capacity(app_count as usize);
    for _ in 0..app_count {
        let start = reader.current_position();
        let size = reader.read_var_u32()? as usize;
        let _ = reader.read_bytes(size)?;
        bodies.push(start..reader.current_position());
    }
    // The first half goes straight into `out`; the second, patched meanwhile into a buffer of
    // its own, is appended after it.
    let cut = match bodies.len() >= PARALLEL_BODIES {
        true => bodies.partition_point(|b| b.start < payload.len() / 2),
        false => bodies.len(),
    };
    let (first, second) = bodies.split_at(cut);
    let (first, second) = std::thread::scope(|s| {
        let second = (!second.is_empty()).then(|| {
            s.spawn(|| {
                let mut tail = Vec::with_capacity(payload.len() / 2);
                patch_bodies(payload, offset, second, funcs, &mut tail).map(|p| (p, tail))
            })
        });
        let first = patch_bodies(payload, offset, first, funcs, &mut out);
        let second = second.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (first, second)
    });
    let mut addresses = AddressMap::new();
    addresses.push(0, 0);
    let first = first?;
    same_layout &= first.same_layout;
    for (old, new) in first.points {
        addresses.push(old, new);
    }
    if let Some(second) = second {
        let (second, tail) = second?;
        same_layout &= second.same_layout;
        let base = out.len();
        for (old, new) in second.points {
            addresses.push(old, base + new);
        }
        out.extend_from_slice(&tail);
    }
    if !reader.eof() {
        return Err(MergeError::TrailingCode {
            offset: reader.original_position(),
        });
    }
    addresses.push(payload.len(), out.len());
    out.extend_from_slice(&extra_bytes);
    if app_count == 0 {
        same_layout = true;
    }
    Ok(Code {
        payload: out,
        same_layout,
        addresses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A code section payload of `n` bodies, body `i` calling functions `i % 200` and `i % 7`.
    fn payload(n: u32) -> Vec<u8> {
        let mut code = wasm_encoder::CodeSection::new();
        for i in 0..n {
            let mut f = wasm_encoder::Function::new([]);
            f.instructions()
                .call(i % 200)
                .call(i % 7)
                .ref_func(i % 3)
                .drop()
                .end();
            code.function(&f);
        }
        let mut out = Vec::new();
        leb::write(&mut out, n);
        out.extend_from_slice(&crate::merge::entries(&code));
        out
    }

    #[test]
    fn bodies_patched_in_two_halves_match_one_pass_and_map_the_same_addresses() {
        let bytes = payload(1500);
        let mut r = BinaryReader::new(&bytes, 0);
        let n = r.read_var_u32().unwrap();
        let bodies: Vec<_> = (0..n)
            .map(|_| {
                let start = r.current_position();
                let size = r.read_var_u32().unwrap() as usize;
                r.read_bytes(size).unwrap();
                start..r.current_position()
            })
            .collect();
        // Indices from 100 up move past 127: their operands grow from one byte to two.
        for (funcs, same) in [
            (IndexMap::Shift { len: 1500, by: 60 }, false),
            (IndexMap::Shift { len: 1500, by: 0 }, true),
        ] {
            let mut whole_out = Vec::new();
            let whole = patch_bodies(&bytes, 9, &bodies, &funcs, &mut whole_out).unwrap();
            let (a, b) = bodies.split_at(700);
            let (mut first_out, mut second_out) = (Vec::new(), Vec::new());
            let first = patch_bodies(&bytes, 9, a, &funcs, &mut first_out).unwrap();
            let second = patch_bodies(&bytes, 9, b, &funcs, &mut second_out).unwrap();
            assert_eq!(whole_out, [first_out.clone(), second_out].concat());
            let shifted = second.points.iter().map(|&(o, n)| (o, n + first_out.len()));
            let points: Vec<_> = first.points.iter().copied().chain(shifted).collect();
            assert_eq!(whole.points, points);
            assert_eq!(whole.same_layout, same);
            assert_eq!(first.same_layout && second.same_layout, same);
        }
    }
}
