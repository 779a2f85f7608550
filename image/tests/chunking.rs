//! How file data is stored: chunk sizes, raw or zstd chunks, levels, shared blocks of small files,
//! chunks of zeros (chunks read at random: random_access.rs).

mod common;

use common::{add_bytes, build_flat, noise, opts, read_file, records, resolve, sample, text};
use wasifs_image::format::{Chunk, Codec, SMALL_CHUNK_LOG2, TEXT_CHUNK_LOG2, WHOLE_CHUNK_LOG2};
use wasifs_image::{
    BlockSize, BuildOptions, CacheSize, ChunkSize, FileData, FormatError, Image, ImageBuilder, Meta,
};

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
    // A node claiming chunks past the format's largest is refused, not a wrapped offset.
    let huge = wasifs_image::format::Node {
        chunk_log2: wasifs_image::format::MAX_CHUNK_LOG2 + 30,
        ..f
    };
    assert_eq!(img.chunk_len(&huge, 3), Err(FormatError::BadNode));
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
fn auto_chunk_size_gives_files_over_the_cache_small_chunks_and_the_header_the_largest() {
    let cache: CacheSize = "64K".parse().expect("a valid cache size");
    let mut b = ImageBuilder::new(BuildOptions {
        cache_size: cache,
        ..BuildOptions::default()
    });
    let root = b.root();
    let big = records(64 * 1024 + 1);
    let small = records(64 * 1024);
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
fn auto_chunk_size_gives_archives_executables_and_text_the_largest_chunks_unless_versions_or_marked(
) {
    // Files four times the cache: records (read at random, for all `auto` knows), text, a static
    // library and an ELF executable (read through or whole by whoever reads them: 1 MiB chunks,
    // for the text too in a cache this small),
    // two versions of another library (compressed side by side: 256 KiB chunks, as every group
    // member), and a library marked as read at random.
    let cache: CacheSize = "64K".parse().expect("a valid cache size");
    let starting = |magic: &[u8]| {
        let mut f = magic.to_vec();
        f.extend_from_slice(&text(256 * 1024 - magic.len()));
        f
    };
    let (plain, log, lib, exe) = (
        records(256 * 1024),
        starting(b""),
        starting(b"!<arch>\n"),
        starting(b"\x7fELF\x02\x01\x01\0"),
    );
    let mut b = ImageBuilder::new(BuildOptions {
        cache_size: cache,
        ..BuildOptions::default()
    });
    let root = b.root();
    let mut add = |name: &str, bytes: &[u8]| add_bytes(&mut b, root, name, bytes);
    add("plain", &plain);
    add("log", &log);
    add("lib.a", &lib);
    add("exe", &exe);
    // (Noise: the anchors a group is found by need content that does not repeat every 44 bytes.)
    let mut v1 = b"!<arch>\n".to_vec();
    v1.extend_from_slice(&noise(256 * 1024, 11));
    let mut v2 = v1.clone();
    v2[5000] ^= 1;
    add("libv-1.a", &v1);
    add("libv-2.a", &v2);
    let mut marked = lib.clone();
    marked[100] ^= 1;
    let m = add("marked.a", &marked);
    b.read_at_random(m).unwrap();
    let image = b.finish().unwrap();
    let img = Image::open(image.as_slice()).unwrap();
    assert_chunked(
        &img,
        &[
            ("plain", &plain, SMALL_CHUNK_LOG2),
            ("log", &log, WHOLE_CHUNK_LOG2),
            ("lib.a", &lib, WHOLE_CHUNK_LOG2),
            ("exe", &exe, WHOLE_CHUNK_LOG2),
            ("libv-1.a", &v1, 18),
            ("libv-2.a", &v2, 18),
            ("marked.a", &marked, SMALL_CHUNK_LOG2),
        ],
    );
}

/// Each (name, contents, chunk size as a log2) of `files` is in `img`'s first root in chunks of
/// that size and reads back as those contents.
fn assert_chunked(img: &Image<&[u8]>, files: &[(&str, &Vec<u8>, u8)]) {
    for &(name, bytes, log2) in files {
        let f = resolve(img, 0, name);
        assert_eq!(f.chunk_log2, log2, "{name}");
        assert_eq!(&read_file(img, &f), bytes, "{name}");
    }
}

#[test]
fn auto_chunk_size_gives_sqlite_databases_small_chunks_whatever_their_size() {
    // A database well within the cache (read a page at a time, at random), a file of the same
    // size and content without the header, and a database too small to leave the shared blocks.
    let page = |n: usize| {
        let mut db = b"SQLite format 3\0".to_vec();
        db.extend_from_slice(&text(n - db.len()));
        db
    };
    let (db, tiny) = (page(200 * 1024), page(2000));
    let mut plain = db.clone();
    plain[0] = b's';
    let build = |chunk_size| {
        let opts = BuildOptions {
            chunk_size,
            ..BuildOptions::default()
        };
        build_flat(opts, &[("db", &db), ("plain", &plain), ("tiny", &tiny)])
    };
    let auto = build(ChunkSize::AUTO);
    let img = Image::open(auto.as_slice()).unwrap();
    let (d, p, t) = (
        resolve(&img, 0, "db"),
        resolve(&img, 0, "plain"),
        resolve(&img, 0, "tiny"),
    );
    assert_eq!((d.chunk_log2, d.b), (SMALL_CHUNK_LOG2, 50));
    assert_eq!((p.chunk_log2, p.b), (18, 1));
    assert_eq!(img.chunk(&t, 0).unwrap().codec, Codec::Packed);
    assert_eq!(
        (read_file(&img, &d), read_file(&img, &p)),
        (db.clone(), plain.clone())
    );
    assert_eq!(read_file(&img, &t), tiny);

    // A size given on the command line is every file's.
    let fixed = build("64K".parse().unwrap());
    let img = Image::open(fixed.as_slice()).unwrap();
    assert_eq!(resolve(&img, 0, "db").chunk_log2, 16);
    assert_eq!(resolve(&img, 0, "plain").chunk_log2, 16);
}

#[test]
fn small_files_share_compressed_blocks_of_at_most_128k_in_node_order() {
    let contents: Vec<Vec<u8>> = (0..60).map(|i| text(3000 + i * 97)).collect();
    let names: Vec<String> = (0..60).map(|i| format!("f{i:02}")).collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| n.as_str())
        .zip(contents.iter().map(|c| &c[..]))
        .collect();
    let bytes = build_flat(BuildOptions::default(), &files);
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
fn chunks_of_zeros_store_nothing_and_runs_of_another_byte_are_stored_once() {
    // A file of zeros but for a few written pages, in 4 KiB chunks, at level 3 and stored raw: each
    // chunk of zeros is a record and no stored bytes; the written pages (noise, stored raw) are
    // each stored where they are. A run of one other byte in zstd chunks: one copy of its frame.
    let page = noise(4096, 3);
    let mut sparse = vec![0u8; 4 << 20];
    for at in [0usize, 1 << 20, (4 << 20) - 4096] {
        sparse[at..at + 4096].copy_from_slice(&page);
    }
    let run = vec![7u8; 2 << 20];
    let build = |level, files: &[(&str, &[u8])], cs: u32| build_flat(opts(level, cs), files);
    for level in [3, 0] {
        let bytes = build(level, &[("sparse", &sparse)], 4096);
        let img = Image::open(bytes.as_slice()).unwrap();
        let f = resolve(&img, 0, "sparse");
        assert_eq!(read_file(&img, &f), sparse, "level {level}: reads back");
        let chunks: Vec<_> = (0..f.b).map(|i| img.chunk(&f, i).unwrap()).collect();
        let zero = Chunk {
            stored_off: 0,
            stored_len: 0,
            codec: Codec::Zero,
            block_off: 0,
        };
        let written = [0, 256, 1023];
        for (i, c) in chunks.iter().enumerate() {
            match written.contains(&i) {
                true => assert_eq!((c.codec, c.stored_len), (Codec::Raw, 4096), "chunk {i}"),
                false => assert_eq!(*c, zero, "level {level}, chunk {i}"),
            }
        }
        // 1,024 records of 12 bytes (compressed at level 3) and the three pages.
        assert!(
            bytes.len() < 3 * 4096 + 16_000,
            "level {level}: {} bytes",
            bytes.len()
        );
    }
    let zstd = build(3, &[("run", &run)], 256 << 10);
    let img = Image::open(zstd.as_slice()).unwrap();
    let f = resolve(&img, 0, "run");
    assert_eq!(read_file(&img, &f), run);
    let chunks: Vec<_> = (0..f.b).map(|i| img.chunk(&f, i).unwrap()).collect();
    assert!(chunks.iter().all(|c| c.codec == Codec::Zstd));
    assert!(
        chunks.iter().all(|c| c.stored_off == chunks[0].stored_off),
        "one copy"
    );
}

#[test]
fn a_file_larger_than_the_cache_keeps_large_chunks_when_what_is_not_zeros_fits_in_it() {
    use std::io::{Seek, SeekFrom, Write};

    const MIB: u64 = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    // 64 MiB, 8 times the default cache: 16 pages of text one every 4 MiB (16 chunks of 256 KiB
    // hold data), or 2,048 pages one every 32 KiB (all 256 chunks do: more than the cache).
    let page = text(4096);
    let write = |name: &str, every: u64| {
        let path = dir.path().join(name);
        let mut f = std::fs::File::create(&path).unwrap();
        f.set_len(64 * MIB).unwrap();
        let mut want = vec![0u8; 64 << 20];
        for at in (0..64 * MIB).step_by(every as usize) {
            f.seek(SeekFrom::Start(at)).unwrap();
            f.write_all(&page).unwrap();
            want[at as usize..at as usize + 4096].copy_from_slice(&page);
        }
        (path, want)
    };
    let (few, few_want) = write("few", 4 * MIB);
    let (spread, spread_want) = write("spread", 32 << 10);
    // The same bytes as `few` with its zeros written (no holes), and in memory.
    let written = dir.path().join("written");
    std::fs::write(&written, &few_want).unwrap();
    let mut b = ImageBuilder::new(BuildOptions::default());
    let root = b.root();
    for (name, data) in [
        ("few", FileData::Path(few)),
        ("spread", FileData::Path(spread)),
        ("written", FileData::Path(written)),
        ("memory", FileData::Bytes(few_want.clone())),
    ] {
        b.add_file(root, name.as_bytes(), Meta::default(), data)
            .unwrap();
    }
    let bytes = b.finish().unwrap();
    let img = Image::open(bytes.as_slice()).unwrap();
    let s = resolve(&img, 0, "spread");
    assert_eq!(read_file(&img, &s), spread_want);
    assert_eq!(
        s.chunk_log2, SMALL_CHUNK_LOG2,
        "its data does not fit the cache"
    );
    for name in ["few", "written", "memory"] {
        let f = resolve(&img, 0, name);
        assert_eq!(read_file(&img, &f), few_want, "{name}");
        assert_eq!(
            f.chunk_log2, 18,
            "{name}: its data fits the cache: 256 KiB chunks"
        );
        let zeros = (0..f.b)
            .filter(|&i| img.chunk(&f, i).unwrap().codec == Codec::Zero)
            .count();
        assert_eq!(
            zeros,
            256 - 16,
            "{name}: each chunk of zeros stores nothing"
        );
    }
}

#[test]
fn a_host_file_larger_than_the_cache_is_read_through_when_text_and_at_random_when_not() {
    // The same check as for bytes in memory, on files read from disk a window at a time: text
    // (1 MiB chunks in a cache this small), the same text ending in a NUL (its last window: 4 KiB), and records.
    let dir = tempfile::tempdir().unwrap();
    let log = text(300 * 1024);
    let mut ends_in_nul = log.clone();
    ends_in_nul.push(0);
    let recs = records(300 * 1024);
    let cache: CacheSize = "64K".parse().expect("a valid cache size");
    let mut b = ImageBuilder::new(BuildOptions {
        cache_size: cache,
        ..BuildOptions::default()
    });
    let root = b.root();
    for (name, bytes) in [("log", &log), ("nul", &ends_in_nul), ("recs", &recs)] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        b.add_file(root, name.as_bytes(), Meta::default(), FileData::Path(path))
            .unwrap();
    }
    let bytes = b.finish().unwrap();
    let img = Image::open(bytes.as_slice()).unwrap();
    assert_chunked(
        &img,
        &[
            ("log", &log, WHOLE_CHUNK_LOG2),
            ("nul", &ends_in_nul, SMALL_CHUNK_LOG2),
            ("recs", &recs, SMALL_CHUNK_LOG2),
        ],
    );
}

