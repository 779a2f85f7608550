//! Builder → reader round trips, compression choices, determinism and corrupt-image handling.

use wasifs_image::format::{Codec, Kind, Node, HEADER_SIZE, NODE_SIZE, SMALL_CHUNK_LOG2};
use wasifs_image::{
    BlockSize, BuildError, BuildOptions, CacheSize, ChunkSize, FileData, FormatError, Image,
    ImageBuilder, Level, Meta,
};

fn meta(mode: u16, t: u64) -> Meta {
    Meta {
        mode,
        mtime_ns: t,
        atime_ns: t + 1,
        ctime_ns: t + 2,
    }
}

/// Options with one chunk size (a power of two) for every file.
fn opts(level: i32, chunk_size: u32) -> BuildOptions {
    assert!(chunk_size.is_power_of_two());
    BuildOptions {
        level: Level::try_from(level).expect("a test level is in range"),
        chunk_size: ChunkSize::fixed_log2(chunk_size.trailing_zeros() as u8)
            .expect("a test chunk size is at most 1 MiB"),
        ..BuildOptions::default()
    }
}

/// Deterministic pseudo-random bytes (xorshift64), incompressible for zstd.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.extend_from_slice(&seed.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn text(len: usize) -> Vec<u8> {
    b"the quick brown fox jumps over the lazy dog\n"
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

/// Reads a whole file through the reader, chunk by chunk.
fn read_file(img: &Image<&[u8]>, node: &Node) -> Vec<u8> {
    let mut out = vec![0u8; node.size as usize];
    let cs = node.chunk_size() as usize;
    for i in 0..node.b {
        let start = i as usize * cs;
        let end = (start + cs).min(out.len());
        let n = img
            .read_chunk(node, i, &mut out[start..end])
            .expect("chunk reads");
        assert_eq!(n as usize, end - start);
    }
    out
}

fn name_of(img: &Image<&[u8]>, off: u32, len: u32) -> Vec<u8> {
    let mut v = vec![0u8; len as usize];
    img.read_str(off, len, &mut v).expect("string in table");
    v
}

/// Resolves a `/`-separated path from `start` without following symlinks.
fn resolve(img: &Image<&[u8]>, start: u32, path: &str) -> Node {
    let mut node = img.node(start).expect("start node");
    for part in path.split('/').filter(|p| !p.is_empty()) {
        let id = img
            .lookup(&node, part.as_bytes())
            .expect("lookup ok")
            .unwrap_or_else(|| panic!("{part} missing"));
        node = img.node(id).expect("node ok");
    }
    node
}

/// A small tree: /etc/hosts, /bin/tool (+ hardlink /bin/tool2), /lib -> symlink, /empty dir.
fn sample(level: i32) -> Vec<u8> {
    let mut b = ImageBuilder::new(opts(level, 1024));
    let root = b.root();
    b.set_meta(root, meta(0o755, 100)).unwrap();
    let etc = b.add_dir(root, b"etc", meta(0o750, 200)).unwrap();
    b.add_file(etc, b"hosts", meta(0o644, 300), FileData::Bytes(text(3000)))
        .unwrap();
    let bin = b.add_dir(root, b"bin", meta(0o755, 400)).unwrap();
    let tool = b
        .add_file(
            bin,
            b"tool",
            meta(0o755, 500),
            FileData::Bytes(noise(700, 7)),
        )
        .unwrap();
    b.add_hardlink(bin, b"tool2", tool).unwrap();
    b.add_symlink(root, b"lib", meta(0o777, 600), b"usr/lib")
        .unwrap();
    b.add_dir(root, b"empty", meta(0o700, 700)).unwrap();
    b.add_preopen(b"/", root, false).unwrap();
    b.add_preopen(b"/etc", etc, true).unwrap();
    b.finish().unwrap()
}

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
fn multi_chunk_file_reads_back_at_chunk_borders() {
    let cs = 4096u32;
    let data = text(3 * cs as usize + 17);
    let mut b = ImageBuilder::new(opts(5, cs));
    let root = b.root();
    b.add_file(root, b"big", Meta::default(), FileData::Bytes(data.clone()))
        .unwrap();
    let bytes = b.finish().unwrap();
    let img = Image::open(bytes.as_slice()).unwrap();
    let f = resolve(&img, 0, "big");
    assert_eq!(f.b, 4);
    assert_eq!(img.chunk_len(&f, 0).unwrap(), cs);
    assert_eq!(img.chunk_len(&f, 3).unwrap(), 17);
    assert_eq!(img.chunk_len(&f, 4), Err(FormatError::IndexOutOfRange));
    let mut buf = vec![0u8; cs as usize];
    for off in [0u64, 4095, 4096, 8191, 8192, 12287, 12288, 12304] {
        let i = img.chunk_index(&f, off) as u32;
        let n = img.read_chunk(&f, i, &mut buf).unwrap();
        let within = (off - u64::from(i) * u64::from(cs)) as usize;
        assert!(within < n as usize);
        assert_eq!(buf[within], data[off as usize], "byte at {off}");
    }
    assert_eq!(img.chunk_index(&f, 12288), 3);
    assert_eq!(read_file(&img, &f), data);
}

