//! Whether and how the tables are stored as a compressed metadata region: the auto rule, the blocks, the index.
//!
//! The tables are laid out as for a raw image, but in their own logical space (offsets from 0),
//! cut into blocks, each compressed as its own zstd frame on the chunk compressor's threads (kept
//! raw unless that saves 2%), so the bytes do not depend on the thread count.
//!
//! The rule ([`MetaMode::Auto`]): compress when that makes the image at least
//! [`AUTO_MIN_SAVING_PERCENT`]% and [`AUTO_MIN_SAVING_BYTES`] smaller. A compressed region costs
//! the shim a decompression of every block it touches (~12 ms per MB of tables: a walk of 10,000
//! files gets ~30% slower, still ~50× faster than `--dir`; reading them costs the same, the file
//! blocks dominate), so trees of few large files (< 1% saved; start-up then decompresses nothing,
//! P3a) keep raw tables, where a table read is one copy. Trees of many small files are compressed:
//! 50,000 tiny files (tables 99% of the image, 82% saved), 10,000 files of 1-4 KB (8% saved, the
//! P11 `meta` tree: 1.13× → 1.04× `tar.zst`), this workspace's registry sources (2.5%), a small
//! crate (5–8%).

use std::vec::Vec;

use super::compress::{Compressors, Job, Kind, Outputs};
use super::error::to_u32;
use super::BuildError;
use crate::format::{DEFAULT_META_BLOCK_SIZE, MAX_META_BLOCK_SIZE, MIN_META_BLOCK_SIZE};
use crate::level::Level;

/// Least saving, in percent of the raw image, for which [`MetaMode::Auto`] compresses the tables
/// (was 2: zstd-sys' 137 files of C sources and bindings kept 1.1 % of raw tables, 1.084 → 1.069×
/// `tar.zst`; the bench's trees of few large files save less than 1 % and stay raw).
pub const AUTO_MIN_SAVING_PERCENT: u64 = 1;
/// Least saving, in bytes, for which [`MetaMode::Auto`] compresses the tables (images of a few
/// files stay raw). Was 4 KiB: crates of 8–100 KB kept 0.6–2.9 KB of raw tables, ~90 B a node,
/// and came out 1.06–1.11× `tar.zst`; compressed, 0.99–1.04×, for one table block decoded at
/// start-up (open + first byte of a 13-file crate: wasmtime 160 → 167 µs, wasmi 740 → 830 µs).
pub const AUTO_MIN_SAVING_BYTES: u64 = 512;

/// How the tables (nodes, dirents, chunk records, preopens, host aliases, strings, policy block)
/// are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetaMode {
    /// Compressed in blocks of [`DEFAULT_META_BLOCK_SIZE`] when that saves at least
    /// [`AUTO_MIN_SAVING_PERCENT`]% of the image and [`AUTO_MIN_SAVING_BYTES`]; else raw.
    #[default]
    Auto,
    /// Always raw.
    Raw,
    /// Always a compressed region with blocks of this many bytes (a power of two in
    /// [`MIN_META_BLOCK_SIZE`]..=[`MAX_META_BLOCK_SIZE`]), whatever it saves.
    Compressed(u32),
}

impl MetaMode {
    /// Rejects a block size that is not a power of two in the accepted range.
    pub(super) fn check(self) -> Result<(), BuildError> {
        match self {
            MetaMode::Compressed(bs)
                if !bs.is_power_of_two()
                    || !(MIN_META_BLOCK_SIZE..=MAX_META_BLOCK_SIZE).contains(&bs) =>
            {
                Err(BuildError::InvalidMetaBlockSize(bs))
            }
            _ => Ok(()),
        }
    }

    /// The block size to try for tables of `tables` bytes after `data_end` bytes of header and
    /// data at `level`, or `None` when they stay raw without trying: not compressing, or the
    /// tables too small a part of the image to save the minimum even if they vanished.
    pub(super) fn block_size_to_try(self, level: Level, data_end: u64, tables: u64) -> Option<u32> {
        match self {
            MetaMode::Raw => None,
            MetaMode::Compressed(bs) => Some(bs),
            MetaMode::Auto => {
                let can_save = level.zstd().is_some()
                    && tables >= AUTO_MIN_SAVING_BYTES
                    && tables * 100 >= (data_end + tables) * AUTO_MIN_SAVING_PERCENT;
                can_save.then_some(DEFAULT_META_BLOCK_SIZE)
            }
        }
    }

    /// True when a region of `region` bytes (blocks and index) is kept instead of `tables` raw
    /// bytes, after `data_end` bytes of header and data.
    pub(super) fn keeps(self, data_end: u64, tables: u64, region: u64) -> bool {
        match self {
            MetaMode::Raw => false,
            MetaMode::Compressed(_) => true,
            MetaMode::Auto => {
                let saved = tables.saturating_sub(region);
                saved >= AUTO_MIN_SAVING_BYTES
                    && saved * 100 >= (data_end + tables) * AUTO_MIN_SAVING_PERCENT
            }
        }
    }
}

/// The tables' logical bytes cut into blocks, each compressed (`Some`) or stored raw (`None`).
pub(super) struct Region {
    /// Block size.
    pub(super) block_size: u32,
    /// Per block, its zstd frame when that is smaller.
    pub(super) blocks: Vec<Option<Vec<u8>>>,
}

impl Region {
    /// Compresses `logical` in blocks of `block_size` at `level` on `threads` threads.
    pub(super) fn compress(
        logical: &[u8],
        block_size: u32,
        level: Level,
        threads: usize,
    ) -> Result<Self, BuildError> {
        let raws: Vec<Job<'_>> = logical
            .chunks(block_size as usize)
            .map(|c| (c, &[][..], Kind::Alone))
            .collect();
        let mut outs = Outputs::default();
        let done = Compressors::new(level, threads)?.compress_all(&raws, &mut outs)?;
        Ok(Region {
            block_size,
            blocks: done
                .iter()
                .map(|d| outs.stored(d).map(<[u8]>::to_vec))
                .collect(),
        })
    }

    /// Bytes the region takes in the image: the stored blocks and the index.
    pub(super) fn stored_len(&self, logical: &[u8]) -> u64 {
        let blocks: u64 = logical
            .chunks(self.block_size as usize)
            .zip(&self.blocks)
            .map(|(raw, z)| z.as_ref().map_or(raw.len(), Vec::len) as u64)
            .sum();
        blocks + (self.blocks.len() as u64 + 1) * 4
    }

    /// Appends the stored blocks, then the index, to `out`, which goes into the image at offset
    /// `base`; returns the index's image offset.
    pub(super) fn append_to(
        &self,
        base: u64,
        out: &mut Vec<u8>,
        logical: &[u8],
    ) -> Result<u32, BuildError> {
        let at = |out: &Vec<u8>| to_u32(base + out.len() as u64);
        let mut index = Vec::with_capacity(self.blocks.len() + 1);
        for (raw, z) in logical.chunks(self.block_size as usize).zip(&self.blocks) {
            index.push(at(out)?);
            out.extend_from_slice(z.as_deref().unwrap_or(raw));
        }
        index.push(at(out)?);
        let index_off = at(out)?;
        for i in index {
            out.extend_from_slice(&i.to_le_bytes());
        }
        at(out)?;
        Ok(index_off)
    }
}
