//! The dictionary of chunks read at random (image format 6): trained by zstd's trainer on samples of those chunks, and the LZ4 HC compression that uses it.

use std::vec::Vec;

use super::{BuildError, FileData};
use crate::format::MAX_DICT_LEN;

/// Sample bytes the dictionary is trained on at most (every k-th chunk of the files read at random).
const SAMPLE_BYTES: u64 = 2 << 20;
/// Files read at random must hold at least this much for a dictionary to pay for its own bytes.
const MIN_BYTES: u64 = 1 << 20;
/// Size the trainer is asked for: its header and entropy tables come first, the content last, and
/// the last [`MAX_DICT_LEN`] bytes are kept.
const TRAIN_LEN: usize = 64 * 1024;
/// LZ4 HC level: within 0.5 % of the best ratio on database pages and mixed text, at ~20 MB/s a
/// thread with the dictionary loaded for each chunk (bench/NOTES.md).
const LZ4_LEVEL: i32 = 6;

/// A file whose chunks are read at random: its contents, size and chunk size.
pub(super) struct RandomFile<'a> {
    pub(super) data: &'a FileData,
    pub(super) size: u64,
    pub(super) chunk: u64,
}

/// The dictionary for `files`, or `None` when they hold too little for one to pay or the trainer
/// finds too little structure (their chunks then stay zstd frames).
pub(super) fn train(files: &[RandomFile<'_>]) -> Result<Option<Vec<u8>>, BuildError> {
    let total: u64 = files.iter().map(|f| f.size).sum();
    if total < MIN_BYTES {
        return Ok(None);
    }
    // Every `step`-th chunk over all the files, in order.
    let chunks: u64 = files.iter().map(|f| f.size.div_ceil(f.chunk)).sum();
    let per_chunk = total.div_ceil(chunks.max(1)).max(1);
    let wanted = (SAMPLE_BYTES / per_chunk).max(1);
    let step = chunks.div_ceil(wanted).max(1);
    let mut samples: Vec<Vec<u8>> = Vec::new();
    let mut k = 0u64;
    for f in files {
        for i in 0..f.size.div_ceil(f.chunk) {
            if k.is_multiple_of(step) {
                let off = i * f.chunk;
                let mut buf = std::vec![0u8; f.chunk.min(f.size - off) as usize];
                f.data.read_at(off, &mut buf)?;
                samples.push(buf);
            }
            k += 1;
        }
    }
    let Ok(dict) = zstd::dict::from_samples(&samples, TRAIN_LEN) else {
        return Ok(None);
    };
    let keep = dict.len().saturating_sub(MAX_DICT_LEN as usize);
    Ok(Some(dict[keep..].to_vec()))
}

/// Compresses `raw` into `dst` (at least `compress_bound(raw.len())` bytes) as one LZ4 block
/// against `dict`; returns its length.
pub(super) fn compress_lz4(raw: &[u8], dict: &[u8], dst: &mut [u8]) -> Result<usize, BuildError> {
    let err =
        |e: lzzzz::Error| BuildError::Compress(std::io::Error::other(std::format!("lz4: {e}")));
    let mut c = lzzzz::lz4_hc::Compressor::with_dict(dict, LZ4_LEVEL).map_err(err)?;
    c.next(raw, dst).map_err(err)
}
