//! Builder → reader round trips: bytes, metadata and links, name order, host files, builder errors, host aliases, determinism.

mod common;

use common::{meta, name_of, noise, opts, read_file, resolve, sample, text};
use wasifs_image::format::HEADER_SIZE;
use wasifs_image::{BuildError, BuildOptions, FileData, FormatError, Image, ImageBuilder, Meta};

#[test]
fn round_trip_gives_back_bytes_metadata_symlinks_and_hardlinks() {
    let bytes = sample(3);
    let img = Image::open(bytes.as_slice()).unwrap();
    let root = img.node(0).unwrap();
    assert!(root.is_dir());
    assert_eq!(root.parent, 0, "a root is its own parent");
    assert_eq!(
        (root.mode, root.mtime_ns, root.atime_ns, root.ctime_ns),
        (0o755, 100, 101, 102)
    );
    assert_eq!(root.nlink, 2 + 3, "root has bin, empty, etc as subdirs");

    let hosts = resolve(&img, 0, "etc/hosts");
    assert!(hosts.is_file());
    assert_eq!((hosts.mode, hosts.mtime_ns, hosts.nlink), (0o644, 300, 1));
    assert_eq!(read_file(&img, &hosts), text(3000));

    let etc = resolve(&img, 0, "etc");
    assert_eq!((etc.mode, etc.nlink, etc.parent), (0o750, 2, 0));

    let tool = resolve(&img, 0, "bin/tool");
    let tool2 = resolve(&img, 0, "bin/tool2");
    assert_eq!(tool.id, tool2.id, "hard links share one node");
    assert_eq!(tool.nlink, 2);
    assert_eq!(read_file(&img, &tool), noise(700, 7));

    let lib = resolve(&img, 0, "lib");
    assert!(lib.is_symlink());
    assert_eq!(lib.size, 7);
    assert_eq!(name_of(&img, lib.a, lib.b), b"usr/lib");

    let empty = resolve(&img, 0, "empty");
    assert_eq!((empty.b, empty.nlink), (0, 2));
    assert_eq!(img.dirent(&empty, 0), Err(FormatError::IndexOutOfRange));

    assert_eq!(img.preopen_count(), 2);
    let p0 = img.preopen(0).unwrap();
    assert_eq!(
        (
            name_of(&img, p0.name_off, p0.name_len),
            p0.node,
            p0.readonly
        ),
        (b"/".to_vec(), 0, false)
    );
    let p1 = img.preopen(1).unwrap();
    assert_eq!(
        (
            name_of(&img, p1.name_off, p1.name_len),
            p1.node,
            p1.readonly
        ),
        (b"/etc".to_vec(), etc.id, true)
    );
    assert_eq!(img.preopen(2), Err(FormatError::IndexOutOfRange));
    for id in 0..img.node_count() {
        assert_eq!(img.node(id).unwrap().ino(), u64::from(id) + 1);
    }
}

#[test]
fn dirents_are_sorted_by_name_bytes_and_lookup_misses_cleanly() {
    let mut b = ImageBuilder::new(BuildOptions::default());
    let root = b.root();
    let names: [&[u8]; 6] = [b"b", b"a", b"B", b"ab", b"\xff\xfe", b"aa"];
    for n in names {
        b.add_file(root, n, Meta::default(), FileData::Bytes(n.to_vec()))
            .unwrap();
    }
    let bytes = b.finish().unwrap();
    let img = Image::open(bytes.as_slice()).unwrap();
    let root = img.node(0).unwrap();
    let listed: Vec<Vec<u8>> = (0..root.b)
        .map(|i| img.dirent(&root, i).unwrap())
        .map(|d| name_of(&img, d.name_off, d.name_len))
        .collect();
    let mut sorted: Vec<Vec<u8>> = names.iter().map(|n| n.to_vec()).collect();
    sorted.sort();
    assert_eq!(listed, sorted);
    for n in names {
        let id = img.lookup(&root, n).unwrap().expect("present");
        assert_eq!(read_file(&img, &img.node(id).unwrap()), n);
    }
    for missing in [&b""[..], b"0", b"a\0", b"abc", b"\xff", b"\xff\xff", b"c"] {
        assert_eq!(img.lookup(&root, missing).unwrap(), None, "{missing:?}");
    }
    let file = img.node(img.lookup(&root, b"a").unwrap().unwrap()).unwrap();
    assert_eq!(img.lookup(&file, b"x"), Err(FormatError::WrongKind));
}

