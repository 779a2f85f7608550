//! The dictionary of shared frames (image format 8): whole small and mid-size files from across the tree, each adding content the others lack, used as raw zstd history for every block of small files and every chunk of a mid-size file, and kept only when a trial on other files shows it pays.

use std::collections::HashSet;
use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::vec;
use std::vec::Vec;

use super::zstd_ctx::{Context, Dict};
use super::{similar, BuildError, FileData};
use crate::block_size::BlockSize;
use crate::format::{DEFAULT_CHUNK_SIZE, MAX_BLOCK_DICT_LEN};
use crate::level::Level;

/// Shortest dictionary tried: the files it would serve hold at least this much (was 64 KiB:
/// crates of 16–64 KiB then kept each mid-size file apart from the rest, `subtle` 1.114× and
/// `autocfg` 1.066× `tar.zst`, with one 1.014× and 1.004×).
const MIN_LEN: u64 = 16 * 1024;
/// The files a dictionary serves must hold at least this share of the tree's bytes (1 / this),
/// else it saves too small a share of the image to pay for the one decode of it before each
/// process's first read of such a file (1.6 ms a MiB on wasmtime; measured: the `m50` and
/// `m200` trees, 11 % of their bytes in small files, 0.1–0.2 % smaller images).
const MIN_SHARE: u64 = 4;
/// Trial blocks and files compressed with and without the dictionary, of each kind; the mid-size
/// files are picked at even steps of their bytes, not their count (by count, a tree of many small
/// mid-size files and a few large ones was estimated from the small ones: this workspace's crates
/// 41.8 %, 2.7–3.4 % by bytes and 3.2 % measured).
const TRIALS: u64 = 8;
/// Bytes of a mid-size file compressed in the trial as one piece: a chunk, as it is stored.
const TRIAL_PIECE: u64 = DEFAULT_CHUNK_SIZE as u64;
/// The dictionary is kept when the files it serves are estimated to be at least this many
/// percent smaller with it, its own bytes counted. With the mid-size files of the trial picked by
/// bytes, estimates of 3–5 % came out 3–5 % smaller images (Zig's standard library 4.1 %: 1.085 →
/// 1.037× `tar.zst`; crates such as `byteorder`, `memmap2`, `wasm-smith`), and one 0.2 % larger;
/// under 3 % they went either way (−2.8 to +1.2 %). Was 5 %, when the trial's mid-size files were
/// picked by count and its estimates were off by up to 39 points (bench/NOTES.md).
const MIN_GAIN_PERCENT: f64 = 3.0;
/// Files taken first, spread over the tree: the sample visits every `n / SPREAD`-th file, then
/// the ones after those, and so on.
const SPREAD: usize = 256;
/// A file joins the sample unless more than this many percent of its anchors are in it already
/// (the first pass over the files), so that it holds as much distinct content as it can.
const MAX_KNOWN_PERCENT: usize = 20;
/// The same bound for a second pass, made when the first left room: files that repeat part of
/// another join if they bring some of their own (a crate of generated variants of a few files,
/// `wasmtime-internal-component-macro`'s `tests/expanded`: a 260 KiB dictionary and 1.40×
/// `tar.zst` after one pass, 1.9 MiB and 1.02× after both; `perl-base` 1.029 → 1.000×; trees
/// whose first pass fills it unchanged; one pass at 80 %: `crates` 0.877 → 0.916×).
const MAX_KNOWN_PERCENT_AGAIN: usize = 80;
/// Bytes of files looked at for the sample, at most, in dictionary lengths.
const LOOK_AT: u64 = 4;
/// Files opened for the sample, and for the trial blocks, at most: a tree of 50,000 files of a
/// few bytes took 0.27 s to pack, and 0.41 s when the sample and trial opened all of them.
const MAX_OPENED: usize = 2048;
/// The zstd magic of a structured dictionary: a sample starting with it would be read as one.
const ZSTD_DICT_MAGIC: [u8; 4] = 0xEC30_A437u32.to_le_bytes();

/// A file the dictionary may serve (a small file of a shared block, or a mid-size one): its
/// contents and size.
pub(super) struct SmallFile<'a> {
    /// Its position in node order.
    pub(super) index: usize,
    pub(super) data: &'a FileData,
    pub(super) size: u64,
}

/// A chosen dictionary.
pub(super) struct BlockDict {
    /// Its bytes: whole files, back to back.
    pub(super) raw: Vec<u8>,
    /// As stored in the image ([`store`]).
    pub(super) stored: Vec<u8>,
    /// Prepared for compression (its tables built once, for every thread).
    pub(super) prepared: Arc<Dict>,
}

