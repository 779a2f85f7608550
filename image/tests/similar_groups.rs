//! Groups of similar files: versions of one file are compressed chunk by chunk in shared frames,
//! read back exactly, a member equal to an earlier file is still a copy, and `off` keeps every
//! file apart.

mod common;

use common::{assert_reads_back, build_in_dirs, noise, resolve};
use wasifs_image::format::Codec;
use wasifs_image::{Dictionaries, Image};

/// Three versions of a 700 KB file (each inserts and changes a little), a copy of the second,
/// and an unrelated file named like them; plus one file alone.
fn versions() -> Vec<(String, Vec<u8>)> {
    let v1 = noise(700_000, 1);
    let mut v2 = v1[..100_000].to_vec();
    v2.extend(noise(5_000, 2));
    v2.extend_from_slice(&v1[100_000..]);
    v2[400_000] ^= 0x55;
    let mut v3 = v2.clone();
    v3.truncate(600_000);
    v3.extend(noise(20_000, 3));
    [
        ("a/lib-1.0.bin", v1),
        ("b/lib-1.1.bin", v2.clone()),
        ("c/lib-1.2.bin", v3),
        ("d/lib-1.1.bin", v2),
        ("e/lib-2.0.bin", noise(650_000, 4)),
        ("f/alone.bin", noise(300_000, 5)),
    ]
    .map(|(path, body)| (path.to_string(), body))
    .into()
}

#[test]
fn versions_of_a_file_share_frames_and_read_back_exactly() {
    let files = versions();
    let bytes = build_in_dirs(&files, Dictionaries::Auto);
    let img = Image::open(bytes.as_slice()).unwrap();
    assert_reads_back(&img, &files);
    let frame = |path: &str, i: u32| {
        let node = resolve(&img, 0, path);
        img.chunk(&node, i).unwrap()
    };
    // Chunk 1 of the three versions is one frame, each version's piece after the one before.
    let (a, b, c) = (
        frame("a/lib-1.0.bin", 1),
        frame("b/lib-1.1.bin", 1),
        frame("c/lib-1.2.bin", 1),
    );
    assert_eq!(a.codec, Codec::Packed);
    assert_eq!(
        (a.stored_off, b.stored_off, c.stored_off),
        (a.stored_off, a.stored_off, a.stored_off)
    );
    assert_eq!(
        (a.block_off, b.block_off, c.block_off),
        (0, 256 * 1024, 512 * 1024)
    );
    assert!(img.chunk_size() >= 768 * 1024);
    // The copy shares the second version's chunks; the others are apart (in frames of their own,
    // whether or not against the block dictionary).
    for i in 0..3 {
        assert_eq!(frame("d/lib-1.1.bin", i), frame("b/lib-1.1.bin", i));
        let (e, a) = (frame("e/lib-2.0.bin", i), frame("a/lib-1.0.bin", i));
        assert_ne!(e.stored_off, a.stored_off);
        assert_eq!(e.block_off, 0);
    }
    let f = frame("f/alone.bin", 0);
    assert_eq!(f.block_off, 0);
    assert_ne!(f.stored_off, frame("a/lib-1.0.bin", 0).stored_off);
    // Each later version costs about what differs from the one before.
    let apart = build_in_dirs(&files, Dictionaries::Off);
    let apart_img = Image::open(apart.as_slice()).unwrap();
    let node = resolve(&apart_img, 0, "c/lib-1.2.bin");
    assert_eq!(apart_img.chunk(&node, 1).unwrap().codec, Codec::Raw);
    assert!(
        bytes.len() + 1_200_000 < apart.len(),
        "{} vs {} bytes",
        bytes.len(),
        apart.len()
    );
}

#[test]
fn a_corrupted_group_reads_as_bytes_or_an_error_never_a_panic() {
    let v1 = noise(40_000, 7);
    let mut v2 = v1.clone();
    v2[30_000] ^= 1;
    let mut v3 = v2.clone();
    v3.extend(noise(3_000, 8));
    let files = [("a/x-1.bin", v1), ("b/x-2.bin", v2), ("c/x-3.bin", v3)]
        .map(|(path, body)| (path.to_string(), body));
    let bytes = build_in_dirs(&files, Dictionaries::Auto);
    {
        let img = Image::open(bytes.as_slice()).unwrap();
        let c = img.chunk(&resolve(&img, 0, "c/x-3.bin"), 0).unwrap();
        assert_eq!((c.codec, c.block_off), (Codec::Packed, 80_000));
    }
    let mut rng = wasifs_image::fuzz::Rng(0x2545_f491_4f6c_dd1d);
    let mut next = || rng.next();
    for _ in 0..400 {
        let mut bad = bytes.clone();
        for _ in 0..1 + next() % 3 {
            let at = (next() % bad.len() as u64) as usize;
            bad[at] ^= (next() % 255 + 1) as u8;
        }
        let Ok(img) = Image::open(bad.as_slice()) else {
            continue;
        };
        let mut buf = vec![0u8; img.chunk_size().min(1 << 20) as usize];
        for id in 0..img.node_count().min(64) {
            if let Ok(n) = img.node(id) {
                if n.is_file() {
                    for i in 0..n.b.min(4) {
                        let _ = img.read_chunk(&n, i, &mut buf);
                    }
                }
            }
        }
    }
}
