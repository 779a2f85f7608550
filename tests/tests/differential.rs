//! Differential tests: every fixture packed with `fixtures/tree` at `/` behaves exactly like the original
//! run with that tree preopened (read-only, as the image is), in both memory layouts.

use std::path::{Path, PathBuf};

use wasifs::{MemoryLayout, Rewriter};
use wasifs_tests::{
    assert_same_outcome, pack, pack_specs_with, run, tree_snapshot, try_pack_specs_with,
    workspace_root, Entry, Outcome, RunOptions,
};

fn fixtures_bin() -> PathBuf {
    workspace_root().join("fixtures/bin")
}

fn tree() -> PathBuf {
    workspace_root().join("fixtures/tree")
}

/// How a fixture is started: reactors (`*reactor*`) get `_initialize`, then their first exported
/// function whose name does not start with `_`.
fn entry_for(name: &str, module: &[u8]) -> Entry {
    if !name.contains("reactor") {
        return Entry::Command;
    }
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        if let Ok(wasmparser::Payload::ExportSection(exports)) = payload {
            for export in exports {
                let export = export.unwrap();
                if export.kind == wasmparser::ExternalKind::Func && !export.name.starts_with('_') {
                    return Entry::Reactor(export.name.to_string());
                }
            }
        }
    }
    panic!("{name}: a reactor fixture must export a function besides _initialize");
}

/// (a) the original with `fixtures/tree` preopened read-only at `/`; (b) packed, no preopens.
fn check_fixture(name: &str) {
    let path = fixtures_bin().join(format!("{name}.wasm"));
    let original = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/build-fixtures.sh)", path.display()));
    let base = RunOptions {
        args: vec![format!("{name}.wasm")],
        entry: entry_for(name, &original),
        ..RunOptions::default()
    };
    let with_dir = RunOptions {
        preopens: vec![(tree(), "/".to_string())],
        read_only: vec!["/".to_string()],
        ..base.clone()
    };
    let expected = run(&original, &with_dir)
        .unwrap_or_else(|e| panic!("{name}: the ORIGINAL module failed under wasmtime: {e:?}"));
    // Read-only on both sides: the reference preopen is read-only, so the mount is too.
    // Both layouts: the shim in its own memory (2 memories), and in the app's (1) — except for
    // Go, which the single-memory layout refuses (its runtime uses memory below memory.size).
    for (layout, memories) in [(MemoryLayout::Multi, 2), (MemoryLayout::Single, 1)] {
        let spec = [format!("/={}:ro", tree().display())];
        if layout == MemoryLayout::Single && name.starts_with("go_") {
            let err = try_pack_specs_with(&path, &spec, Rewriter::new().memory_layout(layout))
                .expect_err("Go is refused in the single-memory layout");
            assert!(
                format!("{err:#}").contains("is a Go program"),
                "{name}: {err:#}"
            );
            continue;
        }
        let packed = pack_specs_with(
            &path,
            &[format!("/={}:ro", tree().display())],
            Rewriter::new().memory_layout(layout),
        );
        validate(&packed).unwrap_or_else(|e| panic!("{name}: the packed module is invalid: {e}"));
        assert_eq!(memory_count(&packed), memories, "{name} ({layout:?})");
        let actual = run(&packed, &base).unwrap_or_else(|e| {
            panic!(
                "{name} ({layout:?}): the PACKED module failed: {e:?}\noriginal stdout:\n{}",
                expected.stdout_str()
            )
        });
        let expected = apply_engine_quirks(name, expected.clone(), &actual);
        assert_same_outcome(&format!("{name} ({layout:?})"), &expected, &actual);
    }
}

