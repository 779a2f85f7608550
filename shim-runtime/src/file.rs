//! File contents: reads mix owned chunks, image chunks (decompressed through `cache.rs`) and zeros; writes copy a chunk on write.
//!
//! Each file has its own chunk size `cs` (its node's `chunk_log2`: the image's choice for an image
//! file, 32 KiB for a new one). A file's bytes at offset `p` (chunk `p / cs`) are, in order of
//! precedence: the owned chunk's buffer (zeros past its end), the image's bytes when `p < img_len`,
//! else zeros. Only the chunks a write touches are copied (one chunk decompressed at most per chunk
//! written); truncation drops the chunks past the end and lowers `img_len`, so memory goes back to
//! the allocator.

use alloc::vec::Vec;

use wasifs_image::format::{Codec, CHUNK_SEGMENT, NEW_FILE_CHUNK_LOG2};
use wasifs_image::reader::{Node, Source};
use wasifs_image::Decoder;

use crate::fallible::{copy, resize};
use crate::mem::AppMem;
use crate::overlay::{insert_at, io, zeroed, Data, Fs, ONode, R};
use crate::wasi::{EIO, ENOMEM};

/// Where the bytes of one chunk come from.
enum From {
    /// Owned buffer (zeros past its end).
    Owned,
    /// The image, for this many bytes from the start of the read (zeros after).
    Image(u64),
    /// Zeros only.
    Zero,
}

/// Where a readable image chunk is.
enum Chunk {
    /// Stored raw at this image offset.
    Raw(u32),
    /// Decompressed in this cache slot, from this offset (non-zero only in a shared block).
    Cached(usize, usize),
    /// All zeros: nothing stored, nothing cached.
    Zero,
}

/// Cache "node" of shared blocks of small files: a block is cached by its stored offset, whatever
/// file it was read for, so reading every file of a block decompresses it once.
const BLOCKS: u32 = u32::MAX;

/// Longest zstd frame header (`ZSTD_FRAMEHEADERSIZE_MAX`): a shared block's declared size is read
/// from its first bytes alone.
const FRAME_HEADER_MAX: usize = 18;

/// The owned chunk `idx` among `chunks` (sorted by index).
fn chunk(chunks: &[(u32, Vec<u8>)], idx: u32) -> Option<&Vec<u8>> {
    let i = chunks.binary_search_by_key(&idx, |c| c.0).ok()?;
    chunks.get(i).map(|c| &c.1)
}

/// Splits offset `pos` of file `n` into (chunk index, offset within the chunk); shifts, so no
/// division panic path.
fn split(n: &Node, pos: u64) -> (u64, u64) {
    let lg = u32::from(n.chunk_log2);
    (pos.wrapping_shr(lg), pos & (n.chunk_size() - 1))
}

