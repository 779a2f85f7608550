//! `wasifs inspect`, `ls` and `extract` on a module packed from fixtures/tree (plus a read-only
//! second mount), compared with the source trees; `extract` never writes outside its directory.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What an entry of a host tree or of the embedded tree is, as compared here.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    kind: char,
    mode: u32,
    size: u64,
    mtime_ns: u64,
    target: Option<String>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

fn wasifs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasifs"))
        .args(args)
        .output()
        .expect("running wasifs")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "wasifs failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// `wasifs rewrite fixtures/bin/APP ARGS... -o OUT -q`, which must succeed.
fn rewrite(app: &str, args: &[&str], out: &Path) {
    let app = fixture(&format!("bin/{app}"));
    let mut all = vec!["rewrite", app.to_str().unwrap()];
    all.extend_from_slice(args);
    all.extend(["-o", out.to_str().unwrap(), "-q"]);
    ok(wasifs(&all));
}

/// Every entry below `dir` (not `dir` itself), keyed by `prefix` + relative path.
fn host_tree(dir: &Path, prefix: &str) -> BTreeMap<String, Meta> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(dir.to_path_buf(), prefix.trim_end_matches('/').to_string())];
    while let Some((d, guest)) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let m = std::fs::symlink_metadata(&path).unwrap();
            let g = format!("{guest}/{}", e.file_name().to_string_lossy());
            let kind = if m.is_dir() {
                'd'
            } else if m.file_type().is_symlink() {
                'l'
            } else {
                '-'
            };
            let target = (kind == 'l').then(|| {
                std::fs::read_link(&path)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            });
            out.insert(
                g.clone(),
                Meta {
                    kind,
                    mode: m.permissions().mode() & 0o7777,
                    size: match kind {
                        'd' => 0,
                        'l' => target.as_ref().map_or(0, |t| t.len() as u64),
                        _ => m.len(),
                    },
                    mtime_ns: (m.mtime() as u64) * 1_000_000_000 + m.mtime_nsec() as u64,
                    target,
                },
            );
            if kind == 'd' {
                stack.push((path, g));
            }
        }
    }
    out
}

/// A module packed from fixtures/tree at `/` and fixtures/rwtree at `/data:ro`.
struct Packed {
    dir: tempfile::TempDir,
}

impl Packed {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.wasm");
        rewrite(
            "wat_cat.wasm",
            &[
                "-m",
                &format!("/={}", fixture("tree").display()),
                "-m",
                &format!("/data={}:ro", fixture("rwtree").display()),
            ],
            &out,
        );
        Packed { dir }
    }

    fn module(&self) -> String {
        self.dir.path().join("out.wasm").display().to_string()
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(self.module()).unwrap()
    }

    /// Both source trees as the guest sees them.
    fn expected(&self) -> BTreeMap<String, Meta> {
        let mut all = host_tree(&fixture("tree"), "/");
        all.extend(host_tree(&fixture("rwtree"), "/data"));
        all
    }
}

fn listed(entries: &[wasifs::ImageEntry]) -> BTreeMap<String, Meta> {
    entries
        .iter()
        .map(|e| {
            (
                e.path.clone(),
                Meta {
                    kind: match e.kind {
                        wasifs::ImageEntryKind::Dir => 'd',
                        wasifs::ImageEntryKind::Symlink => 'l',
                        wasifs::ImageEntryKind::File => '-',
                    },
                    mode: e.mode & 0o7777,
                    size: e.size,
                    mtime_ns: e.mtime_ns,
                    target: e.target.clone(),
                },
            )
        })
        .collect()
}

#[test]
fn list_recursive_gives_every_entry_of_the_source_trees_with_mode_size_mtime_and_target() {
    let p = Packed::new();
    let bytes = p.bytes();
    let mut got = listed(&wasifs::list(&bytes, Some("/"), true).unwrap());
    // `/data` is the second mount; the first lists its mount point, the second its contents.
    got.extend(listed(&wasifs::list(&bytes, Some("/data"), true).unwrap()));
    let mut expected = p.expected();
    let data = got.get("/data").cloned().expect("/data listed");
    assert_eq!(data.kind, 'd');
    expected.insert("/data".into(), data);
    assert_eq!(got, expected);
}

