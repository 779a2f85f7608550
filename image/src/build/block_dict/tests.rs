//! Tests of the block dictionary: which files it takes and in what order, when the trial keeps or drops it, and that the choice does not depend on the thread count.

use super::*;
use crate::build::compress::tests::noise;

fn files(bodies: &[Vec<u8>]) -> Vec<FileData> {
    bodies.iter().map(|b| FileData::Bytes(b.clone())).collect()
}

fn small(data: &[FileData]) -> Vec<SmallFile<'_>> {
    data.iter()
        .enumerate()
        .map(|(index, d)| SmallFile {
            index,
            data: d,
            size: match d {
                FileData::Bytes(b) => b.len() as u64,
                FileData::Path(_) => 0,
            },
        })
        .collect()
}

/// Files of 2–10 KiB cut at pseudo-random places from one `pool`.
fn cut_from(pool: &[u8], count: usize) -> Vec<Vec<u8>> {
    let mut rng = crate::fuzz::Rng(0x9e37_79b9_7f4a_7c15);
    (0..count)
        .map(|_| {
            let x = rng.next();
            let len = 2048 + (x % 8192) as usize;
            let start = (x >> 20) as usize % (pool.len() - len);
            pool[start..start + len].to_vec()
        })
        .collect()
}

/// The dictionary `choose` makes of `small` and `mid` files in a tree of `tree` bytes, on
/// `threads` threads: its bytes and its stored form.
fn chosen_on(
    (small, mid): (&[Vec<u8>], &[Vec<u8>]),
    tree: u64,
    level: Level,
    threads: usize,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let (small, mid) = (files(small), files(mid));
    choose(
        &self::small(&small),
        &self::small(&mid),
        tree,
        level,
        BlockSize::DEFAULT,
        threads,
    )
    .unwrap()
    .map(|d| (d.raw, d.stored))
}

/// The dictionary `choose` makes of `small` and `mid` files in a tree of `tree` bytes.
fn chosen(small: &[Vec<u8>], mid: &[Vec<u8>], tree: u64, level: Level) -> Option<Vec<u8>> {
    chosen_on((small, mid), tree, level, 0).map(|(raw, _)| raw)
}

fn size(bodies: &[Vec<u8>]) -> u64 {
    bodies.iter().map(|b| b.len() as u64).sum()
}

#[test]
fn files_cut_from_one_pool_get_a_dictionary_of_whole_files() {
    // A 1 MiB pool of incompressible bytes: only a dictionary finds repeats across blocks.
    let pool = noise(1 << 20, 7);
    let bodies = cut_from(&pool, 2000);
    let dict = chosen(&bodies, &[], size(&bodies), Level::DEFAULT).expect("a dictionary");
    // Files up to the most it may hold, of which those adding content: most of the pool.
    assert!(dict.len() as u64 <= MAX_BLOCK_DICT_LEN as u64);
    assert!(dict.len() > pool.len() / 2, "{}", dict.len());
    // Made of whole files, back to back, in order.
    let first = bodies
        .iter()
        .find(|b| dict.starts_with(b))
        .expect("starts with a file");
    assert!(!first.is_empty());
}

#[test]
fn the_dictionary_holds_its_files_in_node_order_whatever_order_they_were_taken_in() {
    // Files cut from one pool, each tagged with its position; the sample visits every 7th
    // file first, yet the dictionary holds them by position.
    let pool = noise(1 << 20, 11);
    let bodies: Vec<Vec<u8>> = cut_from(&pool, 2000)
        .into_iter()
        .enumerate()
        .map(|(i, b)| [std::format!("<file {i:05}>").as_bytes(), &b].concat())
        .collect();
    let dict = chosen(&bodies, &[], size(&bodies), Level::DEFAULT).expect("a dictionary");
    let tag = b"<file ";
    let found: Vec<usize> = (0..dict.len().saturating_sub(tag.len() + 5))
        .filter(|&at| dict[at..].starts_with(tag))
        .filter_map(|at| std::str::from_utf8(&dict[at + tag.len()..at + tag.len() + 5]).ok())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(found.len() > 100, "{}", found.len());
    assert!(found.windows(2).all(|w| w[0] < w[1]), "{found:?}");
}

#[test]
fn mid_size_files_sharing_content_get_a_dictionary_at_most_as_long_as_they_are() {
    let pool = noise(1 << 20, 9);
    let mid: Vec<Vec<u8>> = cut_from(&pool, 30).iter().map(|b| b.repeat(4)).collect();
    let total = size(&mid);
    assert!(
        total > 1 << 19 && total < MAX_BLOCK_DICT_LEN.into(),
        "{total}"
    );
    let dict = chosen(&[], &mid, total, Level::DEFAULT).expect("a dictionary");
    assert!(dict.len() as u64 <= total, "{}", dict.len());
    assert!(mid.iter().any(|b| dict.starts_with(b)));
}