impl<S: Source> Fs<S> {
    /// Makes at least the first `need` bytes of chunk `idx` of image file `id` readable:
    /// [`Chunk::Raw`] offset in the image, [`Chunk::Zero`] for a chunk of zeros (nothing to read),
    /// or the [`Chunk::Cached`] slot it was (or already is) decompressed into: the chunk's own
    /// (also when its frame is against the dictionary of shared blocks), or for a small file or a
    /// member of a group of similar files the shared frame's (keyed by its stored offset). A chunk
    /// is first decoded only up to the [`CHUNK_SEGMENT`] holding byte `need - 1` (its frame ends a
    /// zstd block there), a block only up to the file read (a zstd block every few KiB), a group's
    /// frame up to that segment of its member's piece (after the earlier members' pieces), and all
    /// of any of them when a later read needs more.
    fn image_chunk(&mut self, id: u32, idx: u32, need: usize) -> R<Chunk> {
        let own = self.cache.find(id, idx);
        if let Some(slot) = own.filter(|&s| self.cache.data(s).len() >= need) {
            return Ok(Chunk::Cached(slot, 0));
        }
        let img = self.img.as_ref().ok_or(EIO)?;
        let f = io(img.node(id))?;
        let c = io(img.chunk(&f, idx))?;
        let clen = io(img.chunk_len(&f, idx))? as usize;
        let base = c.block_off as usize;
        let segments = need.div_ceil(CHUNK_SEGMENT as usize) * CHUNK_SEGMENT as usize;
        let (key, at, want) = match c.codec {
            Codec::Raw => return Ok(Chunk::Raw(c.stored_off)),
            Codec::Zero => return Ok(Chunk::Zero),
            Codec::Lz4 => {
                let stored = (c.stored_off, c.stored_len);
                return self.lz4_chunk((id, idx, own), stored, clen, need);
            }
            // A small file's block, or a group's frame: up to the segment of its piece `need` is in.
            Codec::Packed => (BLOCKS, c.stored_off, base + core::cmp::min(segments, clen)),
            Codec::Zstd | Codec::ZstdDict => (id, idx, core::cmp::min(segments, clen)),
        };
        let found = self.cache.find(key, at);
        if let Some(slot) = found.filter(|&s| self.cache.data(s).len() >= want) {
            return Ok(Chunk::Cached(slot, base));
        }
        let (off, stored_len) = (c.stored_off, c.stored_len);
        // A chunk is exactly its length; a block as long as its frame says, at most the header's
        // chunk size (a block of small files, or a frame of a group of similar files).
        let len = match key {
            BLOCKS => {
                let mut head = [0u8; FRAME_HEADER_MAX];
                let k = core::cmp::min(stored_len as usize, FRAME_HEADER_MAX);
                let head = head.get_mut(..k).unwrap_or_default();
                img.source().read_at(off, head);
                Decoder::content_size(head)
                    .filter(|&n| n <= u64::from(img.chunk_size()))
                    .ok_or(EIO)? as usize
            }
            _ => clen,
        };
        let (slot, buf) = match found {
            Some(slot) => (slot, self.cache.slot_mut(slot).ok_or(EIO)?),
            None => self.cache.fill(key, at, len)?,
        };
        // Decoded before only up to an earlier read: all of it this time.
        let stop = if found.is_some() { len } else { want };
        // Shared frames and a file's own frames against it need the dictionary of shared blocks.
        let with_dict = c.codec != Codec::Zstd;
        let dict_size = img.block_dict_range().2 as usize;
        if with_dict && self.block_dict.len() != dict_size {
            let (d, scratch) = (&mut self.decoder, &mut self.stored);
            io(img.read_block_dict(d, scratch, &mut self.block_dict))?;
        }
        let dict = if with_dict { &self.block_dict[..] } else { &[] };
        // Its compressed bytes are read a zstd block at a time into `stored` (ENOMEM when that
        // cannot grow, EIO when they are corrupt).
        let got = io(self.decoder.decompress_into(
            img.source(),
            (off, stored_len),
            dict,
            &mut self.stored,
            buf,
            stop,
        ))?;
        // A chunk decoded to its end (not stopped early at a zstd block) is exactly its length.
        if got < want || (key != BLOCKS && got != clen && (stop >= clen || got > clen)) {
            return Err(EIO);
        }
        self.cache.filled(slot, at);
        Ok(Chunk::Cached(slot, base))
    }

