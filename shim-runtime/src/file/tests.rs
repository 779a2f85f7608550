//! Tests of file contents: copy on write per chunk, sparse growth and truncation, segmented, LZ4, shared-block and block-dictionary reads.

use super::*;
use crate::mem::TestMem;
use crate::path::tests::tree;
use wasifs_image::format::Kind;
use wasifs_image::reader::Image;

fn big() -> Vec<u8> {
    (0..300 * 1024u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// The chunks file `id` owns (copied on write, or written new): it must have some.
fn owned_chunks<'f>(f: &'f Fs<&[u8]>, id: u32) -> &'f [(u32, Vec<u8>)] {
    match f.get(id) {
        Some(ONode {
            data: Data::File { chunks, .. },
            ..
        }) => chunks,
        _ => panic!("file {id} owns no chunks"),
    }
}

fn read_all(f: &mut Fs<&[u8]>, m: &mut TestMem, id: u32) -> Vec<u8> {
    let size = f.node(id).unwrap().size as u32;
    let mut out = Vec::new();
    let mut off = 0;
    while off < size {
        let n = f.read(m, id, u64::from(off), 0, 50_000).unwrap();
        out.extend_from_slice(&m.app[..n as usize]);
        off += n;
    }
    out
}

#[test]
fn one_byte_written_copies_only_its_chunk() {
    for level in [0, 3] {
        let bytes = tree(level);
        let mut f = Fs::new(Some(Image::open(&bytes[..]).unwrap()));
        let mut m = TestMem {
            app: alloc::vec![0; 100_000],
            image: bytes.clone(),
        };
        let root = f.node(0).unwrap();
        let id = f.lookup(&root, b"big.bin").unwrap().unwrap();
        m.app[0] = b'X';
        f.write(&m, id, 70_000, 0, 1, 9).unwrap();
        let chunks = owned_chunks(&f, id);
        assert_eq!(chunks.iter().map(|c| c.0).collect::<Vec<_>>(), [1]);
        assert_eq!(chunks[0].1.len(), 64 * 1024);
        let mut want = big();
        want[70_000] = b'X';
        assert_eq!(read_all(&mut f, &mut m, id), want, "level {level}");
        assert_eq!(f.node(id).unwrap().mtime_ns, 9);
    }
}

#[test]
fn shrinking_frees_chunks_and_growing_again_reads_zeros() {
    let bytes = tree(3);
    let (mut f, mut m, id) = open_file(&bytes, b"big.bin");
    m.app.fill(7);
    f.write(&m, id, 200_000, 0, 10, 1).unwrap();
    f.set_size(id, 100, 2).unwrap();
    if let Some(ONode {
        data: Data::File { chunks, img_len },
        ..
    }) = f.get(id)
    {
        assert!(chunks.is_empty());
        assert_eq!(*img_len, 100);
    }
    f.set_size(id, 1000, 3).unwrap();
    let got = read_all(&mut f, &mut m, id);
    assert_eq!(&got[..100], &big()[..100]);
    assert!(got[100..].iter().all(|&b| b == 0));
    assert_eq!(got.len(), 1000);
}

#[test]
fn new_files_grow_sparse_with_zero_holes() {
    let bytes = tree(3);
    let mut f = Fs::new(Some(Image::open(&bytes[..]).unwrap()));
    let mut m = TestMem {
        app: alloc::vec![b'a'; 100_000],
        image: bytes.clone(),
    };
    let id = f.create(0, b"n", Kind::File, Vec::new(), 1).unwrap();
    f.write(&m, id, 150_000, 0, 3, 2).unwrap();
    assert_eq!(f.node(id).unwrap().size, 150_003);
    let chunks = owned_chunks(&f, id);
    assert_eq!(chunks.len(), 1, "only the written chunk exists");
    m.app.fill(9);
    let got = read_all(&mut f, &mut m, id);
    assert!(got[..150_000].iter().all(|&b| b == 0));
    assert_eq!(&got[150_000..], b"aaa");
}