/// Files of one kind for the trial: some of them (blocks of small files, or mid-size files
/// whole), as a share of all of them that are not in the dictionary.
struct Trial {
    pieces: Vec<Vec<u8>>,
    /// Bytes of the files not in the dictionary per byte of `pieces`.
    scale: f64,
}

/// The dictionary for the shared blocks of `small` files and the chunks of `mid`-size ones (each
/// in node order) in a tree of `tree_bytes`, or `None` when they hold too little or the trial
/// finds it saves less than [`MIN_GAIN_PERCENT`]. At most as long as the files it serves, and at
/// most [`MAX_BLOCK_DICT_LEN`].
pub(super) fn choose(
    small: &[SmallFile<'_>],
    mid: &[SmallFile<'_>],
    tree_bytes: u64,
    level: Level,
    block: BlockSize,
    threads: usize,
) -> Result<Option<BlockDict>, BuildError> {
    let Some(zstd_level) = level.zstd() else {
        return Ok(None);
    };
    let (small_total, mid_total) = (bytes(small, None), bytes(mid, None));
    let served = small_total + mid_total;
    if served < MIN_LEN || served < tree_bytes / MIN_SHARE {
        return Ok(None);
    }
    let want = served.min(MAX_BLOCK_DICT_LEN.into());
    let files: Vec<&SmallFile<'_>> = small.iter().chain(mid).collect();
    let (mut sample, sampled, spans) = sample(&files, want)?;
    // Without the dictionary, the small files of the sample would share blocks and each mid-size
    // one would be compressed alone: the pieces its estimate compresses.
    let block_len = block.get() as usize;
    let mut own: Vec<&[u8]> = Vec::new();
    let mut packed = Vec::new();
    for (i, span) in spans {
        let body = sample.get(span).unwrap_or_default();
        match i < small.len() {
            true => packed.extend_from_slice(body),
            false => own.push(body),
        }
    }
    own.extend(packed.chunks(block_len));
    // A sample starting with the magic would be read as a structured dictionary: one byte less.
    let magic = sample.starts_with(&ZSTD_DICT_MAGIC);
    let dict = sample.get(usize::from(magic)..).unwrap_or_default();
    let (small_sampled, mid_sampled) = sampled.split_at(small.len());
    let trial = |pieces: Vec<Vec<u8>>, files, sampled| {
        let raw: usize = pieces.iter().map(Vec::len).sum();
        let scale = bytes(files, Some(sampled)) as f64 / raw.max(1) as f64;
        Trial { pieces, scale }
    };
    let trials = [
        trial(
            trial_blocks(small, small_sampled, small_total, block_len)?,
            small,
            small_sampled,
        ),
        trial(trial_files(mid, mid_sampled)?, mid, mid_sampled),
    ];
    // Estimated stored bytes of the files served, without and with the dictionary: the files not
    // in it at the trial's rates, and those in it as they would be stored without it (`own`), or,
    // with it, as the dictionary's own stored bytes (stored against it, they then cost next to
    // nothing).
    let work = Work::new(&own, &trials);
    let (counts, stored, prepared) = work.run(dict, (level, zstd_level), block_len, threads)?;
    let rate = |k: usize, with: bool| counts[Work::total(k, with)] as f64 * trials[k].scale;
    let before = rate(0, false) + rate(1, false) + counts[OWN] as f64;
    let after = rate(0, true) + rate(1, true) + stored.len() as f64;
    let pays = after <= before * (1.0 - MIN_GAIN_PERCENT / 100.0);
    if magic {
        sample.remove(0);
    }
    Ok(pays.then_some(BlockDict {
        raw: sample,
        stored,
        prepared,
    }))
}

/// Where [`Work::run`] counts the sample's pieces compressed alone (the trials' totals follow).
const OWN: usize = 0;

/// The compressions that weigh a dictionary, as jobs shared by the trial's threads: its stored
/// form, then every piece alone, then every trial piece against it. The first thread prepares the
/// dictionary (builds its tables) before it takes a job, so the jobs against it start as the
/// others end (one thread per kind of job, as before, left a core idle while the last finished:
/// rewrites of Perl's, Python's and `meta`'s trees are 1–4 % faster this way).
struct Work<'a> {
    jobs: Vec<Job<'a>>,
}

/// One job of the trial.
enum Job<'a> {
    /// The dictionary as stored in the image ([`store`]).
    Store,
    /// A piece compressed alone or `against` the dictionary, its length counted in `total`.
    Piece {
        bytes: &'a [u8],
        against: bool,
        total: usize,
    },
}

