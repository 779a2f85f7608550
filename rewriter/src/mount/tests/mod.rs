//! Tests of the mount stage: spec parsing, placement, the walk and the built image.

mod filter;
mod reproducible;

use super::host_meta::meta_of;
use super::*;
use crate::policy::HostFs;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use wasifs_image::format::{Codec, Node};
use wasifs_image::Image;

fn spec(s: &str) -> MountSpec {
    s.parse()
        .unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

/// Every option of the mount stage, flat, as the tests vary them.
#[derive(Default)]
struct Opts {
    include: Vec<Glob>,
    exclude: Vec<Glob>,
    random_access: Vec<Glob>,
    follow_symlinks: bool,
    level: Level,
    threads: usize,
    host_fs: HostFs,
    preopens: Vec<HostPreopen>,
    mtimes: Mtimes,
}

/// Parses each pattern as `--include`/`--exclude` do.
fn globs(patterns: &[&str]) -> Vec<Glob> {
    patterns
        .iter()
        .map(|p| p.parse().unwrap_or_else(|e| panic!("{p:?}: {e}")))
        .collect()
}

fn opts() -> Opts {
    Opts::default()
}

/// Makes each stage's options from `opts` (where they are validated) and builds the image.
fn build(mounts: &[String], opts: &Opts) -> Result<BuiltImage> {
    let specs: Vec<MountSpec> = mounts.iter().map(|m| spec(m)).collect();
    let walk = WalkOptions::new(
        &opts.include,
        &opts.exclude,
        &opts.random_access,
        opts.follow_symlinks,
        opts.mtimes,
    )?;
    let image = ImageOptions {
        level: opts.level,
        threads: opts.threads,
        progress: None,
        ..ImageOptions::default()
    };
    let host = HostPolicy::new(opts.host_fs, opts.preopens.clone(), Default::default())?;
    build_image(&specs, &walk, &image, &host)
}

fn open(b: &BuiltImage) -> Image<&[u8]> {
    Image::open(b.bytes.as_slice()).expect("built image opens")
}

fn string(img: &Image<&[u8]>, off: u32, len: u32) -> Vec<u8> {
    let mut v = vec![0u8; len as usize];
    img.read_str(off, len, &mut v).expect("string");
    v
}

/// (name, node, readonly) of every preopen.
fn preopens(img: &Image<&[u8]>) -> Vec<(String, u32, bool)> {
    (0..img.preopen_count())
        .map(|i| img.preopen(i).expect("preopen"))
        .map(|p| {
            (
                String::from_utf8_lossy(&string(img, p.name_off, p.name_len)).into_owned(),
                p.node,
                p.readonly,
            )
        })
        .collect()
}

/// Resolves a path (bytes, `/`-separated) from `start` without following symlinks.
fn resolve(img: &Image<&[u8]>, start: u32, path: &[u8]) -> Option<Node> {
    let mut node = img.node(start).expect("node");
    for part in path.split(|&b| b == b'/').filter(|p| !p.is_empty()) {
        node = img
            .node(img.lookup(&node, part).expect("lookup")?)
            .expect("node");
    }
    Some(node)
}

fn names(img: &Image<&[u8]>, dir: &Node) -> Vec<String> {
    (0..dir.b)
        .map(|i| img.dirent(dir, i).expect("dirent"))
        .map(|d| String::from_utf8_lossy(&string(img, d.name_off, d.name_len)).into_owned())
        .collect()
}

fn contents(img: &Image<&[u8]>, f: &Node) -> Vec<u8> {
    let mut out = vec![0u8; f.size as usize];
    let cs = f.chunk_size() as usize;
    for i in 0..f.b {
        let start = i as usize * cs;
        let end = (start + cs).min(out.len());
        img.read_chunk(f, i, &mut out[start..end]).expect("chunk");
    }
    out
}

fn mount_arg(guest: &str, host: &Path) -> String {
    format!("{guest}={}", host.display())
}

/// tree/: a.txt, sub/b.txt, sub/deep/c.txt (mode 0o600), docs/readme.md, link -> sub/b.txt
fn sample_tree() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let p = t.path();
    fs::create_dir_all(p.join("sub/deep")).unwrap();
    fs::create_dir_all(p.join("docs")).unwrap();
    fs::write(p.join("a.txt"), b"alpha").unwrap();
    fs::write(p.join("sub/b.txt"), b"bravo").unwrap();
    fs::write(p.join("sub/deep/c.txt"), b"charlie").unwrap();
    fs::set_permissions(p.join("sub/deep/c.txt"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(p.join("docs/readme.md"), b"# docs").unwrap();
    std::os::unix::fs::symlink("sub/b.txt", p.join("link")).unwrap();
    t
}

#[test]
fn parse_normalises_guest_and_reads_flags() {
    let cases = [
        ("/=./assets", "/", "./assets", false),
        ("//usr//lib/=x:ro", "/usr/lib", "x", true),
        ("/a/./b=h:rw", "/a/b", "h", false),
        ("./data/=d", "data", "d", false),
        (".=d", ".", "d", false),
        ("./=d:ro", ".", "d", true),
        ("/etc=a=b", "/etc", "a=b", false),
    ];
    for (s, guest, host, ro) in cases {
        let m = spec(s);
        assert_eq!(
            (m.guest.as_str(), m.host.as_path(), m.readonly),
            (guest, Path::new(host), ro),
            "{s}"
        );
    }
}

#[test]
fn mount_spec_new_normalises_like_the_flag_and_refuses_what_it_refuses() {
    let m = MountSpec::new("//usr//lib/", "x").unwrap().read_only();
    assert_eq!(m, spec("/usr/lib=x:ro"));
    assert_eq!((m.guest(), m.is_read_only()), ("/usr/lib", true));
    assert_eq!(MountSpec::new("./data", "d").unwrap(), spec("data=d"));
    for (guest, host) in [("/a/../b", "x"), ("", "x"), ("/", "")] {
        assert!(
            MountSpec::new(guest, host).is_err(),
            "{guest:?}={host:?} should be refused"
        );
    }
}

#[test]
fn parse_rejects_malformed_specs_showing_the_expected_form() {
    for bad in [
        "",
        "assets",
        "=x",
        "/=",
        "/=:ro",
        "/a/../b=x",
        "../x=y",
        "/a=x\0y",
    ] {
        let err = bad.parse::<MountSpec>().expect_err(bad).to_string();
        assert!(err.contains("GUEST=HOST"), "{bad:?}: {err}");
    }
}

#[test]
fn tree_with_subdirs_keeps_bytes_modes_mtimes_and_relative_symlink() {
    let t = sample_tree();
    let built = build(&[mount_arg("/", t.path())], &opts()).unwrap();
    let img = open(&built);
    assert_eq!(preopens(&img), vec![("/".to_string(), 0, false)]);
    let root = img.node(0).unwrap();
    assert_eq!(names(&img, &root), ["a.txt", "docs", "link", "sub"]);
    let c = resolve(&img, 0, b"sub/deep/c.txt").unwrap();
    assert_eq!(contents(&img, &c), b"charlie");
    assert_eq!(c.mode, 0o600);
    let host_mtime = meta_of(&fs::metadata(t.path().join("sub/deep/c.txt")).unwrap()).mtime_ns;
    assert!(host_mtime > 0);
    assert_eq!(c.mtime_ns, host_mtime);
    let link = resolve(&img, 0, b"link").unwrap();
    assert!(link.is_symlink());
    assert_eq!(string(&img, link.a, link.b), b"sub/b.txt");
    assert_eq!(
        (built.files, built.dirs, built.symlinks, built.data_len),
        (4, 4, 1, 5 + 5 + 7 + 6)
    );
    assert_eq!(resolve(&img, 0, b"sub").unwrap().nlink, 3);
}

#[test]
fn hardlinks_inside_the_tree_share_one_node() {
    let t = sample_tree();
    fs::hard_link(t.path().join("a.txt"), t.path().join("sub/a-again.txt")).unwrap();
    let built = build(&[mount_arg("/", t.path())], &opts()).unwrap();
    let img = open(&built);
    let a = resolve(&img, 0, b"a.txt").unwrap();
    let again = resolve(&img, 0, b"sub/a-again.txt").unwrap();
    assert_eq!(a.id, again.id);
    assert_eq!(a.nlink, 2);
    assert_eq!(built.files, 4, "the hard link is stored once");
}

#[test]
fn file_mount_is_grafted_under_etc_app_with_its_parent_as_preopen() {
    let t = sample_tree();
    let cfg = tempfile::tempdir().unwrap();
    let file = cfg.path().join("config.toml");
    fs::write(&file, b"key = 1").unwrap();
    let mounts = [
        mount_arg("/etc/app/config.toml", &file),
        format!("{}:ro", mount_arg("/", t.path())),
    ];
    let built = build(&mounts, &opts()).unwrap();
    let img = open(&built);
    let app = resolve(&img, 0, b"etc/app").unwrap();
    assert!(app.is_dir());
    assert_eq!(app.mode, 0o755);
    let conf = resolve(&img, 0, b"etc/app/config.toml").unwrap();
    assert_eq!(contents(&img, &conf), b"key = 1");
    assert_eq!(
        preopens(&img),
        vec![
            ("/etc/app".to_string(), app.id, false),
            ("/".to_string(), 0, true)
        ]
    );
    assert!(
        resolve(&img, 0, b"sub/b.txt").is_some(),
        "the / mount is still there"
    );

    // A file mount whose parent is already a preopen adds no second preopen.
    let mounts = [mount_arg("/", t.path()), mount_arg("/extra.toml", &file)];
    let img_built = build(&mounts, &opts()).unwrap();
    let img = open(&img_built);
    assert_eq!(preopens(&img), vec![("/".to_string(), 0, false)]);
    assert!(resolve(&img, 0, b"extra.toml").is_some());
}

#[test]
fn deeper_mount_shadows_the_same_path_in_a_shallower_one() {
    let outer = sample_tree();
    let inner = tempfile::tempdir().unwrap();
    fs::write(inner.path().join("only-inner"), b"i").unwrap();
    let mounts = [
        mount_arg("/sub", inner.path()),
        mount_arg("/", outer.path()),
    ];
    let built = build(&mounts, &opts()).unwrap();
    let img = open(&built);
    let sub = resolve(&img, 0, b"sub").unwrap();
    assert_eq!(names(&img, &sub), ["only-inner"]);
    assert_eq!(
        preopens(&img),
        vec![
            ("/sub".to_string(), sub.id, false),
            ("/".to_string(), 0, false)
        ]
    );
}

#[test]
fn relative_mounts_get_separate_roots() {
    let t = sample_tree();
    let mounts = [
        mount_arg("/", t.path()),
        mount_arg("./data", &t.path().join("sub")),
    ];
    let built = build(&mounts, &opts()).unwrap();
    let img = open(&built);
    let ps = preopens(&img);
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[1].0, "data");
    let data = img.node(ps[1].1).unwrap();
    assert_eq!(data.parent, data.id, "a separate root is its own parent");
    assert_ne!(data.id, 0);
    assert_eq!(names(&img, &data), ["b.txt", "deep"]);
}

#[test]
fn two_mounts_at_the_same_guest_path_are_rejected_naming_both() {
    let t = sample_tree();
    let mounts = [
        mount_arg("/x", &t.path().join("sub")),
        mount_arg("/x/", &t.path().join("docs")),
    ];
    let err = build(&mounts, &opts()).unwrap_err().to_string();
    assert!(err.contains("/sub") && err.contains("/docs"), "{err}");
    let mounts = [
        mount_arg("/x", &t.path().join("sub")),
        mount_arg("/x", &t.path().join("a.txt")),
    ];
    assert!(
        build(&mounts, &opts()).is_err(),
        "a file and a dir at one path collide"
    );
}

#[test]
fn mount_below_a_file_is_rejected() {
    let t = sample_tree();
    let mounts = [
        mount_arg("/", t.path()),
        mount_arg("/a.txt/x", &t.path().join("sub")),
    ];
    let err = build(&mounts, &opts()).unwrap_err().to_string();
    assert!(err.contains("/a.txt"), "{err}");
}

#[test]
fn missing_source_is_rejected_with_a_hint() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("nope");
    let err = build(&[mount_arg("/", &missing)], &opts()).unwrap_err();
    assert!(
        matches!(&err, Error::Mount { path, .. } if *path == missing),
        "{err}"
    );
    assert!(
        err.to_string().contains("check the path given to --mount"),
        "{err}"
    );
}