/// `bytes` opened as the file system, a test memory over them, and the id of `name` at the
/// root.
fn open_file<'b>(bytes: &'b [u8], name: &[u8]) -> (Fs<&'b [u8]>, TestMem, u32) {
    let f = Fs::new(Some(Image::open(bytes).unwrap()));
    let m = TestMem {
        app: alloc::vec![0; 100_000],
        image: bytes.to_vec(),
    };
    let root = f.node(0).unwrap();
    let id = f.lookup(&root, name).unwrap().unwrap();
    (f, m, id)
}

#[test]
fn a_read_near_a_large_chunk_s_start_decodes_only_the_segments_it_needs() {
    let bytes = crate::path::tests::tree_with(wasifs_image::BuildOptions {
        chunk_size: wasifs_image::ChunkSize::fixed_log2(18).unwrap(),
        ..wasifs_image::BuildOptions::default()
    });
    let (mut f, mut m, id) = open_file(&bytes, b"big.bin");
    let seg = wasifs_image::format::CHUNK_SEGMENT as usize;
    let want = big();
    // 10 bytes at 100: the first 32 KiB segment of the 256 KiB chunk 0.
    assert_eq!(f.read(&mut m, id, 100, 0, 10).unwrap(), 10);
    assert_eq!(&m.app[..10], &want[100..110]);
    assert_eq!(f.cache.lens(), [seg]);
    // Within it again: served from the cache, nothing decoded.
    f.stored.clear();
    assert_eq!(f.read(&mut m, id, seg as u64 - 5, 0, 5).unwrap(), 5);
    assert!(f.stored.is_empty(), "decoded again");
    // Past it: the whole chunk, once.
    assert_eq!(f.read(&mut m, id, 200_000, 0, 10).unwrap(), 10);
    assert_eq!(&m.app[..10], &want[200_000..200_010]);
    assert_eq!(f.cache.lens(), [256 * 1024]);
    assert_eq!(read_all(&mut f, &mut m, id), want);
}

#[test]
fn a_corrupt_segmented_chunk_reads_as_eio_or_bytes_never_a_panic() {
    let good = crate::path::tests::tree_with(wasifs_image::BuildOptions {
        chunk_size: wasifs_image::ChunkSize::fixed_log2(18).unwrap(),
        ..wasifs_image::BuildOptions::default()
    });
    let (off, len) = {
        let img = Image::open(&good[..]).unwrap();
        let root = img.node(0).unwrap();
        let id = img.lookup(&root, b"big.bin").unwrap().unwrap();
        let c = img.chunk(&img.node(id).unwrap(), 0).unwrap();
        (c.stored_off as usize, c.stored_len as usize)
    };
    for k in 0..24 {
        let mut bytes = good.clone();
        bytes[off + k * len / 24] ^= 0x5a;
        let (mut f, mut m, id) = open_file(&bytes, b"big.bin");
        // Zstd frames here carry no checksum: a flipped byte may decode to other bytes, or
        // fail; either way a read answers (10 bytes or EIO) and the next read still works.
        for at in [100u64, 40_000, 200_000, 100] {
            match f.read(&mut m, id, at, 0, 10) {
                Ok(n) => assert_eq!(n, 10),
                Err(e) => assert_eq!(e, EIO),
            }
        }
        let root = f.node(0).unwrap();
        let small = f.lookup(&root, b"a.txt").unwrap().unwrap();
        assert_eq!(f.read(&mut m, small, 0, 0, 5), Ok(5));
        assert_eq!(&m.app[..5], b"hello");
    }
}

