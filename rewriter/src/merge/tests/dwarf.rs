//! DWARF is kept when every app body keeps its offsets, rewritten when code moves (dropped with a
//! warning only when it cannot be read); merge speed.

use super::*;

/// A module by hand: wasm-ld style padded (5-byte) call operands and a `.debug_info` section.
fn padded_app(pad: bool, functions: u32) -> Vec<u8> {
    use wasm_encoder::*;
    let mut m = synthetic_app(functions, true);
    let mut code = CodeSection::new();
    for f in 0..functions {
        let mut body = vec![0u8]; // no locals
        let call = |body: &mut Vec<u8>, target: u32| {
            body.push(0x10);
            if pad {
                let at = body.len();
                body.resize(at + 5, 0);
                leb::overwrite_padded(&mut body[at..], target);
            } else {
                leb::write(body, target);
            }
        };
        // Every function calls the last one; function 1 also calls fd_read.
        call(&mut body, functions); // the last defined function (index `functions` with one import)
        if f == 0 {
            for _ in 0..4 {
                body.extend_from_slice(&[0x41, 0x00]);
            }
            call(&mut body, 0);
            body.push(0x1a); // drop
        }
        body.push(0x0b);
        code.raw(&body);
    }
    m.section(&code);
    m.section(&CustomSection {
        name: ".debug_info".into(),
        data: b"dwarf bytes".as_slice().into(),
    });
    m.finish()
}

/// The app's bodies (bytes after each size) and the code section payload offset, for comparison.
fn app_bodies(bytes: &[u8], n: usize) -> Vec<Vec<u8>> {
    let info = ModuleInfo::parse(Path::new("out"), bytes, false, true).expect("parses");
    info.bodies
        .iter()
        .take(n)
        .map(|b| b.as_bytes().len().to_le_bytes().to_vec())
        .collect()
}

#[test]
fn dwarf_is_kept_when_padded_call_operands_absorb_the_new_indices() {
    let app = padded_app(true, 3);
    let out = merge(&app, IMAGE).expect("merges");
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert!(custom_sections(&out.bytes)
        .iter()
        .any(|(n, d)| n == ".debug_info" && d == b"dwarf bytes"));
    assert_eq!(app_bodies(&app, 3), app_bodies(&out.bytes, 3));
    // The call in function 1 now goes to the shim.
    let names = func_names(&out.bytes);
    let info = ModuleInfo::parse(Path::new("out"), &out.bytes, false, true).expect("parses");
    let mut ops = info.bodies[0].get_operators_reader().expect("ops");
    let mut targets = Vec::new();
    while !ops.eof() {
        if let wasmparser::Operator::Call { function_index } = ops.read().expect("op") {
            targets.push(names.get(&function_index).cloned().unwrap_or_default());
        }
    }
    assert_eq!(targets[1], "wasifs::fd_read");
}

/// `padded_app(false, functions)` with real DWARF (by gimli) instead of `dwarf bytes`.
fn app_with_dwarf(functions: u32, version: u16) -> Vec<u8> {
    with_dwarf(
        strip_custom(&padded_app(false, functions)),
        functions,
        version,
        1,
    )
}