#[test]
fn file_source_at_a_directory_guest_is_rejected() {
    let t = sample_tree();
    let err = build(&[mount_arg("/", &t.path().join("a.txt"))], &opts()).unwrap_err();
    assert!(matches!(err, Error::Usage { .. }), "{err}");
}

#[test]
fn follow_symlinks_copies_targets_and_rejects_dangling_and_loops() {
    let t = sample_tree();
    let o = Opts {
        follow_symlinks: true,
        ..opts()
    };
    let built = build(&[mount_arg("/", t.path())], &o).unwrap();
    let img = open(&built);
    let link = resolve(&img, 0, b"link").unwrap();
    assert!(link.is_file());
    assert_eq!(contents(&img, &link), b"bravo");

    std::os::unix::fs::symlink("missing", t.path().join("dangling")).unwrap();
    let err = build(&[mount_arg("/", t.path())], &o)
        .unwrap_err()
        .to_string();
    assert!(err.contains("dangling"), "{err}");
    fs::remove_file(t.path().join("dangling")).unwrap();

    std::os::unix::fs::symlink("..", t.path().join("sub/up")).unwrap();
    let err = build(&[mount_arg("/", t.path())], &o)
        .unwrap_err()
        .to_string();
    assert!(err.contains("up") && err.contains("loop"), "{err}");
    let kept = build(&[mount_arg("/", t.path())], &opts()).unwrap();
    assert!(
        resolve(&open(&kept), 0, b"sub/up").unwrap().is_symlink(),
        "without following, a loop is just a link"
    );
}

