//! The app's data segments in the output: as they are, or, when the output would hold more than engines accept (Go's linker emits up to exactly that many), neighbours joined into one.

use super::error::MergeError;
use super::layout::{IndexMap, DROPPED};
use super::reader;
use crate::plan::ModuleInfo;
use wasm_encoder::{ConstExpr, DataSection, SectionId};
use wasmparser::{DataKind, Operator};

/// Most data segments a module may have: wasmparser's limit, and the JS API's (browsers, Node).
pub const MAX_SEGMENTS: u32 = 100_000;
/// Largest gap joined (written as zeros): the output grows by at most this much a join, and an
/// output over the limit holds at most the shim's and the image's segments too many.
const MAX_GAP: u64 = 64 * 1024;

/// The app's data segments as the output holds them.
#[derive(Debug, Clone)]
pub struct AppData {
    /// How many there are.
    pub count: u32,
    /// Their entries (without the count), re-encoded, when some were joined; `None`: the app's
    /// data section goes into the output as it is.
    pub joined: Option<Vec<u8>>,
    /// Where each app segment went (a joined segment's followers are dropped).
    pub remap: IndexMap,
}

/// One app segment, as far as joining it goes.
struct Segment<'a> {
    /// Where an active segment at a constant offset goes; `None` for any other.
    placed: Option<Placed>,
    /// Whether its offset is constant (a passive segment's: yes, it has none).
    known: bool,
    data: &'a [u8],
    /// Its bytes in the app's data section.
    raw: &'a [u8],
}

/// Where an active segment at a constant offset goes.
#[derive(Clone, Copy)]
struct Placed {
    memory: u32,
    start: u64,
    end: u64,
    /// Its offset is an `i64.const` (a 64-bit memory).
    wide: bool,
}

/// The app's segments for an output that holds `others` more (the shim's and the image): joined
/// where they would pass [`MAX_SEGMENTS`], by as few joins as needed over the smallest gaps (a gap
/// is written as zeros, so only one that no other segment writes, in a memory the module defines).
pub fn app_data(app: &ModuleInfo<'_>, others: u32) -> Result<AppData, MergeError> {
    let as_is = AppData {
        count: app.data,
        joined: None,
        remap: IndexMap::identity(app.data),
    };
    let excess = app.data.saturating_add(others).saturating_sub(MAX_SEGMENTS);
    let Some(section) = reader(app, SectionId::Data).filter(|_| excess > 0) else {
        return Ok(as_is);
    };
    let section = wasmparser::DataSectionReader::new(section).map_err(MergeError::Invalid)?;
    let segments = section
        .into_iter()
        .map(|data| segment(app, data.map_err(MergeError::Invalid)?))
        .collect::<Result<Vec<_>, _>>()?;
    let first_free = first_unreferenced(app)?;
    let mut gaps = joinable(&segments, app, first_free);
    if (gaps.len() as u64) < u64::from(excess) {
        return Err(MergeError::TooManySegments {
            have: app.data,
            room: MAX_SEGMENTS.saturating_sub(others),
        });
    }
    gaps.sort_unstable();
    let mut joins = vec![false; segments.len()];
    for &(_, i) in &gaps[..excess as usize] {
        joins[i] = true;
    }
    Ok(join(&segments, &joins))
}

/// What joining needs to know of `data`, one of `app`'s segments.
fn segment<'a>(
    app: &ModuleInfo<'a>,
    data: wasmparser::Data<'a>,
) -> Result<Segment<'a>, MergeError> {
    let raw = app
        .bytes
        .get(data.range.start as usize..data.range.end as usize)
        .ok_or(MergeError::OutOfRange("data segment"))?;
    let (placed, known) = match &data.kind {
        DataKind::Passive => (None, true),
        DataKind::Active {
            memory_index,
            offset_expr,
        } => match constant(offset_expr) {
            Some((start, wide)) => {
                let placed = Placed {
                    memory: *memory_index,
                    start,
                    end: start.saturating_add(data.data.len() as u64),
                    wide,
                };
                (Some(placed), true)
            }
            None => (None, false),
        },
    };
    Ok(Segment {
        placed,
        known,
        data: data.data,
        raw,
    })
}

/// The offset of a constant `i32.const` or `i64.const` expression, and whether it is the latter.
fn constant(expr: &wasmparser::ConstExpr<'_>) -> Option<(u64, bool)> {
    let mut ops = expr.get_operators_reader();
    let at = match ops.read().ok()? {
        Operator::I32Const { value } => (u64::from(value as u32), false),
        Operator::I64Const { value } => (value as u64, true),
        _ => return None,
    };
    matches!(ops.read().ok()?, Operator::End).then_some(at)
}

