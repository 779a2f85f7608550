//! The metadata space the table offsets point into: the image itself, or a compressed region read a block at a time through a small cache.
//!
//! A compressed region (header `meta_block_size` != 0) is `meta_len` logical bytes cut into blocks
//! of `meta_block_size`; its index gives where each block is stored. A read finds the block(s) by
//! shifting the offset, looks the block's cache slot up in a per-block table (O(1)), and on a miss
//! decompresses the block into the next slot (first in, first out). The cache holds at most
//! [`META_CACHE_BYTES`] (and [`MAX_SLOTS`] blocks); it lives in a `RefCell` so that the reader's
//! `&self` accessors can fill it.
// Without the `decode` feature a compressed region is refused at open: the cache is never used.
#![cfg_attr(not(feature = "decode"), allow(dead_code))]

use alloc::vec::Vec;
use core::cell::RefCell;

use crate::format::{FormatError, Header, HEADER_SIZE, MAX_META_BLOCK_SIZE, MIN_META_BLOCK_SIZE};
use crate::reader::Source;

/// Most bytes of decompressed metadata blocks one image keeps cached (at least one block).
pub const META_CACHE_BYTES: u32 = 1 << 20;
/// Most cached metadata blocks (a slot number is a byte).
pub const MAX_SLOTS: usize = 64;
/// Slot-table entry of a block that is not cached.
const NOT_CACHED: u8 = u8::MAX;

/// Where the tables are: raw in the image, or a compressed region (with its cache).
#[derive(Debug, Clone, Default)]
pub(crate) struct MetaSpace {
    /// log2 of the block size; 0: the tables are stored raw (offsets are image offsets).
    shift: u32,
    /// Decompressed length of the region.
    len: u32,
    /// Image offset of the block index.
    index_off: u32,
    /// Number of blocks.
    blocks: u32,
    /// Decompressed blocks.
    cache: RefCell<Cache>,
}

/// The decompressed blocks kept, and what is needed to make more. (Indexes go through `get`:
/// the shim links no panic.)
#[derive(Debug, Default)]
struct Cache {
    /// Per block: the slot holding it, or [`NOT_CACHED`]; allocated on the first read.
    slot_of: Vec<u8>,
    /// The slots' bytes: slot `i` at `i << shift`; allocated on the first read.
    data: Vec<u8>,
    /// The next slot to fill (first in, first out).
    hand: usize,
    /// The compressed bytes of the zstd block being decoded (reused).
    stored: Vec<u8>,
    /// The zstd decoder (its context is kept between blocks on the host).
    #[cfg(feature = "decode")]
    decoder: crate::decode::Decoder,
}

impl Clone for Cache {
    /// A clone starts with an empty cache.
    fn clone(&self) -> Self {
        Cache::default()
    }
}

/// Sets the length of `v` to `n` (new bytes zeroed), or [`FormatError::NoMemory`]: never the
/// allocator's panic, which the shim must not link.
fn resize(v: &mut Vec<u8>, n: usize, fill: u8) -> Result<(), FormatError> {
    let len = v.len();
    if n <= len {
        v.truncate(n);
        return Ok(());
    }
    v.try_reserve_exact(n - len)
        .map_err(|_| FormatError::NoMemory)?;
    // SAFETY: `try_reserve_exact` succeeded, so the capacity is at least `n`; bytes `len..n` are
    // written before the length covers them.
    unsafe {
        core::ptr::write_bytes(v.as_mut_ptr().add(len), fill, n - len);
        v.set_len(n);
    }
    Ok(())
}

impl MetaSpace {
    /// The metadata space `h` describes in an image of `total` bytes, its block size and index
    /// checked (a compressed region is refused without the `decode` feature).
    pub(crate) fn new(h: &Header, total: u32) -> Result<Self, FormatError> {
        let mut m = MetaSpace::default();
        if h.meta_compressed() {
            if !cfg!(feature = "decode") {
                return Err(FormatError::NeedsDecoder);
            }
            let bs = h.meta_block_size;
            let blocks = h.meta_len.div_ceil(bs);
            let index_end = u64::from(h.meta_index_off) + (u64::from(blocks) + 1) * 4;
            if !bs.is_power_of_two()
                || !(MIN_META_BLOCK_SIZE..=MAX_META_BLOCK_SIZE).contains(&bs)
                || h.meta_index_off < HEADER_SIZE
                || index_end > u64::from(total)
            {
                return Err(FormatError::BadTable);
            }
            (m.shift, m.len, m.index_off, m.blocks) =
                (bs.trailing_zeros(), h.meta_len, h.meta_index_off, blocks);
        }
        Ok(m)
    }

    /// Fills `dst` from metadata offset `off`; the caller keeps the range within the space.
    #[inline(always)]
    pub(crate) fn read<S: Source>(
        &self,
        src: &S,
        off: u32,
        dst: &mut [u8],
    ) -> Result<(), FormatError> {
        if self.shift == 0 {
            src.read_at(off, dst);
            return Ok(());
        }
        self.read_blocks(src, off, dst)
    }