/// `bare` (a module without custom sections) with DWARF by gimli: a line row at every
/// `row_every`-th instruction and at each function's end, a subprogram per function with a
/// variable whose location list splits the function in two, unit ranges, and a global variable
/// at linear-memory address 1024 (inside the code's offset range: it must not move).
fn with_dwarf(bare: Vec<u8>, functions: u32, version: u16, row_every: usize) -> Vec<u8> {
    use gimli::write::{
        Address, AttributeValue, DwarfUnit, EndianVec, Expression, LineProgram, LineString,
        Location, LocationList, Range, RangeList, Sections,
    };
    let places = dwarf_lines::Places::of(&bare, functions as usize);
    let encoding = gimli::Encoding {
        format: gimli::Format::Dwarf32,
        version,
        address_size: 4,
    };
    let mut dwarf = DwarfUnit::new(encoding);
    let mut program = LineProgram::new(
        encoding,
        gimli::LineEncoding::default(),
        LineString::String(b"/src".to_vec()),
        None,
        LineString::String(b"synthetic.c".to_vec()),
        None,
    );
    let dir = program.default_directory();
    let file = program.add_file(LineString::String(b"synthetic.c".to_vec()), dir, None);
    let mut ranges = Vec::new();
    let root = dwarf.unit.root();
    for f in 0..functions as usize {
        let (ops, end) = places.ops(f);
        let start = places.offset(f, dwarf_lines::Place::Start);
        program.begin_sequence(Some(Address::Constant(ops[0])));
        for (k, &op) in ops.iter().enumerate().step_by(row_every) {
            let row = program.row();
            row.address_offset = op - ops[0];
            row.file = file;
            row.line = 1000 * f as u64 + k as u64 + 1;
            row.column = k as u64 % 7;
            program.generate_row();
        }
        program.end_sequence(end - ops[0]);
        ranges.push(Range::StartEnd {
            begin: Address::Constant(start),
            end: Address::Constant(end),
        });
        let sub_id = dwarf.unit.add(root, gimli::DW_TAG_subprogram);
        let sub = dwarf.unit.get_mut(sub_id);
        sub.set(
            gimli::DW_AT_name,
            AttributeValue::String(format!("f{f}").into_bytes()),
        );
        sub.set(
            gimli::DW_AT_low_pc,
            AttributeValue::Address(Address::Constant(start)),
        );
        sub.set(gimli::DW_AT_high_pc, AttributeValue::Udata(end - start));
        let mid = ops[ops.len() / 2];
        let halves = [(ops[0], mid, 0), (mid, end, 1)].map(|(begin, end, local)| {
            let mut data = Expression::new();
            data.op_wasm_local(local);
            Location::StartEnd {
                begin: Address::Constant(begin),
                end: Address::Constant(end),
                data,
            }
        });
        let halves = halves.into_iter().filter(|l| match l {
            Location::StartEnd { begin, end, .. } => begin != end,
            _ => true,
        });
        let list = dwarf.unit.locations.add(LocationList(halves.collect()));
        let var = dwarf.unit.add(sub_id, gimli::DW_TAG_variable);
        let var = dwarf.unit.get_mut(var);
        var.set(gimli::DW_AT_name, AttributeValue::String(b"local".to_vec()));
        var.set(gimli::DW_AT_location, AttributeValue::LocationListRef(list));
    }
    dwarf.unit.line_program = program;
    let ranges = dwarf.unit.ranges.add(RangeList(ranges));
    let cu = dwarf.unit.get_mut(root);
    cu.set(
        gimli::DW_AT_name,
        AttributeValue::String(b"synthetic.c".to_vec()),
    );
    cu.set(
        gimli::DW_AT_low_pc,
        AttributeValue::Address(Address::Constant(0)),
    );
    cu.set(gimli::DW_AT_ranges, AttributeValue::RangeListRef(ranges));
    let var = dwarf.unit.add(root, gimli::DW_TAG_variable);
    let mut location = Expression::new();
    location.op_addr(Address::Constant(1024));
    let var = dwarf.unit.get_mut(var);
    var.set(
        gimli::DW_AT_name,
        AttributeValue::String(b"global".to_vec()),
    );
    var.set(gimli::DW_AT_location, AttributeValue::Exprloc(location));
    let mut sections = Sections::new(EndianVec::new(gimli::LittleEndian));
    dwarf.write(&mut sections).expect("DWARF writes");
    let mut out = bare;
    sections
        .for_each(|id, s| -> Result<(), ()> {
            if !s.slice().is_empty() {
                wasm_encoder::Section::append_to(
                    &wasm_encoder::CustomSection {
                        name: id.name().into(),
                        data: s.slice().into(),
                    },
                    &mut out,
                );
            }
            Ok(())
        })
        .expect("sections append");
    out
}

/// `bytes` without its custom sections.
fn strip_custom(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes[..8].to_vec();
    for p in Parser::new(0).parse_all(bytes) {
        let p = p.expect("payload");
        if let Some((id, range)) = p.as_section() {
            if id != 0 {
                let range = range.start as usize..range.end as usize;
                out.push(id);
                leb::write(&mut out, range.len() as u32);
                out.extend_from_slice(&bytes[range]);
            }
        }
    }
    out
}