/// The first segment index that no `memory.init` or `data.drop` of the app names: renumbering
/// from there on changes no instruction (without a data count section there are none).
fn first_unreferenced(app: &ModuleInfo<'_>) -> Result<u32, MergeError> {
    let has_count = app
        .sections
        .iter()
        .any(|s| s.id == u8::from(SectionId::DataCount));
    let Some(code) = reader(app, SectionId::Code).filter(|_| has_count) else {
        return Ok(0);
    };
    let mut first = 0;
    for body in wasmparser::CodeSectionReader::new(code).map_err(MergeError::Invalid)? {
        let body = body.map_err(MergeError::Invalid)?;
        let mut ops = body.get_operators_reader().map_err(MergeError::Invalid)?;
        while !ops.eof() {
            match ops.read().map_err(MergeError::Invalid)? {
                Operator::MemoryInit { data_index: d, .. }
                | Operator::DataDrop { data_index: d } => {
                    first = first.max(d.saturating_add(1));
                }
                _ => {}
            }
        }
    }
    Ok(first)
}

/// The boundaries where segment `i` may absorb segment `i + 1` (both active at constant offsets
/// in one memory, `i + 1` starting where `i` ends or at most [`MAX_GAP`] later, and both at or
/// after `first_free`), with the size of the gap between them: a gap must be in a memory the
/// module defines (zeros to begin with) and hold no other segment's bytes, nor may a segment at an
/// unknown offset exist.
fn joinable(segments: &[Segment<'_>], app: &ModuleInfo<'_>, first_free: u32) -> Vec<(u64, usize)> {
    let unknown = segments.iter().any(|s| !s.known);
    // Every placed segment by memory and start, with the furthest end up to each one.
    let mut spans: Vec<(u32, u64, u64)> = segments
        .iter()
        .filter_map(|s| s.placed.map(|p| (p.memory, p.start, p.end)))
        .collect();
    spans.sort_unstable();
    let mut reach = Vec::with_capacity(spans.len());
    let mut furthest = (u32::MAX, 0);
    for &(m, _, end) in &spans {
        furthest = match furthest.0 == m {
            true => (m, furthest.1.max(end)),
            false => (m, end),
        };
        reach.push(furthest.1);
    }
    // Whether any segment has bytes in `start..end` of memory `m`.
    let written = |m: u32, start: u64, end: u64| {
        let before_end = spans.partition_point(|&(sm, s, _)| (sm, s) < (m, end));
        let from_memory = spans.partition_point(|&(sm, _, _)| sm < m);
        before_end > from_memory && reach[before_end - 1] > start
    };
    let mut out = Vec::new();
    for (i, pair) in segments.windows(2).enumerate().skip(first_free as usize) {
        let (Some(a), Some(b)) = (pair[0].placed, pair[1].placed) else {
            continue;
        };
        if a.memory != b.memory || a.wide != b.wide || b.start < a.end {
            continue;
        }
        let gap = b.start - a.end;
        let zeros = a.memory >= app.imported_memories && !unknown && gap <= MAX_GAP;
        if gap == 0 || (zeros && !written(a.memory, a.end, b.start)) {
            out.push((gap, i));
        }
    }
    out
}

/// The segments, each one whose `joins` is set followed by the next one in a single segment (the
/// gap between them zeros).
fn join(segments: &[Segment<'_>], joins: &[bool]) -> AppData {
    let joined = |k: usize| joins.get(k) == Some(&true);
    let mut entries = Vec::new();
    let mut table = Vec::with_capacity(segments.len());
    let mut count = 0u32;
    let mut i = 0;
    while let Some(s) = segments.get(i) {
        table.push(count);
        count += 1;
        let Some(first) = s.placed.filter(|_| joined(i)) else {
            entries.extend_from_slice(s.raw);
            i += 1;
            continue;
        };
        let mut bytes = s.data.to_vec();
        while let (true, Some(next)) = (joined(i), segments.get(i + 1)) {
            let at = next
                .placed
                .map_or(bytes.len() as u64, |p| p.start.saturating_sub(first.start));
            bytes.resize(at as usize, 0);
            bytes.extend_from_slice(next.data);
            table.push(DROPPED);
            i += 1;
        }
        let offset = match first.wide {
            true => ConstExpr::i64_const(first.start as i64),
            false => ConstExpr::i32_const(first.start as u32 as i32),
        };
        let mut one = DataSection::new();
        one.active(first.memory, &offset, bytes);
        entries.extend_from_slice(&super::entries(&one));
        i += 1;
    }
    AppData {
        count,
        joined: Some(entries),
        remap: IndexMap::Table(table),
    }
}

#[cfg(test)]
mod tests;
