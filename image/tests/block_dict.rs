//! The dictionary of shared blocks: added where small files share content across blocks, read back
//! through it at every kind of zstd level, refused when its header fields are out of bounds, never
//! added under `off`, and a host file broken after it was added failing the build by its path.

mod common;

use common::{add_in_dirs, assert_reads_back, build_in_dirs, build_in_dirs_with, noise, resolve};
use wasifs_image::format::{header_off, Codec, FormatError, MAX_BLOCK_DICT_LEN};
use wasifs_image::{BuildError, BuildOptions, Dictionaries, FileData, Image, ImageBuilder, Level};

/// 1,500 files of 2–10 KiB cut at pseudo-random places from one 1 MiB pool of noise, in 15
/// directories: each block alone finds nothing to compress, the pool repeats across the tree.
fn pool_files() -> Vec<(String, Vec<u8>)> {
    let pool = noise(1 << 20, 11);
    let mut rng = wasifs_image::fuzz::Rng(0x2545_f491_4f6c_dd1d);
    (0..1500)
        .map(|i| {
            let x = rng.next();
            let len = 2048 + (x % 8192) as usize;
            let start = (x >> 24) as usize % (pool.len() - len);
            (
                format!("d{:02}/f{i:04}", i / 100),
                pool[start..start + len].to_vec(),
            )
        })
        .collect()
}

#[test]
fn small_files_sharing_content_across_blocks_are_compressed_against_a_dictionary() {
    let files = pool_files();
    let with = build_in_dirs(&files, Dictionaries::Auto);
    let img = Image::open(with.as_slice()).unwrap();
    let (off, len, size) = img.block_dict_range();
    assert!(off > 0 && len > 0 && len < size, "{off} {len} {size}");
    // Files adding content, up to the most it may hold: most of the 1 MiB pool.
    assert!(size <= MAX_BLOCK_DICT_LEN && size > 1 << 19, "{size}");
    for (path, _) in &files {
        let node = resolve(&img, 0, path);
        assert_eq!(img.chunk(&node, 0).unwrap().codec, Codec::Packed, "{path}");
    }
    assert_reads_back(&img, &files);
    let without = build_in_dirs(&files, Dictionaries::Off);
    let plain = Image::open(without.as_slice()).unwrap();
    assert_eq!(plain.block_dict_range(), (0, 0, 0));
    assert!(
        with.len() * 3 < without.len() * 2,
        "{} vs {} bytes",
        with.len(),
        without.len()
    );
}

#[test]
fn blocks_against_the_dictionary_read_back_and_pay_at_levels_of_every_zstd_strategy() {
    // Each input's tables are sized apart from the dictionary's, by level (zstd's `fast`, `dfast`,
    // `lazy2` and `btultra2` strategies): each still finds the pool through the dictionary.
    let files = &pool_files()[..400];
    for level in [1, 3, 9, 19] {
        let build = |dictionaries| {
            let level = Level::try_from(level).unwrap();
            let opts = BuildOptions {
                level,
                dictionaries,
                ..BuildOptions::default()
            };
            build_in_dirs_with(files, opts, 0)
        };
        let (with, without) = (build(Dictionaries::Auto), build(Dictionaries::Off));
        let img = Image::open(with.as_slice()).unwrap();
        assert!(img.block_dict_range().1 > 0, "level {level}");
        assert_reads_back(&img, files);
        assert!(
            with.len() * 3 < without.len() * 2,
            "level {level}: {} vs {} bytes",
            with.len(),
            without.len()
        );
    }
}

#[test]
fn block_dictionary_fields_out_of_bounds_are_refused_and_a_broken_one_is_an_error() {
    let image = build_in_dirs(&pool_files(), Dictionaries::Auto);
    let set = |at: usize, v: u32| {
        let mut b = image.clone();
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        b
    };
    let size = image.len() as u32;
    for bad in [
        set(header_off::BLOCK_DICT_SIZE, MAX_BLOCK_DICT_LEN + 1),
        set(header_off::BLOCK_DICT_LEN, size),
        set(header_off::BLOCK_DICT_OFF, 8),
        set(header_off::BLOCK_DICT_SIZE, 0),
    ]
    .iter()
    .enumerate()
    {
        let got = Image::open(bad.1.as_slice()).err();
        assert_eq!(got, Some(FormatError::BadTable), "case {}", bad.0);
    }
    // A dictionary that does not decode (its frame's magic broken) fails every packed read.
    let img = Image::open(image.as_slice()).unwrap();
    let off = img.block_dict_range().0 as usize;
    let mut broken = image.clone();
    broken[off] ^= 0xff;
    let img = Image::open(broken.as_slice()).unwrap();
    let node = resolve(&img, 0, "d00/f0000");
    let mut buf = vec![0u8; node.size as usize];
    assert_eq!(
        img.read_chunk(&node, 0, &mut buf),
        Err(FormatError::Decompress)
    );
}

#[test]
fn a_host_file_removed_or_shortened_after_it_was_added_fails_a_dictionary_build_naming_it() {
    // Wherever the broken file falls (read first by the dictionary's sample, later, or only for its
    // data), the build fails with its path.
    let files = pool_files();
    let dir = tempfile::tempdir().unwrap();
    for (victim, removed) in [(0, true), (777, false), (files.len() - 1, true)] {
        let mut b = ImageBuilder::new(BuildOptions::default());
        add_in_dirs(&mut b, &files, |path, body| {
            let host = dir.path().join(path);
            std::fs::create_dir_all(host.parent().unwrap()).unwrap();
            std::fs::write(&host, body).unwrap();
            FileData::Path(host)
        });
        let broken = dir.path().join(&files[victim].0);
        match removed {
            true => std::fs::remove_file(&broken).unwrap(),
            false => std::fs::write(&broken, &files[victim].1[1..]).unwrap(),
        }
        match b.finish() {
            Err(BuildError::Io { path, .. }) if removed => assert_eq!(path, broken),
            Err(BuildError::SizeChanged { path, .. }) if !removed => assert_eq!(path, broken),
            other => panic!("file {victim}: {:?}", other.map(|i| i.len())),
        }
    }
}
