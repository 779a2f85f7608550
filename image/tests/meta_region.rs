//! The compressed metadata region (format version 5): when the auto rule compresses the tables,
//! that everything reads back as from raw tables, across block boundaries and cache evictions,
//! reproducibly, and that a corrupt region is a clean error.

use wasifs_image::format::{header_off, Kind, DEFAULT_META_BLOCK_SIZE};
use wasifs_image::policy::Policies;
use wasifs_image::{
    BuildOptions, FileData, FormatError, Image, ImageBuilder, Level, Meta, MetaMode,
};

/// An image of `dirs` directories of `per_dir` files of 1-8 bytes (plus a symlink, a host alias
/// and policies), built with `meta` on `threads` threads.
fn tiny_files(dirs: u32, per_dir: u32, meta: MetaMode, threads: usize) -> Vec<u8> {
    let mut b = ImageBuilder::new(BuildOptions {
        meta,
        ..BuildOptions::default()
    });
    b.set_threads(threads);
    let root = b.root();
    let m = |i: u32| Meta {
        mode: 0o644,
        mtime_ns: 1_700_000_000_000_000_000 + u64::from(i) * 1_000_000_007,
        atime_ns: 0,
        ctime_ns: 0,
    };
    for d in 0..dirs {
        let dir = b
            .add_dir(root, format!("dir{d:03}").as_bytes(), Meta::default())
            .unwrap();
        for f in 0..per_dir {
            let i = d * per_dir + f;
            let data = format!("{:x}", i.wrapping_mul(2_654_435_761)).into_bytes();
            let data = data[..1 + (i as usize % data.len())].to_vec();
            b.add_file(
                dir,
                format!("file-{i:06}.txt").as_bytes(),
                m(i),
                FileData::Bytes(data),
            )
            .unwrap();
        }
        b.add_symlink(dir, b"link", Meta::default(), b"../dir000/file-000000.txt")
            .unwrap();
    }
    b.add_preopen(b"/", root, false).unwrap();
    b.add_host_alias(b"/host", b"/tmp");
    b.set_policies(&Policies {
        env: vec![("A".into(), "1".into())],
        args: vec!["--flag".into()],
        ..Policies::default()
    });
    b.finish().unwrap()
}

/// Everything the reader gives, as text: each node with its names, targets and file bytes (each
/// directory's entries also found by lookup), the preopens, the host aliases and the policies.
fn dump(bytes: &[u8]) -> Vec<String> {
    let img = Image::open(bytes).unwrap();
    let mut out = vec![format!("{:?}", img.policies().unwrap())];
    for i in 0..img.preopen_count() {
        let p = img.preopen(i).unwrap();
        let mut name = vec![0; p.name_len as usize];
        img.read_str(p.name_off, p.name_len, &mut name).unwrap();
        out.push(format!(
            "preopen {} {}",
            String::from_utf8_lossy(&name),
            p.node
        ));
    }
    for i in 0..img.host_alias_count() {
        let a = img.host_alias(i).unwrap();
        let mut g = vec![0; a.guest_len as usize];
        img.read_str(a.guest_off, a.guest_len, &mut g).unwrap();
        out.push(format!("alias {}", String::from_utf8_lossy(&g)));
    }
    let mut buf = vec![0u8; img.chunk_size() as usize];
    for id in 0..img.node_count() {
        let n = img.node(id).unwrap();
        // (A symlink's `a` is the offset of its target: different in the two spaces.)
        let a = if n.is_symlink() { 0 } else { n.a };
        out.push(format!("{:?}", wasifs_image::format::Node { a, ..n }));
        match n.kind {
            Kind::Dir => {
                for k in 0..n.b {
                    let d = img.dirent(&n, k).unwrap();
                    let mut name = vec![0; d.name_len as usize];
                    img.read_str(d.name_off, d.name_len, &mut name).unwrap();
                    assert_eq!(img.lookup(&n, &name).unwrap(), Some(d.node));
                    out.push(format!(
                        "  {} -> {}",
                        String::from_utf8_lossy(&name),
                        d.node
                    ));
                }
            }
            Kind::File => {
                for k in 0..n.b {
                    let len = img.read_chunk(&n, k, &mut buf).unwrap();
                    out.push(format!("  {:?}", &buf[..len as usize]));
                }
            }
            Kind::Symlink => {
                let mut t = vec![0; n.b as usize];
                img.read_str(n.a, n.b, &mut t).unwrap();
                out.push(format!("  -> {}", String::from_utf8_lossy(&t)));
            }
        }
    }
    out
}

fn compressed(bytes: &[u8]) -> bool {
    Image::open(bytes).unwrap().header().meta_compressed()
}

