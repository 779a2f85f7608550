//! An oracle for DWARF rewrites: where each instruction of a module is, and what its DWARF says.
//!
//! The merge changes operands, never the instructions: the k-th instruction of app function i
//! is the k-th instruction of function i in the output. So a DWARF address of the input names
//! (function, instruction), and the output must say the same thing about that instruction at
//! its new offset — found here by walking both modules with wasmparser, independently of the
//! rewriter's own address map.

use gimli::{EndianSlice, LittleEndian};
use std::collections::HashMap;
use wasmparser::{Parser, Payload};

/// A place in a function that DWARF can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Place {
    /// The function's size field (where `DW_AT_low_pc` points).
    Start,
    /// A byte of the locals declaration, after the size field.
    Locals(u64),
    /// The start of the k-th instruction.
    Op(usize),
    /// One past the function's last byte.
    End,
}

/// The code-section offsets of every place of the first `n` defined functions of a module.
pub struct Places {
    /// Per function: size-field start, locals start, instruction starts, end.
    funcs: Vec<(u64, u64, Vec<u64>, u64)>,
}

impl Places {
    pub fn of(bytes: &[u8], n: usize) -> Places {
        let mut code_start = 0u64;
        let mut next = 0u64;
        let mut funcs = Vec::new();
        for payload in Parser::new(0).parse_all(bytes) {
            match payload.expect("module parses") {
                Payload::CodeSectionStart {
                    unchecked_range: range,
                    count,
                    ..
                } => {
                    code_start = range.start;
                    let payload = &bytes[range.start as usize..range.end as usize];
                    let mut r = wasmparser::BinaryReader::new(payload, 0);
                    assert_eq!(r.read_var_u32().expect("count"), count);
                    next = r.current_position() as u64;
                }
                Payload::CodeSectionEntry(body) if funcs.len() < n => {
                    let range = body.range();
                    let mut ops = body.get_operators_reader().expect("operators");
                    let mut starts = Vec::new();
                    while !ops.eof() {
                        starts.push(ops.original_position() - code_start);
                        ops.read().expect("operator");
                    }
                    let end = range.end - code_start;
                    funcs.push((next, range.start - code_start, starts, end));
                    next = end;
                }
                Payload::CodeSectionEntry(body) => next = body.range().end - code_start,
                _ => {}
            }
        }
        assert_eq!(funcs.len(), n, "the module has {n} defined functions");
        Places { funcs }
    }

    /// The (function, place) at code offset `addr`; `None` if no place is there.
    pub fn at(&self, addr: u64) -> Option<(usize, Place)> {
        let i = self.funcs.partition_point(|f| f.0 <= addr).checked_sub(1)?;
        let (start, locals, ops, end) = &self.funcs[i];
        if addr == *start {
            Some((i, Place::Start))
        } else if let Ok(k) = ops.binary_search(&addr) {
            Some((i, Place::Op(k)))
        } else if addr == *end {
            Some((i, Place::End))
        } else if addr >= *locals && ops.first().is_some_and(|&o| addr < o) {
            Some((i, Place::Locals(addr - locals)))
        } else {
            None
        }
    }

    /// The code offset of `place` in function `i`.
    pub fn offset(&self, i: usize, place: Place) -> u64 {
        let (start, locals, ops, end) = &self.funcs[i];
        match place {
            Place::Start => *start,
            Place::Locals(d) => locals + d,
            Place::Op(k) => ops[k],
            Place::End => *end,
        }
    }

    /// Every instruction start of function `i`, and its end.
    pub fn ops(&self, i: usize) -> (&[u64], u64) {
        (&self.funcs[i].2, self.funcs[i].3)
    }

    /// Where input offset `addr` (a place of `self`) is in `to`.
    pub fn moved(&self, to: &Places, addr: u64) -> u64 {
        let (i, place) = self
            .at(addr)
            .unwrap_or_else(|| panic!("DWARF address {addr:#x} is at no instruction"));
        to.offset(i, place)
    }
}

type Dwarf<'a> = gimli::Dwarf<EndianSlice<'a, LittleEndian>>;

/// The module's DWARF, read by gimli.
pub fn dwarf(bytes: &[u8]) -> Dwarf<'_> {
    let mut sections: HashMap<String, &[u8]> = HashMap::new();
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::CustomSection(c) = payload.expect("module parses") {
            sections.insert(c.name().to_string(), c.data());
        }
    }
    gimli::Dwarf::load(|id| {
        let data = sections.get(id.name()).copied().unwrap_or(&[]);
        Ok::<_, gimli::Error>(EndianSlice::new(data, LittleEndian))
    })
    .expect("DWARF loads")
}