#[test]
fn sockets_are_skipped_with_a_warning() {
    let t = sample_tree();
    let _sock = std::os::unix::net::UnixListener::bind(t.path().join("sock")).unwrap();
    let built = build(&[mount_arg("/", t.path())], &opts()).unwrap();
    assert!(resolve(&open(&built), 0, b"sock").is_none());
    assert_eq!(built.warnings.len(), 1);
    assert!(built.warnings[0].contains("socket"), "{:?}", built.warnings);
}

#[test]
fn non_utf8_name_is_refused_naming_it_unless_excluded() {
    let t = tempfile::tempdir().unwrap();
    let name = OsStr::from_bytes(b"caf\xe9.txt");
    fs::write(t.path().join("ok.txt"), b"x").unwrap();
    fs::create_dir(t.path().join("sub")).unwrap();
    fs::write(t.path().join("sub").join(name), b"x").unwrap();
    let err = build(&[mount_arg("/", t.path())], &opts()).expect_err("refused");
    let msg = err.to_string();
    assert!(matches!(err, Error::Mount { .. }), "{msg}");
    assert!(
        msg.contains("sub/caf") && msg.contains("caf\\xe9.txt"),
        "{msg}"
    );
    assert!(
        msg.contains("not valid UTF-8") && msg.contains("--exclude"),
        "{msg}"
    );
    let dir = OsStr::from_bytes(b"d\xff");
    fs::create_dir(t.path().join(dir)).unwrap();
    let o = Opts {
        exclude: globs(&["caf*"]),
        ..opts()
    };
    let err = build(&[mount_arg("/", t.path())], &o).expect_err("the directory is refused too");
    assert!(err.to_string().contains("d\\xff"), "{err}");
    let o = Opts {
        exclude: globs(&["caf*", "d?"]),
        ..opts()
    };
    build(&[mount_arg("/", t.path())], &o).expect("excluded, it is no obstacle");
    let o = Opts {
        include: globs(&["ok.txt"]),
        ..opts()
    };
    let built = build(&[mount_arg("/", t.path())], &o).expect("not included, no obstacle");
    assert!(resolve(&open(&built), 0, b"ok.txt").is_some());
}

