//! Fuzzing the image reader on corrupted images (issue 8 item 9d): valid images built from random
//! small trees, then bits flipped, cut short, or header/record fields set to extreme values, read
//! through every `Image` accessor. Most images store their tables as a compressed metadata region
//! (forced, with blocks small enough that records straddle them), so corruption reaches its block
//! index and zstd frames too. Every read must give `Ok` or a `FormatError`, never a panic or
//! an out-of-bounds read, and the work per image is bounded. CI runs a bounded number of cases;
//! `WASIFS_FUZZ_CASES=N` (and `WASIFS_FUZZ_SEED=S`) run more, as `scripts/fuzz.sh` does.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};
use wasifs_image::fuzz::{knobs, Rng};

use wasifs_image::format::{header_off, Kind, HEADER_SIZE};
use wasifs_image::policy::Policies;
use wasifs_image::{
    BuildOptions, CacheSize, ChunkSize, FileData, Image, ImageBuilder, Level, Meta, MetaMode,
    NodeRef,
};

/// Cases run by `cargo test` (a debug build takes a few seconds for these).
const CI_CASES: u64 = 5000;
/// Seed when `WASIFS_FUZZ_SEED` is not set.
const DEFAULT_SEED: u64 = 0x5741_5349_4653_0009;
/// Most records of each kind one read pass visits (a corrupted count can claim billions).
const VISIT_LIMIT: u32 = 4096;
/// Most path components one walk follows from a preopen (a corrupted tree can hold cycles).
const WALK_LIMIT: u32 = 64;

/// A random name of 1..12 bytes (any byte but `/` and NUL), unique among `taken`.
fn name(rng: &mut Rng, taken: &mut Vec<Vec<u8>>) -> Vec<u8> {
    loop {
        let len = 1 + rng.below(12);
        let n: Vec<u8> = (0..len)
            .map(|_| match rng.below(4) {
                0 => 1 + rng.below(254) as u8,
                _ => b'a' + rng.below(26) as u8,
            })
            .map(|b| if b == b'/' { b'_' } else { b })
            .collect();
        if n != b"." && n != b".." && !taken.contains(&n) {
            taken.push(n.clone());
            return n;
        }
    }
}

/// File contents: empty, text (compressible) or noise, up to a few chunks long.
fn contents(rng: &mut Rng, chunk_size: u32) -> Vec<u8> {
    let len = match rng.below(4) {
        0 => 0,
        _ => rng.below(chunk_size as usize * 3 + 2),
    };
    let text = rng.below(2) == 0;
    (0..len)
        .map(|i| {
            if text {
                b"lorem ipsum dolor "[i % 18]
            } else {
                rng.next() as u8
            }
        })
        .collect()
}

