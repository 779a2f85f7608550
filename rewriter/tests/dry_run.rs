//! `wasifs rewrite --dry-run` and `Rewriter::dry_run`: what would be embedded and what is left out
//! and why, nothing written, and the same counts as the real rewrite.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use wasifs::{EntryKind, Input, MountSpec, Output, Rewriter};

fn app() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/bin/wat_cat.wasm")
}

/// assets/: a.txt, hard.txt (a hard link to a.txt), link -> a.txt, sub/b.log, sub/keep.log,
/// target/debug/app.
fn tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("assets");
    fs::create_dir_all(a.join("sub")).unwrap();
    fs::create_dir_all(a.join("target/debug")).unwrap();
    fs::write(a.join("a.txt"), "alpha\n").unwrap();
    fs::hard_link(a.join("a.txt"), a.join("hard.txt")).unwrap();
    std::os::unix::fs::symlink("a.txt", a.join("link")).unwrap();
    fs::write(a.join("sub/b.log"), "b\n").unwrap();
    fs::write(a.join("sub/keep.log"), "keep\n").unwrap();
    fs::write(a.join("target/debug/app"), "bin").unwrap();
    t
}

fn rewriter(t: &Path) -> Rewriter {
    Rewriter::new()
        .mount(MountSpec::new("/", t.join("assets")).unwrap())
        .exclude("target/".parse().unwrap())
        .exclude("*.log".parse().unwrap())
        .exclude("!keep.log".parse().unwrap())
}

#[test]
fn dry_run_lists_nodes_and_left_out_entries_with_the_counts_of_the_real_rewrite() {
    let t = tree();
    let out = t.path().join("out.wasm");
    let plan = rewriter(t.path())
        .dry_run(&Input::File(app()), &Output::File(out.clone()))
        .unwrap();
    assert!(!out.exists(), "nothing written");
    let listed: Vec<(&str, &EntryKind, u64)> = plan
        .entries
        .iter()
        .map(|e| (e.guest.as_str(), &e.kind, e.size))
        .collect();
    assert_eq!(
        listed,
        [
            ("/", &EntryKind::Dir, 0),
            ("/a.txt", &EntryKind::File, 6),
            ("/hard.txt", &EntryKind::HardLink, 6),
            ("/link", &EntryKind::Symlink("a.txt".into()), 5),
            ("/sub", &EntryKind::Dir, 0),
            ("/sub/keep.log", &EntryKind::File, 5),
        ]
    );
    let skipped: Vec<(String, &str)> = plan
        .skipped
        .iter()
        .map(|s| {
            let rel = s.host.strip_prefix(t.path()).unwrap();
            (rel.display().to_string(), s.reason.as_str())
        })
        .collect();
    assert_eq!(
        skipped,
        [
            ("assets/sub/b.log".to_string(), "--exclude \"*.log\""),
            ("assets/target".to_string(), "--exclude \"target/\""),
        ]
    );
    let report = rewriter(t.path()).write_file(app(), &out).unwrap();
    assert_eq!(
        (plan.files, plan.dirs, plan.symlinks, plan.data_len),
        (report.files, report.dirs, report.symlinks, report.data_len)
    );
}

#[test]
fn dry_run_flag_prints_the_listing_and_writes_nothing() {
    let t = tree();
    let input = t.path().join("app.wasm");
    fs::copy(app(), &input).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wasifs"))
        .current_dir(t.path())
        .args([
            "rewrite",
            "app.wasm",
            "-m",
            "/=.",
            "--exclude",
            "target/",
            "--random-access",
            "hard.txt",
            "--dry-run",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("f          6  /assets/a.txt  <- ./assets/a.txt"),
        "{stdout}"
    );
    assert!(
        stdout.contains("/assets/hard.txt (hard link, random access)  <- ./assets/hard.txt"),
        "{stdout}"
    );
    assert!(
        stdout.contains("./assets/target  left out: --exclude \"target/\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("./app.wasm  left out: the input module"),
        "{stdout}"
    );
    assert!(
        stdout.contains("dry run, nothing written to app.packed.wasm"),
        "{stdout}"
    );
    assert!(!t.path().join("app.packed.wasm").exists());
}
