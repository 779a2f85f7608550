//! Chunks read at random: files marked or larger than the cache get small LZ4 chunks against a
//! dictionary trained on them, compressed harder at higher levels, read back exactly.

mod common;

use common::{add_bytes, build_flat, opts, read_file, records, resolve, text};
use wasifs_image::format::{Codec, SMALL_CHUNK_LOG2};
use wasifs_image::{
    BuildOptions, CacheSize, ChunkSize, FileData, Image, ImageBuilder, Level, Meta,
};

#[test]
fn files_marked_as_read_at_random_get_small_lz4_chunks_whatever_their_size_and_are_never_copies_of_unmarked_ones(
) {
    // Two files of the same bytes well within the cache (which `auto` gives 256 KiB chunks), the
    // second marked (enough bytes read at random for a dictionary: LZ4 chunks); a marked file too
    // small for chunks; a marked directory is refused.
    let body = text(1536 * 1024);
    let tiny = text(3000);
    let build = |opts: BuildOptions| {
        let mut b = ImageBuilder::new(opts);
        let root = b.root();
        let mut add = |name: &str, bytes: &[u8]| add_bytes(&mut b, root, name, bytes);
        add("plain", &body);
        let marked = add("marked", &body);
        let small = add("small", &tiny);
        b.read_at_random(marked).unwrap();
        b.read_at_random(small).unwrap();
        let dir = b.add_dir(root, b"dir", Meta::default()).unwrap();
        assert!(b.read_at_random(dir).is_err(), "only files");
        b.finish().unwrap()
    };
    for chunk_size in [ChunkSize::AUTO, "64K".parse().unwrap()] {
        let image = build(BuildOptions {
            chunk_size,
            ..BuildOptions::default()
        });
        let img = Image::open(image.as_slice()).unwrap();
        let (p, m, s) = (
            resolve(&img, 0, "plain"),
            resolve(&img, 0, "marked"),
            resolve(&img, 0, "small"),
        );
        assert_ne!(p.chunk_log2, SMALL_CHUNK_LOG2, "{chunk_size}");
        assert_eq!((m.chunk_log2, m.b), (SMALL_CHUNK_LOG2, 384), "{chunk_size}");
        assert_eq!(img.chunk(&m, 0).unwrap().codec, Codec::Lz4, "{chunk_size}");
        assert_eq!(
            img.chunk(&s, 0).unwrap().codec,
            Codec::Packed,
            "{chunk_size}"
        );
        assert_eq!(
            (read_file(&img, &p), read_file(&img, &m)),
            (body.clone(), body.clone())
        );
        assert_eq!(read_file(&img, &s), tiny);
    }
    // Stored uncompressed, every file is read straight from the image: the mark changes nothing.
    let stored = |mark: bool| {
        let mut b = ImageBuilder::new(BuildOptions {
            level: Level::STORE,
            ..BuildOptions::default()
        });
        let root = b.root();
        let f = b
            .add_file(root, b"f", Meta::default(), FileData::Bytes(body.clone()))
            .unwrap();
        if mark {
            b.read_at_random(f).unwrap();
        }
        b.finish().unwrap()
    };
    assert_eq!(stored(true), stored(false));
}

#[test]
fn files_read_at_random_become_lz4_blocks_against_a_trained_dictionary() {
    // 2 MiB of records over a 256 KiB cache: 4 KiB chunks, read at random, so LZ4 with a
    // dictionary; the small file keeps zstd (packed).
    let cache: CacheSize = "256K".parse().expect("a valid cache size");
    let mut b = ImageBuilder::new(BuildOptions {
        cache_size: cache,
        ..BuildOptions::default()
    });
    let root = b.root();
    let big = records(2 << 20);
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

#[test]
fn source_code_in_lz4_chunks_against_a_trained_dictionary_reads_back_exactly() {
    // Real source text (this crate's own sources, several times over, each pass numbering its
    // lines differently): long matches in the output and the dictionary, as LZ4 HC makes them.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    let mut data = Vec::new();
    for pass in 0.. {
        for f in &files {
            for (n, line) in std::fs::read(f).unwrap().split(|&b| b == b'\n').enumerate() {
                data.extend_from_slice(format!("{:x} ", n * pass).as_bytes());
                data.extend_from_slice(line);
                data.push(b'\n');
            }
        }
        if data.len() > 3 << 20 {
            break;
        }
    }
    let bytes = build_flat(opts(3, 4096), &[("src", &data)]);
    let img = Image::open(bytes.as_slice()).unwrap();
    let f = resolve(&img, 0, "src");
    let lz4 = (0..f.b)
        .filter(|&i| img.chunk(&f, i).unwrap().codec == Codec::Lz4)
        .count();
    assert!(lz4 * 10 >= f.b as usize * 9, "{lz4} of {} chunks LZ4", f.b);
    assert_eq!(read_file(&img, &f), data);
}

/// Every file below `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
