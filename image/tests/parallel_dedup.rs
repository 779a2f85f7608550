//! Multi-threaded compression, deduplication of identical files and streaming progress.

use wasifs_image::format::Node;
use wasifs_image::{BuildOptions, ChunkSize, FileData, Image, ImageBuilder, Level, Meta};

fn meta(t: u64) -> Meta {
    Meta {
        mode: 0o644,
        mtime_ns: t,
        atime_ns: t,
        ctime_ns: t,
    }
}

/// Deterministic bytes: text-like when `text`, incompressible otherwise.
fn bytes(len: usize, seed: u64, text: bool) -> Vec<u8> {
    let mut s = seed | 1;
    (0..len)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            if text {
                b"abcdefgh ijk\n"[(s % 13) as usize] ^ (i % 2) as u8
            } else {
                s as u8
            }
        })
        .collect()
}

fn resolve(img: &Image<&[u8]>, path: &str) -> Node {
    let mut node = img.node(0).unwrap();
    for part in path.split('/') {
        let id = img.lookup(&node, part.as_bytes()).unwrap().unwrap();
        node = img.node(id).unwrap();
    }
    node
}

fn read_file(img: &Image<&[u8]>, node: &Node) -> Vec<u8> {
    let mut out = vec![0u8; node.size as usize];
    let cs = node.chunk_size() as usize;
    for i in 0..node.b {
        let start = i as usize * cs;
        let end = (start + cs).min(out.len());
        img.read_chunk(node, i, &mut out[start..end]).unwrap();
    }
    out
}

/// Many files of many chunks, some identical, from memory and from host files.
fn build(threads: usize, host: &std::path::Path) -> Vec<u8> {
    let mut b = ImageBuilder::new(BuildOptions {
        level: Level::DEFAULT,
        chunk_size: ChunkSize::fixed_log2(12).expect("4 KiB is valid"),
        ..BuildOptions::default()
    });
    b.set_threads(threads);
    let root = b.root();
    for i in 0..300u64 {
        let data = bytes(100 + (i as usize * 997) % 20_000, i % 40, i % 3 != 0);
        let dir = format!("d{}", i % 7);
        let d = match b.lookup_child(root, dir.as_bytes()) {
            Some(d) => d,
            None => b.add_dir(root, dir.as_bytes(), meta(1)).unwrap(),
        };
        b.add_file(
            d,
            format!("f{i}").as_bytes(),
            meta(i),
            FileData::Bytes(data),
        )
        .unwrap();
    }
    let p = host.join("big");
    std::fs::write(&p, bytes(100_000, 5, true)).unwrap();
    b.add_file(root, b"host_big", meta(9), FileData::Path(p.clone()))
        .unwrap();
    b.add_file(
        root,
        b"mem_big",
        meta(9),
        FileData::Bytes(bytes(100_000, 5, true)),
    )
    .unwrap();
    b.add_preopen(b"/", root, false).unwrap();
    b.finish().unwrap()
}

#[test]
fn output_is_the_same_bytes_whatever_the_thread_count() {
    let t = tempfile::tempdir().unwrap();
    let one = build(1, t.path());
    for threads in [2, 3, 8, 0] {
        assert!(
            build(threads, t.path()) == one,
            "{threads} threads changed the image"
        );
    }
}

#[test]
fn identical_files_share_their_chunks_and_keep_their_own_nodes() {
    let t = tempfile::tempdir().unwrap();
    let bytes_out = build(2, t.path());
    let img = Image::open(bytes_out.as_slice()).unwrap();
    let host = resolve(&img, "host_big");
    let mem = resolve(&img, "mem_big");
    assert_ne!(host.id, mem.id);
    assert_eq!((host.nlink, mem.nlink), (1, 1), "nlink stays per node");
    assert_eq!(host.a, mem.a, "identical files share chunk records");
    assert_eq!(read_file(&img, &host), bytes(100_000, 5, true));
    assert_eq!(read_file(&img, &mem), read_file(&img, &host));
    // Every file reads back what was added.
    for i in 0..300u64 {
        let n = resolve(&img, &format!("d{}/f{i}", i % 7));
        let want = bytes(100 + (i as usize * 997) % 20_000, i % 40, i % 3 != 0);
        assert_eq!(read_file(&img, &n), want, "f{i}");
    }
    // Files with equal content but stored once: fewer chunk records than all files need.
    let needed: u64 = (0..300u64)
        .map(|i| (100 + (i * 997) % 20_000).div_ceil(4096))
        .sum::<u64>()
        + 2 * 100_000u64.div_ceil(4096);
    assert!(u64::from(img.header().chunk_count) < needed);
}