#[test]
fn files_repeating_part_of_another_fill_the_dictionary_in_a_second_pass() {
    // 40 variants of 4 files: each a base (24 KiB) and 8 KiB of its own. The first pass
    // takes one variant of each base; the others (75 % known) join in the second.
    let bases: Vec<Vec<u8>> = (0..4).map(|i| noise(24 << 10, 100 + i)).collect();
    let mid: Vec<Vec<u8>> = (0..40)
        .map(|i| [&bases[i % 4][..], &noise(8 << 10, 200 + i as u64)].concat())
        .collect();
    let total = size(&mid);
    let dict = chosen(&[], &mid, total, Level::DEFAULT).expect("a dictionary");
    assert!(dict.len() as u64 > total / 2, "{} of {total}", dict.len());
}

#[test]
fn mid_size_files_all_in_the_dictionary_are_weighed_as_each_compressed_alone() {
    // Six variants of one file, all of them in the dictionary: without it each would be
    // compressed alone (six bases), with it the base is stored once.
    let base = noise(12 << 10, 300);
    let mid: Vec<Vec<u8>> = (0..6)
        .map(|i| [&base[..], &noise(8 << 10, 400 + i)].concat())
        .collect();
    let total = size(&mid);
    let dict = chosen(&[], &mid, total, Level::DEFAULT).expect("a dictionary");
    assert_eq!(dict.len() as u64, total);
}

#[test]
fn the_choice_and_the_stored_dictionary_are_the_same_on_any_number_of_threads() {
    let pool = noise(1 << 20, 11);
    let small = cut_from(&pool, 600);
    let mid: Vec<Vec<u8>> = cut_from(&pool, 12).iter().map(|b| b.repeat(3)).collect();
    let tree = size(&small) + size(&mid);
    let one = chosen_on((&small, &mid), tree, Level::DEFAULT, 1).expect("a dictionary");
    for threads in [2, 3, 8] {
        let many = chosen_on((&small, &mid), tree, Level::DEFAULT, threads);
        assert!(many.as_ref() == Some(&one), "{threads} threads");
    }
    // Its stored form is one frame that decodes to it.
    let decoded = zstd::bulk::decompress(&one.1, one.0.len()).unwrap();
    assert!(decoded == one.0);
}

#[test]
fn unrelated_files_get_no_dictionary() {
    let bodies: Vec<Vec<u8>> = (0..2000).map(|i| noise(6000, i + 1)).collect();
    let mid: Vec<Vec<u8>> = (0..100).map(|i| noise(40_000, i + 5000)).collect();
    assert_eq!(chosen(&bodies, &mid, 16 << 20, Level::DEFAULT), None);
}

#[test]
fn files_too_few_or_too_small_a_share_of_the_tree_or_stored_raw_get_no_dictionary() {
    let pool = noise(1 << 20, 7);
    let few = cut_from(&pool, 2);
    assert!(size(&few) < MIN_LEN);
    assert_eq!(chosen(&few, &[], size(&few), Level::DEFAULT), None);
    let many = cut_from(&pool, 2000);
    let tree = size(&many) * (MIN_SHARE + 1);
    assert_eq!(chosen(&many, &[], tree, Level::DEFAULT), None);
    assert_eq!(chosen(&many, &[], size(&many), Level::STORE), None);
}

#[test]
fn mid_size_files_of_the_trial_are_picked_by_their_bytes_and_cut_to_a_chunk() {
    // 96 files of 16 KiB hold a fifth of the bytes, three of 1 MiB the rest: picked by count,
    // the trial saw only the small ones; by bytes, it sees chunks of the large ones.
    let mut bodies: Vec<Vec<u8>> = (0..96).map(|i| std::vec![i as u8; 16 << 10]).collect();
    bodies.splice(32..32, (0..3).map(|i| std::vec![200 + i as u8; 1 << 20]));
    let data = files(&bodies);
    let mid = small(&data);
    let picked = trial_files(&mid, &std::vec![false; mid.len()]).unwrap();
    assert!(picked.len() as u64 <= TRIALS);
    let large = picked.iter().filter(|p| p.first() >= Some(&200)).count();
    assert!(large >= 5, "{large} of {}", picked.len());
    assert!(picked.iter().all(|p| p.len() as u64 <= TRIAL_PIECE));
    // The sample's files are not picked.
    let sampled: Vec<bool> = bodies.iter().map(|b| b.len() > 1 << 16).collect();
    let rest = trial_files(&mid, &sampled).unwrap();
    assert!(!rest.is_empty() && rest.iter().all(|p| p.len() == 16 << 10));
}