#[test]
fn incompressible_chunks_are_stored_raw_and_text_is_compressed() {
    let mut b = ImageBuilder::new(opts(19, 2048));
    let root = b.root();
    b.add_file(
        root,
        b"noise",
        Meta::default(),
        FileData::Bytes(noise(5000, 42)),
    )
    .unwrap();
    b.add_file(root, b"text", Meta::default(), FileData::Bytes(text(5000)))
        .unwrap();
    let bytes = b.finish().unwrap();
    let img = Image::open(bytes.as_slice()).unwrap();
    let noise_node = resolve(&img, 0, "noise");
    for i in 0..noise_node.b {
        let c = img.chunk(&noise_node, i).unwrap();
        assert_eq!(c.codec, Codec::Raw);
        assert_eq!(c.stored_len, img.chunk_len(&noise_node, i).unwrap());
    }
    let text_node = resolve(&img, 0, "text");
    for i in 0..text_node.b {
        let c = img.chunk(&text_node, i).unwrap();
        assert_eq!(c.codec, Codec::Zstd);
        assert!(c.stored_len < img.chunk_len(&text_node, i).unwrap() / 2);
    }
    assert_eq!(read_file(&img, &noise_node), noise(5000, 42));
    assert_eq!(read_file(&img, &text_node), text(5000));
}

