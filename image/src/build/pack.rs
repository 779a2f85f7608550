//! Small files packed into shared blocks (the way squashfs packs fragments): their bytes concatenated in node order, up to `BLOCK_SIZE` a block, each block one zstd frame.

use std::vec::Vec;

use super::error::to_u32;
use super::BuildError;
use crate::block_size::BlockSize;
use crate::format::{Chunk, Codec, PACK_BELOW};
use crate::level::Level;

/// Uncompressed bytes after which a block's frame ends its zstd block at the next file end: a
/// reader decodes a block's zstd blocks only up to the file it needs, so reading one small file
/// decodes about this much more than the file (measured: 8 KiB zstd blocks cost +0.2 % on the
/// 10,000-file tree; a block per file +4 %).
const FLUSH_AFTER: usize = 8 * 1024;

/// One small file in a block.
pub(super) struct Packed {
    /// Its position in the node order.
    pub(super) index: usize,
    /// Which chunk of the file it is (a piece of a group's frame; 0 for a small file).
    pub(super) chunk: u32,
    /// Where its bytes start in the block.
    off: u32,
    /// Its length.
    len: u32,
}

/// A shared block: the files' bytes, back to back, and where each one is.
#[derive(Default)]
pub(super) struct Block {
    /// The uncompressed bytes (at most the block size).
    pub(super) raw: Vec<u8>,
    /// The files in it, in node order.
    pub(super) files: Vec<Packed>,
    /// The zstd block boundaries of the block's frame: file ends at least [`FLUSH_AFTER`] bytes
    /// apart, and the end of `raw`.
    pub(super) ends: Vec<u32>,
}

impl Block {
    /// Appends `bytes`, chunk `chunk` of file `index`, ending a zstd block every `segment` bytes
    /// of it and at its end (a frame of a group of similar files).
    pub(super) fn add_piece(&mut self, (index, chunk): (usize, u32), bytes: &[u8], segment: usize) {
        let off = self.raw.len();
        self.files.push(Packed {
            index,
            chunk,
            off: off as u32,
            len: bytes.len() as u32,
        });
        self.raw.extend_from_slice(bytes);
        let mut at = off + segment;
        while at < self.raw.len() {
            self.ends.push(at as u32);
            at += segment;
        }
        self.ends.push(self.raw.len() as u32);
    }

    /// The chunk record of each file once the block is stored `stored_len` bytes at `stored_off`:
    /// [`Codec::Packed`] records naming the whole frame when `compressed`, else a raw record
    /// naming just the file's bytes.
    pub(super) fn records(
        &self,
        stored_off: u64,
        stored_len: usize,
        compressed: bool,
    ) -> Result<Vec<(usize, Chunk)>, BuildError> {
        let mut out = Vec::with_capacity(self.files.len());
        for f in &self.files {
            let chunk = if compressed {
                Chunk {
                    stored_off: to_u32(stored_off)?,
                    stored_len: to_u32(stored_len as u64)?,
                    codec: Codec::Packed,
                    block_off: f.off,
                }
            } else {
                Chunk {
                    stored_off: to_u32(stored_off + u64::from(f.off))?,
                    stored_len: f.len,
                    codec: Codec::Raw,
                    block_off: 0,
                }
            };
            out.push((f.index, chunk));
        }
        Ok(out)
    }
}

/// The block being filled, and how large blocks may get.
pub(super) struct Packer {
    block: Block,
    size: BlockSize,
}

impl Packer {
    /// An empty packer making blocks of at most `size` bytes.
    pub(super) fn new(size: BlockSize) -> Self {
        Packer {
            block: Block::default(),
            size,
        }
    }