/// What the trial's threads found: the compressed bytes of each total ([`OWN`], then
/// [`Work::total`]'s), the dictionary as stored, and prepared.
type Weighed = ([u64; 5], Vec<u8>, Arc<Dict>);

impl<'a> Work<'a> {
    /// The jobs for the sample's `own` pieces and both `trials`.
    fn new(own: &[&'a [u8]], trials: &'a [Trial; 2]) -> Work<'a> {
        let mut jobs = vec![Job::Store];
        let piece = |bytes, against, total| Job::Piece {
            bytes,
            against,
            total,
        };
        jobs.extend(own.iter().map(|&b| piece(b, false, OWN)));
        for against in [false, true] {
            for (k, t) in trials.iter().enumerate() {
                let total = Work::total(k, against);
                jobs.extend(t.pieces.iter().map(|b| piece(b, against, total)));
            }
        }
        Work { jobs }
    }

    /// Where trial `k`'s pieces are counted, alone or against the dictionary.
    fn total(k: usize, against: bool) -> usize {
        1 + 2 * k + usize::from(against)
    }

    /// Runs the jobs on `threads` threads (0: one per core), `dict` at `level` (that is, zstd's
    /// `zstd_level`) for blocks of `block_len`. The counts are sums of whole lengths: the same
    /// whichever thread took a job.
    fn run(
        &self,
        dict: &[u8],
        (level, zstd_level): (Level, i32),
        block_len: usize,
        threads: usize,
    ) -> Result<Weighed, BuildError> {
        let next = AtomicUsize::new(0);
        // Set once by the first thread: the prepared dictionary, or `None` if that failed (its
        // error is the first thread's result; the others stop at the first job against it).
        let prepared: OnceLock<Option<Arc<Dict>>> = OnceLock::new();
        let worker = |first: bool| -> Result<([u64; 5], Option<Vec<u8>>), BuildError> {
            if first {
                let made = Dict::new(dict, zstd_level, block_len);
                let _ = prepared.set(made.as_ref().ok().cloned());
                made?;
            }
            let (mut counts, mut stored) = ([0u64; 5], None);
            let (mut alone, mut against) = (None, None);
            let mut scratch = Vec::new();
            while let Some(job) = self.jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                let (bytes, c, total) = match *job {
                    Job::Store => {
                        stored = Some(store(dict, level)?);
                        continue;
                    }
                    Job::Piece {
                        bytes,
                        against: false,
                        total,
                    } => match &mut alone {
                        Some(c) => (bytes, c, total),
                        None => (bytes, alone.insert(Context::new(zstd_level)?), total),
                    },
                    Job::Piece { bytes, total, .. } => match &mut against {
                        Some(c) => (bytes, c, total),
                        None => match prepared.wait() {
                            Some(d) => (bytes, against.insert(Context::against(d)?), total),
                            None => break,
                        },
                    },
                };
                counts[total] += c.compressed_len(bytes, &mut scratch)? as u64;
            }
            Ok((counts, stored))
        };
        let n = super::compress::thread_count(threads).clamp(1, self.jobs.len());
        let done = std::thread::scope(|s| {
            let others: Vec<_> = (1..n).map(|_| s.spawn(|| worker(false))).collect();
            let mut done = vec![worker(true)];
            done.extend(others.into_iter().map(super::data::joined));
            done
        });
        let (mut counts, mut stored) = ([0u64; 5], None);
        for d in done {
            let (c, s) = d?;
            counts.iter_mut().zip(c).for_each(|(t, n)| *t += n);
            stored = stored.or(s);
        }
        let unfinished = || BuildError::Compress(io::Error::other("dictionary trial unfinished"));
        let prepared = prepared.get().cloned().flatten().ok_or_else(unfinished)?;
        Ok((counts, stored.ok_or_else(unfinished)?, prepared))
    }
}