#[test]
fn host_files_are_read_at_finish_and_size_changes_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.bin");
    std::fs::write(&path, text(10_000)).unwrap();
    let mut b = ImageBuilder::new(opts(3, 4096));
    let root = b.root();
    b.add_file(
        root,
        b"data.bin",
        Meta::default(),
        FileData::Path(path.clone()),
    )
    .unwrap();
    let bytes = b.finish().unwrap();
    let img = Image::open(bytes.as_slice()).unwrap();
    assert_eq!(read_file(&img, &resolve(&img, 0, "data.bin")), text(10_000));

    for new_len in [9_000usize, 11_000] {
        std::fs::write(&path, text(10_000)).unwrap();
        let mut b = ImageBuilder::new(opts(3, 4096));
        let root = b.root();
        b.add_file(
            root,
            b"data.bin",
            Meta::default(),
            FileData::Path(path.clone()),
        )
        .unwrap();
        std::fs::write(&path, text(new_len)).unwrap();
        match b.finish() {
            Err(BuildError::SizeChanged {
                expected: 10_000, ..
            }) => {}
            other => panic!("expected SizeChanged for {new_len}, got {other:?}"),
        }
    }
}

#[test]
fn a_host_file_one_byte_longer_or_shorter_at_finish_is_an_error_and_an_unchanged_one_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.bin");
    // A whole number of chunks, and a short last chunk.
    for len in [8192usize, 10_000] {
        for new_len in [len - 1, len, len + 1] {
            std::fs::write(&path, text(len)).unwrap();
            let mut b = ImageBuilder::new(opts(3, 4096));
            let root = b.root();
            b.add_file(
                root,
                b"data.bin",
                Meta::default(),
                FileData::Path(path.clone()),
            )
            .unwrap();
            std::fs::write(&path, text(new_len)).unwrap();
            match b.finish() {
                Ok(bytes) if new_len == len => {
                    let img = Image::open(bytes.as_slice()).unwrap();
                    assert_eq!(read_file(&img, &resolve(&img, 0, "data.bin")), text(len));
                }
                Err(BuildError::SizeChanged { expected, .. }) if new_len != len => {
                    assert_eq!(expected, len as u64);
                }
                other => panic!(
                    "{len} bytes then {new_len}: got {:?}",
                    other.map(|b| b.len())
                ),
            }
        }
    }
}

#[test]
fn bad_names_duplicates_and_wrong_parents_are_errors() {
    let mut b = ImageBuilder::new(BuildOptions::default());
    let root = b.root();
    for bad in [&b""[..], b".", b"..", b"a/b", b"a\0b"] {
        assert!(
            matches!(
                b.add_dir(root, bad, Meta::default()),
                Err(BuildError::InvalidName(_))
            ),
            "{bad:?}"
        );
    }
    let f = b
        .add_file(root, b"f", Meta::default(), FileData::Bytes(vec![1]))
        .unwrap();
    assert!(matches!(
        b.add_dir(root, b"f", Meta::default()),
        Err(BuildError::Duplicate(_))
    ));
    assert!(matches!(
        b.add_hardlink(root, b"f", f),
        Err(BuildError::Duplicate(_))
    ));
    assert!(matches!(
        b.add_file(f, b"x", Meta::default(), FileData::Bytes(vec![])),
        Err(BuildError::NotADirectory)
    ));
    assert!(matches!(
        b.add_preopen(b"f", f, false),
        Err(BuildError::NotADirectory)
    ));
    let d = b.add_dir(root, b"d", Meta::default()).unwrap();
    assert!(matches!(
        b.add_hardlink(root, b"d2", d),
        Err(BuildError::LinkToDirectory)
    ));
    assert_eq!(b.lookup_child(root, b"f"), Some(f));
    assert_eq!(b.lookup_child(root, b"nope"), None);
    let s = b.stats();
    assert_eq!((s.files, s.dirs, s.symlinks, s.data_len), (1, 2, 0, 1));
}

#[test]
fn separate_roots_are_their_own_parents_and_keep_creation_order() {
    let mut b = ImageBuilder::new(BuildOptions::default());
    let data = b.add_root(meta(0o700, 5)).unwrap();
    b.add_file(data, b"x", Meta::default(), FileData::Bytes(b"x".to_vec()))
        .unwrap();
    let root = b.root();
    b.add_preopen(b"data", data, false).unwrap();
    b.add_preopen(b"/", root, false).unwrap();
    let bytes = b.finish().unwrap();
    let img = Image::open(bytes.as_slice()).unwrap();
    let p0 = img.preopen(0).unwrap();
    let p1 = img.preopen(1).unwrap();
    assert_eq!((p0.node, p1.node), (0, 1));
    assert_eq!(img.node(0).unwrap().parent, 0);
    assert_eq!(img.node(1).unwrap().parent, 1);
    assert_eq!(read_file(&img, &resolve(&img, 0, "x")), b"x");
    assert_eq!(img.node(1).unwrap().b, 0);
}