/// The DW_OP_addr operand of the `DW_AT_location` of the variable named `global`.
fn global_address(bytes: &[u8]) -> Option<u64> {
    let dwarf = dwarf_lines::dwarf(bytes);
    let mut units = dwarf.units();
    while let Some(header) = units.next().expect("unit header") {
        let unit = dwarf.unit(header).expect("unit");
        let mut entries = unit.entries();
        while let Some(entry) = entries.next_dfs().expect("entry") {
            if entry.tag() != gimli::DW_TAG_variable {
                continue;
            }
            let Some(gimli::AttributeValue::Exprloc(e)) = entry.attr_value(gimli::DW_AT_location)
            else {
                continue;
            };
            let mut ops = e.operations(unit.encoding());
            if let Some(gimli::Operation::Address { address }) = ops.next().expect("op") {
                return Some(address);
            }
        }
    }
    None
}

#[test]
fn dwarf_is_rewritten_to_follow_the_code_when_call_operands_grow() {
    // 127 defined functions + 1 import (fd_read); the shim functions it reaches push the
    // function count past 127 (the count LEB grows), and every call to the last function
    // (index 127, one LEB byte) now needs two bytes: bodies are spliced longer.
    for version in [4, 5] {
        let app = app_with_dwarf(127, version);
        let out = merge(&app, IMAGE).expect("merges");
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        assert_ne!(
            app_bodies(&app, 127),
            app_bodies(&out.bytes, 127),
            "bodies changed length"
        );
        let moved = dwarf_lines::assert_dwarf_follows_code(&app, &out.bytes, 127);
        assert!(moved > 127, "only {moved} rows moved (DWARF {version})");
        assert_eq!(global_address(&out.bytes), Some(1024), "DW_OP_addr kept");
    }
}

#[test]
fn dwarf_is_dropped_with_a_warning_when_it_cannot_be_read() {
    // Code moves (see above), and `.debug_info` holds no DWARF.
    let app = padded_app(false, 127);
    let out = merge(&app, IMAGE).expect("merges");
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    assert!(
        out.warnings[0].contains("DWARF") && out.warnings[0].contains("rewriting"),
        "{:?}",
        out.warnings
    );
    assert!(!custom_sections(&out.bytes)
        .iter()
        .any(|(n, _)| n.starts_with(".debug_")));
}

/// `app` with byte `at` of its `.debug_line` section set to each of `bytes`, in turn.
fn with_line_header(app: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut out = app.to_vec();
    for p in Parser::new(0).parse_all(app) {
        if let Payload::CustomSection(c) = p.expect("payload") {
            if c.name() == ".debug_line" {
                let start = c.data_offset() as usize + at;
                out[start..start + bytes.len()].copy_from_slice(bytes);
            }
        }
    }
    out
}

#[test]
fn dwarf_whose_line_program_gimli_cannot_write_is_dropped_with_a_warning_not_a_panic() {
    // Where line_base and line_range are in a DWARF 4 and a DWARF 5 line program header.
    for (version, at) in [(4, 13), (5, 15)] {
        let app = app_with_dwarf(127, version);
        // No special opcode for a line advance of 0 (base + range <= 0, or a range past i8),
        // then addresses that advance four bytes at a time.
        let headers: [(usize, &[u8]); 3] = [(at, &[0xfb, 3]), (at, &[0xfb, 200]), (at - 3, &[4])];
        for (at, bytes) in headers {
            let out = merge(&with_line_header(&app, at, bytes), IMAGE).expect("merges");
            assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
            assert!(
                out.warnings[0].contains("line program"),
                "{:?}",
                out.warnings
            );
            assert!(!custom_sections(&out.bytes)
                .iter()
                .any(|(n, _)| n.starts_with(".debug_")));
        }
    }
}

/// The C fixture with DWARF, rewritten with the real shim: its function count crosses 127, so
/// every address moves; each line row and code range follows its instruction.
#[test]
fn c_fixture_line_rows_keep_their_file_line_and_column_at_the_moved_instructions() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/debug/c_debug.wasm");
    let app =
        std::fs::read(&path).expect("fixtures/debug/c_debug.wasm (scripts/build-fixtures.sh c)");
    let n = ModuleInfo::parse(&path, &app, false, true)
        .expect("parses")
        .bodies
        .len();
    let served = crate::plan::Served::default();
    let out = rewrite_module(&path, &app, IMAGE, &served).expect("rewrites");
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let bytes = out.module.to_vec();
    let moved = dwarf_lines::assert_dwarf_follows_code(&app, &bytes, n);
    assert!(moved > 0, "no row moved: the test checks nothing");
}