/// One row of a line table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Row {
    pub addr: u64,
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub end_sequence: bool,
}

/// Every row of every line table of the module.
pub fn line_rows(bytes: &[u8]) -> Vec<Row> {
    let dwarf = dwarf(bytes);
    let mut out = Vec::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next().expect("unit header") {
        let unit = dwarf.unit(header).expect("unit");
        let Some(program) = unit.line_program.clone() else {
            continue;
        };
        let mut rows = program.rows();
        while let Some((header, row)) = rows.next_row().expect("row") {
            let file = row
                .file(header)
                .map(|f| {
                    let name = dwarf.attr_string(&unit, f.path_name()).expect("file name");
                    name.to_string_lossy().into_owned()
                })
                .unwrap_or_default();
            out.push(Row {
                addr: row.address(),
                file,
                line: row.line().map_or(0, |l| l.get()),
                column: match row.column() {
                    gimli::ColumnType::LeftEdge => 0,
                    gimli::ColumnType::Column(c) => c.get(),
                },
                end_sequence: row.end_sequence(),
            });
        }
    }
    out
}

/// Every DIE with an address range: (tag, name, low_pc, high_pc), high_pc made absolute.
pub fn code_ranges(bytes: &[u8]) -> Vec<(String, String, u64, u64)> {
    let dwarf = dwarf(bytes);
    let mut out = Vec::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next().expect("unit header") {
        let unit = dwarf.unit(header).expect("unit");
        let mut entries = unit.entries();
        while let Some(entry) = entries.next_dfs().expect("entry") {
            let Some(gimli::AttributeValue::Addr(low)) = entry.attr_value(gimli::DW_AT_low_pc)
            else {
                continue;
            };
            let high = match entry.attr_value(gimli::DW_AT_high_pc) {
                Some(gimli::AttributeValue::Addr(a)) => a,
                Some(v) => low + v.udata_value().expect("high_pc length"),
                None => continue,
            };
            let name = entry
                .attr_value(gimli::DW_AT_name)
                .and_then(|v| dwarf.attr_string(&unit, v).ok())
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((entry.tag().to_string(), name, low, high));
        }
    }
    out
}

/// The address ranges of every location list attached to a DIE, in DIE order.
pub fn location_ranges(bytes: &[u8]) -> Vec<Vec<(u64, u64)>> {
    let dwarf = dwarf(bytes);
    let mut out = Vec::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next().expect("unit header") {
        let unit = dwarf.unit(header).expect("unit");
        let mut entries = unit.entries();
        while let Some(entry) = entries.next_dfs().expect("entry") {
            let Some(value) = entry.attr_value(gimli::DW_AT_location) else {
                continue;
            };
            let Some(offset) = dwarf.attr_locations_offset(&unit, value).expect("offset") else {
                continue;
            };
            let mut list = dwarf.locations(&unit, offset).expect("location list");
            let mut ranges = Vec::new();
            while let Some(l) = list.next().expect("location") {
                ranges.push((l.range.begin, l.range.end));
            }
            out.push(ranges);
        }
    }
    out
}

/// Asserts that the output's DWARF says about each instruction what the input's said: every
/// line-table row, every DIE's code range and every location list of the input is in the output, at the instruction's
/// new place. `n` is the number of app functions. Returns how many rows moved.
pub fn assert_dwarf_follows_code(input: &[u8], output: &[u8], n: usize) -> usize {
    let (old, new) = (Places::of(input, n), Places::of(output, n));
    let rows = line_rows(input);
    assert!(!rows.is_empty(), "the input has line tables");
    let out_rows: std::collections::HashSet<Row> = line_rows(output).into_iter().collect();
    let mut moved = 0;
    for row in &rows {
        let want = Row {
            addr: old.moved(&new, row.addr),
            ..row.clone()
        };
        moved += usize::from(want.addr != row.addr);
        assert!(
            out_rows.contains(&want),
            "input row {row:?} is not in the output as {want:?}"
        );
    }
    let out_ranges = code_ranges(output);
    for (tag, name, low, high) in code_ranges(input) {
        let want = (tag, name, old.moved(&new, low), old.moved(&new, high));
        assert!(out_ranges.contains(&want), "{want:?} not in the output");
    }
    let want: Vec<Vec<(u64, u64)>> = location_ranges(input)
        .into_iter()
        .map(|list| {
            list.into_iter()
                .map(|(b, e)| (old.moved(&new, b), old.moved(&new, e)))
                .filter(|(b, e)| b < e)
                .collect()
        })
        .collect();
    assert_eq!(
        location_ranges(output),
        want,
        "location lists follow the code"
    );
    moved
}
