//! Reproducible output: one tree checked out twice packs to the same bytes under
//! `SOURCE_DATE_EPOCH` or `--mtime`, whatever the checkouts' mtimes.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};
use wasifs::{MountSpec, Rewriter, Timestamp};

/// 2001-09-09T01:46:40Z: earlier than any checkout made by the tests.
const EPOCH: u64 = 1_000_000_000;

fn app() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/bin/wat_cat.wasm")
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// Sets the mtime of file or directory `p`.
fn touch(p: &Path, t: SystemTime) {
    File::open(p)
        .and_then(|f| f.set_modified(t))
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

/// A checkout of the same commit under `root`: the same names, bytes and modes, the files and
/// directories stamped `mtime` (as a checkout made at that time would be); `old.txt` keeps the
/// time `old` (earlier than [`EPOCH`]).
fn checkout(root: &Path, mtime: SystemTime, old: SystemTime) {
    fs::create_dir_all(root.join("sub/deep")).unwrap();
    fs::write(root.join("a.txt"), "alpha\n").unwrap();
    fs::write(root.join("sub/b.txt"), "bravo\n").unwrap();
    fs::write(root.join("sub/deep/c.txt"), "charlie\n").unwrap();
    fs::write(root.join("old.txt"), "old\n").unwrap();
    std::os::unix::fs::symlink("sub/b.txt", root.join("link")).unwrap();
    for f in ["a.txt", "sub/b.txt", "sub/deep/c.txt"] {
        touch(&root.join(f), mtime);
    }
    touch(&root.join("old.txt"), old);
    for d in ["sub/deep", "sub", "."] {
        touch(&root.join(d), mtime);
    }
}

/// Two checkouts, a day apart, whose `old.txt` times are `old_a` and `old_b`.
fn two_checkouts(old_a: u64, old_b: u64) -> (tempfile::TempDir, tempfile::TempDir) {
    let now = SystemTime::now();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    checkout(a.path(), now, at(old_a));
    checkout(b.path(), now - Duration::from_secs(86_400), at(old_b));
    (a, b)
}

fn pack(rewriter: Rewriter, tree: &Path) -> Vec<u8> {
    rewriter
        .mount(MountSpec::new("/", tree).unwrap())
        .rewrite_file(app())
        .unwrap()
        .bytes
}

/// `wasifs rewrite` of the fixture with `tree` at `/`, `SOURCE_DATE_EPOCH` as given.
fn cli_pack(tree: &Path, out: &Path, source_date_epoch: Option<&str>) -> Output {
    cli_pack_with(tree, out, source_date_epoch, &[])
}

/// [`cli_pack`] with more arguments.
fn cli_pack_with(
    tree: &Path,
    out: &Path,
    source_date_epoch: Option<&str>,
    args: &[&str],
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasifs"));
    cmd.arg("rewrite")
        .arg(app())
        .arg("--mount")
        .arg(format!("/={}", tree.display()))
        .arg("-o")
        .arg(out)
        .args(args);
    match source_date_epoch {
        Some(v) => cmd.env("SOURCE_DATE_EPOCH", v),
        None => cmd.env_remove("SOURCE_DATE_EPOCH"),
    };
    cmd.output().expect("running wasifs")
}

#[test]
fn two_checkouts_pack_to_the_same_bytes_under_source_date_epoch() {
    let (a, b) = two_checkouts(EPOCH - 1000, EPOCH - 1000);
    let out = tempfile::tempdir().unwrap();
    let packed = |tree: &Path, name: &str, sde: Option<&str>| {
        let path = out.path().join(name);
        let run = cli_pack(tree, &path, sde);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        fs::read(path).unwrap()
    };
    let epoch = EPOCH.to_string();
    assert_eq!(
        packed(a.path(), "a.wasm", Some(&epoch)),
        packed(b.path(), "b.wasm", Some(&epoch)),
        "SOURCE_DATE_EPOCH makes the checkouts pack alike"
    );
    assert_ne!(
        packed(a.path(), "a0.wasm", None),
        packed(b.path(), "b0.wasm", None),
        "without it the host mtimes are recorded"
    );
}

#[test]
fn clamping_keeps_mtimes_older_than_the_limit() {
    // old.txt differs between the checkouts and is older than the limit: it is kept as it is.
    let (a, b) = two_checkouts(EPOCH - 1000, EPOCH - 2000);
    let clamp = || Rewriter::new().clamp_mtime(Some(Timestamp::from_unix_secs(EPOCH)));
    assert_ne!(pack(clamp(), a.path()), pack(clamp(), b.path()));
    // Clamped below both, it is the same.
    let lower = || Rewriter::new().clamp_mtime(Some(Timestamp::from_unix_secs(EPOCH - 3000)));
    assert_eq!(pack(lower(), a.path()), pack(lower(), b.path()));
}

#[test]
fn fixed_mtime_stamps_every_node_whatever_its_age() {
    let (a, b) = two_checkouts(EPOCH - 1000, EPOCH - 2000);
    let t: Timestamp = "2024-01-02T03:04:05Z".parse().unwrap();
    let fixed = || Rewriter::new().clamp_mtime(None).mtime(t);
    assert_eq!(pack(fixed(), a.path()), pack(fixed(), b.path()));
    let other = || Rewriter::new().mtime(Timestamp::from_unix_secs(EPOCH));
    assert_ne!(
        pack(fixed(), a.path()),
        pack(other(), a.path()),
        "the time given is the one recorded"
    );
}

#[test]
fn malformed_source_date_epoch_is_refused_naming_it() {
    let (a, _b) = two_checkouts(EPOCH, EPOCH);
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("out.wasm");
    let run = cli_pack(a.path(), &target, Some("2024-01-01"));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(stderr.contains("SOURCE_DATE_EPOCH"), "{stderr}");
    assert!(!target.exists(), "nothing written");
}

#[test]
fn mtime_flag_makes_two_checkouts_pack_alike() {
    let (a, b) = two_checkouts(EPOCH - 1000, EPOCH - 2000);
    let out = tempfile::tempdir().unwrap();
    let packed = |tree: &Path, name: &str| {
        let path = out.path().join(name);
        let run = cli_pack_with(tree, &path, None, &["--mtime", "2024-01-02T03:04:05+01:00"]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        fs::read(path).unwrap()
    };
    assert_eq!(packed(a.path(), "a.wasm"), packed(b.path(), "b.wasm"));
}
