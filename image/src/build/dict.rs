//! The dictionary of chunks read at random (image format 6): trained by zstd's trainer on samples of those chunks, and the LZ4 HC compression that uses it.

use std::boxed::Box;
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
/// The trainer's segment size `k` and d-mer size `d`: what zstd's own search picks for source
/// code (bench/NOTES.md).
const TRAIN_K: u32 = 537;
const TRAIN_D: u32 = 8;
/// The trainer's table size (log2): its default.
const TRAIN_F: u32 = 20;

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
    let Some(dict) = fast_cover(&samples) else {
        return Ok(None);
    };
    let keep = dict.len().saturating_sub(MAX_DICT_LEN as usize);
    Ok(Some(dict[keep..].to_vec()))
}

/// One run of zstd's fastCover trainer on `samples` with fixed parameters, or `None` when it finds
/// too little structure. (`zstd::dict::from_samples` searches the parameters: four runs, each
/// judged by compressing a quarter of the samples with zstd. It judges for zstd, not for LZ4, and
/// took 60 ms, a run 14; this run's dictionaries make LZ4 images 0–2 % smaller.)
fn fast_cover(samples: &[Vec<u8>]) -> Option<Vec<u8>> {
    use zstd::zstd_safe::zstd_sys as sys;
    let flat = samples.concat();
    let sizes: Vec<usize> = samples.iter().map(Vec::len).collect();
    let mut dict = std::vec![0u8; TRAIN_LEN];
    let params = sys::ZDICT_fastCover_params_t {
        k: TRAIN_K,
        d: TRAIN_D,
        f: TRAIN_F,
        accel: 1,
        // All samples train; none is kept back to judge.
        splitPoint: 1.0,
        // One run, no search, no shrinking; the level and dictionary ID only shape the header
        // and entropy tables, which are cut off.
        steps: 0,
        nbThreads: 0,
        shrinkDict: 0,
        shrinkDictMaxRegression: 0,
        zParams: sys::ZDICT_params_t {
            compressionLevel: 0,
            notificationLevel: 0,
            dictID: 0,
        },
    };
    // SAFETY: `dict` has room for `dict.len()` bytes; `flat` holds the samples back to back, their
    // lengths in `sizes` (as many as `sizes.len()`, at most the sample count `SAMPLE_BYTES` allows).
    let n = unsafe {
        sys::ZDICT_trainFromBuffer_fastCover(
            dict.as_mut_ptr().cast(),
            dict.len(),
            flat.as_ptr().cast(),
            sizes.as_ptr(),
            u32::try_from(sizes.len()).ok()?,
            params,
        )
    };
    // SAFETY: a plain function of the returned code.
    if unsafe { sys::ZDICT_isError(n) } != 0 {
        return None;
    }
    dict.truncate(n);
    Some(dict)
}

// liblz4 1.10 is compiled and linked by the `lzzzz` crate, which keeps these stable public
// functions of it to itself: loading a dictionary once and attaching it to a reset stream for each
// chunk is what makes LZ4 HC with a dictionary fast (loading it per chunk cleared 256 KiB of
// tables for every 4 KiB compressed).
extern crate lzzzz as _;

use super::short_matches::merged;

/// liblz4's HC streaming functions (lz4hc.h).
mod ffi {
    use core::ffi::{c_char, c_int, c_void};
    extern "C" {
        pub fn LZ4_createStreamHC() -> *mut c_void;
        pub fn LZ4_freeStreamHC(stream: *mut c_void) -> c_int;
        pub fn LZ4_resetStreamHC_fast(stream: *mut c_void, level: c_int);
        pub fn LZ4_loadDictHC(stream: *mut c_void, dict: *const c_char, size: c_int) -> c_int;
        pub fn LZ4_attach_HC_dictionary(working: *mut c_void, dict: *const c_void);
        pub fn LZ4_compress_HC_continue(
            stream: *mut c_void,
            src: *const c_char,
            dst: *mut c_char,
            src_size: c_int,
            max_dst: c_int,
        ) -> c_int;
    }
}

/// One liblz4 HC stream, freed on drop.
struct Stream(core::ptr::NonNull<core::ffi::c_void>);

impl Stream {
    fn new() -> Result<Self, BuildError> {
        // SAFETY: allocates and initialises a stream, or returns null.
        core::ptr::NonNull::new(unsafe { ffi::LZ4_createStreamHC() })
            .map(Stream)
            .ok_or_else(|| lz4_error("cannot allocate an LZ4 HC stream"))
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // SAFETY: the stream came from LZ4_createStreamHC and is freed once.
        unsafe { ffi::LZ4_freeStreamHC(self.0.as_ptr()) };
    }
}

/// The dictionary loaded into an HC stream once; each chunk's stream attaches to it read-only.
pub(super) struct Lz4Dict {
    stream: Stream,
    /// The HC level both streams compress at ([`crate::Level::lz4_hc`]).
    level: i32,
    /// Matches of at most this many bytes are spelled out as literals
    /// ([`crate::Level::lz4_literal_matches`]).
    literal_matches: usize,
    /// The bytes the stream points into (liblz4 keeps pointers to them).
    bytes: Box<[u8]>,
}

// SAFETY: after `Lz4Dict::new` the stream is only read (LZ4_attach_HC_dictionary records a pointer
// to it; compression reads its tables), so threads may share it.
unsafe impl Send for Lz4Dict {}
unsafe impl Sync for Lz4Dict {}