#[test]
fn lz4_chunks_read_at_random_match_the_file_decode_only_what_is_read_and_load_the_dictionary_once()
{
    use wasifs_image::BuildOptions;
    // 1.5 MiB of varied text over a 64 KiB cache: 4 KiB LZ4 chunks and a dictionary.
    let words = [
        &b"page "[..],
        b"index ",
        b"row ",
        b"btree ",
        b"leaf\n",
        b"key ",
    ];
    let mut want = Vec::new();
    let mut x: u32 = 7;
    while want.len() < (3 << 19) + 25 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        want.extend_from_slice(words[(x >> 16) as usize % words.len()]);
        want.extend_from_slice(&x.to_le_bytes()[..(x >> 29) as usize % 4]);
    }
    // A last chunk of 25 bytes: shorter than the LZ4 decoder's fast-path room.
    want.truncate((3 << 19) + 25);
    let opts = BuildOptions {
        cache_size: "64K".parse().unwrap(),
        ..BuildOptions::default()
    };
    let bytes = image_of(opts, &[("db", &want)]);
    let (mut f, mut m, id) = open_file(&bytes, b"db");
    let img = f.img().unwrap();
    let dict_len = img.dict_range().1 as usize;
    assert!(dict_len > 0);
    let node = img.node(id).unwrap();
    assert_eq!(img.chunk(&node, 7).unwrap().codec, Codec::Lz4);
    let last = (want.len() / 4096) as u32;
    assert_eq!(img.chunk(&node, last).unwrap().codec, Codec::Lz4);
    let mut at: u64 = 12_345;
    for _ in 0..300 {
        at = (at * 48_271 + 11) % (want.len() as u64 - 5000);
        let n = f.read(&mut m, id, at, 0, 5000).unwrap() as usize;
        assert_eq!(&m.app[..n], &want[at as usize..at as usize + n], "at {at}");
    }
    assert_eq!(f.dict.len(), dict_len);
    // A read of a chunk's head decodes only that far; a later read of its tail, all of it.
    let c = 300 * 4096;
    assert!(f.cache.find(id, 300).is_none());
    assert_eq!(f.read(&mut m, id, c, 0, 16), Ok(16));
    assert_eq!(&m.app[..16], &want[c as usize..c as usize + 16]);
    let slot = f.cache.find(id, 300).unwrap();
    assert!(f.cache.data(slot).len() < 4096);
    assert_eq!(f.read(&mut m, id, c + 4000, 0, 96), Ok(96));
    assert_eq!(&m.app[..96], &want[c as usize + 4000..c as usize + 4096]);
    assert_eq!(f.cache.data(slot).len(), 4096);
    assert_eq!(read_all(&mut f, &mut m, id), want);
}

/// The test tree with `auto` chunks and a 64 KiB cache: big.bin (300 KiB, over the cache) has
/// 4 KiB chunks; a.txt is packed in a shared block (its chunk size is the block's).
fn small_chunk_tree() -> Vec<u8> {
    crate::path::tests::tree_with(wasifs_image::BuildOptions {
        cache_size: "64K".parse().unwrap(),
        ..wasifs_image::BuildOptions::default()
    })
}

#[test]
fn a_file_with_small_chunks_copies_one_small_chunk_on_write_and_reads_back_across_chunks() {
    let bytes = small_chunk_tree();
    let (mut f, mut m, id) = open_file(&bytes, b"big.bin");
    let sc = 1u64 << wasifs_image::format::SMALL_CHUNK_LOG2;
    assert_eq!(f.node(id).unwrap().chunk_size(), sc);
    let root = f.node(0).unwrap();
    let small = f.lookup(&root, b"a.txt").unwrap().unwrap();
    let block = wasifs_image::format::BLOCK_SIZE;
    assert_eq!(f.node(small).unwrap().chunk_size(), u64::from(block));
    m.app[..3].copy_from_slice(b"XYZ");
    // 3 bytes across the border of chunks 8 and 9.
    f.write(&m, id, 9 * sc - 1, 0, 3, 5).unwrap();
    let chunks = owned_chunks(&f, id);
    assert_eq!(chunks.iter().map(|c| c.0).collect::<Vec<_>>(), [8, 9]);
    assert!(chunks.iter().all(|c| c.1.len() as u64 == sc));
    let mut want = big();
    let at = 9 * sc as usize;
    want[at - 1..at + 2].copy_from_slice(b"XYZ");
    assert_eq!(read_all(&mut f, &mut m, id), want);
}

