//! Chunk compression on several threads: one zstd context per thread, each chunk its own frame (so
//! the bytes do not depend on the thread count), kept only when it saves at least 2%. Each thread
//! compresses into a buffer that is reused for a later batch. A shared block of small files is one
//! frame whose zstd blocks end where some of its files end, and a chunk larger than
//! [`CHUNK_SEGMENT`] ends a zstd block every [`CHUNK_SEGMENT`] bytes, so a reader can stop
//! decoding after the part it needs.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::vec::Vec;

use super::dict::{compress_lz4, Lz4Dict};
use super::holes::all_zeros;
use super::zstd_ctx::{self, Context, Dict};
use super::BuildError;
use crate::format::{CHUNK_SEGMENT, SMALL_CHUNK_LOG2};
use crate::level::Level;

/// What to compress: the bytes, where zstd blocks must end (for a shared block; empty for a
/// chunk), and how.
pub(super) type Job<'a> = (&'a [u8], &'a [u32], Kind);

/// How a [`Job`] is compressed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    /// A zstd frame of its own.
    Alone,
    /// A chunk read at random: an LZ4 block against the image's dictionary when there is one,
    /// else a zstd frame of its own.
    Random,
    /// A zstd frame against the block dictionary when there is one (a shared block, a group's
    /// frame, or a file's chunk in a frame of its own against it).
    Shared,
}

/// One thread's zstd contexts: for chunks, and for shared blocks when they have a dictionary
/// (every thread's referencing the same one).
struct Contexts {
    chunks: Context,
    blocks: Option<Context>,
}

/// A chunk after compression.
pub(super) struct Done {
    /// Where the compressed bytes are ([`Outputs::stored`]), or `None` to store the chunk raw.
    stored: Option<Stored>,
    /// Whether they are an LZ4 block (else a zstd frame).
    pub(super) lz4: bool,
    /// Whether the job is a chunk of zeros only (not compressed: it stores nothing).
    pub(super) zero: bool,
}

/// Compressed bytes in a thread's output buffer: (thread, start, length).
type Stored = (usize, usize, usize);

/// The compression contexts of each thread (`None` when storing raw), and the dictionary of
/// chunks read at random, if the image has one.
#[derive(Default)]
pub(super) struct Compressors(Vec<Option<Contexts>>, Option<std::sync::Arc<Lz4Dict>>);

/// The compressed chunks of one batch: a buffer per thread, its chunks back to back. The space
/// after them is scratch, kept initialised (zeroed only when it grows), so a batch's buffers
/// serve again for a later batch.
#[derive(Default)]
pub(super) struct Outputs(Vec<Vec<u8>>);

impl Outputs {
    /// The compressed bytes of `d` (from the last [`Compressors::compress_all`] into these
    /// buffers), or `None` to store its chunk raw.
    pub(super) fn stored(&self, d: &Done) -> Option<&[u8]> {
        let (t, start, len) = d.stored?;
        self.0.get(t)?.get(start..start + len)
    }
}