    /// Decodes LZ4 chunk `idx` of image file `id` (`clen` bytes, stored at `stored`) into a cache
    /// slot, reading the image's dictionary first if this is the first such chunk. It stops after
    /// the first `need` bytes (a read at a random offset needs only the head of its second chunk);
    /// a later read that needs more decodes the chunk again, whole, into the slot `own` it holds.
    fn lz4_chunk(
        &mut self,
        (id, idx, own): (u32, u32, Option<usize>),
        stored: (u32, u32),
        clen: usize,
        need: usize,
    ) -> R<Chunk> {
        let img = self.img.as_ref().ok_or(EIO)?;
        let (dict_off, dict_len) = img.dict_range();
        if self.dict.len() != dict_len as usize {
            resize(&mut self.dict, dict_len as usize)?;
            img.source().read_at(dict_off, &mut self.dict);
        }
        // The buffers only grow: no bytes zeroed again for each chunk.
        let n = stored.1 as usize;
        if self.stored.len() < n {
            resize(&mut self.stored, n)?;
        }
        let src = self.stored.get_mut(..n).ok_or(EIO)?;
        img.source().read_at(stored.0, src);
        let (slot, buf, need) = match own {
            Some(slot) => (slot, self.cache.slot_mut(slot).ok_or(EIO)?, clen),
            None => {
                let (slot, buf) = self.cache.fill(id, idx, clen)?;
                (slot, buf, need)
            }
        };
        resize(buf, clen)?;
        let got = io(wasifs_image::lz4::decode_prefix(src, &self.dict, buf, need))?;
        buf.truncate(got);
        self.cache.filled(slot, idx);
        Ok(Chunk::Cached(slot, 0))
    }

    /// Copies up to `len` bytes of file `id` from `offset` to app address `dst`; returns the count.
    /// Raw image chunks go straight from the image to the app.
    pub fn read<M: AppMem>(
        &mut self,
        m: &mut M,
        id: u32,
        offset: u64,
        dst: u32,
        len: u32,
    ) -> R<u32> {
        let node = self.node(id)?;
        let size = node.size;
        if offset >= size {
            return Ok(0);
        }
        let n = core::cmp::min(u64::from(len), size - offset) as u32;
        self.cache.reading(id, size, offset, u64::from(n));
        let mut done = 0u32;
        while done < n {
            let pos = offset + u64::from(done);
            let (idx, within) = split(&node, pos);
            let idx = u32::try_from(idx).map_err(|_| EIO)?;
            let take = core::cmp::min(u64::from(n - done), node.chunk_size() - within) as u32;
            let within = within as usize;
            let at = dst + done;
            let from = match self.get(id) {
                Some(ONode {
                    data: Data::File { img_len, chunks },
                    ..
                }) => match chunk(chunks, idx) {
                    Some(c) => {
                        let have = c.get(within..).unwrap_or(&[]);
                        let k = core::cmp::min(have.len(), take as usize);
                        m.write(at, have.get(..k).unwrap_or(&[]));
                        m.zero(at + k as u32, take - k as u32);
                        From::Owned
                    }
                    None if pos < *img_len => From::Image(*img_len - pos),
                    None => From::Zero,
                },
                Some(_) => return Err(EIO),
                None => From::Image(size - pos),
            };
            let img_take = match from {
                From::Owned => take,
                From::Zero => 0,
                From::Image(limit) => {
                    let t = core::cmp::min(u64::from(take), limit) as u32;
                    match self.image_chunk(id, idx, within + t as usize)? {
                        Chunk::Raw(off) => {
                            m.image_to_app(at, off + within as u32, t);
                            t
                        }
                        Chunk::Cached(slot, base) => {
                            let data = self.cache.data(slot);
                            let part = data.get(base + within..base + within + t as usize);
                            m.write(at, part.ok_or(EIO)?);
                            t
                        }
                        // Written as zeros below, with what lies past the image's bytes.
                        Chunk::Zero => 0,
                    }
                }
            };
            m.zero(at + img_take, take - img_take);
            done += take;
        }
        Ok(n)
    }