#[test]
fn store_level_keeps_chunks_raw_and_default_level_compresses() {
    let t = sample_tree();
    fs::write(t.path().join("big.txt"), "abc".repeat(10_000)).unwrap();
    let raw = build(
        &[mount_arg("/", t.path())],
        &Opts {
            level: Level::STORE,
            ..opts()
        },
    )
    .unwrap();
    let img = open(&raw);
    let big = resolve(&img, 0, b"big.txt").unwrap();
    assert_eq!(img.chunk(&big, 0).unwrap().codec, Codec::Raw);
    let packed = build(&[mount_arg("/", t.path())], &opts()).unwrap();
    let img = open(&packed);
    let codec = img
        .chunk(&resolve(&img, 0, b"big.txt").unwrap(), 0)
        .unwrap()
        .codec;
    // Alone, or against the dictionary of the tree's files.
    assert!(matches!(codec, Codec::Zstd | Codec::ZstdDict), "{codec:?}");
}

#[test]
fn host_preopen_parses_and_normalises_its_guest_name() {
    let p: HostPreopen = "/out//=/tmp/out".parse().unwrap();
    assert_eq!((p.guest.as_str(), p.host.as_str()), ("/out", "/tmp/out"));
    for bad in ["/out", "/out=", "/a/../b=x", "=x"] {
        assert!(
            bad.parse::<HostPreopen>().is_err(),
            "{bad:?} should be refused"
        );
    }
}