/// How many threads `threads` means: itself, or for 0 one per available core.
pub(super) fn thread_count(threads: usize) -> usize {
    match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

impl Compressors {
    /// Contexts for `threads` threads (0: one per available core) at `level`.
    pub(super) fn new(level: Level, threads: usize) -> Result<Self, BuildError> {
        let threads = thread_count(threads);
        let mut all = Vec::with_capacity(threads);
        for _ in 0..threads {
            all.push(match level.zstd() {
                None => None,
                Some(level) => Some(Contexts {
                    chunks: Context::new(level)?,
                    blocks: None,
                }),
            });
        }
        Ok(Compressors(all, None))
    }

    /// How many threads compress a batch.
    pub(super) fn threads(&self) -> usize {
        self.0.len()
    }

    /// Compresses the jobs marked read at random as LZ4 blocks against `dict` from now on, at
    /// the HC level that matches `level` (nothing to do when it stores raw).
    pub(super) fn set_dict(&mut self, dict: &[u8], level: Level) -> Result<(), BuildError> {
        if let Some(hc) = level.lz4_hc() {
            self.1 = Some(std::sync::Arc::new(Lz4Dict::new(
                dict,
                hc,
                level.lz4_literal_matches(),
            )?));
        }
        Ok(())
    }

    /// Compresses shared blocks against the prepared dictionary `dict` from now on (nothing to
    /// do when it stores raw).
    pub(super) fn set_block_dict(&mut self, dict: &Arc<Dict>) -> Result<(), BuildError> {
        for c in self.0.iter_mut().flatten() {
            c.blocks = Some(Context::against(dict)?);
        }
        Ok(())
    }

    /// Hashes and compresses every chunk into `outs` (what they held before is dropped), on up to
    /// one thread per context; results in input order.
    pub(super) fn compress_all(
        &mut self,
        raws: &[Job<'_>],
        outs: &mut Outputs,
    ) -> Result<Vec<Done>, BuildError> {
        outs.0.resize_with(self.0.len().max(1), Vec::new);
        let dict = self.1.as_deref();
        if self.0.len() <= 1 || raws.len() <= 1 {
            let mut c = self.0.first_mut().and_then(Option::as_mut);
            let mut out = Out {
                id: 0,
                buf: &mut outs.0[0],
                used: 0,
                dict,
            };
            return raws.iter().map(|r| out.one(c.as_deref_mut(), r)).collect();
        }
        let next = AtomicUsize::new(0);
        let mut slots: Vec<Option<Result<Done, BuildError>>> = Vec::new();
        slots.resize_with(raws.len(), || None);
        std::thread::scope(|s| {
            let handles: Vec<_> = self
                .0
                .iter_mut()
                .zip(outs.0.iter_mut())
                .enumerate()
                .map(|(id, (c, buf))| {
                    let next = &next;
                    s.spawn(move || {
                        let mut out = Out {
                            id,
                            buf,
                            used: 0,
                            dict,
                        };
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(raw) = raws.get(i) else { break };
                            mine.push((i, out.one(c.as_mut(), raw)));
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

/// One thread's output buffer while it compresses (thread `id`; its chunks fill `buf` up to
/// `used`).
struct Out<'b> {
    id: usize,
    buf: &'b mut Vec<u8>,
    used: usize,
    /// The dictionary of chunks read at random.
    dict: Option<&'b Lz4Dict>,
}

impl Out<'_> {
    /// Compresses one job with `c` into the buffer; keeps the compressed bytes when they save at
    /// least 2%.
    fn one(&mut self, c: Option<&mut Contexts>, job: &Job<'_>) -> Result<Done, BuildError> {
        let &(raw, ends, kind) = job;
        // A chunk (not a shared frame: those have block ends) of zeros only.
        let zero = ends.is_empty() && all_zeros(raw);
        let lz4 = kind == Kind::Random && self.dict.is_some();
        let (Some(c), false) = (c, zero || (lz4 && looks_like_noise(raw))) else {
            return Ok(Done {
                stored: None,
                lz4: false,
                zero,
            });
        };
        let segments: Vec<u32>;
        let seg = CHUNK_SEGMENT as usize;
        let ends = if ends.is_empty() && (raw.len() > seg || kind == Kind::Shared) {
            segments = (1..=raw.len().div_ceil(seg))
                .map(|k| (k * seg).min(raw.len()) as u32)
                .collect();
            &segments[..]
        } else {
            ends
        };
        // A flush adds a block header (3 bytes) at most; an LZ4 block 1/255 of its input + 16.
        let bound =
            (zstd_ctx::bound(raw.len()) + 3 * ends.len()).max(raw.len() + raw.len() / 255 + 16);
        let start = self.used;
        if self.buf.len() < start + bound {
            self.buf.resize(start + bound, 0);
        }
        let dst = &mut self.buf[start..start + bound];
        let n = if let (true, Some(dict)) = (lz4, self.dict) {
            compress_lz4(raw, dict, dst)?
        } else if ends.is_empty() {
            c.chunks.compress(raw, dst)?
        } else {
            let c = match (kind, c.blocks.as_mut()) {
                (Kind::Shared, Some(blocks)) => blocks,
                _ => &mut c.chunks,
            };
            c.compress_blocks(raw, ends, dst)?
        };
        let keep = (n as u64) * 50 <= (raw.len() as u64) * 49;
        if keep {
            self.used += n;
        }
        Ok(Done {
            stored: keep.then_some((self.id, start, n)),
            lz4,
            zero: false,
        })
    }
}

/// Whether `raw`, a whole chunk read at random (4 KiB), has its bytes spread like noise, so it is
/// stored without trying LZ4: LZ4 (matches only, no entropy coding) finds nothing in noise, and HC
/// spends as long failing as compressing text (half the rewrite time of a file that is half noise).
/// The test is integer (the same image on every machine): the sum of the squared byte counts is
/// within 2 % of its mean for uniform random bytes, `n + n(n - 1)/256` (69,616 for 4 KiB; one
/// standard deviation is 0.5 %). 2 KiB of random bytes repeated, which LZ4 halves, sums 6 % more
/// and is still compressed; a shorter chunk is always tried.
fn looks_like_noise(raw: &[u8]) -> bool {
    let n = raw.len() as u64;
    if n < 1 << SMALL_CHUNK_LOG2 {
        return false;
    }
    let mut counts = [0u64; 256];
    for &b in raw {
        counts[usize::from(b)] += 1;
    }
    let squares: u64 = counts.iter().map(|c| c * c).sum();
    let uniform = n + n * (n - 1) / 256;
    squares * 50 <= uniform * 51
}

/// The error for a chunk result that went missing (a bug, not bad input).
pub(super) fn lost_chunk() -> BuildError {
    BuildError::Compress(io::Error::other("lost chunk"))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// `n` xorshift bytes.
    /// Text of words drawn at random ([`crate::fuzz::Rng::words`]).
    pub(in crate::build) fn words(n: usize, seed: u64) -> Vec<u8> {
        crate::fuzz::Rng(seed).words(n)
    }

    pub(in crate::build) fn noise(n: usize, mut x: u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn only_whole_chunks_of_noise_skip_lz4() {
        for seed in 1..50 {
            assert!(looks_like_noise(&noise(4096, seed)), "seed {seed}");
        }
        // Repeated noise is what LZ4 compresses: tried.
        let half = noise(2048, 7);
        assert!(!looks_like_noise(&[&half[..], &half[..]].concat()));
        // Text, a short chunk of noise, zeros.
        let text: Vec<u8> = b"fn main() { let x = 1; }\n".repeat(200)[..4096].to_vec();
        assert!(!looks_like_noise(&text));
        assert!(!looks_like_noise(&noise(4095, 3)));
        assert!(!looks_like_noise(&[0; 4096]));
    }
}