    /// [`MetaSpace::read`] from the compressed region, block by block through the cache.
    #[cfg(feature = "decode")]
    fn read_blocks<S: Source>(&self, src: &S, off: u32, dst: &mut [u8]) -> Result<(), FormatError> {
        let mut cache = self
            .cache
            .try_borrow_mut()
            .map_err(|_| FormatError::BadTable)?;
        let mut pos = off;
        let mut rest = dst;
        while !rest.is_empty() {
            if pos >= self.len {
                return Err(FormatError::BadTable);
            }
            let block = pos >> self.shift;
            let slot = match cache.slot_of.get(block as usize) {
                Some(&s) if s != NOT_CACHED => usize::from(s),
                _ => self.load(&mut cache, src, block)?,
            };
            // The block's bytes from `pos` on: `pos` is inside the block, which ends at or
            // before `len`.
            let within = (pos - (block << self.shift)) as usize;
            let end = core::cmp::min(self.len - (block << self.shift), 1 << self.shift) as usize;
            let n = core::cmp::min(end - within, rest.len());
            let from = (slot << self.shift) + within;
            let have = cache.data.get(from..).and_then(|d| d.get(..n));
            let have = have.ok_or(FormatError::BadTable)?;
            let (now, later) = rest.split_at_mut_checked(n).ok_or(FormatError::BadTable)?;
            // SAFETY: `have` and `now` are both `n` bytes long (checked `get` and split above)
            // and do not overlap (the cache's buffer and the caller's). Not `copy_from_slice`,
            // whose length check the compiler keeps, linking a panic into the shim.
            unsafe { core::ptr::copy_nonoverlapping(have.as_ptr(), now.as_mut_ptr(), n) };
            rest = later;
            pos += n as u32;
        }
        Ok(())
    }

    /// Without a decoder no compressed region is opened: this is never reached.
    #[cfg(not(feature = "decode"))]
    fn read_blocks<S: Source>(&self, _: &S, _: u32, _: &mut [u8]) -> Result<(), FormatError> {
        Err(FormatError::NeedsDecoder)
    }

    /// The slot block `b` (not cached) is decompressed into: the next one, first in first out
    /// (the tables are mostly read in order). The block it held is found by a scan of the
    /// per-block table, one byte per block, and forgotten.
    #[cfg(feature = "decode")]
    fn load<S: Source>(&self, c: &mut Cache, src: &S, b: u32) -> Result<usize, FormatError> {
        let slots = (META_CACHE_BYTES >> self.shift).clamp(1, MAX_SLOTS as u32);
        let slots = core::cmp::min(slots, self.blocks) as usize;
        if c.slot_of.is_empty() {
            // The first read: room for every slot, reserved but not written (each slot's bytes
            // are zeroed when it is first filled: zeroing all 1 MiB at once cost an image of
            // 50,000 files 256 fresh pages, most of its start-up), then the per-block table.
            c.data
                .try_reserve_exact(slots << self.shift)
                .map_err(|_| FormatError::NoMemory)?;
            resize(&mut c.slot_of, self.blocks as usize, NOT_CACHED)?;
        }
        if b >= self.blocks {
            return Err(FormatError::BadTable);
        }
        let mut at = [0u8; 8];
        src.read_at(self.index_off + b * 4, &mut at);
        let start = u32::from_le_bytes([at[0], at[1], at[2], at[3]]);
        let end = u32::from_le_bytes([at[4], at[5], at[6], at[7]]);
        let block_len = core::cmp::min(self.len - (b << self.shift), 1 << self.shift);
        if start < HEADER_SIZE || end < start || end > src.len() || end - start > block_len {
            return Err(FormatError::BadTable);
        }
        let slot = if c.hand < slots { c.hand } else { 0 };
        c.hand = slot + 1;
        // Slots fill in order, so the buffer grows a slot at a time.
        let slot_end = (slot + 1) << self.shift;
        if c.data.len() < slot_end {
            resize(&mut c.data, slot_end, 0)?;
        }
        if let Some(old) = c.slot_of.iter_mut().find(|s| usize::from(**s) == slot) {
            *old = NOT_CACHED;
        }
        let from = slot << self.shift;
        let out = c
            .data
            .get_mut(from..)
            .and_then(|d| d.get_mut(..block_len as usize));
        let out = out.ok_or(FormatError::BadTable)?;
        if end - start == block_len {
            src.read_at(start, out);
        } else {
            let n = c.decoder.decompress_from(
                src,
                start,
                end - start,
                &mut c.stored,
                out,
                usize::MAX,
            )?;
            if n != out.len() {
                return Err(FormatError::Decompress);
            }
        }
        if let Some(s) = c.slot_of.get_mut(b as usize) {
            *s = slot as u8;
        }
        Ok(slot)
    }
}

#[cfg(all(test, feature = "build"))]
mod tests {
    use crate::build::{ImageBuilder, MetaMode};
    use crate::format::MIN_META_BLOCK_SIZE;
    use crate::{BuildOptions, FileData, Image, Meta};

    #[test]
    fn the_first_read_of_compressed_tables_writes_only_the_slot_it_fills() {
        let mut b = ImageBuilder::new(BuildOptions {
            meta: MetaMode::Compressed(MIN_META_BLOCK_SIZE),
            ..BuildOptions::default()
        });
        let root = b.root();
        for i in 0..2_000u32 {
            let name = alloc::format!("file-{i:06}.txt");
            let data = FileData::Bytes(i.to_le_bytes().to_vec());
            b.add_file(root, name.as_bytes(), Meta::default(), data)
                .unwrap();
        }
        let bytes = b.finish().unwrap();
        let img = Image::open(bytes.as_slice()).unwrap();
        let m = img.meta();
        assert!(
            m.blocks > 64,
            "{} blocks: the cache must have more slots to fill",
            m.blocks
        );
        img.node(0).unwrap();
        let c = m.cache.borrow();
        // Room for every slot, but only the block read was written (fresh pages stay untouched).
        assert_eq!(c.data.len(), 1 << m.shift);
        assert!(c.data.capacity() >= 64 << m.shift);
        drop(c);
        let last = img.node(2_000).unwrap();
        assert_eq!(last.size, 4);
        assert_eq!(m.cache.borrow().data.len(), 2 << m.shift);
    }
}