#[test]
fn level_zero_stores_every_chunk_raw() {
    let bytes = sample(0);
    let img = Image::open(bytes.as_slice()).unwrap();
    let hosts = resolve(&img, 0, "etc/hosts");
    assert_eq!(hosts.b, 3);
    for i in 0..hosts.b {
        assert_eq!(img.chunk(&hosts, i).unwrap().codec, Codec::Raw);
    }
    assert_eq!(read_file(&img, &hosts), text(3000));
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
fn auto_chunk_size_gives_files_over_the_cache_small_chunks_and_the_header_the_largest() {
    let cache: CacheSize = "64K".parse().expect("a valid cache size");
    let mut b = ImageBuilder::new(BuildOptions {
        cache_size: cache,
        ..BuildOptions::default()
    });
    let root = b.root();
    let big = text(64 * 1024 + 1);
    let small = text(64 * 1024);
    b.add_file(root, b"big", Meta::default(), FileData::Bytes(big.clone()))
        .unwrap();
    b.add_file(
        root,
        b"small",
        Meta::default(),
        FileData::Bytes(small.clone()),
    )
    .unwrap();
    let bytes = b.finish().unwrap();
    let img = Image::open(bytes.as_slice()).unwrap();
    let (bf, sf) = (resolve(&img, 0, "big"), resolve(&img, 0, "small"));
    let sc = 1u32 << SMALL_CHUNK_LOG2;
    let last = 64 * 1024 / sc;
    assert_eq!(
        (bf.chunk_log2, bf.chunk_size(), bf.b),
        (SMALL_CHUNK_LOG2, u64::from(sc), last + 1)
    );
    assert_eq!((sf.chunk_log2, sf.chunk_size(), sf.b), (18, 262144, 1));
    assert_eq!(img.chunk_len(&bf, last).unwrap(), 1);
    assert_eq!(img.chunk_index(&bf, u64::from(sc) * 3 + 5), 3);
    assert_eq!(img.chunk_size(), 256 * 1024, "the largest any file uses");
    assert_eq!(read_file(&img, &bf), big);
    assert_eq!(read_file(&img, &sf), small);

    let only_big = {
        let mut b = ImageBuilder::new(opts(3, 8192));
        let root = b.root();
        b.add_file(root, b"f", Meta::default(), FileData::Bytes(big))
            .unwrap();
        b.finish().unwrap()
    };
    assert_eq!(Image::open(only_big.as_slice()).unwrap().chunk_size(), 8192);
}

#[test]
fn reader_refuses_a_file_chunk_size_above_the_header_or_1_mib_and_a_header_not_a_power_of_two() {
    let mut b = ImageBuilder::new(opts(3, 4096));
    let root = b.root();
    b.add_file(root, b"f", Meta::default(), FileData::Bytes(text(10_000)))
        .unwrap();
    let bytes = b.finish().unwrap();
    let img = Image::open(bytes.as_slice()).unwrap();
    let id = img.lookup(&img.node(0).unwrap(), b"f").unwrap().unwrap();
    let at = img.header().nodes_off as usize + id as usize * NODE_SIZE as usize + 1;
    assert_eq!(bytes[at], 12, "node byte 1 is the chunk size's log2");
    for log2 in [13, 21, 64, 255] {
        let mut bad = bytes.clone();
        bad[at] = log2;
        let img = Image::open(bad.as_slice()).unwrap();
        assert_eq!(img.node(id), Err(FormatError::BadNode), "log2 {log2}");
    }
    let mut bad = bytes.clone();
    bad[at] = 11; // a consistent size but the wrong chunk count
    assert_eq!(
        Image::open(bad.as_slice()).unwrap().node(id),
        Err(FormatError::BadNode)
    );
    let dir_at = img.header().nodes_off as usize + 1;
    let mut bad = bytes.clone();
    bad[dir_at] = 12;
    assert_eq!(
        Image::open(bad.as_slice()).unwrap().node(0),
        Err(FormatError::BadNode),
        "a directory records no chunk size"
    );
    for header in [3 * 4096u32, 2 << 20] {
        let mut bad = bytes.clone();
        bad[56..60].copy_from_slice(&header.to_le_bytes());
        assert_eq!(
            Image::open(bad.as_slice()).err(),
            Some(FormatError::BadTable)
        );
    }
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

/// Touches every record the image claims to have; must never panic, whatever the bytes.
fn exercise(img: &Image<&[u8]>) {
    let mut buf = vec![0u8; img.chunk_size().min(1 << 20) as usize];
    for i in 0..img.preopen_count().min(64) {
        let _ = img.preopen(i);
    }
    for id in 0..img.node_count().min(256) {
        let Ok(n) = img.node(id) else { continue };
        match n.kind {
            Kind::Dir => {
                for i in 0..n.b.min(64) {
                    if let Ok(d) = img.dirent(&n, i) {
                        let mut name = vec![0u8; (d.name_len as usize).min(4096)];
                        let _ = img.read_str(d.name_off, d.name_len, &mut name);
                    }
                }
                let _ = img.lookup(&n, b"hosts");
                let _ = img.lookup(&n, b"zzz");
            }
            Kind::File => {
                for i in 0..n.b.min(8) {
                    let _ = img.read_chunk(&n, i, &mut buf);
                }
            }
            Kind::Symlink => {
                let mut t = vec![0u8; (n.b as usize).min(4096)];
                let _ = img.read_str(n.a, n.b, &mut t);
            }
        }
    }
}

#[test]
fn every_truncation_is_rejected_without_panic() {
    let bytes = sample(3);
    for len in 0..bytes.len() {
        let cut = &bytes[..len];
        assert!(
            Image::open(cut).is_err(),
            "truncated to {len} bytes was accepted"
        );
        // Same cut with total_len patched to match: tables past the end must be caught too.
        if len >= HEADER_SIZE as usize {
            let mut patched = cut.to_vec();
            patched[12..16].copy_from_slice(&(len as u32).to_le_bytes());
            if let Ok(img) = Image::open(patched.as_slice()) {
                exercise(&img);
            }
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        Image::open(longer.as_slice()).err(),
        Some(FormatError::LengthMismatch)
    );
}

#[test]
fn header_checks_name_the_problem() {
    let bytes = sample(3);
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert_eq!(
        Image::open(bad.as_slice()).err(),
        Some(FormatError::BadMagic)
    );
    let mut bad = bytes.clone();
    bad[8] = 1; // version 1: the 64-byte header without host aliases
    assert_eq!(
        Image::open(bad.as_slice()).err(),
        Some(FormatError::UnsupportedVersion(1))
    );
    for v in [2, 3, 4] {
        // version 2: no policy block; version 3: 256 KiB chunks, no cache_size; version 4: one
        // chunk size in the header
        let mut old = bytes.clone();
        old[8] = v;
        let err = Image::open(old.as_slice()).unwrap_err();
        assert_eq!(err, FormatError::UnsupportedVersion(u32::from(v)));
        assert!(
            err.to_string().contains("rewrite the module"),
            "the message says what to do: {err}"
        );
    }
    let mut bad = bytes.clone();
    bad[56..60].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(
        Image::open(bad.as_slice()).err(),
        Some(FormatError::BadTable)
    );
    let mut bad = bytes;
    bad[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        Image::open(bad.as_slice()).err(),
        Some(FormatError::BadTable)
    );
}

#[test]
fn random_byte_flips_never_panic() {
    let bytes = sample(3);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..3000 {
        let mut bad = bytes.clone();
        // Two thirds of the rounds hit the header, the rest anywhere in the image.
        let span = if round % 3 == 2 {
            bad.len()
        } else {
            HEADER_SIZE as usize
        };
        for _ in 0..1 + next() % 4 {
            let at = (next() % span as u64) as usize;
            bad[at] ^= (next() % 255 + 1) as u8;
        }
        if let Ok(img) = Image::open(bad.as_slice()) {
            exercise(&img);
        }
    }
}

#[test]
fn corrupt_zstd_chunk_is_a_decompress_error() {
    let mut bytes = sample(3);
    let (off, node) = {
        let img = Image::open(bytes.as_slice()).unwrap();
        let hosts = resolve(&img, 0, "etc/hosts");
        let c = img.chunk(&hosts, 0).unwrap();
        assert_eq!(c.codec, Codec::Zstd);
        (c.stored_off as usize, hosts)
    };
    bytes[off..off + 4].fill(0);
    let img = Image::open(bytes.as_slice()).unwrap();
    let mut out = vec![0u8; 1024];
    assert_eq!(
        img.read_chunk(&node, 0, &mut out),
        Err(FormatError::Decompress)
    );
    assert_eq!(
        img.read_chunk(&node, 0, &mut out[..10]),
        Err(FormatError::Decompress),
        "short buffer"
    );
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

#[test]
fn small_files_share_compressed_blocks_of_at_most_128k_in_node_order() {
    let mut b = ImageBuilder::new(BuildOptions::default());
    let root = b.root();
    let contents: Vec<Vec<u8>> = (0..60).map(|i| text(3000 + i * 97)).collect();
    for (i, data) in contents.iter().enumerate() {
        let name = format!("f{i:02}");
        b.add_file(
            root,
            name.as_bytes(),
            Meta::default(),
            FileData::Bytes(data.clone()),
        )
        .unwrap();
    }
    let bytes = b.finish().unwrap();
    let img = Image::open(bytes.as_slice()).unwrap();
    let mut blocks = Vec::new();
    for (i, want) in contents.iter().enumerate() {
        let f = resolve(&img, 0, &format!("f{i:02}"));
        let c = img.chunk(&f, 0).unwrap();
        assert_eq!((f.b, c.codec), (1, Codec::Packed));
        assert_eq!(
            f.chunk_size(),
            128 * 1024,
            "a packed file's chunk size is its block's"
        );
        assert!(c.block_off as usize + want.len() <= 128 * 1024);
        if blocks.last() != Some(&c.stored_off) {
            assert_eq!(c.block_off, 0, "a block starts with its first file");
            blocks.push(c.stored_off);
        }
        assert_eq!(&read_file(&img, &f), want, "f{i:02}");
    }
    // 60 files of ~5.9 KiB on average: 353 KiB, three blocks.
    assert_eq!(blocks.len(), 3);
    assert_eq!(img.chunk_size(), 128 * 1024);

    let mut b = ImageBuilder::new(BuildOptions::default());
    let root = b.root();
    for (name, seed) in [("n1", 7), ("n2", 8)] {
        let data = FileData::Bytes(noise(9000, seed));
        b.add_file(root, name.as_bytes(), Meta::default(), data)
            .unwrap();
    }
    let bytes = b.finish().unwrap();
    let img = Image::open(bytes.as_slice()).unwrap();
    let (n1, n2) = (resolve(&img, 0, "n1"), resolve(&img, 0, "n2"));
    let (c1, c2) = (img.chunk(&n1, 0).unwrap(), img.chunk(&n2, 0).unwrap());
    assert_eq!(
        c2.codec,
        Codec::Raw,
        "a block that does not compress is stored raw"
    );
    assert_eq!((c2.stored_off, c2.stored_len), (c1.stored_off + 9000, 9000));
    assert_eq!(read_file(&img, &n2), noise(9000, 8));
}

#[test]
fn block_size_off_compresses_every_small_file_alone() {
    let mut b = ImageBuilder::new(BuildOptions {
        block_size: BlockSize::OFF,
        ..BuildOptions::default()
    });
    let root = b.root();
    let contents: Vec<Vec<u8>> = (0..5).map(|i| text(3000 + i * 97)).collect();
    for (i, data) in contents.iter().enumerate() {
        let data = FileData::Bytes(data.clone());
        b.add_file(root, format!("f{i}").as_bytes(), Meta::default(), data)
            .unwrap();
    }
    let bytes = b.finish().unwrap();
    let img = Image::open(bytes.as_slice()).unwrap();
    let mut offsets = Vec::new();
    for (i, want) in contents.iter().enumerate() {
        let f = resolve(&img, 0, &format!("f{i}"));
        let c = img.chunk(&f, 0).unwrap();
        assert_eq!((f.b, c.codec, c.block_off), (1, Codec::Zstd, 0), "f{i}");
        assert_eq!(f.chunk_size(), 256 * 1024, "the file's own chunk size");
        offsets.push(c.stored_off);
        assert_eq!(&read_file(&img, &f), want, "f{i}");
    }
    offsets.dedup();
    assert_eq!(offsets.len(), contents.len(), "a frame per file");
}

#[test]
fn reader_refuses_a_packed_chunk_past_the_end_of_its_block() {
    let mut b = ImageBuilder::new(BuildOptions::default());
    let root = b.root();
    b.add_file(root, b"a", Meta::default(), FileData::Bytes(text(5000)))
        .unwrap();
    let bytes = b.finish().unwrap();
    let img = Image::open(bytes.as_slice()).unwrap();
    let f = resolve(&img, 0, "a");
    let at = img.header().chunks_off as usize + f.a as usize * 12;
    for (off, want) in [(128 * 1024 - 5000, true), (128 * 1024 - 4999, false)] {
        let mut bad = bytes.clone();
        bad[at + 9..at + 12].copy_from_slice(&(off as u32).to_le_bytes()[..3]);
        let img = Image::open(bad.as_slice()).unwrap();
        match img.chunk(&f, 0) {
            Ok(c) => {
                assert!(want, "block_off {off} accepted");
                let mut out = vec![0u8; 5000];
                assert_eq!(
                    img.read_chunk(&f, 0, &mut out),
                    Err(FormatError::Decompress),
                    "past what the block decompresses to"
                );
                assert_eq!(c.block_off, off as u32);
            }
            Err(e) => {
                assert!(!want, "block_off {off} refused");
                assert_eq!(e, FormatError::BadChunk);
            }
        }
    }
}

#[test]
fn files_read_at_random_become_lz4_blocks_against_a_trained_dictionary() {
    // 2 MiB of text over a 256 KiB cache: 4 KiB chunks, read at random, so LZ4 with a dictionary;
    // the small file keeps zstd (packed).
    let cache: CacheSize = "256K".parse().expect("a valid cache size");
    let mut b = ImageBuilder::new(BuildOptions {
        cache_size: cache,
        ..BuildOptions::default()
    });
    let root = b.root();
    let big = text(2 << 20);
    b.add_file(root, b"db", Meta::default(), FileData::Bytes(big.clone()))
        .unwrap();
    b.add_file(root, b"note", Meta::default(), FileData::Bytes(text(3000)))
        .unwrap();
    let bytes = b.finish().unwrap();
    let img = Image::open(bytes.as_slice()).unwrap();
    let (dict_off, dict_len) = img.dict_range();
    assert!(dict_len > 0 && dict_len <= wasifs_image::format::MAX_DICT_LEN);
    assert_eq!(
        dict_off,
        wasifs_image::format::HEADER_SIZE,
        "first after the header"
    );
    let f = resolve(&img, 0, "db");
    assert_eq!(f.chunk_log2, SMALL_CHUNK_LOG2);
    let codecs: Vec<Codec> = (0..f.b).map(|i| img.chunk(&f, i).unwrap().codec).collect();
    assert!(codecs.iter().all(|&c| c == Codec::Lz4), "{codecs:?}");
    assert_eq!(read_file(&img, &f), big);
    let stored: u64 = (0..f.b)
        .map(|i| u64::from(img.chunk(&f, i).unwrap().stored_len))
        .sum();
    assert!(
        stored * 2 < big.len() as u64,
        "compressed: {stored} of {}",
        big.len()
    );
    let note = resolve(&img, 0, "note");
    assert_eq!(img.chunk(&note, 0).unwrap().codec, Codec::Packed);

    // Stored raw (--store): no dictionary, no LZ4.
    let mut b = ImageBuilder::new(BuildOptions {
        cache_size: cache,
        ..opts(0, 1 << 15)
    });
    let root = b.root();
    b.add_file(root, b"db", Meta::default(), FileData::Bytes(big))
        .unwrap();
    let img_bytes = b.finish().unwrap();
    assert_eq!(
        Image::open(img_bytes.as_slice()).unwrap().dict_range(),
        (0, 0)
    );
}

#[test]
fn chunks_read_at_random_compress_harder_at_higher_levels() {
    // The same 2 MiB of text read at random (over a 256 KiB cache: LZ4 chunks) at zstd levels 1, 3
    // and 19: LZ4 HC follows the level, so the bytes stored shrink as it rises, and every image
    // reads back the same.
    const WORDS: [&[u8]; 8] = [
        b"page ", b"index ", b"row ", b"btree ", b"leaf\n", b"key ", b"value ", b"cell ",
    ];
    let (mut big, mut x) = (Vec::new(), 7u32);
    while big.len() < 2 << 20 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        big.extend_from_slice(WORDS[(x >> 16) as usize % WORDS.len()]);
        big.extend_from_slice(&x.to_le_bytes()[..(x >> 29) as usize % 3]);
    }
    big.truncate(2 << 20);
    let stored: Vec<u64> = [1, 3, 19]
        .into_iter()
        .map(|level| {
            let mut b = ImageBuilder::new(BuildOptions {
                cache_size: "256K".parse().expect("a valid cache size"),
                level: Level::try_from(level).expect("a test level is in range"),
                ..BuildOptions::default()
            });
            let root = b.root();
            b.add_file(root, b"db", Meta::default(), FileData::Bytes(big.clone()))
                .unwrap();
            let bytes = b.finish().unwrap();
            let img = Image::open(bytes.as_slice()).unwrap();
            let f = resolve(&img, 0, "db");
            assert_eq!(f.chunk_log2, SMALL_CHUNK_LOG2, "level {level}");
            assert_eq!(read_file(&img, &f), big, "level {level}");
            (0..f.b)
                .map(|i| {
                    let c = img.chunk(&f, i).unwrap();
                    assert_eq!(c.codec, Codec::Lz4, "level {level} chunk {i}");
                    u64::from(c.stored_len)
                })
                .sum()
        })
        .collect();
    assert!(stored[0] > stored[1] && stored[1] > stored[2], "{stored:?}");
}
