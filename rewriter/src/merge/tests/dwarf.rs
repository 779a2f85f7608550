//! DWARF is kept when every app body keeps its offsets, dropped with a warning otherwise; merge speed.

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

#[test]
fn dwarf_is_dropped_with_a_warning_when_a_call_operand_grows() {
    // 127 defined functions + 1 import (fd_read); the shim functions it reaches push the
    // function count past 127, so the code section's count LEB grows to two bytes.
    let app = padded_app(false, 127);
    let out = merge(&app, IMAGE).expect("merges");
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    assert!(out.warnings[0].contains("DWARF"), "{:?}", out.warnings);
    assert!(!custom_sections(&out.bytes)
        .iter()
        .any(|(n, _)| n.starts_with(".debug_")));
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