#[test]
fn many_tiny_files_get_compressed_tables_that_read_back_like_raw_ones() {
    let auto = tiny_files(20, 150, MetaMode::Auto, 1);
    let raw = tiny_files(20, 150, MetaMode::Raw, 1);
    assert!(compressed(&auto) && !compressed(&raw));
    let h = *Image::open(&auto[..]).unwrap().header();
    assert_eq!(h.meta_block_size, DEFAULT_META_BLOCK_SIZE);
    assert!(
        auto.len() * 3 < raw.len(),
        "{} vs {} bytes",
        auto.len(),
        raw.len()
    );
    assert_eq!(dump(&auto), dump(&raw));
}

#[test]
fn few_large_files_keep_their_tables_raw() {
    let mut b = ImageBuilder::new(BuildOptions::default());
    let root = b.root();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise = noise(&mut x, 2_000_000);
    for i in 0..20 {
        let data = FileData::Bytes(noise[i * 90_000..(i + 1) * 90_000].to_vec());
        b.add_file(root, format!("big{i}").as_bytes(), Meta::default(), data)
            .unwrap();
    }
    b.add_preopen(b"/", root, false).unwrap();
    assert!(!compressed(&b.finish().unwrap()));
}

/// `n` bytes of xorshift noise from state `x`.
fn noise(x: &mut u64, n: u32) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *x ^= *x << 13;
            *x ^= *x >> 7;
            *x ^= *x << 17;
            *x as u8
        })
        .collect()
}

/// 1,000 files of `base`..`base + 1000` bytes of noise, with tables stored as `meta` says.
fn noise_files(meta: MetaMode, base: u32) -> Vec<u8> {
    let mut b = ImageBuilder::new(BuildOptions {
        meta,
        ..BuildOptions::default()
    });
    let root = b.root();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..1000u32 {
        let data = noise(&mut x, base + i);
        b.add_file(
            root,
            format!("f{i:05}").as_bytes(),
            Meta::default(),
            FileData::Bytes(data),
        )
        .unwrap();
    }
    b.finish().unwrap()
}

/// The share of the image compressing the tables saves for [`noise_files`] of `base` bytes, and
/// whether the auto rule compressed them.
fn auto_for_noise_files(base: u32) -> (f64, bool) {
    let auto = noise_files(MetaMode::Auto, base);
    let forced = noise_files(MetaMode::Compressed(DEFAULT_META_BLOCK_SIZE), base);
    let raw = noise_files(MetaMode::Raw, base);
    let saved = (raw.len() - forced.len()) as f64 / raw.len() as f64;
    (saved, compressed(&auto))
}

#[test]
fn tables_that_would_save_less_than_one_percent_of_the_image_stay_raw() {
    // 1,000 files of 8-9 KB of noise: ~0.75%.
    let (saved, compressed) = auto_for_noise_files(8000);
    assert!(saved > 0.004 && saved < 0.01, "saved {saved}");
    assert!(!compressed);
}

#[test]
fn tables_that_save_one_to_two_percent_of_the_image_are_compressed() {
    // 1,000 files of 4-5 KB of noise: ~1.5% (a crate's C sources: 1.1%).
    let (saved, compressed) = auto_for_noise_files(4000);
    assert!(saved > 0.01 && saved < 0.02, "saved {saved}");
    assert!(compressed);
}

#[test]
fn tables_that_save_a_few_percent_of_the_image_are_compressed() {
    // 1,000 files of 1-2 KB of noise: ~5% (the P5 tree of 10,000 text files of 1-4 KB: 8%).
    let (saved, compressed) = auto_for_noise_files(1000);
    assert!(saved > 0.03 && saved < 0.10, "saved {saved}");
    assert!(compressed);
}

#[test]
fn a_small_image_keeps_its_tables_raw() {
    assert!(!compressed(&tiny_files(1, 3, MetaMode::Auto, 1)));
}

#[test]
fn a_crate_sized_tree_of_a_few_dozen_files_gets_compressed_tables() {
    // Tables of a few KiB, most of a small image (a crate of 10-50 KiB of `tar.zst`).
    let auto = tiny_files(3, 12, MetaMode::Auto, 1);
    let raw = tiny_files(3, 12, MetaMode::Raw, 1);
    assert!(compressed(&auto));
    assert!(
        raw.len() - auto.len() < 4096,
        "{} saved",
        raw.len() - auto.len()
    );
}