#[test]
fn ls_long_recursive_prints_one_line_per_entry_with_mode_size_and_symlink_target() {
    let p = Packed::new();
    let text = ok(wasifs(&["ls", &p.module(), "/", "-lR"]));
    let expected = host_tree(&fixture("tree"), "/");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > expected.len(), "{text}"); // + the /data mount point
    for (path, m) in &expected {
        let mut want = format!(" {path}");
        if let Some(t) = &m.target {
            want.push_str(&format!(" -> {t}"));
        }
        let line = lines
            .iter()
            .find(|l| l.ends_with(&want))
            .unwrap_or_else(|| panic!("no line for {path} in\n{text}"));
        assert!(line.starts_with(m.kind), "{line}");
        assert!(line.contains(&format!(" {} ", m.size)), "{line}");
    }
    let short = ok(wasifs(&["ls", &p.module(), "/sub"]));
    assert!(short.lines().all(|l| l.starts_with("/sub/")), "{short}");
    assert!(short.lines().any(|l| l == "/sub/a.txt"), "{short}");
}

#[test]
fn ls_of_a_missing_path_fails_naming_it() {
    let p = Packed::new();
    let out = wasifs(&["ls", &p.module(), "/no/such"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such"));
}

#[test]
fn extract_writes_a_byte_identical_tree_with_modes_mtimes_and_symlinks() {
    let p = Packed::new();
    let dest = p.dir.path().join("x");
    ok(wasifs(&[
        "extract",
        &p.module(),
        "-C",
        dest.to_str().unwrap(),
        "-q",
    ]));
    let mut got = host_tree(&dest, "/");
    let mut expected = p.expected();
    // The mount point of `/data` is a directory of the first mount too.
    got.remove("/data");
    expected.remove("/data");
    assert_eq!(got, expected);
    for (path, m) in &p.expected() {
        if m.kind == '-' {
            let src = if let Some(rest) = path.strip_prefix("/data/") {
                fixture("rwtree").join(rest)
            } else {
                fixture("tree").join(&path[1..])
            };
            let a = std::fs::read(src).unwrap();
            let b = std::fs::read(dest.join(&path[1..])).unwrap();
            assert!(a == b, "{path} differs");
        }
    }
}

#[test]
fn extract_of_guest_paths_writes_only_those_subtrees() {
    let p = Packed::new();
    let dest = p.dir.path().join("some");
    let done = wasifs::extract(&p.bytes(), &dest, &["/sub/nested", "/data/full"]).unwrap();
    let got = host_tree(&dest, "/");
    let want: Vec<&str> = got.keys().map(String::as_str).collect();
    assert!(want.contains(&"/sub/nested/b.txt"), "{want:?}");
    assert!(want.contains(&"/data/full/x.txt"), "{want:?}");
    assert!(!want.contains(&"/hello.txt"), "{want:?}");
    assert!(!want.contains(&"/sub/a.txt"), "{want:?}");
    assert!(done.files >= 2);
}

#[test]
fn extract_never_writes_through_a_symlink_to_outside_the_directory() {
    let p = Packed::new();
    let victim = p.dir.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    let dest = p.dir.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    // A symlink planted where the tree has a directory.
    std::os::unix::fs::symlink(&victim, dest.join("sub")).unwrap();
    let out = wasifs(&["extract", &p.module(), "-C", dest.to_str().unwrap()]);
    assert!(!out.status.success(), "extract wrote through a symlink");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("symlink is never followed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0);

    // A symlink planted where the tree has a file is replaced, not written through.
    let dest = p.dir.path().join("dest2");
    std::fs::create_dir(&dest).unwrap();
    let outside = victim.join("hello.txt");
    std::fs::write(&outside, "untouched").unwrap();
    std::os::unix::fs::symlink(&outside, dest.join("hello.txt")).unwrap();
    ok(wasifs(&[
        "extract",
        &p.module(),
        "-C",
        dest.to_str().unwrap(),
        "-q",
    ]));
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "untouched");
    assert_eq!(
        std::fs::read(dest.join("hello.txt")).unwrap(),
        std::fs::read(fixture("tree/hello.txt")).unwrap()
    );
    // The tree's own symlinks that point outside are written as symlinks, not followed.
    let escape = std::fs::symlink_metadata(dest.join("escape")).unwrap();
    assert!(escape.file_type().is_symlink());
}

#[test]
fn extract_refuses_a_guest_path_with_dot_dot() {
    let p = Packed::new();
    let dest = p.dir.path().join("d");
    let err = wasifs::extract(&p.bytes(), &dest, &["/sub/../../etc"]).unwrap_err();
    assert!(err.to_string().contains(".."), "{err}");
}

#[test]
fn inspect_json_has_the_documented_keys_and_the_tree_counts() {
    let p = Packed::new();
    let json: serde_json::Value =
        serde_json::from_str(&ok(wasifs(&["inspect", &p.module(), "--json"]))).unwrap();
    assert_eq!(json["schema_version"], 1);
    for key in [
        "/module/size",
        "/wasifs_version",
        "/record_version",
        "/shim/hash",
        "/shim/current",
        "/image/format_version",
        "/image/size",
        "/image/data_size",
        "/image/ratio",
        "/image/files",
        "/image/dirs",
        "/image/symlinks",
        "/mounts",
        "/policies/host_fs",
        "/policies/max_write_memory",
        "/policies/env",
        "/policies/env_from_host/mode",
        "/policies/args",
        "/policies/stdin",
        "/policies/stdout",
        "/policies/stderr",
        "/policies/clock/mode",
        "/policies/random/mode",
        "/policies/deny",
        "/policies/trace",
        "/policies/preopens",
        "/largest",
        "/layout/cache_size",
        "/layout/chunks",
        "/layout/packed_files",
        "/layout/lz4_files",
        "/layout/dict_size",
        "/layout/blocks",
        "/layout/tables/compressed",
        "/imports/served_by_shim",
        "/imports/to_host",
        "/imports/other",
    ] {
        assert!(json.pointer(key).is_some(), "no {key} in {json:#}");
    }
    let expected = p.expected();
    let count = |k: char| expected.values().filter(|m| m.kind == k).count() as u64;
    assert_eq!(json["image"]["files"], count('-'));
    assert_eq!(json["image"]["symlinks"], count('l'));
    let data: u64 = expected
        .values()
        .filter(|m| m.kind == '-')
        .map(|m| m.size)
        .sum();
    assert_eq!(json["image"]["data_size"], data);
    // Every non-empty file is either in chunks of some size or packed into a shared block.
    let non_empty = expected
        .values()
        .filter(|m| m.kind == '-' && m.size > 0)
        .count() as u64;
    let layout = &json["layout"];
    let chunked: u64 = layout["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["files"].as_u64().unwrap())
        .sum();
    assert_eq!(
        chunked + layout["packed_files"].as_u64().unwrap(),
        non_empty
    );
    assert!(layout["packed_files"].as_u64().unwrap() > 0, "{layout}");
    assert!(layout["blocks"].as_u64().unwrap() > 0, "{layout}");
    assert_eq!(layout["cache_size"], 8 << 20);
    assert_eq!(json["shim"]["current"], true);
    let mounts = json["mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 2);
    assert_eq!(mounts[0]["guest"], "/");
    assert_eq!(mounts[0]["read_only"], false);
    assert_eq!(mounts[1]["guest"], "/data");
    assert_eq!(mounts[1]["read_only"], true);
    assert_eq!(json["policies"]["host_fs"], "allow");
    assert_eq!(json["largest"][0]["path"], "/big-mixed.txt");
    assert_eq!(json["largest"][0]["size"], 614400);
    let served = json["imports"]["served_by_shim"].as_array().unwrap();
    assert!(served.iter().any(|s| s == "fd_read"), "{served:?}");
    let to_host = json["imports"]["to_host"].as_array().unwrap();
    assert!(to_host.iter().any(|s| s == "proc_exit"), "{to_host:?}");
}

#[test]
fn inspect_text_names_versions_mounts_policy_and_imports() {
    let p = Packed::new();
    let text = ok(wasifs(&["inspect", &p.module()]));
    let v = wasifs::versions();
    assert!(text.contains(&format!("{:016x}", v.shim_hash)), "{text}");
    assert!(
        text.contains(&format!("format {}", v.image_format)),
        "{text}"
    );
    assert!(text.contains("/data:ro"), "{text}");
    assert!(text.contains("host fs"), "{text}");
    assert!(text.contains("served"), "{text}");
    assert!(text.contains("/big-mixed.txt"), "{text}");
    assert!(text.contains("shared block"), "{text}");
    assert!(text.contains("(--cache-size)"), "{text}");
}

#[test]
fn inspect_of_a_module_never_rewritten_says_so() {
    let out = wasifs(&["inspect", fixture("bin/wat_cat.wasm").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not rewritten by wasifs"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn inspect_shows_the_host_fs_policy_preopen_aliases_and_write_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("h.wasm");
    rewrite(
        "wat_cat.wasm",
        &[
            "-m",
            &format!("/={}", fixture("tree").display()),
            "--host-fs",
            "deny",
            "--preopen",
            "/out=/tmp/out",
            "--max-write-memory",
            "1M",
        ],
        &out,
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(wasifs(&["inspect", out.to_str().unwrap(), "--json"]))).unwrap();
    assert_eq!(json["policies"]["host_fs"], "deny");
    assert_eq!(json["policies"]["max_write_memory"], 1 << 20);
    assert_eq!(
        json["policies"]["preopens"],
        serde_json::json!([{ "guest": "/out", "host": "/tmp/out" }])
    );
    let text = ok(wasifs(&["inspect", out.to_str().unwrap()]));
    assert!(text.contains("deny"), "{text}");
    assert!(text.contains("/out=/tmp/out"), "{text}");
}

#[test]
fn inspect_of_a_module_packed_without_mounts_shows_none_and_ls_lists_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("z.wasm");
    rewrite("wat_cat.wasm", &[], &out);
    let bytes = std::fs::read(&out).unwrap();
    let i = wasifs::inspect(&bytes).unwrap();
    assert!(i.mounts.is_empty());
    assert_eq!((i.files, i.dirs, i.symlinks), (0, 0, 0));
    assert!(wasifs::list(&bytes, None, true).unwrap().is_empty());
}

#[test]
fn extract_keeps_hard_links_modes_of_read_only_dirs_empty_dirs_and_old_mtimes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let fs = std::fs::create_dir_all;
    fs(src.join("a")).unwrap();
    fs(src.join("ro")).unwrap();
    fs(src.join("e")).unwrap();
    std::fs::write(src.join("a/x"), b"shared bytes").unwrap();
    std::fs::hard_link(src.join("a/x"), src.join("a/hard")).unwrap();
    std::fs::write(src.join("ro/f"), b"read only").unwrap();
    std::fs::write(src.join("exec"), b"#!/bin/sh\n").unwrap();
    let when = std::time::UNIX_EPOCH + std::time::Duration::new(1_000_000_000, 123_456_789);
    let set = |rel: &str, mode: u32| {
        let p = src.join(rel);
        std::fs::File::open(&p).unwrap().set_modified(when).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    set("a/x", 0o600);
    set("ro/f", 0o444);
    set("exec", 0o755);
    set("e", 0o700);
    set("ro", 0o555);
    set("a", 0o750);

    let app = std::fs::read(fixture("bin/wat_cat.wasm")).unwrap();
    let packed = wasifs::Rewriter::new()
        .mount(format!("/={}", src.display()).parse().unwrap())
        .rewrite(&app)
        .unwrap();
    let out = dir.path().join("out");
    let done = wasifs::extract(&packed.bytes, &out, &[]).unwrap();
    assert_eq!(done.files, 4); // a/x, a/hard, ro/f, exec
    assert_eq!(host_tree(&out, "/"), host_tree(&src, "/"));
    let ino = |rel: &str| std::fs::metadata(out.join(rel)).unwrap().ino();
    assert_eq!(
        ino("a/x"),
        ino("a/hard"),
        "the hard link is a hard link again"
    );
    assert_eq!(std::fs::metadata(out.join("a/x")).unwrap().nlink(), 2);
}

#[test]
fn inspect_counts_a_sparse_file_s_zeros_and_extract_writes_it_back_with_its_holes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    // 20 MiB (larger than the cache) with a few bytes at 1 MiB and 15 MiB, ending in a hole.
    let f = std::fs::File::create(src.join("disk.img")).unwrap();
    f.set_len(20 << 20).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"boot sector", 1 << 20).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"journal", 15 << 20).unwrap();
    drop(f);
    let app = std::fs::read(fixture("bin/wat_cat.wasm")).unwrap();
    let packed = wasifs::Rewriter::new()
        .mount(format!("/={}", src.display()).parse().unwrap())
        .rewrite(&app)
        .unwrap();
    // All but the two chunks written to (256 KiB, or 4 KiB where the file system keeps no holes).
    let zeros = wasifs::inspect(&packed.bytes).unwrap().layout.zero_bytes;
    assert!(zeros >= (20 << 20) - (512 << 10), "{zeros} bytes of zeros");
    let out = dir.path().join("out");
    let done = wasifs::extract(&packed.bytes, &out, &[]).unwrap();
    assert_eq!(done.bytes, 20 << 20);
    let (want, got) = (src.join("disk.img"), out.join("disk.img"));
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&want).unwrap());
    let allocated = |p: &Path| std::fs::metadata(p).unwrap().blocks() * 512;
    if allocated(&want) < 1 << 20 {
        // The file system keeps holes: the copy is as sparse as the original.
        assert!(
            allocated(&got) < 1 << 20,
            "{} bytes allocated",
            allocated(&got)
        );
    }
}

