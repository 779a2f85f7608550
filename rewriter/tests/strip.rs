//! `wasifs strip` gives back the module a rewrite started from: byte for byte on every fixture,
//! DWARF aside (the merge drops it when it moves code), and refuses what it cannot strip.

use std::path::{Path, PathBuf};
use wasmparser::{Parser, Payload};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// `module` without its `.debug_*` custom sections, every other section's bytes as they are.
fn without_dwarf(module: &[u8]) -> Vec<u8> {
    let mut out = module[..8].to_vec();
    let mut r = wasmparser::BinaryReader::new(&module[8..], 8);
    while !r.eof() {
        let start = r.original_position() as usize;
        let id = r.read_u8().unwrap();
        let len = r.read_var_u32().unwrap() as usize;
        let payload = r.read_bytes(len).unwrap();
        let mut name = wasmparser::BinaryReader::new(payload, 0);
        if id == 0 && name.read_string().unwrap().starts_with(".debug_") {
            continue;
        }
        out.extend_from_slice(&module[start..r.original_position() as usize]);
    }
    out
}

#[test]
fn strip_gives_back_every_fixture_byte_for_byte_but_for_dropped_dwarf() {
    let tree = fixtures().join("tree");
    let mut checked = 0;
    for entry in std::fs::read_dir(fixtures().join("bin")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "wasm") {
            continue;
        }
        let app = std::fs::read(&path).unwrap();
        let packed = wasifs::Rewriter::new()
            .mount(format!("/={}", tree.display()).parse().unwrap())
            .mount(
                format!("/etc={}:ro", tree.join("sub").display())
                    .parse()
                    .unwrap(),
            )
            .rewrite(&app)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let stripped =
            wasifs::strip(&packed.bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // DWARF survives only where neither the merge nor strip moved code (a merge that
        // rewrites DWARF for moved code leaves it for the merged layout, so strip drops it).
        let dwarf_dropped = packed
            .report
            .warnings
            .iter()
            .chain(&stripped.warnings)
            .any(|w| w.contains("DWARF"));
        let expected = if dwarf_dropped {
            without_dwarf(&app)
        } else {
            app.clone()
        };
        assert!(
            stripped.bytes == expected,
            "{}: stripped module differs from the original ({} vs {} bytes)",
            path.display(),
            stripped.bytes.len(),
            expected.len()
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} fixtures");
}

#[test]
fn strip_cli_writes_the_original_module() {
    let dir = tempfile::tempdir().unwrap();
    let app = fixtures().join("bin/rust_read.wasm");
    let packed = dir.path().join("p.wasm");
    let out = dir.path().join("app.wasm");
    let run = |args: &[&Path]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_wasifs"))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let mount = format!("/={}", fixtures().join("tree").display());
    run(&[
        Path::new("rewrite"),
        &app,
        Path::new("-m"),
        Path::new(&mount),
        Path::new("-o"),
        &packed,
        Path::new("-q"),
    ]);
    run(&[Path::new("strip"), &packed, Path::new("-o"), &out]);
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&app).unwrap());
}

#[test]
fn strip_of_a_module_never_rewritten_names_the_problem() {
    let app = std::fs::read(fixtures().join("bin/wat_cat.wasm")).unwrap();
    let err = wasifs::strip(&app).unwrap_err().to_string();
    assert!(err.contains("not rewritten by wasifs"), "{err}");
}

#[test]
fn strip_of_a_version_1_record_asks_for_a_rewrite_with_this_wasifs() {
    let app = std::fs::read(fixtures().join("bin/wat_cat.wasm")).unwrap();
    let packed = wasifs::Rewriter::new()
        .mount(
            format!("/={}", fixtures().join("tree").display())
                .parse()
                .unwrap(),
        )
        .rewrite(&app)
        .unwrap();
    let mut bytes = packed.bytes;
    // The record's version is the first 4 bytes of the `wasifs` custom section's data.
    let at = Parser::new(0)
        .parse_all(&bytes)
        .find_map(|p| match p.unwrap() {
            Payload::CustomSection(c) if c.name() == "wasifs" => Some(c.data_offset() as usize),
            _ => None,
        })
        .expect("a wasifs record");
    bytes[at..at + 4].copy_from_slice(&1u32.to_le_bytes());
    for err in [
        wasifs::strip(&bytes).unwrap_err().to_string(),
        wasifs::inspect(&bytes).unwrap_err().to_string(),
    ] {
        assert!(err.contains("record version 1"), "{err}");
        assert!(err.contains("rewrite the original module"), "{err}");
    }
}