#[test]
fn text_larger_than_a_32m_cache_is_stored_in_4m_frames_that_reach_repeats_3m_back() {
    // 3 MiB of words, eleven times over (33 MiB: text larger than a 32 MiB cache, whose eighth is
    // 4 MiB). In 4 MiB frames whose window holds all of each, a quarter of each frame is a match
    // 3 MiB back; 1 MiB frames (`--chunk-size 1M`), or a frame with level 3's own 2 MiB window,
    // find none of them.
    let once = common::words(3 << 20, 7);
    let log = once.repeat(11);
    let cache: CacheSize = "32M".parse().expect("a valid cache size");
    let opts = BuildOptions {
        cache_size: cache,
        ..BuildOptions::default()
    };
    let packed = build_flat(opts, &[("log", &log)]);
    let img = Image::open(packed.as_slice()).unwrap();
    let f = resolve(&img, 0, "log");
    assert_eq!(f.chunk_log2, TEXT_CHUNK_LOG2);
    assert_eq!(read_file(&img, &f), log);
    let stored = |img: &Image<&[u8]>| {
        let f = resolve(img, 0, "log");
        (0..f.b)
            .map(|i| img.chunk(&f, i).unwrap().stored_len as usize)
            .sum::<usize>()
    };
    let one_mib = build_flat(
        BuildOptions {
            chunk_size: ChunkSize::fixed_log2(WHOLE_CHUNK_LOG2).unwrap(),
            ..opts
        },
        &[("log", &log)],
    );
    // The default 8 MiB cache gives the same text 1 MiB chunks: eight such files read at once
    // stay cached.
    let default = build_flat(BuildOptions::default(), &[("log", &log)]);
    let img_default = Image::open(&default[..]).unwrap();
    assert_eq!(resolve(&img_default, 0, "log").chunk_log2, WHOLE_CHUNK_LOG2);
    let (big, small) = (stored(&img), stored(&Image::open(&one_mib[..]).unwrap()));
    assert!(
        big * 10 < small * 9,
        "4 MiB frames {big} B, 1 MiB frames {small} B"
    );
}