/// Lines where the reference engine is known to be wrong: wasmtime 48 (the newest this Rust can build)
/// ignores a trailing slash on a no-follow stat, where POSIX and wasmtime 50 give ENOTDIR (or follow a
/// symlink to a directory). `(fixture, line prefix under wasmtime 48, required packed line prefix)`:
/// the packed module must give the correct answer, and only that line may differ.
const WASMTIME48_QUIRKS: &[(&str, &str, &str)] = &[
    (
        "c_posix",
        "lstat(\"/hello.txt/\") = 0 type=file",
        "lstat(\"/hello.txt/\") = -1 errno=54 NOTDIR",
    ),
    (
        "c_posix",
        "lstat(\"/sub-link/\") = 0 type=symlink",
        "lstat(\"/sub-link/\") = 0 type=dir ",
    ),
    (
        "c_wasi_raw",
        "path_filestat_get(\"hello.txt/\", nofollow) = 0 SUCCESS",
        "path_filestat_get(\"hello.txt/\", nofollow) = 54 NOTDIR",
    ),
    (
        "zig_fs",
        "statFile(\"hello.txt/\", follow=false) = kind=file",
        "statFile(\"hello.txt/\", follow=false) = error.FileNotFound",
    ),
];

/// Replaces each quirky reference line by the packed line at the same position when that line is the
/// correct answer; everything else must still match exactly.
fn apply_engine_quirks(name: &str, mut expected: Outcome, actual: &Outcome) -> Outcome {
    let exp = expected.stdout_str();
    let act = actual.stdout_str();
    let (exp_lines, act_lines): (Vec<&str>, Vec<&str>) =
        (exp.lines().collect(), act.lines().collect());
    let mut fixed: Vec<String> = exp_lines.iter().map(|l| l.to_string()).collect();
    let mut changed = false;
    for (fixture, wrong, right) in WASMTIME48_QUIRKS {
        if *fixture != name {
            continue;
        }
        for (i, line) in exp_lines.iter().enumerate() {
            if line.starts_with(wrong) && act_lines.get(i).is_some_and(|a| a.starts_with(right)) {
                fixed[i] = act_lines[i].to_string();
                changed = true;
            }
        }
    }
    if !changed {
        return expected;
    }
    let mut stdout = fixed.join("\n");
    if exp.ends_with('\n') {
        stdout.push('\n');
    }
    expected.stdout = stdout.into_bytes();
    expected
}

macro_rules! fixtures {
    ($($name:ident),* $(,)?) => {
        /// Every fixture that has a test of its own.
        const LISTED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                check_fixture(stringify!($name));
            }
        )*
    };
}

fixtures!(
    c_posix,
    c_wasi_raw,
    go_preopen,
    go_read,
    go_walk,
    rust_dirs,
    rust_errors,
    rust_exit,
    rust_read,
    wat_cat,
    wat_indirect,
    wat_preopens,
    wat_reactor,
    zig_fs,
);

/// Fixtures that write into a writable `/data` and a read-only `/ro`: covered by
/// `tests/tests/conformance.rs`, not by the read-only differential test above.
const COVERED_BY_CONFORMANCE: &[&str] = &[
    "c_conformance",
    "go_write",
    "rust_conformance",
    "rust_stress",
];

/// Fixtures that print clocks and random bytes (different on every run): covered by
/// `tests/tests/policies.rs`.
const COVERED_BY_POLICIES: &[&str] = &["c_policy", "rust_policy"];

#[test]
fn every_fixture_binary_is_listed_and_every_listed_fixture_exists() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures_bin())
        .expect("fixtures/bin exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let unlisted: Vec<&String> = on_disk
        .iter()
        .filter(|n| {
            let n = n.as_str();
            !LISTED.contains(&n)
                && !COVERED_BY_CONFORMANCE.contains(&n)
                && !COVERED_BY_POLICIES.contains(&n)
        })
        .collect();
    let missing: Vec<&&str> = LISTED
        .iter()
        .filter(|n| !on_disk.iter().any(|d| d == *n))
        .collect();
    assert!(
        unlisted.is_empty() && missing.is_empty(),
        "fixtures/bin and the fixtures! list in tests/tests/differential.rs disagree:\n  \
         not listed (would be skipped): {unlisted:?}\n  listed but not built: {missing:?}"
    );
}

