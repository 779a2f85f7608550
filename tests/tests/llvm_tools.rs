//! LLVM's object tools (`llvm-objdump`, `llvm-dwarfdump`) read every packed fixture they read unpacked,
//! and the rewritten DWARF of a fixture whose code moves verifies and looks up the same lines.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wasifs_tests::{pack_specs, skip_or_fail, workspace_root};

/// The first of `name`, `name-19` … `name-14` that runs.
fn find_tool(name: &str) -> Option<PathBuf> {
    let mut candidates = vec![name.to_string()];
    candidates.extend((14..=19).rev().map(|v| format!("{name}-{v}")));
    candidates.into_iter().map(PathBuf::from).find(|tool| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn run_tool(tool: &Path, args: &[&str], file: &Path) -> Output {
    Command::new(tool)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", tool.display()))
}

/// Every fixture in `fixtures/bin`, with its packed output (mounted at `/`) in `dir`.
fn packed_fixtures(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let root = workspace_root();
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(root.join("fixtures/bin"))
        .expect("fixtures/bin exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no fixtures in fixtures/bin");
    let tree = format!("/={}", root.join("fixtures/tree").display());
    inputs
        .into_iter()
        .map(|input| {
            let out = dir.join(input.file_name().expect("file name"));
            std::fs::write(&out, pack_specs(&input, std::slice::from_ref(&tree)))
                .expect("writing the packed fixture");
            (input, out)
        })
        .collect()
}

/// How many fixtures LLVM's tools are expected to read unpacked: all but the Go ones. Go's linker
/// writes its `producers` custom section before `name`, and LLVM's wasm reader (Debian's LLVM 14)
/// refuses that order in any module ("out of order section type: 0").
fn readable_by_llvm(fixtures: &[(PathBuf, PathBuf)]) -> usize {
    fixtures
        .iter()
        .filter(|(input, _)| {
            !input
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("go_"))
        })
        .count()
}

/// For each fixture whose input `tool args` accepts, asserts it accepts the packed output too;
/// returns how many fixtures were checked.
fn accepts_output_where_it_accepts_input(
    tool: &Path,
    args: &[&str],
    fixtures: &[(PathBuf, PathBuf)],
) -> usize {
    let mut checked = 0;
    for (input, output) in fixtures {
        if !run_tool(tool, args, input).status.success() {
            eprintln!(
                "note: {} {} refuses the input {} itself; not checked",
                tool.display(),
                args.join(" "),
                input.display()
            );
            continue;
        }
        let out = run_tool(tool, args, output);
        assert!(
            out.status.success(),
            "{} {} refuses the packed {} (it reads the input):\n{}{}",
            tool.display(),
            args.join(" "),
            input.display(),
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join("\n"),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    checked
}

#[test]
fn llvm_objdump_lists_the_sections_of_every_packed_fixture_it_reads_unpacked() {
    let Some(objdump) = find_tool("llvm-objdump") else {
        skip_or_fail("llvm-objdump not found (Debian: apt-get install llvm)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = packed_fixtures(dir.path());
    let checked = accepts_output_where_it_accepts_input(&objdump, &["-h"], &fixtures);
    // The Rust, Zig and C fixtures all open unpacked: a check of fewer is no check.
    let readable = readable_by_llvm(&fixtures);
    assert!(
        checked * 4 >= readable * 3,
        "only {checked} of {readable} fixtures checked"
    );
}

#[test]
fn llvm_dwarfdump_opens_and_verifies_every_packed_fixture_it_verifies_unpacked() {
    let Some(dwarfdump) = find_tool("llvm-dwarfdump") else {
        skip_or_fail("llvm-dwarfdump not found (Debian: apt-get install llvm)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = packed_fixtures(dir.path());
    // Opening the file at all (the C fixtures' own DWARF from Debian's libc does not verify).
    let opened = accepts_output_where_it_accepts_input(&dwarfdump, &["--debug-info"], &fixtures);
    let readable = readable_by_llvm(&fixtures);
    assert!(
        opened * 4 >= readable * 3,
        "only {opened} of {readable} fixtures opened"
    );
    let verified = accepts_output_where_it_accepts_input(&dwarfdump, &["--verify"], &fixtures);
    assert!(verified > 0, "no fixture verifies unpacked");
}

/// The instruction offsets of each function in `llvm-objdump -d` output, by function name.
fn instructions(objdump: &Path, file: &Path) -> Vec<(String, Vec<u64>)> {
    let out = run_tool(objdump, &["-d"], file);
    assert!(out.status.success(), "llvm-objdump -d {}", file.display());
    let mut funcs: Vec<(String, Vec<u64>)> = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(name) = line
            .split_once(" <")
            .and_then(|(_, rest)| rest.strip_suffix(">:"))
        {
            funcs.push((name.to_string(), Vec::new()));
        } else if let (Some((offset, _)), Some(last)) =
            (line.trim().split_once(": "), funcs.last_mut())
        {
            if let Ok(offset) = u64::from_str_radix(offset, 16) {
                last.1.push(offset);
            }
        }
    }
    funcs
}

/// The `Line info:` line `llvm-dwarfdump --lookup` gives for `addr`.
fn line_info(dwarfdump: &Path, file: &Path, addr: u64) -> String {
    let out = run_tool(dwarfdump, &[&format!("--lookup={addr:#x}")], file);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("Line info:"))
        .unwrap_or("")
        .to_string()
}

/// fixtures/debug/c_debug.wasm: C built with -g, no libc. Packed, its function count crosses 127,
/// so every code offset moves and the DWARF is rewritten.
#[test]
fn llvm_dwarfdump_verifies_the_rewritten_dwarf_and_finds_the_same_line_for_each_instruction() {
    let (Some(dwarfdump), Some(objdump)) = (find_tool("llvm-dwarfdump"), find_tool("llvm-objdump"))
    else {
        skip_or_fail("llvm-dwarfdump or llvm-objdump not found (Debian: apt-get install llvm)");
        return;
    };
    let input = workspace_root().join("fixtures/debug/c_debug.wasm");
    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join("c_debug.wasm");
    let tree = format!("/={}", workspace_root().join("fixtures/tree").display());
    std::fs::write(&output, pack_specs(&input, &[tree])).expect("writing the packed fixture");

    for file in [&input, &output] {
        let out = run_tool(&dwarfdump, &["--verify"], file);
        assert!(
            out.status.success(),
            "llvm-dwarfdump --verify {}:\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout)
        );
    }

    let before = instructions(&objdump, &input);
    let after = instructions(&objdump, &output);
    let mut moved = 0;
    let mut checked = 0;
    for (name, ops) in before.iter().filter(|(n, _)| n != "CODE") {
        let (_, new_ops) = after
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("function {name} is in the packed output"));
        assert_eq!(ops.len(), new_ops.len(), "{name} keeps its instructions");
        // A few instructions of each function: first, middle and last.
        for k in [0, ops.len() / 2, ops.len().saturating_sub(1)] {
            let (old, new) = (ops[k], new_ops[k]);
            let want = line_info(&dwarfdump, &input, old);
            assert!(
                !want.is_empty(),
                "{name}+{k} at {old:#x} has line info in the input"
            );
            assert_eq!(
                line_info(&dwarfdump, &output, new),
                want,
                "{name} instruction {k}: {old:#x} in the input, {new:#x} packed"
            );
            moved += usize::from(old != new);
            checked += 1;
        }
    }
    assert!(
        checked >= 100 && moved == checked,
        "{moved} of {checked} lookups moved"
    );
}