#[test]
fn a_file_with_small_chunks_truncates_and_grows_sparse() {
    let bytes = small_chunk_tree();
    let (mut f, mut m, id) = open_file(&bytes, b"big.bin");
    m.app.fill(b'q');
    f.write(&m, id, 20_000, 0, 10, 1).unwrap();
    f.set_size(id, 20_005, 2).unwrap();
    if let Some(ONode {
        data: Data::File { chunks, img_len },
        ..
    }) = f.get(id)
    {
        assert_eq!(chunks.len(), 1);
        let sc = 1usize << wasifs_image::format::SMALL_CHUNK_LOG2;
        let idx = 20_005 / sc;
        assert_eq!(
            (chunks[0].0 as usize, chunks[0].1.len()),
            (idx, 20_005 - idx * sc)
        );
        assert_eq!(*img_len, 20_005);
    }
    f.write(&m, id, 100_000, 0, 2, 3).unwrap();
    let got = read_all(&mut f, &mut m, id);
    assert_eq!(got.len(), 100_002);
    assert_eq!(&got[..20_000], &big()[..20_000]);
    assert_eq!(&got[20_000..20_005], b"qqqqq");
    assert!(got[20_005..100_000].iter().all(|&b| b == 0));
    assert_eq!(&got[100_000..], b"qq");
}

#[test]
fn an_image_file_cut_to_nothing_takes_32k_chunks_like_a_new_file() {
    let bytes = small_chunk_tree();
    let (mut f, mut m, id) = open_file(&bytes, b"big.bin");
    m.app.fill(b'z');
    f.set_size(id, 0, 1).unwrap();
    assert_eq!(f.node(id).unwrap().chunk_size(), 32 * 1024);
    f.write(&m, id, 0, 0, 40_000, 2).unwrap();
    let chunks = owned_chunks(&f, id);
    assert_eq!(chunks.iter().map(|c| c.0).collect::<Vec<_>>(), [0, 1]);
    let got = read_all(&mut f, &mut m, id);
    assert_eq!(got, alloc::vec![b'z'; 40_000]);
    let n = f.create(0, b"new", Kind::File, Vec::new(), 3).unwrap();
    assert_eq!(f.node(n).unwrap().chunk_size(), 32 * 1024);
}

/// 40 small files of 1,000–3,000 bytes (shared blocks) and a 100 KiB one (its own chunks).
fn small_files() -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut b = wasifs_image::ImageBuilder::new(wasifs_image::BuildOptions::default());
    let root = b.root();
    let meta = wasifs_image::Meta::default();
    let files: Vec<Vec<u8>> = (0..40u32)
        .map(|i| {
            let line = alloc::format!("file {i} line of text\n");
            line.bytes().cycle().take(1000 + 50 * i as usize).collect()
        })
        .collect();
    for (i, data) in files.iter().enumerate() {
        let name = alloc::format!("f{i:02}");
        let data = wasifs_image::FileData::Bytes(data.clone());
        b.add_file(root, name.as_bytes(), meta, data).unwrap();
    }
    let big = wasifs_image::FileData::Bytes(big()[..100 * 1024].to_vec());
    b.add_file(root, b"z", meta, big).unwrap();
    b.add_preopen(b"/", root, false).unwrap();
    (b.finish().unwrap(), files)
}

#[test]
fn small_files_in_one_shared_block_decompress_it_once_and_read_back() {
    let (bytes, files) = small_files();
    let img = Image::open(&bytes[..]).unwrap();
    let root = img.node(0).unwrap();
    let first = img
        .node(img.lookup(&root, b"f00").unwrap().unwrap())
        .unwrap();
    assert_eq!(img.chunk(&first, 0).unwrap().codec, Codec::Packed);
    let mut f = Fs::new(Some(img));
    let mut m = TestMem {
        app: alloc::vec![0; 200_000],
        image: bytes.clone(),
    };
    let f00 = f.lookup(&root, b"f00").unwrap().unwrap();
    assert_eq!(read_all(&mut f, &mut m, f00), files[0]);
    let total: usize = files.iter().map(Vec::len).sum();
    let first = f.cache.lens()[0];
    assert!(
        first < total,
        "the first file decodes part of the block: {first}"
    );
    for (i, want) in files.iter().enumerate().rev() {
        let name = alloc::format!("f{i:02}");
        let id = f.lookup(&root, name.as_bytes()).unwrap().unwrap();
        assert_eq!(&read_all(&mut f, &mut m, id), want, "{name}");
        f.cache.forget(id);
    }
    assert_eq!(f.cache.slot_count(), 1, "one block, kept after close");
    assert_eq!(
        f.cache.lens(),
        [total],
        "decoded whole once a later file needed it"
    );
    let z = f.lookup(&root, b"z").unwrap().unwrap();
    assert_eq!(read_all(&mut f, &mut m, z), big()[..100 * 1024]);
}

