//! Chunk compression on several threads: one zstd context per thread, each chunk its own frame (so
//! the bytes do not depend on the thread count), kept only when it saves at least 2%. Each thread
//! compresses into one buffer it reuses batch after batch.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::vec::Vec;

use super::BuildError;
use crate::level::Level;

/// One zstd context.
type Compressor = zstd::bulk::Compressor<'static>;

/// A chunk after compression, with the hash of its uncompressed bytes.
pub(super) struct Done {
    /// Where the compressed bytes are ([`Compressors::stored`]), or `None` to store the chunk raw.
    stored: Option<Stored>,
    /// [`chunk_hash`] of the uncompressed bytes.
    pub(super) hash: u64,
}

/// Compressed bytes in a worker's output buffer: (worker, start, length).
type Stored = (usize, usize, usize);

/// One thread's context and the buffer its compressed chunks of the current batch go to (reused
/// batch after batch, so that no chunk needs memory of its own).
#[derive(Default)]
struct Worker {
    /// The zstd context (`None` when storing raw).
    ctx: Option<Compressor>,
    /// Compressed chunks of the batch, back to back up to `used`; the rest is scratch space (kept
    /// initialised, so growing it is the only time it is zeroed).
    out: Vec<u8>,
    /// Bytes of `out` holding the batch's chunks.
    used: usize,
}

/// One compression context per thread (each `None` when storing raw).
#[derive(Default)]
pub(super) struct Compressors(Vec<Worker>);

impl Compressors {
    /// Contexts for `threads` threads (0: one per available core) at `level`.
    pub(super) fn new(level: Level, threads: usize) -> Result<Self, BuildError> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut all = Vec::with_capacity(threads);
        for _ in 0..threads {
            let ctx = match level.zstd() {
                None => None,
                Some(level) => Some(Compressor::new(level).map_err(BuildError::Compress)?),
            };
            all.push(Worker {
                ctx,
                ..Worker::default()
            });
        }
        Ok(Compressors(all))
    }

    /// The compressed bytes of `d` (from the last [`Self::compress_all`]), or `None` to store its
    /// chunk raw.
    pub(super) fn stored(&self, d: &Done) -> Option<&[u8]> {
        let (w, start, len) = d.stored?;
        self.0.get(w)?.out.get(start..start + len)
    }

    /// Hashes and compresses every chunk, on up to one thread per context; results in input order.
    /// The compressed bytes of the previous call are dropped.
    pub(super) fn compress_all(&mut self, raws: &[&[u8]]) -> Result<Vec<Done>, BuildError> {
        for w in &mut self.0 {
            w.used = 0;
        }
        if self.0.len() <= 1 || raws.len() <= 1 {
            let Some(w) = self.0.first_mut() else {
                return raws.iter().map(|r| Ok(raw_done(r))).collect();
            };
            return raws.iter().map(|r| w.one(0, r)).collect();
        }
        let next = AtomicUsize::new(0);
        let mut slots: Vec<Option<Result<Done, BuildError>>> = Vec::new();
        slots.resize_with(raws.len(), || None);
        std::thread::scope(|s| {
            let handles: Vec<_> = self
                .0
                .iter_mut()
                .enumerate()
                .map(|(id, w)| {
                    let next = &next;
                    s.spawn(move || {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(raw) = raws.get(i) else { break };
                            mine.push((i, w.one(id, raw)));
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

impl Worker {
    /// Hashes and compresses one chunk into `out` (this is worker `id`); keeps the compressed bytes
    /// when they save at least 2%.
    fn one(&mut self, id: usize, raw: &[u8]) -> Result<Done, BuildError> {
        let Some(c) = self.ctx.as_mut() else {
            return Ok(raw_done(raw));
        };
        let (start, bound) = (self.used, zstd::zstd_safe::compress_bound(raw.len()));
        if self.out.len() < start + bound {
            self.out.resize(start + bound, 0);
        }
        let n = c
            .compress_to_buffer(raw, &mut self.out[start..start + bound])
            .map_err(BuildError::Compress)?;
        let keep = (n as u64) * 50 <= (raw.len() as u64) * 49;
        if keep {
            self.used += n;
        }
        Ok(Done {
            stored: keep.then_some((id, start, n)),
            hash: chunk_hash(raw),
        })
    }
}

/// A chunk stored raw.
fn raw_done(raw: &[u8]) -> Done {
    Done {
        stored: None,
        hash: chunk_hash(raw),
    }
}

/// The error for a chunk result that went missing (a bug, not bad input).
pub(super) fn lost_chunk() -> BuildError {
    BuildError::Compress(io::Error::other("lost chunk"))
}

/// Word-at-a-time 64-bit hash of a chunk (a filter only: matches are verified byte for byte).
fn chunk_hash(bytes: &[u8]) -> u64 {
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
