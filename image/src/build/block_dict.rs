//! The dictionary of shared blocks (image format 7): whole small files from across the tree, each adding content the others lack, used as raw zstd history for every block, and kept only when a trial on other small files shows it pays.

use std::collections::HashSet;
use std::vec;
use std::vec::Vec;

use super::{similar, BuildError, FileData};
use crate::block_size::BlockSize;
use crate::format::MAX_BLOCK_DICT_LEN;
use crate::level::Level;

/// Small files must hold this many times the dictionary for one to be tried.
const MIN_RATIO: u64 = 8;
/// Trial blocks compressed with and without the dictionary.
const TRIALS: u64 = 8;
/// The dictionary is kept when it makes the trial blocks at least this many percent smaller
/// (measured: 40–50 % on files cut from one text pool, 4–11 % on source and generated trees, where
/// decoding the dictionary before the first small file is read would not pay).
const MIN_GAIN_PERCENT: usize = 20;
/// Files taken first, spread over the tree: the sample visits every `n / SPREAD`-th file, then
/// the ones after those, and so on.
const SPREAD: usize = 256;
/// A file joins the sample unless more than this many percent of its anchors are in it already.
const MAX_KNOWN_PERCENT: usize = 20;
/// Bytes of small files looked at for the sample, at most, in dictionary lengths.
const LOOK_AT: u64 = 4;
/// The zstd magic of a structured dictionary: a sample starting with it would be read as one.
const ZSTD_DICT_MAGIC: [u8; 4] = 0xEC30_A437u32.to_le_bytes();

/// A small file that goes into a shared block: its contents and size.
pub(super) struct SmallFile<'a> {
    pub(super) data: &'a FileData,
    pub(super) size: u64,
}