#[test]
fn a_small_file_in_a_shared_block_copies_only_its_bytes_on_write_and_truncates() {
    let (bytes, files) = small_files();
    let mut f = Fs::new(Some(Image::open(&bytes[..]).unwrap()));
    let mut m = TestMem {
        app: alloc::vec![b'#'; 10_000],
        image: bytes.clone(),
    };
    let root = f.node(0).unwrap();
    let id = f.lookup(&root, b"f07").unwrap().unwrap();
    f.write(&m, id, 10, 0, 2, 1).unwrap();
    let mut want = files[7].clone();
    want[10..12].copy_from_slice(b"##");
    assert_eq!(read_all(&mut f, &mut m, id), want);
    let chunks = owned_chunks(&f, id);
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].1.len(), files[7].len(), "the file, not the block");
    f.set_size(id, 5, 2).unwrap();
    assert_eq!(read_all(&mut f, &mut m, id), files[7][..5]);
    let next = f.lookup(&root, b"f08").unwrap().unwrap();
    assert_eq!(read_all(&mut f, &mut m, next), files[8]);
}

#[test]
fn a_file_read_through_keeps_one_mib_cached_and_one_read_at_random_keeps_all_it_reads() {
    use wasifs_image::BuildOptions;
    // 4 MiB of text that compresses (zstd chunks of 256 KiB) under the default 8 MiB cache.
    let mut want = Vec::new();
    let mut x: u32 = 3;
    while want.len() < 4 << 20 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        want.extend_from_slice(format!("row {} of the table\n", x >> 20).as_bytes());
    }
    let bytes = image_of(BuildOptions::default(), &[("db", &want)]);
    let (mut f, mut m, id) = open_file(&bytes, b"db");
    assert_eq!(read_all(&mut f, &mut m, id), want);
    assert!(f.cache.bytes() <= 1 << 20, "{}", f.cache.bytes());
    // Opened afresh, each 256 KiB chunk read once, out of order: all kept.
    let (mut f, mut m, id) = open_file(&bytes, b"db");
    for k in 0..16u64 {
        let at = (k * 7 % 16) * (256 << 10) + 1000;
        let n = f.read(&mut m, id, at, 0, 4096).unwrap() as usize;
        assert_eq!(&m.app[..n], &want[at as usize..at as usize + n], "at {at}");
    }
    assert_eq!(f.cache.bytes(), 4 << 20, "the whole file cached");
}

/// An image (`opts`) of `files`, (name, contents) each, at the root.
fn image_of<N: AsRef<[u8]>, B: AsRef<[u8]>>(
    opts: wasifs_image::BuildOptions,
    files: &[(N, B)],
) -> Vec<u8> {
    use wasifs_image::{FileData, ImageBuilder, Meta};
    let mut b = ImageBuilder::new(opts);
    let root = b.root();
    for (name, body) in files {
        let data = FileData::Bytes(body.as_ref().to_vec());
        b.add_file(root, name.as_ref(), Meta::default(), data)
            .unwrap();
    }
    b.finish().unwrap()
}

/// `n` pseudo-random bytes from `rng`.
fn noise(rng: &mut wasifs_image::fuzz::Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next() as u8).collect()
}

