//! Helpers shared by the builder → reader tests: metadata, options, sample contents and trees, reads.

// Each test crate that includes this module uses its own subset of it.
#![allow(dead_code)]

use wasifs_image::format::Node;
use wasifs_image::{
    BuildOptions, ChunkSize, Dictionaries, FileData, Image, ImageBuilder, Level, Meta, NodeRef,
};

pub fn meta(mode: u16, t: u64) -> Meta {
    Meta {
        mode,
        mtime_ns: t,
        atime_ns: t + 1,
        ctime_ns: t + 2,
    }
}

/// Options with one chunk size (a power of two) for every file.
pub fn opts(level: i32, chunk_size: u32) -> BuildOptions {
    assert!(chunk_size.is_power_of_two());
    BuildOptions {
        level: Level::try_from(level).expect("a test level is in range"),
        chunk_size: ChunkSize::fixed_log2(chunk_size.trailing_zeros() as u8)
            .expect("a test chunk size is at most 1 MiB"),
        ..BuildOptions::default()
    }
}

/// An image (`opts`) of `files`, each at the root.
/// Adds file `name` holding `bytes` (default metadata) under `dir` of `b`.
pub fn add_bytes(b: &mut ImageBuilder, dir: NodeRef, name: &str, bytes: &[u8]) -> NodeRef {
    b.add_file(
        dir,
        name.as_bytes(),
        Meta::default(),
        FileData::Bytes(bytes.to_vec()),
    )
    .unwrap()
}

pub fn build_flat(opts: BuildOptions, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = ImageBuilder::new(opts);
    let root = b.root();
    for (name, body) in files {
        let data = FileData::Bytes(body.to_vec());
        b.add_file(root, name.as_bytes(), Meta::default(), data)
            .unwrap();
    }
    b.finish().unwrap()
}

/// An image (default options but `dictionaries`) of `files`, each `dir/name` (one directory
/// level, made once).
pub fn build_in_dirs(files: &[(String, Vec<u8>)], dictionaries: Dictionaries) -> Vec<u8> {
    build_in_dirs_on(files, dictionaries, 0)
}

/// [`build_in_dirs`] on `threads` threads (0: one per core).
pub fn build_in_dirs_on(
    files: &[(String, Vec<u8>)],
    dictionaries: Dictionaries,
    threads: usize,
) -> Vec<u8> {
    let opts = BuildOptions {
        dictionaries,
        ..BuildOptions::default()
    };
    build_in_dirs_with(files, opts, threads)
}

/// An image (`opts`) of `files`, each `dir/name`, on `threads` threads (0: one per core).
pub fn build_in_dirs_with(
    files: &[(String, Vec<u8>)],
    opts: BuildOptions,
    threads: usize,
) -> Vec<u8> {
    let mut b = ImageBuilder::new(opts);
    b.set_threads(threads);
    add_in_dirs(&mut b, files, |_, body| FileData::Bytes(body.to_vec()));
    b.finish().unwrap()
}

/// Adds `files` (`dir/name` paths) under the root of `b`, each directory made once, each file's
/// contents given by `data(path, body)`.
pub fn add_in_dirs(
    b: &mut ImageBuilder,
    files: &[(String, Vec<u8>)],
    data: impl Fn(&str, &[u8]) -> FileData,
) {
    let root = b.root();
    let mut dirs = std::collections::BTreeMap::new();
    for (path, body) in files {
        let (dir, name) = path.split_once('/').expect("a dir/name path");
        let parent = *dirs
            .entry(dir.to_string())
            .or_insert_with(|| b.add_dir(root, dir.as_bytes(), Meta::default()).unwrap());
        b.add_file(parent, name.as_bytes(), Meta::default(), data(path, body))
            .unwrap();
    }
}

/// Deterministic pseudo-random bytes (xorshift64), incompressible for zstd.
pub fn noise(len: usize, mut seed: u64) -> Vec<u8> {
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

/// Text of words drawn at random (`wasifs_image::fuzz::Rng::words`).
pub fn words(len: usize, seed: u64) -> Vec<u8> {
    wasifs_image::fuzz::Rng(seed).words(len)
}

pub fn text(len: usize) -> Vec<u8> {
    b"the quick brown fox jumps over the lazy dog\n"
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

/// Records of [`text`], a NUL after each line, as a database or an index holds them:
/// compressible, and not text to `auto` (which reads text larger than the cache as read through).
pub fn records(len: usize) -> Vec<u8> {
    let mut v = text(len);
    v.iter_mut().filter(|b| **b == b'\n').for_each(|b| *b = 0);
    v
}

/// Reads a whole file through the reader, chunk by chunk.
pub fn read_file(img: &Image<&[u8]>, node: &Node) -> Vec<u8> {
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

/// Asserts that each of `files` (path from the root, contents) reads back from `img` exactly.
pub fn assert_reads_back(img: &Image<&[u8]>, files: &[(String, Vec<u8>)]) {
    for (path, body) in files {
        let node = resolve(img, 0, path);
        assert_eq!(&read_file(img, &node), body, "{path}");
    }
}

pub fn name_of(img: &Image<&[u8]>, off: u32, len: u32) -> Vec<u8> {
    let mut v = vec![0u8; len as usize];
    img.read_str(off, len, &mut v).expect("string in table");
    v
}

/// Resolves a `/`-separated path from `start` without following symlinks.
pub fn resolve(img: &Image<&[u8]>, start: u32, path: &str) -> Node {
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
pub fn sample(level: i32) -> Vec<u8> {
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