    /// The owned buffer of chunk `idx` (of `cs` bytes) of file `id`, copied from the image on
    /// first write.
    fn chunk_mut(&mut self, id: u32, idx: u32, cs: u64) -> R<&mut Vec<u8>> {
        let img_len = match &self.own(id)?.data {
            Data::File { img_len, chunks } if chunk(chunks, idx).is_none() => Some(*img_len),
            Data::File { .. } => None,
            _ => return Err(EIO),
        };
        if let Some(img_len) = img_len {
            let start = u64::from(idx).wrapping_mul(cs);
            let mut v = Vec::new();
            if start < img_len {
                let n = core::cmp::min(cs, img_len - start) as usize;
                match self.image_chunk(id, idx, n)? {
                    Chunk::Raw(off) => {
                        v = zeroed(n)?;
                        self.img()?.source().read_at(off, &mut v)
                    }
                    Chunk::Cached(slot, base) => {
                        v = copy(self.cache.data(slot).get(base..base + n).ok_or(EIO)?)?;
                    }
                    // An empty buffer reads as zeros.
                    Chunk::Zero => {}
                }
            }
            if let Data::File { chunks, .. } = &mut self.own(id)?.data {
                let at = chunks.partition_point(|c| c.0 < idx);
                insert_at(chunks, at, (idx, v))?;
            }
        }
        match &mut self.own(id)?.data {
            Data::File { chunks, .. } => chunks
                .iter_mut()
                .rev()
                .find(|c| c.0 == idx)
                .map(|c| &mut c.1)
                .ok_or(EIO),
            _ => Err(EIO),
        }
    }

    /// Writes `len` bytes from app address `src` into file `id` at `offset`, growing it as needed;
    /// returns the count written, short when memory ran out part way (ENOMEM when nothing fitted).
    pub fn write<M: AppMem>(
        &mut self,
        m: &M,
        id: u32,
        offset: u64,
        src: u32,
        len: u32,
        now: u64,
    ) -> R<u32> {
        offset.checked_add(u64::from(len)).ok_or(EIO)?;
        let node = self.own(id)?.n;
        let cs = node.chunk_size();
        let mut done = 0u32;
        while done < len {
            let pos = offset + u64::from(done);
            let (idx, within) = split(&node, pos);
            let take = core::cmp::min(u64::from(len - done), cs - within) as usize;
            let within = within as usize;
            let r = u32::try_from(idx)
                .map_err(|_| ENOMEM)
                .and_then(|idx| self.chunk_mut(id, idx, cs))
                .and_then(|buf| {
                    if buf.len() < within + take {
                        resize(buf, within + take)?;
                    }
                    m.read(src + done, buf.get_mut(within..within + take).ok_or(EIO)?);
                    Ok(())
                });
            match r {
                Ok(()) => done += take as u32,
                // Out of memory part way: a short write of what fitted, as write(2) answers.
                Err(_) if done > 0 => break,
                Err(e) => return Err(e),
            }
        }
        let o = self.own(id)?;
        o.n.size = core::cmp::max(o.n.size, offset + u64::from(done));
        self.touch(id, now)?;
        Ok(done)
    }

    /// Sets the size of file `id`: growing reads as zeros, shrinking frees the chunks past the end.
    /// Cut to 0 bytes, the file keeps nothing of the image and takes 32 KiB chunks, as a new file.
    pub fn set_size(&mut self, id: u32, size: u64, now: u64) -> R<()> {
        let o = self.own(id)?;
        let (last, rest) = split(&o.n, size);
        if let Data::File { img_len, chunks } = &mut o.data {
            if size < o.n.size {
                *img_len = core::cmp::min(*img_len, size);
                let first_gone = last + u64::from(rest != 0);
                chunks.truncate(chunks.partition_point(|c| u64::from(c.0) < first_gone));
                if let Some(c) = chunks.last_mut().filter(|c| u64::from(c.0) == last) {
                    // A smaller copy of the boundary chunk, so its memory goes back to the heap.
                    let n = rest as usize;
                    match copy(c.1.get(..n).unwrap_or(&c.1)) {
                        Ok(v) => c.1 = v,
                        // No room for the copy: the bigger buffer stays, cut to the new end.
                        Err(_) => c.1.truncate(n),
                    }
                }
            }
            o.n.size = size;
            if size == 0 {
                o.n.chunk_log2 = NEW_FILE_CHUNK_LOG2;
            }
        }
        self.touch(id, now)
    }
}

#[cfg(test)]
mod tests;
