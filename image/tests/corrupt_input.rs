//! Corrupt images: truncations, byte flips, bad headers, chunk sizes and chunks are errors, never panics.

mod common;

use common::{build_flat, opts, resolve, sample, text};
use wasifs_image::format::{header_off, Codec, Kind, HEADER_SIZE, NODE_SIZE};
use wasifs_image::{BuildOptions, FileData, FormatError, Image, ImageBuilder, Meta};

#[test]
fn reader_refuses_a_file_chunk_size_above_the_header_or_4_mib_and_a_header_not_a_power_of_two() {
    let mut b = ImageBuilder::new(opts(3, 4096));
    let root = b.root();
    b.add_file(root, b"f", Meta::default(), FileData::Bytes(text(10_000)))
        .unwrap();
    let bytes = b.finish().unwrap();
    let img = Image::open(bytes.as_slice()).unwrap();
    let id = img.lookup(&img.node(0).unwrap(), b"f").unwrap().unwrap();
    let at = img.header().nodes_off as usize + id as usize * NODE_SIZE as usize + 1;
    assert_eq!(bytes[at], 12, "node byte 1 is the chunk size's log2");
    for log2 in [13, 21, 23, 64, 255] {
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
    for header in [3 * 4096u32, 8 << 20] {
        let mut bad = bytes.clone();
        bad[56..60].copy_from_slice(&header.to_le_bytes());
        assert_eq!(
            Image::open(bad.as_slice()).err(),
            Some(FormatError::BadTable)
        );
    }
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
    let mut bad = bytes.clone();
    bad[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        Image::open(bad.as_slice()).err(),
        Some(FormatError::BadTable)
    );
    // An LZ4 dictionary that ends past the image by less than a header's length (it was measured
    // from the header's end, so a read of it ran off the image).
    let end = bytes.len() as u32;
    let mut bad = bytes;
    bad[header_off::DICT_OFF..][..4].copy_from_slice(&(end - 16).to_le_bytes());
    bad[header_off::DICT_LEN..][..4].copy_from_slice(&32u32.to_le_bytes());
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
fn reader_refuses_a_chunk_of_zeros_that_claims_stored_bytes() {
    let bytes = build_flat(opts(3, 4096), &[("z", &[0u8; 8192])]);
    let img = Image::open(bytes.as_slice()).unwrap();
    let f = resolve(&img, 0, "z");
    assert_eq!(img.chunk(&f, 1).map(|c| c.codec), Ok(Codec::Zero));
    let at = img.header().chunks_off as usize + (f.a as usize + 1) * 12;
    for (field, value) in [(0, 64u32), (4, 1), (9, 1)] {
        let mut bad = bytes.clone();
        let width = if field == 9 { 3 } else { 4 };
        bad[at + field..at + field + width].copy_from_slice(&value.to_le_bytes()[..width]);
        let img = Image::open(bad.as_slice()).unwrap();
        assert_eq!(
            img.chunk(&f, 1),
            Err(FormatError::BadChunk),
            "field at {field}"
        );
    }
}
