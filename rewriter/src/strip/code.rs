//! The app's code bodies given back: call, return_call and ref.func operands mapped to the app's
//! function indices, at the widths the app had.

use super::FuncMap;
use std::collections::HashMap;
use wasm_encoder::Encode;
use wasmparser::{BinaryReader, FunctionBody, Operator};

/// Why the code section could not be given back.
pub(super) enum CodeError {
    /// The merged code section cannot be read.
    Wasm(wasmparser::BinaryReaderError),
    /// A body refers to a function that is not the app's.
    Map(String),
}

impl From<wasmparser::BinaryReaderError> for CodeError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        CodeError::Wasm(e)
    }
}

/// The app's `n` bodies (the first ones) with call, return_call and ref.func operands mapped back,
/// in place at the width the merge left where they fit; and whether every body kept its length.
pub(super) fn code(
    payload: &[u8],
    n: u32,
    app_width: usize,
    funcs: &FuncMap,
    aliases: &HashMap<(u32, u32), u32>,
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
    for body_index in 0..n {
        let size_start = reader.current_position();
        let size = reader.read_var_u32()? as usize;
        let body_start = reader.current_position();
        let body = reader.read_bytes(size)?;
        patches.clear();
        let fb = FunctionBody::new(BinaryReader::new(body, body_start as u64));
        let mut ops = fb.get_operators_reader()?;
        let mut fits = true;
        let mut ordinal = 0;
        while !ops.eof() {
            let at = ops.original_position();
            let old = match ops.read()? {
                Operator::Call { function_index }
                | Operator::ReturnCall { function_index }
                | Operator::RefFunc { function_index } => function_index,
                _ => continue,
            };
            // An app that imported a function twice gets each call site's import back.
            let new = match aliases.get(&(body_index, ordinal)) {
                Some(&f) => f,
                None => funcs.get(old).map_err(CodeError::Map)?,
            };
            ordinal += 1;
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
pub(super) fn leb_fits(v: u32, width: usize) -> bool {
    width >= 5 || u64::from(v) < 1u64 << (7 * width)
}

/// Writes `v` as an unsigned LEB128 of exactly `width` bytes (`v` must fit).
pub(super) fn leb_padded(out: &mut Vec<u8>, mut v: u32, width: usize) {
    for i in 0..width {
        let more = i + 1 < width;
        out.push((v & 0x7f) as u8 | if more { 0x80 } else { 0 });
        v >>= 7;
    }
}
