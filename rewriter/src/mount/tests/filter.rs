//! Tests of `--include`/`--exclude`/`--random-access`: `.gitignore` semantics, as real projects'
//! ignore files use them.

use super::*;

/// Every path in the image below node 0, directories with a trailing `/`, sorted.
fn all_paths(img: &Image<&[u8]>) -> Vec<String> {
    fn walk(img: &Image<&[u8]>, dir: &Node, prefix: &str, out: &mut Vec<String>) {
        for i in 0..dir.b {
            let d = img.dirent(dir, i).expect("dirent");
            let name = String::from_utf8_lossy(&string(img, d.name_off, d.name_len)).into_owned();
            let node = img.node(d.node).expect("node");
            let path = format!("{prefix}{name}");
            if node.kind == wasifs_image::format::Kind::Dir {
                out.push(format!("{path}/"));
                walk(img, &node, &format!("{path}/"), out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(img, &img.node(0).expect("root"), "", &mut out);
    out.sort();
    out
}

/// Creates `files` (paths relative to a new temp dir; a trailing `/` makes an empty directory).
fn tree(files: &[&str]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for f in files {
        let p = t.path().join(f);
        if f.ends_with('/') {
            fs::create_dir_all(&p).unwrap();
        } else {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, f.as_bytes()).unwrap();
        }
    }
    t
}

/// The paths embedded from `t` mounted at `/` with these patterns, and the warnings.
fn embedded(
    t: &tempfile::TempDir,
    include: &[&str],
    exclude: &[&str],
) -> (Vec<String>, Vec<String>) {
    let o = Opts {
        include: globs(include),
        exclude: globs(exclude),
        ..opts()
    };
    let built = build(&[mount_arg("/", t.path())], &o).unwrap();
    (all_paths(&open(&built)), built.warnings)
}

#[test]
fn excluded_dir_is_pruned_and_include_filters_files_only() {
    let t = sample_tree();
    let o = Opts {
        exclude: globs(&["docs/"]),
        include: globs(&["*.txt"]),
        ..opts()
    };
    let built = build(&[mount_arg("/", t.path())], &o).unwrap();
    let img = open(&built);
    assert_eq!(
        names(&img, &img.node(0).unwrap()),
        ["a.txt", "sub"],
        "docs pruned, link not included"
    );
    assert!(
        resolve(&img, 0, b"sub/deep/c.txt").is_some(),
        "a bare pattern matches at any depth"
    );

    let o = Opts {
        exclude: globs(&["sub/deep", "/a.txt"]),
        ..opts()
    };
    let img_built = build(&[mount_arg("/", t.path())], &o).unwrap();
    let img = open(&img_built);
    assert_eq!(names(&img, &img.node(0).unwrap()), ["docs", "link", "sub"]);
    assert_eq!(names(&img, &resolve(&img, 0, b"sub").unwrap()), ["b.txt"]);
}

#[test]
fn bad_or_empty_pattern_is_refused_when_parsed_showing_the_syntax() {
    for bad in ["a[", "", "/", "!", "./", "!/", "#comment", "  "] {
        let err = bad.parse::<Glob>().expect_err(bad);
        assert!(matches!(err, Error::Usage { .. }), "{err}");
        assert!(err.to_string().contains(".gitignore"), "{err}");
    }
}

/// A Rust + Node project and the lines their `.gitignore`s have.
const PROJECT: &[&str] = &[
    "Cargo.toml",
    "src/main.rs",
    "src/target",
    "src/build/gen.rs",
    "target/debug/app",
    "target/.rustc_info.json",
    "build/out.o",
    "app.log",
    "keep.log",
    "logs/x.log",
    "logs/keep.log",
    "node_modules/x.js",
    "web/node_modules/pkg/index.js",
    "web/src/app.js",
];

#[test]
fn gitignore_lines_from_real_projects_exclude_what_git_would() {
    let t = tree(PROJECT);
    let (paths, warnings) = embedded(
        &t,
        &[],
        &["target/", "*.log", "!keep.log", "/build", "**/node_modules"],
    );
    assert_eq!(
        paths,
        [
            "Cargo.toml",
            "keep.log",
            "logs/",
            "logs/keep.log",
            "src/",
            "src/build/",
            "src/build/gen.rs",
            "src/main.rs",
            "src/target",
            "web/",
            "web/src/",
            "web/src/app.js",
        ],
        "target/ only matches directories, /build only at the top, !keep.log re-includes at any depth"
    );
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn exclude_with_trailing_slash_leaves_files_of_that_name_and_dot_slash_anchors() {
    let t = tree(&["sub/a", "x/sub", "x/y/sub/b", "x/keep", "y/x"]);
    let (paths, _) = embedded(&t, &[], &["sub/", "./x/y"]);
    assert_eq!(paths, ["x/", "x/keep", "x/sub", "y/", "y/x"]);
    let (paths, _) = embedded(&t, &[], &["./x"]);
    assert_eq!(
        paths,
        ["sub/", "sub/a", "y/", "y/x"],
        "./x is /x: y/x stays"
    );
}

#[test]
fn include_of_a_directory_takes_everything_below_it_and_drops_directories_left_empty() {
    let t = tree(&[
        "sub/a.txt",
        "sub/deep/b.bin",
        "sub/empty/",
        "other/c.txt",
        "other/d/e.bin",
        "top.txt",
    ]);
    let (paths, _) = embedded(&t, &["sub"], &[]);
    assert_eq!(
        paths,
        [
            "sub/",
            "sub/a.txt",
            "sub/deep/",
            "sub/deep/b.bin",
            "sub/empty/"
        ],
        "an included directory comes whole, its empty subdirectories too; other/ is not embedded"
    );
    let (paths, _) = embedded(&t, &["*.txt"], &[]);
    assert_eq!(
        paths,
        ["other/", "other/c.txt", "sub/", "sub/a.txt", "top.txt"],
        "directories with no included file are left out"
    );
    let (paths, _) = embedded(&t, &["./sub/", "!*.bin"], &["a.txt"]);
    assert_eq!(
        paths,
        ["sub/", "sub/deep/", "sub/empty/"],
        "! and --exclude take files back out"
    );
}

#[test]
fn a_pattern_that_matches_nothing_is_warned_about_by_flag() {
    let t = tree(PROJECT);
    let (_, warnings) = embedded(&t, &["src/", "*.nothing"], &["*.log", "dist/"]);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("--include \"*.nothing\" matched nothing"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].contains("--exclude \"dist/\" matched nothing"),
        "{warnings:?}"
    );
}

#[test]
fn random_access_marks_files_below_a_matching_directory_hard_links_and_file_mounts_for_small_chunks(
) {
    // Files large enough for chunks of their own, far smaller than the cache (256 KiB chunks
    // without a mark).
    let body: Vec<u8> = (0..40_000u32)
        .flat_map(|i| format!("row {} of the table\n", i % 997).into_bytes())
        .take(48 * 1024)
        .collect();
    let t = tree(&[]);
    for f in [
        "data/index.bin",
        "data/sub/keep.bin",
        "data/sub/skip.bin",
        "top.bin",
        "plain.bin",
    ] {
        let p = t.path().join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, &body).unwrap();
    }
    // A second name of top.bin, walked after it: only this name matches.
    fs::hard_link(t.path().join("top.bin"), t.path().join("z_link.bin")).unwrap();
    let single = tempfile::tempdir().unwrap();
    fs::write(single.path().join("host.db"), &body).unwrap();
    let o = Opts {
        random_access: globs(&["data/", "!skip.bin", "z_link.bin", "app.db", "*.nothing"]),
        ..opts()
    };
    let mounts = [
        mount_arg("/", t.path()),
        mount_arg("/etc/app.db", &single.path().join("host.db")),
    ];
    let built = build(&mounts, &o).unwrap();
    let img = open(&built);
    let log2 = |path: &str| {
        let n = resolve(&img, 0, path.as_bytes()).unwrap_or_else(|| panic!("{path}"));
        assert_eq!(contents(&img, &n), body, "{path}");
        n.chunk_log2
    };
    let small = wasifs_image::format::SMALL_CHUNK_LOG2;
    for marked in [
        "data/index.bin",
        "data/sub/keep.bin",
        "top.bin",
        "z_link.bin",
        "etc/app.db",
    ] {
        assert_eq!(log2(marked), small, "{marked}");
    }
    for unmarked in ["data/sub/skip.bin", "plain.bin"] {
        assert!(log2(unmarked) > small, "{unmarked}");
    }
    assert_eq!(built.warnings.len(), 1, "{:?}", built.warnings);
    assert!(built.warnings[0].contains("--random-access \"*.nothing\" matched nothing"));
}

#[test]
fn random_access_with_files_stored_uncompressed_is_warned_about_as_changing_nothing() {
    let t = tree(&["data/index.bin"]);
    let with = |level: Level| {
        let o = Opts {
            random_access: globs(&["*.bin"]),
            level,
            ..opts()
        };
        build(&[mount_arg("/", t.path())], &o).unwrap().warnings
    };
    let stored = with(Level::STORE);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].contains("--random-access changes nothing with --store"));
    assert_eq!(with(Level::DEFAULT), Vec::<String>::new());
}