/// The bytes of `files`, or of those not `sampled`.
fn bytes(files: &[SmallFile<'_>], sampled: Option<&[bool]>) -> u64 {
    let taken = |i: usize| sampled.is_some_and(|s| s.get(i) == Some(&true));
    (0..files.len())
        .filter(|&i| !taken(i))
        .map(|i| files[i].size)
        .sum()
}

/// Up to [`TRIALS`] chunks of files not in the sample (their first [`TRIAL_PIECE`] bytes, or the
/// next ones), one at each of evenly spaced byte positions over them.
fn trial_files(files: &[SmallFile<'_>], sampled: &[bool]) -> Result<Vec<Vec<u8>>, BuildError> {
    let free = files
        .iter()
        .zip(sampled)
        .filter(|(_, &s)| !s)
        .map(|(f, _)| f);
    let step = (free.clone().map(|f| f.size).sum::<u64>() / TRIALS).max(1);
    let (mut start, mut next) = (0u64, step / 2);
    let mut out = Vec::new();
    for f in free {
        let mut last = None;
        while next < start + f.size {
            let at = (next - start) / TRIAL_PIECE * TRIAL_PIECE;
            if last != Some(at) {
                let mut buf = vec![0u8; (f.size - at).min(TRIAL_PIECE) as usize];
                f.data.read_at(at, &mut buf)?;
                out.push(buf);
                last = Some(at);
            }
            next += step;
        }
        start += f.size;
    }
    Ok(out)
}

/// A sample: its bytes, which files are in it, and where each of them is in it (file, range).
type Sampled = (Vec<u8>, Vec<bool>, Vec<(usize, Range<usize>)>);

/// Whole files for the dictionary, up to `want` bytes: visited spread over the tree (every
/// `n / SPREAD`-th file first), each taken unless more than [`MAX_KNOWN_PERCENT`] of its anchors
/// (`similar::fingerprints`) are in the sample already, so the sample holds as much distinct
/// content as it can (files cut from one pool: 3.41 MB of blocks and dictionary, against 3.92 MB
/// for files taken at even steps); then, if there is room, visited again with
/// [`MAX_KNOWN_PERCENT_AGAIN`]. The files taken are put in node order, not the order they were
/// visited in: files alike by path (a directory's variants of one source) are then side by side,
/// so the dictionary compresses as a tar of them does and each file is near those it repeats
/// (Zig's musl sources 1.063 → 1.005× `tar.zst`, `/usr/share/zoneinfo` 1.043 → 0.990×;
/// bench/NOTES.md).
fn sample(files: &[&SmallFile<'_>], want: u64) -> Result<Sampled, BuildError> {
    let n = files.len();
    let step = (n / SPREAD).max(1);
    let mut sample = Vec::with_capacity(want as usize);
    let mut sampled = vec![false; n];
    let mut known = HashSet::new();
    let mut anchors = Vec::new();
    let mut looked = 0u64;
    let mut opened = 0;
    let mut spans = Vec::new();
    for max_known in [MAX_KNOWN_PERCENT, MAX_KNOWN_PERCENT_AGAIN] {
        let visits = (0..step).flat_map(|first| (first..n).step_by(step));
        for i in visits {
            let f = &files[i];
            let full = sample.len() as u64 + 4096 > want;
            if looked >= want * LOOK_AT || full || opened >= MAX_OPENED {
                break;
            }
            if sampled[i] || sample.len() as u64 + f.size > want {
                continue;
            }
            opened += 1;
            let body = read(f)?;
            looked += f.size;
            anchors.clear();
            similar::fingerprints(&body, &mut anchors);
            let seen = anchors.iter().filter(|a| known.contains(*a)).count();
            if seen * 100 > anchors.len() * max_known {
                continue;
            }
            known.extend(anchors.iter().copied());
            spans.push((i, sample.len()..sample.len() + body.len()));
            sample.extend_from_slice(&body);
            sampled[i] = true;
        }
    }
    spans.sort_unstable_by_key(|&(i, _)| files.get(i).map(|f| f.index));
    let mut sorted = Vec::with_capacity(sample.len());
    for (_, range) in &mut spans {
        let start = sorted.len();
        sorted.extend_from_slice(sample.get(range.clone()).unwrap_or_default());
        *range = start..sorted.len();
    }
    Ok((sorted, sampled, spans))
}

/// The dictionary as stored in the image: one zstd frame at `level` (the size in its header).
pub(super) fn store(dict: &[u8], level: Level) -> Result<Vec<u8>, BuildError> {
    let zstd_level = level.zstd().unwrap_or(1);
    zstd::bulk::compress(dict, zstd_level).map_err(BuildError::Compress)
}

/// Up to [`TRIALS`] blocks of `size` bytes (or half [`MAX_OPENED`] / [`TRIALS`] files) of
/// consecutive files not in the sample, starting at evenly spaced byte positions.
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
    let mut opened = 0;
    for (f, &in_sample) in files.iter().zip(sampled) {
        if block.is_none() && at + f.size > next && (out.len() as u64) < TRIALS {
            block = Some(Vec::with_capacity(size));
            next += step;
            opened = 0;
        }
        at += f.size;
        let Some(b) = block.as_mut() else { continue };
        if !in_sample {
            b.extend_from_slice(&read(f)?);
            opened += 1;
        }
        if b.len() >= size || opened >= MAX_OPENED / TRIALS as usize / 2 {
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
mod tests;