#[test]
fn the_block_dictionary_is_decoded_before_the_first_shared_block_and_kept() {
    // 1,200 files of 4–10 KiB cut from one 1 MiB pool of noise: blocks share only the pool.
    let mut rng = wasifs_image::fuzz::Rng(0x9e37_79b9_7f4a_7c15);
    let pool = noise(&mut rng, 1 << 20);
    let files: Vec<(String, Vec<u8>)> = (0..1200)
        .map(|i| {
            let r = rng.next();
            let len = 4096 + (r % 6144) as usize;
            let start = (r >> 24) as usize % (pool.len() - len);
            (alloc::format!("f{i:04}"), pool[start..start + len].to_vec())
        })
        .collect();
    let bytes = image_of(wasifs_image::BuildOptions::default(), &files);
    let (mut f, mut m, _) = open_file(&bytes, b"f0000");
    let size = f.img().unwrap().block_dict_range().2 as usize;
    assert!(size > 0);
    assert!(f.block_dict.is_empty(), "nothing decoded before a read");
    let root = f.node(0).unwrap();
    for i in [0usize, 1, 700, 1199, 3] {
        let (name, body) = &files[i];
        let id = f.lookup(&root, name.as_bytes()).unwrap().unwrap();
        assert_eq!(&read_all(&mut f, &mut m, id), body, "{name}");
        assert_eq!(f.block_dict.len(), size);
    }
}

#[test]
fn a_file_in_a_group_of_similar_files_reads_the_same_from_any_offset() {
    let mut rng = wasifs_image::fuzz::Rng(7);
    let v1 = noise(&mut rng, 600_000);
    let mut v2 = v1[..50_000].to_vec();
    v2.extend(noise(&mut rng, 3_000));
    v2.extend_from_slice(&v1[50_000..]);
    let mut v3 = v2.clone();
    v3[500_000] ^= 1;
    let files: Vec<(String, Vec<u8>)> = [v1, v2, v3]
        .into_iter()
        .enumerate()
        .map(|(i, v)| (alloc::format!("data-{i}.bin"), v))
        .collect();
    let bytes = image_of(wasifs_image::BuildOptions::default(), &files);
    let (mut f, mut m, last) = open_file(&bytes, b"data-2.bin");
    let node = f.img().unwrap().node(last).unwrap();
    assert_eq!(
        f.img().unwrap().chunk(&node, 0).unwrap().codec,
        Codec::Packed
    );
    // The last member first, cold: its frame is decoded through the others' pieces.
    assert_eq!(f.read(&mut m, last, 300_000, 0, 1000), Ok(1000));
    assert_eq!(&m.app[..1000], &files[2].1[300_000..301_000]);
    let root = f.node(0).unwrap();
    let mut at = 1u64;
    for (name, v) in &files {
        let id = f.lookup(&root, name.as_bytes()).unwrap().unwrap();
        for _ in 0..20 {
            at = (at * 48_271 + 11) % (v.len() as u64 - 3000);
            let n = f.read(&mut m, id, at, 0, 3000).unwrap() as usize;
            assert_eq!(
                &m.app[..n],
                &v[at as usize..at as usize + n],
                "{name} at {at}"
            );
        }
        assert_eq!(&read_all(&mut f, &mut m, id), v, "{name}");
    }
}

