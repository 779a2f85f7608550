//! A file output is written while its image is built (streamed, then patched): it must have the
//! bytes of the same rewrite made in memory, and a build that fails half-way must leave no file.

mod common;

use common::Case;
use std::fs;
use std::path::Path;
use wasifs::{CacheSize, MemoryLayout, MountSpec, Rewriter};

/// `n` bytes of text that zstd compresses, varying with `seed`.
fn text(n: usize, seed: u64) -> Vec<u8> {
    let words = [
        "alpha ", "bravo ", "charlie ", "delta ", "echo\n", "foxtrot ",
    ];
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(words[(x % 6) as usize].as_bytes());
    }
    out.truncate(n);
    out
}

/// A tree that takes every path through the image builder: identical files (the second copy is
/// written, then cut off), many small files (shared blocks; tables large enough to compress), a
/// file larger than four times the cache (read at random: LZ4 chunks and a dictionary), an empty
/// file and a symlink.
fn varied_tree(case: &Case) -> std::path::PathBuf {
    let root = case.path("tree");
    fs::create_dir_all(root.join("dup/a")).unwrap();
    fs::create_dir_all(root.join("dup/b")).unwrap();
    fs::create_dir_all(root.join("many")).unwrap();
    let big = text(700 << 10, 1);
    fs::write(root.join("dup/a/big.txt"), &big).unwrap();
    fs::write(root.join("dup/b/big.txt"), &big).unwrap();
    fs::write(root.join("dup/a/small.txt"), "same\n").unwrap();
    fs::write(root.join("dup/b/small.txt"), "same\n").unwrap();
    for i in 0..2000u64 {
        fs::write(
            root.join(format!("many/f{i:04}.txt")),
            text(40 + (i as usize % 300), i),
        )
        .unwrap();
    }
    fs::write(root.join("random.db"), text(400 << 10, 7)).unwrap();
    fs::write(root.join("empty"), "").unwrap();
    std::os::unix::fs::symlink("dup/a/big.txt", root.join("link")).unwrap();
    root
}

/// No temporary output file is left in the case's directory.
fn assert_no_temporary_files(case: &Case) {
    let left: Vec<_> = fs::read_dir(case.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

fn rewriter(tree: &Path) -> Rewriter {
    // A 64 KiB cache makes `random.db` (400 KiB) a file read at random.
    Rewriter::new()
        .mount(MountSpec::new("/", tree).unwrap())
        .cache_size("64K".parse::<CacheSize>().unwrap())
}

#[test]
fn a_file_output_has_the_bytes_of_the_same_rewrite_in_memory() {
    let case = Case::new();
    let tree = varied_tree(&case);
    let app = case.path("app.wasm");
    let mut redirected = Vec::new();
    for layout in [MemoryLayout::Multi, MemoryLayout::Single] {
        let out = case.path("out.wasm");
        let report = rewriter(&tree)
            .memory_layout(layout)
            .write_file(&app, &out)
            .unwrap();
        let in_memory = rewriter(&tree)
            .memory_layout(layout)
            .rewrite_file(&app)
            .unwrap();
        let written = fs::read(&out).unwrap();
        assert!(
            written == in_memory.bytes,
            "{layout:?}: file and memory outputs differ"
        );
        assert_eq!(report.output_len, written.len() as u64, "{layout:?}");
        assert_eq!(report.image_len, in_memory.report.image_len, "{layout:?}");
        assert!(common::is_wasm(&written), "{layout:?}");
        // The single layout's image fills a folded module's segment: still a first rewrite.
        assert!(!report.image_replaced, "{layout:?}");
        redirected.push(report.redirected);
    }
    assert!(!redirected[0].is_empty() && redirected[0] == redirected[1]);
}

#[test]
fn a_packed_module_rewritten_again_into_a_file_has_the_bytes_of_the_same_rewrite_in_memory() {
    let case = Case::new();
    let tree = varied_tree(&case);
    let packed = case.path("packed.wasm");
    Rewriter::new()
        .mount(MountSpec::new("/", case.path("assets")).unwrap())
        .write_file(case.path("app.wasm"), &packed)
        .unwrap();
    let out = case.path("again.wasm");
    let report = rewriter(&tree).write_file(&packed, &out).unwrap();
    assert!(report.image_replaced);
    let in_memory = rewriter(&tree).rewrite_file(&packed).unwrap();
    assert!(fs::read(&out).unwrap() == in_memory.bytes);
}

/// `/proc/version` says it is 0 bytes long and reads as more: the build fails after the file data
/// before it was streamed into the output.
#[cfg(target_os = "linux")]
#[test]
fn a_build_failing_half_way_leaves_the_old_output_and_no_temporary_file() {
    let case = Case::new();
    let tree = varied_tree(&case);
    std::os::unix::fs::symlink("/proc/version", tree.join("zzz-proc-version")).unwrap();
    let out = case.path("out.wasm");
    fs::write(&out, "the old output").unwrap();
    let err = rewriter(&tree)
        .follow_symlinks(true)
        .write_file(case.path("app.wasm"), &out)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("zzz-proc-version") && err.contains("changed size"),
        "{err}"
    );
    assert_eq!(fs::read(&out).unwrap(), b"the old output");
    assert_no_temporary_files(&case);
}

/// The module is merged on a thread of its own while the tree is walked and its image built: a
/// module that fails to merge (invalid code, found by the merged module's validation) is
/// reported as invalid, also when the build fails too, and leaves the old output and no
/// temporary file.
#[cfg(target_os = "linux")]
#[test]
fn a_module_failing_to_merge_while_the_image_is_built_is_invalid_and_leaves_the_old_output() {
    let case = Case::new();
    let tree = varied_tree(&case);
    let bad = r#"(module
      (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 2)
      (func (export "_start") (result i32) (i64.const 1)))"#;
    let app = case.write("bad.wasm", wat::parse_str(bad).unwrap());
    let out = case.path("out.wasm");
    fs::write(&out, "the old output").unwrap();
    for build_fails_too in [false, true] {
        if build_fails_too {
            std::os::unix::fs::symlink("/proc/version", tree.join("zzz-proc-version")).unwrap();
        }
        let err = rewriter(&tree)
            .follow_symlinks(true)
            .write_file(&app, &out)
            .unwrap_err();
        match &err {
            wasifs::Error::Invalid { path, message, .. } => {
                assert_eq!(path, &app);
                assert!(message.contains("type mismatch"), "{message}");
            }
            other => panic!("expected Invalid, got {other}"),
        }
        assert_eq!(fs::read(&out).unwrap(), b"the old output");
        assert_no_temporary_files(&case);
    }
}