/// A valid image of a random small tree: dirs, files, symlinks, hard links, preopens, a host alias
/// and sometimes policies; tables raw or in a compressed metadata region.
fn build(rng: &mut Rng) -> Vec<u8> {
    // One chunk size for every file, or `auto` with a 1 KiB cache: files over 1 KiB get 4 KiB
    // chunks, the others 256 KiB (sizes mixed in one image).
    let log2 = [Some(0), Some(3), Some(6), Some(9), None][rng.below(5)];
    let level = Level::try_from([0, 1, 3][rng.below(3)]).expect("a test level is in range");
    let meta = [
        MetaMode::Auto,
        MetaMode::Compressed(512),
        MetaMode::Compressed(1024),
        MetaMode::Compressed(16384),
    ][rng.below(4)];
    let mut b = ImageBuilder::new(BuildOptions {
        level,
        chunk_size: log2
            .and_then(ChunkSize::fixed_log2)
            .unwrap_or(ChunkSize::AUTO),
        cache_size: "1K".parse::<CacheSize>().expect("a valid cache size"),
        block_size: ["16K", "128K"][rng.below(2)]
            .parse()
            .expect("a valid block size"),
        meta,
        ..BuildOptions::default()
    });
    let chunk_size = log2.map_or(4096, |l| 1u32 << l);
    b.set_threads(1);
    let root = b.root();
    let mut dirs: Vec<(NodeRef, Vec<Vec<u8>>)> = vec![(root, Vec::new())];
    let mut linkable: Vec<NodeRef> = Vec::new();
    for _ in 0..rng.below(24) {
        let d = rng.below(dirs.len());
        let parent = dirs[d].0;
        let n = name(rng, &mut dirs[d].1);
        let meta = Meta {
            mode: rng.next() as u16,
            mtime_ns: rng.next(),
            atime_ns: rng.next(),
            ctime_ns: rng.next(),
        };
        match rng.below(5) {
            0 | 1 => {
                let data = FileData::Bytes(contents(rng, chunk_size));
                linkable.push(b.add_file(parent, &n, meta, data).expect("add_file"));
            }
            2 => {
                let node = b.add_dir(parent, &n, meta).expect("add_dir");
                dirs.push((node, Vec::new()));
            }
            3 => {
                let target: &[u8] =
                    [&b"../x"[..], b"/abs/path", b"", b"a//b/./c", b".."][rng.below(5)];
                linkable.push(
                    b.add_symlink(parent, &n, meta, target)
                        .expect("add_symlink"),
                );
            }
            _ if !linkable.is_empty() => {
                let existing = linkable[rng.below(linkable.len())];
                b.add_hardlink(parent, &n, existing).expect("add_hardlink");
            }
            _ => {}
        }
    }
    b.add_preopen(b"/", root, rng.below(2) == 0)
        .expect("preopen /");
    if dirs.len() > 1 {
        let (node, _) = dirs[1 + rng.below(dirs.len() - 1)];
        b.add_preopen(b"/data", node, false).expect("preopen /data");
    }
    if rng.below(2) == 0 {
        b.add_host_alias(b"/host", b"/tmp");
    }
    if rng.below(2) == 0 {
        let p = Policies {
            env: vec![("A".into(), "1".into())],
            args: vec!["--flag".into()],
            ..Policies::default()
        };
        b.set_policies(&p);
    }
    b.finish().expect("finish")
}

/// Corrupts `img` in one of several ways; returns the name of the way (for the summary).
fn corrupt(rng: &mut Rng, img: &mut Vec<u8>) -> &'static str {
    let len = img.len();
    let set_u32 = |img: &mut Vec<u8>, at: usize, v: u32| {
        if at + 4 <= img.len() {
            img[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
    };
    let extreme = |rng: &mut Rng, len: usize| -> u32 {
        [
            0,
            1,
            u32::MAX,
            u32::MAX - 1,
            0x8000_0000,
            len as u32,
            len as u32 - 1,
            HEADER_SIZE,
            rng.next() as u32,
            rng.below(len) as u32,
        ][rng.below(10)]
    };
    let total_at = header_off::TOTAL_LEN;
    match rng.below(6) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(len);
                img[i] ^= 1 << rng.below(8);
            }
            "bit flips"
        }
        1 => {
            // Bit flips past the header keep `open` passing and reach the records.
            for _ in 0..1 + rng.below(8) {
                let i = HEADER_SIZE as usize + rng.below(len - HEADER_SIZE as usize);
                img[i] ^= 1 << rng.below(8);
            }
            "bit flips past the header"
        }
        2 => {
            img.truncate(rng.below(len));
            if rng.below(2) == 0 {
                let new_len = img.len() as u32;
                set_u32(img, total_at, new_len);
            }
            "truncation"
        }
        3 => {
            // A header field (past magic and version) set to an extreme value.
            let field = 3 + rng.below(HEADER_SIZE as usize / 4 - 3);
            let v = extreme(rng, len);
            set_u32(img, field * 4, v);
            "header field"
        }
        4 => {
            // An aligned u32 inside the records (offsets, counts, lengths) set to an extreme value.
            let at = HEADER_SIZE as usize + 4 * rng.below((len - HEADER_SIZE as usize) / 4);
            let v = extreme(rng, len);
            set_u32(img, at, v);
            "record field"
        }
        _ => {
            // Random bytes appended, with `total_len` following along.
            for _ in 0..1 + rng.below(64) {
                img.push(rng.next() as u8);
            }
            let new_len = img.len() as u32;
            set_u32(img, total_at, new_len);
            "extension"
        }
    }
}