#[test]
fn files_of_equal_size_but_different_bytes_are_kept_apart() {
    let mut b = ImageBuilder::new(BuildOptions::default());
    let root = b.root();
    b.add_file(root, b"a", meta(1), FileData::Bytes(vec![1; 5000]))
        .unwrap();
    b.add_file(root, b"b", meta(1), FileData::Bytes(vec![2; 5000]))
        .unwrap();
    b.add_file(root, b"c", meta(1), FileData::Bytes(vec![1; 5000]))
        .unwrap();
    let out = b.finish().unwrap();
    let img = Image::open(out.as_slice()).unwrap();
    let (a, bb, c) = (resolve(&img, "a"), resolve(&img, "b"), resolve(&img, "c"));
    assert_eq!(a.a, c.a);
    assert_ne!(a.a, bb.a);
    assert_eq!(read_file(&img, &bb), vec![2; 5000]);
    assert_eq!(img.header().chunk_count, 2);
}

#[test]
fn progress_reports_every_byte_once_and_ends_at_the_total() {
    let mut b = ImageBuilder::new(BuildOptions {
        level: Level::try_from(1).expect("zstd level 1"),
        chunk_size: ChunkSize::fixed_log2(10).expect("1 KiB is valid"),
        ..BuildOptions::default()
    });
    let root = b.root();
    for i in 0..50u64 {
        b.add_file(
            root,
            format!("f{i}").as_bytes(),
            meta(1),
            FileData::Bytes(bytes(3000, i, true)),
        )
        .unwrap();
    }
    let mut seen = Vec::new();
    b.finish_with_progress(&mut |done, total| seen.push((done, total)))
        .unwrap();
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0));
    assert_eq!(seen.last(), Some(&(150_000, 150_000)));
}

#[test]
fn large_files_with_the_same_first_chunk_are_shared_only_when_every_byte_matches() {
    let mut b = ImageBuilder::new(BuildOptions {
        chunk_size: ChunkSize::fixed_log2(12).expect("4 KiB is valid"),
        ..BuildOptions::default()
    });
    let root = b.root();
    let base = bytes(50_000, 3, true);
    let mut last_differs = base.clone();
    last_differs[49_999] ^= 1;
    for (name, data) in [("a", &base), ("b", &last_differs), ("c", &base)] {
        b.add_file(
            root,
            name.as_bytes(),
            meta(1),
            FileData::Bytes(data.clone()),
        )
        .unwrap();
    }
    let out = b.finish().unwrap();
    let img = Image::open(out.as_slice()).unwrap();
    let (a, bb, c) = (resolve(&img, "a"), resolve(&img, "b"), resolve(&img, "c"));
    assert_eq!(a.a, c.a, "a copy shares the chunks");
    assert_ne!(a.a, bb.a, "a file differing in its last byte does not");
    assert_eq!(read_file(&img, &bb), last_differs);
    assert_eq!(read_file(&img, &c), base);
    assert_eq!(img.header().chunk_count, 2 * 50_000u32.div_ceil(4096));
}

#[test]
fn a_file_equal_to_an_earlier_one_that_grew_after_it_was_listed_is_a_size_change_not_a_copy() {
    let t = tempfile::tempdir().unwrap();
    let (first, second) = (t.path().join("first"), t.path().join("second"));
    let data = bytes(100_000, 5, true);
    std::fs::write(&first, &data).unwrap();
    std::fs::write(&second, &data).unwrap();
    let mut b = ImageBuilder::new(BuildOptions::default());
    let root = b.root();
    for (name, path) in [("first", &first), ("second", &second)] {
        b.add_file(root, name.as_bytes(), meta(1), FileData::Path(path.clone()))
            .unwrap();
    }
    // Listed at 100,000 bytes, then one byte longer: its first 100,000 still match `first`.
    let mut grown = data.clone();
    grown.push(b'!');
    std::fs::write(&second, &grown).unwrap();
    match b.finish() {
        Err(wasifs_image::BuildError::SizeChanged { path, expected }) => {
            assert_eq!((path, expected), (second, 100_000));
        }
        other => panic!("expected SizeChanged, got {:?}", other.map(|v| v.len())),
    }
}