#[test]
fn inspect_shows_the_wasi_policies_given_at_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.wasm");
    rewrite(
        "rust_read.wasm",
        &[
            "-m",
            &format!("/={}", fixture("tree/sub").display()),
            "--env",
            "LANG=C",
            "--arg",
            "one",
            "--env-from-host",
            "HOME,PATH",
            "--clock",
            "fixed:2024-01-01T00:00:00Z",
            "--random",
            "seed:42",
            "--stdin",
            "null",
            "--stderr",
            "deny",
            "--deny",
            "trap",
        ],
        &out,
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(wasifs(&["inspect", out.to_str().unwrap(), "--json"]))).unwrap();
    let p = &json["policies"];
    assert_eq!(
        p["env"],
        serde_json::json!([{ "name": "LANG", "value": "C" }])
    );
    assert_eq!(p["args"], serde_json::json!(["one"]));
    assert_eq!(
        p["env_from_host"],
        serde_json::json!({ "mode": "only", "names": ["HOME", "PATH"] })
    );
    assert_eq!(
        p["clock"],
        serde_json::json!({ "mode": "fixed", "fixed_ns": 1_704_067_200_000_000_000u64 })
    );
    assert_eq!(
        p["random"],
        serde_json::json!({ "mode": "seed", "seed": 42 })
    );
    assert_eq!(
        (p["stdin"].as_str(), p["stdout"].as_str()),
        (Some("null"), Some("inherit"))
    );
    assert_eq!(p["stderr"], "deny");
    assert_eq!(p["deny"], "trap");
    assert_eq!(p["trace"], "off");
    let text = ok(wasifs(&["inspect", out.to_str().unwrap()]));
    assert!(text.contains("clock: fixed:2024-01-01T00:00:00Z"), "{text}");
    assert!(text.contains("random: seed:42"), "{text}");
}