/// The dictionary for the shared blocks of `files` (in node order), or `None` when they hold too
/// little or the trial finds it saves less than [`MIN_GAIN_PERCENT`].
pub(super) fn choose(
    files: &[SmallFile<'_>],
    level: Level,
    block: BlockSize,
) -> Result<Option<Vec<u8>>, BuildError> {
    let Some(zstd_level) = level.zstd() else {
        return Ok(None);
    };
    let total: u64 = files.iter().map(|f| f.size).sum();
    let want = MAX_BLOCK_DICT_LEN as u64;
    if total < want * MIN_RATIO {
        return Ok(None);
    }
    let (mut sample, sampled) = sample(files, want)?;
    if sample.starts_with(&ZSTD_DICT_MAGIC) {
        sample.remove(0);
    }
    let trials = trial_blocks(files, &sampled, total, block.get() as usize)?;
    let err = BuildError::Compress;
    let mut plain = zstd::bulk::Compressor::new(zstd_level).map_err(err)?;
    let mut with = zstd::bulk::Compressor::with_dictionary(zstd_level, &sample).map_err(err)?;
    let (mut before, mut after) = (0usize, 0usize);
    for block in &trials {
        before += plain.compress(block).map_err(err)?.len();
        after += with.compress(block).map_err(err)?.len();
    }
    let pays = after * 100 <= before * (100 - MIN_GAIN_PERCENT);
    Ok(pays.then_some(sample))
}

/// Whole files for the dictionary, up to `want` bytes: visited spread over the tree (every
/// `n / SPREAD`-th file first), each taken unless more than [`MAX_KNOWN_PERCENT`] of its anchors
/// (`similar::fingerprints`) are in the sample already, so the sample holds as much distinct
/// content as it can (files cut from one pool: 3.41 MB of blocks and dictionary, against 3.92 MB
/// for files taken at even steps). Returns it and which files are in it.
fn sample(files: &[SmallFile<'_>], want: u64) -> Result<(Vec<u8>, Vec<bool>), BuildError> {
    let n = files.len();
    let step = (n / SPREAD).max(1);
    let mut sample = Vec::with_capacity(want as usize);
    let mut sampled = vec![false; n];
    let mut known = HashSet::new();
    let mut anchors = Vec::new();
    let mut looked = 0u64;
    for i in (0..step).flat_map(|first| (first..n).step_by(step)) {
        let f = &files[i];
        if looked >= want * LOOK_AT || sample.len() as u64 + 4096 > want {
            break;
        }
        if sample.len() as u64 + f.size > want {
            continue;
        }
        let body = read(f)?;
        looked += f.size;
        anchors.clear();
        similar::fingerprints(&body, &mut anchors);
        let seen = anchors.iter().filter(|a| known.contains(*a)).count();
        if seen * 100 > anchors.len() * MAX_KNOWN_PERCENT {
            continue;
        }
        known.extend(anchors.iter().copied());
        sample.extend_from_slice(&body);
        sampled[i] = true;
    }
    Ok((sample, sampled))
}

/// The dictionary as stored in the image: one zstd frame at `level` (the size in its header).
pub(super) fn store(dict: &[u8], level: Level) -> Result<Vec<u8>, BuildError> {
    let zstd_level = level.zstd().unwrap_or(1);
    zstd::bulk::compress(dict, zstd_level).map_err(BuildError::Compress)
}

/// Up to [`TRIALS`] blocks of `size` bytes of consecutive files not in the sample, starting at
/// evenly spaced byte positions.
fn trial_blocks(
    files: &[SmallFile<'_>],
    sampled: &[bool],
    total: u64,
    size: usize,
) -> Result<Vec<Vec<u8>>, BuildError> {
    let step = total / TRIALS;
    let mut out = Vec::new();
    let mut at = 0u64;
    let mut next = step / 2;
    let mut block: Option<Vec<u8>> = None;
    for (f, &in_sample) in files.iter().zip(sampled) {
        if block.is_none() && at + f.size > next && (out.len() as u64) < TRIALS {
            block = Some(Vec::with_capacity(size));
            next += step;
        }
        at += f.size;
        let Some(b) = block.as_mut() else { continue };
        if !in_sample {
            b.extend_from_slice(&read(f)?);
        }
        if b.len() >= size {
            out.extend(block.take());
        }
    }
    out.extend(block.filter(|b| !b.is_empty()));
    Ok(out)
}

/// The whole contents of a small file.
fn read(f: &SmallFile<'_>) -> Result<Vec<u8>, BuildError> {
    let mut buf = vec![0u8; f.size as usize];
    f.data.read_at(0, &mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::compress::tests::noise;

    fn files(bodies: &[Vec<u8>]) -> Vec<FileData> {
        bodies.iter().map(|b| FileData::Bytes(b.clone())).collect()
    }

    fn small(data: &[FileData]) -> Vec<SmallFile<'_>> {
        data.iter()
            .map(|d| SmallFile {
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

    #[test]
    fn files_cut_from_one_pool_get_a_dictionary_of_whole_files() {
        // A 1 MiB pool of incompressible bytes: only a dictionary finds repeats across blocks.
        let pool = noise(1 << 20, 7);
        let bodies = cut_from(&pool, 2000);
        let data = files(&bodies);
        let dict = choose(&small(&data), Level::DEFAULT, BlockSize::DEFAULT)
            .unwrap()
            .expect("a dictionary");
        assert!(dict.len() as u64 <= MAX_BLOCK_DICT_LEN as u64);
        assert!(
            dict.len() > MAX_BLOCK_DICT_LEN as usize / 2,
            "{}",
            dict.len()
        );
        // Made of whole files, back to back, in order.
        let first = bodies
            .iter()
            .find(|b| dict.starts_with(b))
            .expect("starts with a file");
        assert!(!first.is_empty());
    }

    #[test]
    fn unrelated_files_get_no_dictionary() {
        let bodies: Vec<Vec<u8>> = (0..2000).map(|i| noise(6000, i + 1)).collect();
        let data = files(&bodies);
        assert_eq!(
            choose(&small(&data), Level::DEFAULT, BlockSize::DEFAULT).unwrap(),
            None
        );
    }

    #[test]
    fn too_few_small_files_get_no_dictionary() {
        let pool = noise(1 << 20, 7);
        let bodies = cut_from(&pool, 100);
        let data = files(&bodies);
        assert_eq!(
            choose(&small(&data), Level::DEFAULT, BlockSize::DEFAULT).unwrap(),
            None
        );
        assert_eq!(
            choose(
                &small(&files(&cut_from(&pool, 2000))),
                Level::STORE,
                BlockSize::DEFAULT
            )
            .unwrap(),
            None
        );
    }
}