#[test]
fn storing_without_compression_keeps_the_tables_raw() {
    let mut b = ImageBuilder::new(BuildOptions {
        level: Level::STORE,
        ..BuildOptions::default()
    });
    let root = b.root();
    for i in 0..3000 {
        b.add_file(
            root,
            format!("f{i}").as_bytes(),
            Meta::default(),
            FileData::Bytes(vec![1]),
        )
        .unwrap();
    }
    assert!(!compressed(&b.finish().unwrap()));
}

#[test]
fn small_blocks_read_across_block_boundaries_and_cache_evictions() {
    // 512-byte blocks: records and names straddle blocks, and the tables span far more blocks
    // than the cache holds.
    let small = tiny_files(8, 200, MetaMode::Compressed(512), 1);
    let raw = tiny_files(8, 200, MetaMode::Raw, 1);
    let h = *Image::open(&small[..]).unwrap().header();
    assert!(
        h.meta_len / 512 > 2 * 64,
        "more blocks than the cache's 64 slots"
    );
    assert_eq!(dump(&small), dump(&raw));
    // Reading backwards evicts in the other order.
    let img = Image::open(&small[..]).unwrap();
    let raw_img = Image::open(&raw[..]).unwrap();
    for id in (0..img.node_count()).rev() {
        let (n, r) = (img.node(id).unwrap(), raw_img.node(id).unwrap());
        assert_eq!((n.kind, n.size, n.mtime_ns), (r.kind, r.size, r.mtime_ns));
    }
}

#[test]
fn the_compressed_region_is_the_same_bytes_for_any_thread_count() {
    let one = tiny_files(10, 200, MetaMode::Auto, 1);
    assert!(compressed(&one));
    for threads in [2, 3, 8] {
        assert!(tiny_files(10, 200, MetaMode::Auto, threads) == one);
    }
}

#[test]
fn a_forced_region_without_compression_stores_its_blocks_raw() {
    let one_file = |meta| {
        let mut b = ImageBuilder::new(BuildOptions {
            level: Level::STORE,
            meta,
            ..BuildOptions::default()
        });
        let root = b.root();
        b.add_file(root, b"a", Meta::default(), FileData::Bytes(b"x".to_vec()))
            .unwrap();
        b.add_preopen(b"/", root, true).unwrap();
        b.finish().unwrap()
    };
    let forced = one_file(MetaMode::Compressed(1024));
    let raw = one_file(MetaMode::Raw);
    assert!(compressed(&forced));
    // The same bytes plus one index of two entries.
    assert_eq!(forced.len(), raw.len() + 8);
    assert_eq!(dump(&forced), dump(&raw));
}

#[test]
fn invalid_block_sizes_are_refused_by_the_builder() {
    for bs in [0, 100, 256, 3000, 1 << 21] {
        let b = ImageBuilder::new(BuildOptions {
            meta: MetaMode::Compressed(bs),
            ..BuildOptions::default()
        });
        assert!(b.finish().is_err(), "block size {bs}");
    }
}

#[test]
fn a_corrupt_block_or_index_is_a_format_error() {
    let good = tiny_files(4, 100, MetaMode::Compressed(1024), 1);
    let h = *Image::open(&good[..]).unwrap().header();
    let index = h.meta_index_off as usize;
    let first_block = u32::from_le_bytes(good[index..index + 4].try_into().unwrap()) as usize;
    let read_every_node = |bytes: &[u8]| -> Result<(), FormatError> {
        let img = Image::open(bytes)?;
        for id in 0..img.node_count() {
            img.node(id)?;
        }
        Ok(())
    };
    // A garbled zstd frame.
    let mut bad = good.clone();
    for b in &mut bad[first_block..first_block + 16] {
        *b ^= 0x5a;
    }
    assert!(read_every_node(&bad).is_err());
    // Index entries out of order, past the image, or making a block longer than it is.
    for (entry, v) in [(1, 0u32), (0, u32::MAX), (1, good.len() as u32 + 1), (0, 0)] {
        let mut bad = good.clone();
        bad[index + 4 * entry..index + 4 * entry + 4].copy_from_slice(&v.to_le_bytes());
        assert!(read_every_node(&bad).is_err(), "entry {entry} = {v}");
    }
    // Header fields: a block size that is no power of two, an index past the end.
    for (at, v) in [
        (header_off::META_BLOCK_SIZE, 1000u32),
        (header_off::META_BLOCK_SIZE, 1 << 30),
        (header_off::META_INDEX_OFF, good.len() as u32 - 2),
        (header_off::META_LEN, u32::MAX),
    ] {
        let mut bad = good.clone();
        bad[at..at + 4].copy_from_slice(&v.to_le_bytes());
        assert_eq!(
            Image::open(&bad[..]).err(),
            Some(FormatError::BadTable),
            "{at} = {v}"
        );
    }
}