/// Reads everything reachable through the reader, each record count capped at [`VISIT_LIMIT`].
/// Returns how many reads answered Ok (the rest answered a `FormatError`).
fn read_all(bytes: &[u8]) -> u64 {
    let Ok(img) = Image::open(bytes) else {
        return 0;
    };
    let mut ok = 0u64;
    let mut count = |r: bool| ok += u64::from(r);
    count(img.policies().is_ok());
    let mut buf = vec![0u8; 1 << 16];
    for i in 0..img.host_alias_count().min(VISIT_LIMIT) {
        if let Ok(a) = img.host_alias(i) {
            count(img.read_str(a.guest_off, a.guest_len, &mut buf).is_ok());
            count(img.read_str(a.host_off, a.host_len, &mut buf).is_ok());
        }
    }
    let chunk_size = img.chunk_size();
    let mut out = vec![0u8; (chunk_size as usize).min(1 << 20)];
    for id in 0..img.node_count().min(VISIT_LIMIT) {
        let Ok(node) = img.node(id) else { continue };
        count(true);
        match node.kind {
            Kind::Dir => {
                for i in 0..node.b.min(VISIT_LIMIT) {
                    let Ok(d) = img.dirent(&node, i) else {
                        continue;
                    };
                    count(img.node(d.node).is_ok());
                    let Some(name) = buf.get_mut(..d.name_len as usize) else {
                        continue;
                    };
                    if img.read_str(d.name_off, d.name_len, name).is_ok() {
                        let name = name.to_vec();
                        count(img.lookup(&node, &name).is_ok());
                    }
                }
                count(img.lookup(&node, b"no such name").is_ok());
                count(img.node(node.parent).is_ok());
            }
            Kind::File => {
                for i in 0..node.b.min(VISIT_LIMIT) {
                    count(img.chunk(&node, i).is_ok());
                    count(img.read_chunk(&node, i, &mut out).is_ok());
                }
                count(img.read_chunk(&node, node.b, &mut out).is_ok());
            }
            Kind::Symlink => {
                if let Some(t) = buf.get_mut(..node.b as usize) {
                    count(img.read_str(node.a, node.b, t).is_ok());
                }
            }
        }
    }
    // Walks down from each preopen by always taking one entry, as path resolution does; a
    // corrupted tree may loop, so the walk stops after WALK_LIMIT steps.
    for p in 0..img.preopen_count().min(VISIT_LIMIT) {
        let Ok(pre) = img.preopen(p) else { continue };
        let mut at = pre.node;
        for step in 0..WALK_LIMIT {
            let Ok(node) = img.node(at) else { break };
            if !node.is_dir() || node.b == 0 {
                break;
            }
            let Ok(d) = img.dirent(&node, step % node.b) else {
                break;
            };
            at = if step % 3 == 2 { node.parent } else { d.node };
            count(true);
        }
    }
    ok
}

#[test]
fn corrupted_images_read_as_ok_or_a_clean_error_within_bounded_work() {
    let (cases, seed) = knobs(CI_CASES, DEFAULT_SEED);
    let mut rng = Rng(seed);
    let mut by_way: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    let mut img = build(&mut rng);
    for case in 0..cases {
        // A fresh tree every 16 cases: building costs more than reading.
        if case % 16 == 0 {
            img = build(&mut rng);
            let reads = read_all(&img);
            assert!(
                reads > 0,
                "case {case}: the uncorrupted image does not read"
            );
        }
        let mut bad = img.clone();
        let way = corrupt(&mut rng, &mut bad);
        let t = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| read_all(&bad)));
        slowest = slowest.max(t.elapsed());
        let Ok(reads) = result else {
            panic!("case {case} (seed {seed:#x}, {way}): the reader panicked");
        };
        let e = by_way.entry(way).or_default();
        e.0 += 1;
        e.1 += u64::from(reads > 0);
    }
    eprintln!(
        "fuzz_image: {cases} cases (seed {seed:#x}) in {:.1?}, slowest {slowest:.1?}",
        started.elapsed()
    );
    for (way, (n, opened)) in &by_way {
        eprintln!("  {way}: {n} cases, {opened} still opened and read something");
    }
    assert!(
        slowest < Duration::from_secs(5),
        "one corrupted image took {slowest:?} to read: unbounded work"
    );
}