#[test]
fn host_preopen_at_a_mounted_guest_path_is_refused() {
    let t = sample_tree();
    let o = Opts {
        preopens: vec!["/data=/tmp/x".parse().unwrap()],
        ..opts()
    };
    let err = build(&[mount_arg("/data", t.path())], &o).unwrap_err();
    assert!(
        err.to_string().contains("both claim the guest path /data"),
        "{err}"
    );
}

#[test]
fn host_policy_is_recorded_in_the_image() {
    let t = sample_tree();
    let o = Opts {
        host_fs: HostFs::Deny,
        preopens: vec!["/out=/tmp/out".parse().unwrap()],
        ..opts()
    };
    let built = build(&[mount_arg("/", t.path())], &o).unwrap();
    let img = open(&built);
    assert!(img.host_fs_denied());
    assert_eq!(img.host_alias_count(), 1);
    let twice = Opts {
        preopens: vec![
            "/a=/tmp/out".parse().unwrap(),
            "/b=/tmp/out".parse().unwrap(),
        ],
        ..opts()
    };
    assert!(build(&[mount_arg("/", t.path())], &twice).is_err());
}

#[test]
fn the_walk_lists_ahead_only_directories_it_enters() {
    // What the listing helper may list under the mount at `/data`: not an `--exclude`d directory,
    // not a deeper mount's path, everything else.
    let exclude = globs(&["target/", "/cache"]);
    let walk = WalkOptions::new(&[], &exclude, &[], false, Mtimes::default()).unwrap();
    let w = walk::Walk::new(ImageBuilder::new(BuildOptions::default()), &walk);
    let comps = vec![b"data".to_vec()];
    let shadow: walk::Shadow = [vec![b"data".to_vec(), b"sub".to_vec(), b"inner".to_vec()]].into();
    let enters = w.enters(&comps, &shadow);
    for (rel, entered) in [
        ("src", true),
        ("src/target", false),
        ("target", false),
        ("cache", false),
        ("src/cache", true),
        ("sub", true),
        ("sub/inner", false),
        ("sub/inner2", true),
    ] {
        assert_eq!(enters(rel.as_bytes()), entered, "{rel}");
    }
    let unshadowed = w.enters(&comps, &walk::Shadow::new());
    assert!(unshadowed(b"sub/inner"));
}