/// A command that reads `/in.txt` through fd 3 and writes `out.txt` and `made/copy.txt` through fd 4,
/// echoing what it read to stdout. Step failures exit with 100 + the step number.
const COPY_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory"
    (func $mkdir (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 2)
  (global $__stack_pointer (mut i32) (i32.const 131072))
  (data (i32.const 64) "in.txt")
  (data (i32.const 80) "out.txt")
  (data (i32.const 96) "made")
  (data (i32.const 112) "made/copy.txt")
  (func $check (param $errno i32) (param $step i32)
    (if (local.get $errno) (then (call $exit (i32.add (i32.const 100) (local.get $step))))))
  (func $create (param $path i32) (param $len i32) (param $step i32) (result i32)
    (call $check
      (call $path_open (i32.const 4) (i32.const 0) (local.get $path) (local.get $len)
        (i32.const 9) (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 8))
      (local.get $step))
    (i32.load (i32.const 8)))
  (func $write_all (param $fd i32) (param $step i32)
    (call $check (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 12))
      (local.get $step)))
  (func (export "_start") (local $in i32)
    ;; fd 3 is "/" (the tree): open in.txt for reading
    (call $check
      (call $path_open (i32.const 3) (i32.const 1) (i32.const 64) (i32.const 6)
        (i32.const 0) (i64.const 0x2) (i64.const 0) (i32.const 0) (i32.const 8))
      (i32.const 1))
    (local.set $in (i32.load (i32.const 8)))
    ;; iovec at 0: buf 1024, len 4096
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 4096))
    (call $check (call $fd_read (local.get $in) (i32.const 0) (i32.const 1) (i32.const 12))
      (i32.const 2))
    (drop (call $fd_close (local.get $in)))
    ;; the iovec now covers exactly what was read
    (i32.store (i32.const 4) (i32.load (i32.const 12)))
    (call $write_all (i32.const 1) (i32.const 3))
    (call $write_all (call $create (i32.const 80) (i32.const 7) (i32.const 4)) (i32.const 5))
    (call $check (call $mkdir (i32.const 4) (i32.const 96) (i32.const 4)) (i32.const 6))
    (call $write_all (call $create (i32.const 112) (i32.const 13) (i32.const 7)) (i32.const 8))))"#;

/// Writes COPY_WAT as a module and a tree holding `in.txt`; returns (tempdir, module path, tree path).
fn copy_fixture() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("copy.wasm");
    std::fs::write(&module, wat::parse_str(COPY_WAT).unwrap()).unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("in.txt"), "embedded greetings\n").unwrap();
    (dir, module, tree)
}

#[test]
fn packed_module_writes_into_a_host_preopen_like_the_original() {
    let (dir, module, tree) = copy_fixture();
    let (out_original, out_packed) = (
        dir.path().join("out-original"),
        dir.path().join("out-packed"),
    );
    std::fs::create_dir(&out_original).unwrap();
    std::fs::create_dir(&out_packed).unwrap();

    let original = RunOptions {
        preopens: vec![
            (tree.clone(), "/".into()),
            (out_original.clone(), "/out".into()),
        ],
        read_only: vec!["/".into()],
        ..RunOptions::default()
    };
    let expected = run(&std::fs::read(&module).unwrap(), &original).unwrap();
    assert_eq!(
        (expected.exit_code, expected.stdout_str().as_str()),
        (0, "embedded greetings\n"),
        "the reference run itself must succeed; stderr: {}",
        expected.stderr_str()
    );

    let packed = pack(&module, &[("/", &tree)]);
    let packed_opts = RunOptions::with_preopen(&out_packed, "/out");
    let actual = run(&packed, &packed_opts).unwrap();
    assert_same_outcome("copy", &expected, &actual);
    assert_eq!(tree_snapshot(&out_original), tree_snapshot(&out_packed));
    assert_eq!(
        tree_snapshot(&tree),
        vec![("in.txt".into(), b"embedded greetings\n".to_vec())]
    );
}

#[test]
fn packed_output_validates_with_wasmparser_and_has_two_memories() {
    let (_dir, module, tree) = copy_fixture();
    let packed = pack(&module, &[("/", &tree)]);
    validate(&packed).unwrap_or_else(|e| panic!("packed module is invalid: {e}"));
    assert_eq!(memory_count(&packed), 2, "app memory 0 + shim memory 1");
}

fn validate(module: &[u8]) -> Result<(), wasmparser::BinaryReaderError> {
    let features = wasmparser::WasmFeatures::all();
    wasmparser::Validator::new_with_features(features)
        .validate_all(module)
        .map(drop)
}