/// Times the rewrite of a large synthetic module (~80 MB of code full of padded calls).
#[test]
#[ignore = "slow: run with --ignored --nocapture to time a large rewrite"]
fn large_module_rewrites_in_seconds() {
    use wasm_encoder::*;
    let functions = 40_000u32;
    let calls_per_function = 400u32;
    let mut m = synthetic_app(functions, false);
    let mut code = CodeSection::new();
    let mut body = Vec::new();
    for f in 0..functions {
        body.clear();
        body.push(0);
        for c in 0..calls_per_function {
            body.push(0x10);
            let at = body.len();
            body.resize(at + 5, 0);
            leb::overwrite_padded(&mut body[at..], 1 + (f * 7 + c * 13) % functions);
        }
        body.push(0x0b);
        code.raw(&body);
    }
    m.section(&code);
    m.section(&CustomSection {
        name: ".debug_info".into(),
        data: vec![0u8; 8 << 20].into(),
    });
    let app = m.finish();
    let t = std::time::Instant::now();
    let out = merge(&app, IMAGE).expect("merges");
    let took = t.elapsed();
    println!(
        "rewrote {:.1} MB in {:.2?} ({} warnings)",
        app.len() as f64 / 1e6,
        took,
        out.warnings.len()
    );
    assert!(out.warnings.is_empty());
}

/// Times the rewrite of a large module whose every body moves and whose DWARF must follow:
/// ~80 MB with ~40000 functions, each calling fd_read through an unpadded LEB (one byte, then
/// three: every body is spliced) and `row_every` instructions per line row. Prints the time
/// with and without the DWARF.
#[test]
#[ignore = "slow: run in release with --ignored --nocapture to time a large DWARF rewrite"]
fn large_module_with_moving_code_rewrites_its_dwarf_in_seconds() {
    use wasm_encoder::*;
    let functions = 40_000u32;
    let groups = 180;
    let mut m = synthetic_app(functions, false);
    let mut code = CodeSection::new();
    let mut body = Vec::new();
    for f in 0..functions {
        body.clear();
        body.push(0);
        for g in 0..groups {
            body.extend_from_slice(&[0x41, 0, 0x41, 0, 0x41, 0, 0x41, 0]);
            body.extend_from_slice(&[0x10, 0x00, 0x1a]); // call fd_read (index 0); drop
            if g % 16 == 0 {
                body.push(0x10); // call another function through a padded LEB
                let at = body.len();
                body.resize(at + 5, 0);
                leb::overwrite_padded(&mut body[at..], 1 + (f * 7 + g * 13) % functions);
            }
        }
        body.push(0x0b);
        code.raw(&body);
    }
    m.section(&code);
    let bare = m.finish();
    let t = std::time::Instant::now();
    // One line row per 12 instructions (~600k rows): about CPython's 13 MB of DWARF.
    let app = with_dwarf(bare.clone(), functions, 4, 12);
    println!("built the DWARF in {:.2?}", t.elapsed());
    let dwarf_bytes: usize = custom_sections(&app)
        .iter()
        .filter(|(n, _)| n.starts_with(".debug_"))
        .map(|(_, d)| d.len())
        .sum();
    let (shim, intrinsics) = (wasm(SHIM), intrinsics_wasm().expect("intrinsics compile"));
    for (what, input) in [("without DWARF", &bare), ("with DWARF", &app)] {
        let (t, cpu) = (std::time::Instant::now(), process_cpu_seconds());
        let out =
            merge_modules(Path::new("big.wasm"), input, &shim, &intrinsics, IMAGE).expect("merges");
        let (took, cpu) = (t.elapsed(), process_cpu_seconds() - cpu);
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        println!(
            "{what}: rewrote {:.1} MB ({:.1} MB of DWARF) in {took:.2?} ({cpu:.2} s of CPU)",
            input.len() as f64 / 1e6,
            if input.len() == app.len() {
                dwarf_bytes as f64 / 1e6
            } else {
                0.0
            },
        );
    }
}

/// User + system CPU time of this process so far (Linux; 0 elsewhere): on a shared machine the
/// wall time of a timed run says little.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