#[test]
fn same_tree_added_in_different_orders_gives_identical_bytes() {
    let forward = {
        let mut b = ImageBuilder::new(opts(3, 512));
        let root = b.root();
        let a = b.add_dir(root, b"a", meta(0o755, 1)).unwrap();
        let z = b.add_dir(root, b"z", meta(0o755, 2)).unwrap();
        let f = b
            .add_file(a, b"f", meta(0o644, 3), FileData::Bytes(text(2000)))
            .unwrap();
        b.add_hardlink(z, b"g", f).unwrap();
        b.add_symlink(z, b"s", meta(0o777, 4), b"../a/f").unwrap();
        b.add_file(root, b"top", meta(0o600, 5), FileData::Bytes(noise(100, 1)))
            .unwrap();
        b.add_preopen(b"/", root, false).unwrap();
        b.finish().unwrap()
    };
    let backward = {
        let mut b = ImageBuilder::new(opts(3, 512));
        let root = b.root();
        b.add_file(root, b"top", meta(0o600, 5), FileData::Bytes(noise(100, 1)))
            .unwrap();
        let z = b.add_dir(root, b"z", meta(0o755, 2)).unwrap();
        b.add_symlink(z, b"s", meta(0o777, 4), b"../a/f").unwrap();
        let g = b
            .add_file(z, b"g", meta(0o644, 3), FileData::Bytes(text(2000)))
            .unwrap();
        let a = b.add_dir(root, b"a", meta(0o755, 1)).unwrap();
        b.add_hardlink(a, b"f", g).unwrap();
        b.add_preopen(b"/", root, false).unwrap();
        b.finish().unwrap()
    };
    assert_eq!(forward, backward);
}

#[test]
fn empty_image_opens_with_no_nodes() {
    let bytes = ImageBuilder::new(BuildOptions::default()).finish().unwrap();
    assert_eq!(bytes.len(), HEADER_SIZE as usize);
    let img = Image::open(bytes.as_slice()).unwrap();
    assert_eq!((img.node_count(), img.preopen_count()), (0, 0));
    assert_eq!(img.node(0), Err(FormatError::IndexOutOfRange));
}

#[test]
fn host_aliases_and_the_deny_policy_round_trip() {
    let mut b = ImageBuilder::new(BuildOptions::default());
    let root = b.root();
    b.add_preopen(b"/", root, false).unwrap();
    b.add_host_alias(b"/out", b"/tmp/out");
    b.add_host_alias(b"/cache", b"cache");
    b.deny_host_fs();
    let bytes = b.finish().unwrap();
    let img = Image::open(bytes.as_slice()).unwrap();
    assert!(img.host_fs_denied());
    assert_eq!(img.host_alias_count(), 2);
    let text = |off: u32, len: u32| {
        let mut buf = vec![0u8; len as usize];
        img.read_str(off, len, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    };
    let a = img.host_alias(0).unwrap();
    assert_eq!(
        (text(a.guest_off, a.guest_len), text(a.host_off, a.host_len)),
        ("/out".into(), "/tmp/out".into())
    );
    let a = img.host_alias(1).unwrap();
    assert_eq!(
        (text(a.guest_off, a.guest_len), text(a.host_off, a.host_len)),
        ("/cache".into(), "cache".into())
    );
    assert_eq!(img.host_alias(2).err(), Some(FormatError::IndexOutOfRange));

    let plain = ImageBuilder::new(BuildOptions::default()).finish().unwrap();
    let img = Image::open(plain.as_slice()).unwrap();
    assert!(!img.host_fs_denied());
    assert_eq!(img.host_alias_count(), 0);
}

#[test]
fn header_records_the_cache_size_the_builder_was_given() {
    for (size, want) in [("1M", 1 << 20), ("40K", 40 << 10)] {
        let mut b = ImageBuilder::new(BuildOptions {
            cache_size: size.parse().expect("a valid cache size"),
            ..BuildOptions::default()
        });
        let root = b.root();
        b.add_preopen(b"/", root, false).unwrap();
        let bytes = b.finish().unwrap();
        let img = Image::open(bytes.as_slice()).unwrap();
        assert_eq!(img.header().cache_size, want);
        assert_eq!(img.chunk_size(), 256 * 1024);
    }
}