fn memory_count(module: &[u8]) -> u32 {
    let mut n = 0;
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        match payload.unwrap() {
            wasmparser::Payload::MemorySection(s) => n += s.count(),
            wasmparser::Payload::ImportSection(s) => {
                for imp in s.into_imports() {
                    if matches!(imp.unwrap().ty, wasmparser::TypeRef::Memory(_)) {
                        n += 1;
                    }
                }
            }
            _ => {}
        }
    }
    n
}

fn wasifs_sections(module: &[u8]) -> usize {
    wasmparser::Parser::new(0)
        .parse_all(module)
        .filter(|p| matches!(p, Ok(wasmparser::Payload::CustomSection(c)) if c.name() == "wasifs"))
        .count()
}

#[test]
fn rewriting_a_packed_module_again_replaces_the_image_instead_of_stacking_shims() {
    let (dir, module, tree) = copy_fixture();
    let once = dir.path().join("once.wasm");
    std::fs::write(&once, pack(&module, &[("/", &tree)])).unwrap();

    let tree2 = dir.path().join("tree2");
    std::fs::create_dir(&tree2).unwrap();
    std::fs::write(tree2.join("in.txt"), "second image\n").unwrap();
    let twice = pack(&once, &[("/", &tree2)]);

    assert_eq!(wasifs_sections(&twice), 1, "one `wasifs` custom section");
    assert_eq!(memory_count(&twice), 2, "still one shim memory");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let outcome: Outcome = run(&twice, &RunOptions::with_preopen(&out, "/out")).unwrap();
    assert_eq!(
        (outcome.exit_code, outcome.stdout_str().as_str()),
        (0, "second image\n")
    );
}

/// Copies the tree at `from` to `to`: directories, file bytes and symlinks (their targets as they are).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// True when the image embedded in `module` stores its tables as a compressed metadata region.
fn tables_compressed(module: &[u8]) -> bool {
    let magic = wasifs_image::format::MAGIC;
    let at = (0..module.len().saturating_sub(magic.len()))
        .filter(|&i| module[i..].starts_with(&magic))
        .find_map(|i| {
            let header = module.get(i..i + wasifs_image::format::HEADER_SIZE as usize)?;
            let total = wasifs_image::format::total_len(header.try_into().ok()?) as usize;
            wasifs_image::Image::open(module.get(i..i + total)?).ok()
        });
    at.expect("the packed module holds an image")
        .header()
        .meta_compressed()
}

#[test]
fn a_tree_of_many_tiny_files_lists_the_same_through_compressed_tables() {
    // fixtures/tree plus 3,000 files of 1-8 bytes: the tables are most of the image, so the
    // rewriter compresses them; the walk of rust_dirs must not tell.
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("tree");
    copy_tree(&tree(), &t);
    for d in 0..10usize {
        let sub = t.join(format!("many/d{d}"));
        std::fs::create_dir_all(&sub).unwrap();
        for f in 0..300usize {
            let bytes = format!(
                "{:016x}",
                ((d * 300 + f) as u64).wrapping_mul(2_654_435_761)
            );
            std::fs::write(sub.join(format!("f{f:04}")), &bytes[..1 + f % 8]).unwrap();
        }
    }
    let path = fixtures_bin().join("rust_dirs.wasm");
    let original = std::fs::read(&path).unwrap();
    let base = RunOptions {
        args: vec!["rust_dirs.wasm".to_string()],
        ..RunOptions::default()
    };
    let with_dir = RunOptions {
        preopens: vec![(t.clone(), "/".to_string())],
        read_only: vec!["/".to_string()],
        ..base.clone()
    };
    let expected = run(&original, &with_dir).unwrap();
    let packed = pack_specs_with(&path, &[format!("/={}:ro", t.display())], Rewriter::new());
    assert!(tables_compressed(&packed));
    let actual = run(&packed, &base).unwrap();
    assert!(
        expected.stdout_str().contains("f0299"),
        "the walk lists the tiny files"
    );
    let expected = apply_engine_quirks("rust_dirs", expected, &actual);
    assert_same_outcome("rust_dirs over many tiny files", &expected, &actual);
}