    /// Whether a file of `size` bytes in chunks of `1 << chunk_log2` goes into a shared block: a
    /// non-empty file smaller than [`PACK_BELOW`] that is one chunk, when compressing (stored raw,
    /// every file is read straight from the image). A packed file's chunk size becomes its
    /// block's ([`BlockSize`] is at least [`PACK_BELOW`], so the file fits). Never with
    /// [`BlockSize::OFF`].
    pub(super) fn packs(level: Level, block: BlockSize, size: u64, chunk_log2: u8) -> bool {
        block.packs()
            && size > 0
            && size < PACK_BELOW
            && size <= 1 << chunk_log2
            && level.zstd().is_some()
    }

    /// Adds the bytes of file `index` (smaller than [`PACK_BELOW`]); returns the full block they
    /// did not fit in, if any.
    pub(super) fn add(&mut self, index: usize, bytes: &[u8]) -> Option<Block> {
        let full = if self.block.raw.len() + bytes.len() > self.size.get() as usize {
            self.take()
        } else {
            None
        };
        self.block.files.push(Packed {
            index,
            chunk: 0,
            off: self.block.raw.len() as u32,
            len: bytes.len() as u32,
        });
        self.block.raw.extend_from_slice(bytes);
        let since = self.block.ends.last().map_or(0, |&e| e as usize);
        if self.block.raw.len() - since >= FLUSH_AFTER {
            self.block.ends.push(self.block.raw.len() as u32);
        }
        full
    }

    /// The block being filled, if it holds a file.
    pub(super) fn take(&mut self) -> Option<Block> {
        if self.block.files.is_empty() {
            return None;
        }
        let end = self.block.raw.len() as u32;
        if self.block.ends.last() != Some(&end) {
            self.block.ends.push(end);
        }
        Some(std::mem::take(&mut self.block))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_fill_a_block_in_order_and_one_that_does_not_fit_starts_the_next() {
        let mut p = Packer::new(BlockSize::DEFAULT);
        let piece = std::vec![7u8; 10_000];
        let mut blocks = Vec::new();
        for i in 0..30 {
            blocks.extend(p.add(i, &piece));
        }
        blocks.extend(p.take());
        assert_eq!(blocks.len(), 3, "13 files of 10,000 bytes fit 128 KiB");
        assert_eq!(blocks[0].files.len(), 13);
        assert_eq!(blocks[0].raw.len(), 130_000);
        assert_eq!(
            blocks[0].ends[..2],
            [10_000, 20_000],
            "a zstd block per 8 KiB or more"
        );
        assert_eq!(blocks[0].ends.last(), Some(&130_000));
        assert_eq!(blocks[2].ends, [10_000, 20_000, 30_000, 40_000]);
        assert_eq!(blocks[2].files.len(), 4);
        let r = blocks[1].records(100, 50, true).unwrap();
        assert_eq!(r[2].0, 15);
        assert_eq!(
            (r[2].1.stored_off, r[2].1.block_off, r[2].1.codec),
            (100, 20_000, Codec::Packed)
        );
        let r = blocks[1].records(100, 130_000, false).unwrap();
        assert_eq!(
            (r[2].1.stored_off, r[2].1.stored_len, r[2].1.codec),
            (20_100, 10_000, Codec::Raw)
        );
        assert!(p.take().is_none());
    }

    #[test]
    fn only_non_empty_one_chunk_files_under_16k_are_packed_and_only_when_compressing() {
        const D: BlockSize = BlockSize::DEFAULT;
        assert!(!Packer::packs(Level::DEFAULT, BlockSize::OFF, 1, 15), "off");
        assert!(Packer::packs(Level::DEFAULT, D, 1, 15));
        assert!(Packer::packs(Level::DEFAULT, D, PACK_BELOW - 1, 15));
        assert!(!Packer::packs(Level::DEFAULT, D, PACK_BELOW, 15));
        assert!(!Packer::packs(Level::DEFAULT, D, 0, 15));
        assert!(!Packer::packs(Level::STORE, D, 100, 15));
        assert!(Packer::packs(Level::DEFAULT, D, 4096, 12), "one chunk");
        assert!(!Packer::packs(Level::DEFAULT, D, 4097, 12), "two chunks");
    }
}