impl Lz4Dict {
    /// `dict` (at most [`MAX_DICT_LEN`] bytes) loaded at HC level `level`; blocks compressed
    /// against it spell out matches of at most `literal_matches` bytes.
    pub(super) fn new(dict: &[u8], level: i32, literal_matches: usize) -> Result<Self, BuildError> {
        let bytes: Box<[u8]> = dict.into();
        let stream = Stream::new()?;
        // SAFETY: a valid stream; `bytes` lives as long as the stream (same struct) and does not
        // move (boxed); its length fits an int (at most MAX_DICT_LEN).
        unsafe {
            ffi::LZ4_resetStreamHC_fast(stream.0.as_ptr(), level);
            ffi::LZ4_loadDictHC(stream.0.as_ptr(), bytes.as_ptr().cast(), bytes.len() as i32);
        }
        Ok(Lz4Dict {
            stream,
            level,
            literal_matches,
            bytes,
        })
    }
}

std::thread_local! {
    /// This thread's working stream, reset for each chunk.
    static WORK: core::cell::RefCell<Option<Stream>> = const { core::cell::RefCell::new(None) };
}

/// Compresses `raw` (at most a chunk) into `dst` as one LZ4 block against `dict`, independent of
/// every other block, its short matches spelled out as the dictionary says (kept only when it
/// decodes back to `raw`); returns its length.
pub(super) fn compress_lz4(
    raw: &[u8],
    dict: &Lz4Dict,
    dst: &mut [u8],
) -> Result<usize, BuildError> {
    let (src_len, dst_len) = match (i32::try_from(raw.len()), i32::try_from(dst.len())) {
        (Ok(s), Ok(d)) => (s, d),
        _ => return Err(lz4_error("chunk too large for LZ4")),
    };
    WORK.with(|work| {
        let mut work = work.borrow_mut();
        if work.is_none() {
            *work = Some(Stream::new()?);
        }
        let Some(stream) = work.as_ref() else {
            return Err(lz4_error("no LZ4 HC stream"));
        };
        let s = stream.0.as_ptr();
        // SAFETY: `s` and the dictionary's stream are valid; reset + attach starts an independent
        // block whose only history is the dictionary; `raw` and `dst` are live for the call and
        // their lengths are passed.
        let n = unsafe {
            ffi::LZ4_resetStreamHC_fast(s, dict.level);
            ffi::LZ4_attach_HC_dictionary(s, dict.stream.0.as_ptr());
            ffi::LZ4_compress_HC_continue(
                s,
                raw.as_ptr().cast(),
                dst.as_mut_ptr().cast(),
                src_len,
                dst_len,
            )
        };
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n > 0 || raw.is_empty())
            .ok_or_else(|| lz4_error("LZ4 HC compression failed"))?;
        Ok(spell_out_short_matches(raw, dict, dst, n))
    })
}

/// The length of block `dst[..n]` (compressed from `raw` against `dict`) once its matches of at
/// most `dict.literal_matches` bytes are literals; the rewritten block replaces it only if it fits
/// and decodes back to `raw` (a check that costs ~1 µs a chunk, so that no image holds a chunk
/// that reads wrong whatever this rewriting gets wrong).
fn spell_out_short_matches(raw: &[u8], dict: &Lz4Dict, dst: &mut [u8], n: usize) -> usize {
    let Some(block) = merged(&dst[..n], raw, dict.literal_matches) else {
        return n;
    };
    let mut check = std::vec![0u8; raw.len()];
    let same = crate::lz4::decode_block(&block, &dict.bytes, &mut check).is_ok() && check == raw;
    debug_assert!(same, "short matches spelled out wrong");
    match dst.get_mut(..block.len()) {
        Some(out) if same => {
            out.copy_from_slice(&block);
            block.len()
        }
        _ => n,
    }
}

/// An LZ4 failure as a [`BuildError`].
fn lz4_error(what: &str) -> BuildError {
    BuildError::Compress(std::io::Error::other(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This crate's sources, back to back: text like what such files hold.
    fn sources() -> Vec<u8> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/build");
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .collect();
        paths.sort();
        paths
            .iter()
            .flat_map(|p| std::fs::read(p).unwrap())
            .collect()
    }

    #[test]
    fn the_trained_dictionary_is_the_same_every_time_and_shrinks_lz4_chunks_of_like_text() {
        let text = sources();
        let (train_on, test_on) = text.split_at(text.len() / 2);
        let file = RandomFile {
            data: &FileData::Bytes(train_on.to_vec()),
            size: train_on.len() as u64,
            chunk: 4096,
        };
        // Enough bytes that a dictionary may pay (the files must hold `MIN_BYTES`).
        let files: Vec<_> = (0..MIN_BYTES.div_ceil(file.size))
            .map(|_| RandomFile { ..file })
            .collect();
        let dict = train(&files).unwrap().expect("a dictionary");
        assert!(dict.len() <= MAX_DICT_LEN as usize);
        assert_eq!(train(&files).unwrap(), Some(dict.clone()), "deterministic");
        let size = |d: &[u8]| {
            let lz4 = Lz4Dict::new(d, 6, 0).unwrap();
            let mut dst = std::vec![0u8; 8192];
            let chunks = test_on.chunks(4096);
            chunks
                .map(|c| compress_lz4(c, &lz4, &mut dst).unwrap())
                .sum::<usize>()
        };
        let (with, without) = (size(&dict), size(&[]));
        assert!(with * 100 < without * 90, "{with} vs {without} bytes");
    }
}