#[test]
fn chunks_of_zeros_read_and_copy_on_write_without_decoding_or_caching() {
    // 1 MiB of zeros but for text at 300 KiB, in 256 KiB chunks: three of its four chunks are zeros.
    let mut body = alloc::vec![0u8; 1 << 20];
    body[300 << 10..(300 << 10) + 5000].copy_from_slice(&big()[..5000]);
    let files = [(String::from("z"), body.clone())];
    let bytes = image_of(wasifs_image::BuildOptions::default(), &files);
    let (mut f, mut m, id) = open_file(&bytes, b"z");
    let img = Image::open(&bytes[..]).unwrap();
    let node = img.node(id).unwrap();
    let codecs: Vec<_> = (0..node.b)
        .map(|i| img.chunk(&node, i).unwrap().codec)
        .collect();
    assert_eq!(codecs, [Codec::Zero, Codec::Zstd, Codec::Zero, Codec::Zero]);
    m.app.fill(9);
    assert_eq!(f.read(&mut m, id, 600 << 10, 0, 70_000).unwrap(), 70_000);
    assert!(
        m.app[..70_000].iter().all(|&b| b == 0),
        "zeros written over the app's bytes"
    );
    assert_eq!(f.cache.bytes(), 0, "nothing decoded into the cache");
    assert_eq!(read_all(&mut f, &mut m, id), body);
    assert_eq!(
        f.cache.slot_count(),
        1,
        "only the chunk with text is cached"
    );
    m.app[..3].copy_from_slice(b"abc");
    f.write(&m, id, 10, 0, 3, 1).unwrap();
    body[10..13].copy_from_slice(b"abc");
    assert_eq!(read_all(&mut f, &mut m, id), body);
}

#[test]
fn text_over_a_32m_cache_in_4m_chunks_reads_back_at_random_and_through_and_a_write_copies_one_chunk(
) {
    use wasifs_image::format::{CHUNK_SEGMENT, TEXT_CHUNK_LOG2};
    use wasifs_image::BuildOptions;
    // 33 MiB and a bit of lines of words (text, over a 32 MiB cache): 4 MiB chunks.
    let words = [&b"alpha "[..], b"beta ", b"gamma\n", b"delta ", b"epsilon "];
    let mut want = Vec::new();
    let mut x: u32 = 11;
    while want.len() < (33 << 20) + 77 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        want.extend_from_slice(words[(x >> 16) as usize % words.len()]);
    }
    want.truncate((33 << 20) + 77);
    let opts = BuildOptions {
        cache_size: "32M".parse().unwrap(),
        ..BuildOptions::default()
    };
    let bytes = image_of(opts, &[("log", &want)]);
    let (mut f, mut m, id) = open_file(&bytes, b"log");
    assert_eq!(f.node(id).unwrap().chunk_log2, TEXT_CHUNK_LOG2);
    let cs = 1u64 << TEXT_CHUNK_LOG2;
    // A read near chunk 1's start decodes its first segment only; one past that, all of it.
    assert_eq!(f.read(&mut m, id, cs + 10, 0, 100), Ok(100));
    assert_eq!(&m.app[..100], &want[cs as usize + 10..cs as usize + 110]);
    assert_eq!(f.cache.lens(), [CHUNK_SEGMENT as usize]);
    let far = 3 * cs / 2;
    assert_eq!(f.read(&mut m, id, far, 0, 100), Ok(100));
    assert_eq!(&m.app[..100], &want[far as usize..far as usize + 100]);
    assert_eq!(f.cache.lens(), [cs as usize]);
    // Reads at random, some across a chunk's end, then all of it through.
    let mut at: u64 = 12_345;
    for _ in 0..40 {
        at = (at * 48_271 + 11) % (want.len() as u64 - 5000);
        let n = f.read(&mut m, id, at, 0, 5000).unwrap() as usize;
        assert_eq!(&m.app[..n], &want[at as usize..at as usize + n], "at {at}");
    }
    let across = 2 * cs - 2500;
    assert_eq!(f.read(&mut m, id, across, 0, 5000), Ok(5000));
    assert_eq!(
        &m.app[..5000],
        &want[across as usize..across as usize + 5000]
    );
    assert_eq!(read_all(&mut f, &mut m, id), want);
    // A write copies the one 4 MiB chunk it falls in.
    m.app[..2].copy_from_slice(b"XY");
    f.write(&m, id, cs + 7, 0, 2, 3).unwrap();
    want[cs as usize + 7..cs as usize + 9].copy_from_slice(b"XY");
    let chunks = owned_chunks(&f, id);
    assert_eq!(chunks.iter().map(|c| c.0).collect::<Vec<_>>(), [1]);
    assert_eq!(chunks[0].1.len() as u64, cs);
    assert_eq!(read_all(&mut f, &mut m, id), want);
}
