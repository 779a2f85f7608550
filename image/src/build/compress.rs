//! Chunk compression on several threads: one zstd context per thread, each chunk its own frame (so
//! the bytes do not depend on the thread count), kept only when it saves at least 2%. A shared block
//! of small files is one frame whose zstd blocks end where its files end, so a reader can stop
//! decoding after the file it needs.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::vec::Vec;

use super::BuildError;
use crate::level::Level;
use zstd::zstd_safe::{self, InBuffer, OutBuffer};

/// What to compress: the bytes, and where zstd blocks must end (the ends of the files of a shared
/// block; empty for a chunk).
pub(super) type Job<'a> = (&'a [u8], &'a [u32]);

/// One zstd context.
type Compressor = zstd::bulk::Compressor<'static>;

/// A chunk after compression, with the hash of its uncompressed bytes.
pub(super) struct Done {
    /// The compressed bytes, or `None` to store the chunk raw.
    pub(super) stored: Option<Vec<u8>>,
    /// [`chunk_hash`] of the uncompressed bytes.
    pub(super) hash: u64,
}

/// One compression context per thread (each `None` when storing raw).
#[derive(Default)]
pub(super) struct Compressors(Vec<Option<Compressor>>);

impl Compressors {
    /// Contexts for `threads` threads (0: one per available core) at `level`.
    pub(super) fn new(level: Level, threads: usize) -> Result<Self, BuildError> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut all = Vec::with_capacity(threads);
        for _ in 0..threads {
            all.push(match level.zstd() {
                None => None,
                Some(level) => Some(Compressor::new(level).map_err(BuildError::Compress)?),
            });
        }
        Ok(Compressors(all))
    }

    /// Hashes and compresses every job, on up to one thread per context; results in input order.
    pub(super) fn compress_all(&mut self, raws: &[Job<'_>]) -> Result<Vec<Done>, BuildError> {
        if self.0.len() <= 1 || raws.len() <= 1 {
            let mut c = self.0.first_mut().and_then(Option::as_mut);
            return raws.iter().map(|r| one(c.as_deref_mut(), r)).collect();
        }
        let next = AtomicUsize::new(0);
        let mut slots: Vec<Option<Result<Done, BuildError>>> = Vec::new();
        slots.resize_with(raws.len(), || None);
        std::thread::scope(|s| {
            let handles: Vec<_> = self
                .0
                .iter_mut()
                .map(|c| {
                    let next = &next;
                    s.spawn(move || {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(raw) = raws.get(i) else { break };
                            mine.push((i, one(c.as_mut(), raw)));
                        }
                        mine
                    })
                })
                .collect();
            for h in handles {
                match h.join() {
                    Ok(mine) => {
                        for (i, r) in mine {
                            slots[i] = Some(r);
                        }
                    }
                    Err(p) => std::panic::resume_unwind(p),
                }
            }
        });
        slots
            .into_iter()
            .map(|s| s.unwrap_or_else(|| Err(lost_chunk())))
            .collect()
    }
}

/// The error for a chunk result that went missing (a bug, not bad input).
pub(super) fn lost_chunk() -> BuildError {
    BuildError::Compress(io::Error::other("lost chunk"))
}

/// Hashes and compresses one job.
fn one(c: Option<&mut Compressor>, &(raw, ends): &Job<'_>) -> Result<Done, BuildError> {
    Ok(Done {
        stored: compress_chunk(c, raw, ends)?,
        hash: chunk_hash(raw),
    })
}

/// Compresses `raw` (one zstd block ending at each of `ends`, if any) when that saves at least 2%.
fn compress_chunk(
    c: Option<&mut Compressor>,
    raw: &[u8],
    ends: &[u32],
) -> Result<Option<Vec<u8>>, BuildError> {
    let Some(c) = c else { return Ok(None) };
    let z = if ends.is_empty() {
        c.compress(raw).map_err(BuildError::Compress)?
    } else {
        compress_blocks(c.context_mut(), raw, ends).map_err(zstd_error)?
    };
    Ok(((z.len() as u64) * 50 <= (raw.len() as u64) * 49).then_some(z))
}

/// One frame of `raw` (its size recorded in the header) whose zstd blocks end at `ends`, the last
/// of which is `raw.len()`: each end is a flush.
fn compress_blocks(
    cctx: &mut zstd_safe::CCtx<'_>,
    raw: &[u8],
    ends: &[u32],
) -> Result<Vec<u8>, zstd_safe::ErrorCode> {
    cctx.reset(zstd_safe::ResetDirective::SessionOnly)?;
    cctx.set_pledged_src_size(Some(raw.len() as u64))?;
    let mut out = Vec::with_capacity(zstd_safe::compress_bound(raw.len()));
    let mut start = 0;
    for (k, &end) in ends.iter().enumerate() {
        let end = (end as usize).clamp(start, raw.len());
        let directive = if k + 1 == ends.len() {
            zstd_safe::zstd_sys::ZSTD_EndDirective::ZSTD_e_end
        } else {
            zstd_safe::zstd_sys::ZSTD_EndDirective::ZSTD_e_flush
        };
        let mut input = InBuffer::around(&raw[start..end]);
        loop {
            if out.capacity() - out.len() < 1024 {
                out.reserve(64 * 1024);
            }
            let pos = out.len();
            let mut output = OutBuffer::around_pos(&mut out, pos);
            let left = cctx.compress_stream2(&mut output, &mut input, directive)?;
            if left == 0 && input.pos() == input.src.len() {
                break;
            }
        }
        start = end;
    }
    Ok(out)
}

/// A zstd error code as a [`BuildError`].
fn zstd_error(code: zstd_safe::ErrorCode) -> BuildError {
    BuildError::Compress(io::Error::other(zstd_safe::get_error_name(code)))
}

/// Word-at-a-time 64-bit hash of a chunk (a filter only: matches are verified byte for byte).
pub(super) fn chunk_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        h = (h ^ u64::from_le_bytes(a)).wrapping_mul(K).rotate_left(29);
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(K);
    }
    h ^ (h >> 31)
}
