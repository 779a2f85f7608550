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

/// Writes `len` zero bytes at app address `dst`.
fn zero<M: AppMem>(m: &mut M, dst: u32, len: u32) {
    let z = [0u8; 256];
    let mut done = 0;
    while done < len {
        let n = core::cmp::min(len - done, 256);
        m.write(dst + done, &z[..n as usize]);
        done += n;
    }
}

impl<S: Source> Fs<S> {
    /// Makes at least the first `need` bytes of chunk `idx` of image file `id` readable:
    /// [`Chunk::Raw`] offset in the image, or the [`Chunk::Cached`] slot it was (or already is)
    /// decompressed into: the chunk's own, or for a small file the shared block's (keyed by its
    /// stored offset). A chunk is first decoded only up to the [`CHUNK_SEGMENT`] holding byte
    /// `need - 1` (its frame ends a zstd block there), a block only up to the file read (a zstd
    /// block every few KiB), and all of either when a later read needs more.
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
        let (key, at, want) = match c.codec {
            Codec::Raw => return Ok(Chunk::Raw(c.stored_off)),
            Codec::Lz4 => {
                let stored = (c.stored_off, c.stored_len);
                return self.lz4_chunk((id, idx, own), stored, clen, need);
            }
            Codec::Packed => (BLOCKS, c.stored_off, base + clen),
            Codec::Zstd => {
                let segments = need.div_ceil(CHUNK_SEGMENT as usize) * CHUNK_SEGMENT as usize;
                (id, idx, core::cmp::min(segments, clen))
            }
        };
        let found = self.cache.find(key, at);
        if let Some(slot) = found.filter(|&s| self.cache.data(s).len() >= want) {
            return Ok(Chunk::Cached(slot, base));
        }
        let (off, stored_len) = (c.stored_off, c.stored_len);
        // A chunk is exactly its length; a block as long as its frame says, at most the packed
        // file's chunk size (its block's).
        let len = match key {
            BLOCKS => {
                let mut head = [0u8; FRAME_HEADER_MAX];
                let k = core::cmp::min(stored_len as usize, FRAME_HEADER_MAX);
                let head = head.get_mut(..k).unwrap_or_default();
                img.source().read_at(off, head);
                Decoder::content_size(head)
                    .filter(|&n| n <= f.chunk_size())
                    .ok_or(EIO)? as usize
            }
            _ => clen,
        };
        let (slot, buf) = match found {
            Some(slot) => (slot, self.cache.slot_mut(slot).ok_or(EIO)?),
            None => self.cache.fill(key, len)?,
        };
        // Decoded before only up to an earlier read: all of it this time.
        let stop = if found.is_some() { len } else { want };
        // Its compressed bytes are read a zstd block at a time into `stored` (ENOMEM when that
        // cannot grow, EIO when they are corrupt).
        let got = io(self.decoder.decompress_into(
            img.source(),
            (off, stored_len),
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
                let (slot, buf) = self.cache.fill(id, clen)?;
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
                        zero(m, at + k as u32, take - k as u32);
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
                        Chunk::Raw(off) => m.image_to_app(at, off + within as u32, t),
                        Chunk::Cached(slot, base) => m.write(
                            at,
                            self.cache
                                .data(slot)
                                .get(base + within..base + within + t as usize)
                                .ok_or(EIO)?,
                        ),
                    }
                    t
                }
            };
            zero(m, at + img_take, take - img_take);
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
mod tests {
    use super::*;
    use crate::mem::TestMem;
    use crate::path::tests::tree;
    use wasifs_image::format::Kind;
    use wasifs_image::reader::Image;

    fn big() -> Vec<u8> {
        (0..300 * 1024u32).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn read_all(f: &mut Fs<&[u8]>, m: &mut TestMem, id: u32) -> Vec<u8> {
        let size = f.node(id).unwrap().size as u32;
        let mut out = Vec::new();
        let mut off = 0;
        while off < size {
            let n = f.read(m, id, u64::from(off), 0, 50_000).unwrap();
            out.extend_from_slice(&m.app[..n as usize]);
            off += n;
        }
        out
    }

    #[test]
    fn one_byte_written_copies_only_its_chunk() {
        for level in [0, 3] {
            let bytes = tree(level);
            let mut f = Fs::new(Some(Image::open(&bytes[..]).unwrap()));
            let mut m = TestMem {
                app: alloc::vec![0; 100_000],
                image: bytes.clone(),
            };
            let root = f.node(0).unwrap();
            let id = f.lookup(&root, b"big.bin").unwrap().unwrap();
            m.app[0] = b'X';
            f.write(&m, id, 70_000, 0, 1, 9).unwrap();
            let Some(ONode {
                data: Data::File { chunks, .. },
                ..
            }) = f.get(id)
            else {
                panic!("not changed");
            };
            assert_eq!(chunks.iter().map(|c| c.0).collect::<Vec<_>>(), [1]);
            assert_eq!(chunks[0].1.len(), 64 * 1024);
            let mut want = big();
            want[70_000] = b'X';
            assert_eq!(read_all(&mut f, &mut m, id), want, "level {level}");
            assert_eq!(f.node(id).unwrap().mtime_ns, 9);
        }
    }

    #[test]
    fn shrinking_frees_chunks_and_growing_again_reads_zeros() {
        let bytes = tree(3);
        let (mut f, mut m, id) = open_file(&bytes, b"big.bin");
        m.app.fill(7);
        f.write(&m, id, 200_000, 0, 10, 1).unwrap();
        f.set_size(id, 100, 2).unwrap();
        if let Some(ONode {
            data: Data::File { chunks, img_len },
            ..
        }) = f.get(id)
        {
            assert!(chunks.is_empty());
            assert_eq!(*img_len, 100);
        }
        f.set_size(id, 1000, 3).unwrap();
        let got = read_all(&mut f, &mut m, id);
        assert_eq!(&got[..100], &big()[..100]);
        assert!(got[100..].iter().all(|&b| b == 0));
        assert_eq!(got.len(), 1000);
    }

    #[test]
    fn new_files_grow_sparse_with_zero_holes() {
        let bytes = tree(3);
        let mut f = Fs::new(Some(Image::open(&bytes[..]).unwrap()));
        let mut m = TestMem {
            app: alloc::vec![b'a'; 100_000],
            image: bytes.clone(),
        };
        let id = f.create(0, b"n", Kind::File, Vec::new(), 1).unwrap();
        f.write(&m, id, 150_000, 0, 3, 2).unwrap();
        assert_eq!(f.node(id).unwrap().size, 150_003);
        if let Some(ONode {
            data: Data::File { chunks, .. },
            ..
        }) = f.get(id)
        {
            assert_eq!(chunks.len(), 1, "only the written chunk exists");
        }
        m.app.fill(9);
        let got = read_all(&mut f, &mut m, id);
        assert!(got[..150_000].iter().all(|&b| b == 0));
        assert_eq!(&got[150_000..], b"aaa");
    }

    /// `bytes` opened as the file system, a test memory over them, and the id of `name` at the
    /// root.
    fn open_file<'b>(bytes: &'b [u8], name: &[u8]) -> (Fs<&'b [u8]>, TestMem, u32) {
        let f = Fs::new(Some(Image::open(bytes).unwrap()));
        let m = TestMem {
            app: alloc::vec![0; 100_000],
            image: bytes.to_vec(),
        };
        let root = f.node(0).unwrap();
        let id = f.lookup(&root, name).unwrap().unwrap();
        (f, m, id)
    }

    #[test]
    fn a_read_near_a_large_chunk_s_start_decodes_only_the_segments_it_needs() {
        let bytes = crate::path::tests::tree_with(wasifs_image::BuildOptions {
            chunk_size: wasifs_image::ChunkSize::fixed_log2(18).unwrap(),
            ..wasifs_image::BuildOptions::default()
        });
        let (mut f, mut m, id) = open_file(&bytes, b"big.bin");
        let seg = wasifs_image::format::CHUNK_SEGMENT as usize;
        let want = big();
        // 10 bytes at 100: the first 32 KiB segment of the 256 KiB chunk 0.
        assert_eq!(f.read(&mut m, id, 100, 0, 10).unwrap(), 10);
        assert_eq!(&m.app[..10], &want[100..110]);
        assert_eq!(f.cache.lens(), [seg]);
        // Within it again: served from the cache, nothing decoded.
        f.stored.clear();
        assert_eq!(f.read(&mut m, id, seg as u64 - 5, 0, 5).unwrap(), 5);
        assert!(f.stored.is_empty(), "decoded again");
        // Past it: the whole chunk, once.
        assert_eq!(f.read(&mut m, id, 200_000, 0, 10).unwrap(), 10);
        assert_eq!(&m.app[..10], &want[200_000..200_010]);
        assert_eq!(f.cache.lens(), [256 * 1024]);
        assert_eq!(read_all(&mut f, &mut m, id), want);
    }

    #[test]
    fn a_corrupt_segmented_chunk_reads_as_eio_or_bytes_never_a_panic() {
        let good = crate::path::tests::tree_with(wasifs_image::BuildOptions {
            chunk_size: wasifs_image::ChunkSize::fixed_log2(18).unwrap(),
            ..wasifs_image::BuildOptions::default()
        });
        let (off, len) = {
            let img = Image::open(&good[..]).unwrap();
            let root = img.node(0).unwrap();
            let id = img.lookup(&root, b"big.bin").unwrap().unwrap();
            let c = img.chunk(&img.node(id).unwrap(), 0).unwrap();
            (c.stored_off as usize, c.stored_len as usize)
        };
        for k in 0..24 {
            let mut bytes = good.clone();
            bytes[off + k * len / 24] ^= 0x5a;
            let (mut f, mut m, id) = open_file(&bytes, b"big.bin");
            // Zstd frames here carry no checksum: a flipped byte may decode to other bytes, or
            // fail; either way a read answers (10 bytes or EIO) and the next read still works.
            for at in [100u64, 40_000, 200_000, 100] {
                match f.read(&mut m, id, at, 0, 10) {
                    Ok(n) => assert_eq!(n, 10),
                    Err(e) => assert_eq!(e, EIO),
                }
            }
            let root = f.node(0).unwrap();
            let small = f.lookup(&root, b"a.txt").unwrap().unwrap();
            assert_eq!(f.read(&mut m, small, 0, 0, 5), Ok(5));
            assert_eq!(&m.app[..5], b"hello");
        }
    }

    #[test]
    fn lz4_chunks_read_at_random_match_the_file_decode_only_what_is_read_and_load_the_dictionary_once(
    ) {
        use wasifs_image::{BuildOptions, FileData, ImageBuilder, Meta};
        // 1.5 MiB of varied text over a 64 KiB cache: 4 KiB LZ4 chunks and a dictionary.
        let words = [
            &b"page "[..],
            b"index ",
            b"row ",
            b"btree ",
            b"leaf\n",
            b"key ",
        ];
        let mut want = Vec::new();
        let mut x: u32 = 7;
        while want.len() < (3 << 19) + 25 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            want.extend_from_slice(words[(x >> 16) as usize % words.len()]);
            want.extend_from_slice(&x.to_le_bytes()[..(x >> 29) as usize % 4]);
        }
        // A last chunk of 25 bytes: shorter than the LZ4 decoder's fast-path room.
        want.truncate((3 << 19) + 25);
        let mut b = ImageBuilder::new(BuildOptions {
            cache_size: "64K".parse().unwrap(),
            ..BuildOptions::default()
        });
        let root = b.root();
        b.add_file(root, b"db", Meta::default(), FileData::Bytes(want.clone()))
            .unwrap();
        let bytes = b.finish().unwrap();
        let (mut f, mut m, id) = open_file(&bytes, b"db");
        let img = f.img().unwrap();
        let dict_len = img.dict_range().1 as usize;
        assert!(dict_len > 0);
        let node = img.node(id).unwrap();
        assert_eq!(img.chunk(&node, 7).unwrap().codec, Codec::Lz4);
        let last = (want.len() / 4096) as u32;
        assert_eq!(img.chunk(&node, last).unwrap().codec, Codec::Lz4);
        let mut at: u64 = 12_345;
        for _ in 0..300 {
            at = (at * 48_271 + 11) % (want.len() as u64 - 5000);
            let n = f.read(&mut m, id, at, 0, 5000).unwrap() as usize;
            assert_eq!(&m.app[..n], &want[at as usize..at as usize + n], "at {at}");
        }
        assert_eq!(f.dict.len(), dict_len);
        // A read of a chunk's head decodes only that far; a later read of its tail, all of it.
        let c = 300 * 4096;
        assert!(f.cache.find(id, 300).is_none());
        assert_eq!(f.read(&mut m, id, c, 0, 16), Ok(16));
        assert_eq!(&m.app[..16], &want[c as usize..c as usize + 16]);
        let slot = f.cache.find(id, 300).unwrap();
        assert!(f.cache.data(slot).len() < 4096);
        assert_eq!(f.read(&mut m, id, c + 4000, 0, 96), Ok(96));
        assert_eq!(&m.app[..96], &want[c as usize + 4000..c as usize + 4096]);
        assert_eq!(f.cache.data(slot).len(), 4096);
        assert_eq!(read_all(&mut f, &mut m, id), want);
    }

    /// The test tree with `auto` chunks and a 64 KiB cache: big.bin (300 KiB, over the cache) has
    /// 4 KiB chunks; a.txt is packed in a shared block (its chunk size is the block's).
    fn small_chunk_tree() -> Vec<u8> {
        crate::path::tests::tree_with(wasifs_image::BuildOptions {
            cache_size: "64K".parse().unwrap(),
            ..wasifs_image::BuildOptions::default()
        })
    }

    #[test]
    fn a_file_with_small_chunks_copies_one_small_chunk_on_write_and_reads_back_across_chunks() {
        let bytes = small_chunk_tree();
        let (mut f, mut m, id) = open_file(&bytes, b"big.bin");
        let sc = 1u64 << wasifs_image::format::SMALL_CHUNK_LOG2;
        assert_eq!(f.node(id).unwrap().chunk_size(), sc);
        let root = f.node(0).unwrap();
        let small = f.lookup(&root, b"a.txt").unwrap().unwrap();
        let block = wasifs_image::format::BLOCK_SIZE;
        assert_eq!(f.node(small).unwrap().chunk_size(), u64::from(block));
        m.app[..3].copy_from_slice(b"XYZ");
        // 3 bytes across the border of chunks 8 and 9.
        f.write(&m, id, 9 * sc - 1, 0, 3, 5).unwrap();
        let Some(ONode {
            data: Data::File { chunks, .. },
            ..
        }) = f.get(id)
        else {
            panic!("not changed");
        };
        assert_eq!(chunks.iter().map(|c| c.0).collect::<Vec<_>>(), [8, 9]);
        assert!(chunks.iter().all(|c| c.1.len() as u64 == sc));
        let mut want = big();
        let at = 9 * sc as usize;
        want[at - 1..at + 2].copy_from_slice(b"XYZ");
        assert_eq!(read_all(&mut f, &mut m, id), want);
    }

    #[test]
    fn a_file_with_small_chunks_truncates_and_grows_sparse() {
        let bytes = small_chunk_tree();
        let (mut f, mut m, id) = open_file(&bytes, b"big.bin");
        m.app.fill(b'q');
        f.write(&m, id, 20_000, 0, 10, 1).unwrap();
        f.set_size(id, 20_005, 2).unwrap();
        if let Some(ONode {
            data: Data::File { chunks, img_len },
            ..
        }) = f.get(id)
        {
            assert_eq!(chunks.len(), 1);
            let sc = 1usize << wasifs_image::format::SMALL_CHUNK_LOG2;
            let idx = 20_005 / sc;
            assert_eq!(
                (chunks[0].0 as usize, chunks[0].1.len()),
                (idx, 20_005 - idx * sc)
            );
            assert_eq!(*img_len, 20_005);
        }
        f.write(&m, id, 100_000, 0, 2, 3).unwrap();
        let got = read_all(&mut f, &mut m, id);
        assert_eq!(got.len(), 100_002);
        assert_eq!(&got[..20_000], &big()[..20_000]);
        assert_eq!(&got[20_000..20_005], b"qqqqq");
        assert!(got[20_005..100_000].iter().all(|&b| b == 0));
        assert_eq!(&got[100_000..], b"qq");
    }

    #[test]
    fn an_image_file_cut_to_nothing_takes_32k_chunks_like_a_new_file() {
        let bytes = small_chunk_tree();
        let (mut f, mut m, id) = open_file(&bytes, b"big.bin");
        m.app.fill(b'z');
        f.set_size(id, 0, 1).unwrap();
        assert_eq!(f.node(id).unwrap().chunk_size(), 32 * 1024);
        f.write(&m, id, 0, 0, 40_000, 2).unwrap();
        if let Some(ONode {
            data: Data::File { chunks, .. },
            ..
        }) = f.get(id)
        {
            assert_eq!(chunks.iter().map(|c| c.0).collect::<Vec<_>>(), [0, 1]);
        }
        let got = read_all(&mut f, &mut m, id);
        assert_eq!(got, alloc::vec![b'z'; 40_000]);
        let n = f.create(0, b"new", Kind::File, Vec::new(), 3).unwrap();
        assert_eq!(f.node(n).unwrap().chunk_size(), 32 * 1024);
    }

    /// 40 small files of 1,000–3,000 bytes (shared blocks) and a 100 KiB one (its own chunks).
    fn small_files() -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut b = wasifs_image::ImageBuilder::new(wasifs_image::BuildOptions::default());
        let root = b.root();
        let meta = wasifs_image::Meta::default();
        let files: Vec<Vec<u8>> = (0..40u32)
            .map(|i| {
                let line = alloc::format!("file {i} line of text\n");
                line.bytes().cycle().take(1000 + 50 * i as usize).collect()
            })
            .collect();
        for (i, data) in files.iter().enumerate() {
            let name = alloc::format!("f{i:02}");
            let data = wasifs_image::FileData::Bytes(data.clone());
            b.add_file(root, name.as_bytes(), meta, data).unwrap();
        }
        let big = wasifs_image::FileData::Bytes(big()[..100 * 1024].to_vec());
        b.add_file(root, b"z", meta, big).unwrap();
        b.add_preopen(b"/", root, false).unwrap();
        (b.finish().unwrap(), files)
    }

    #[test]
    fn small_files_in_one_shared_block_decompress_it_once_and_read_back() {
        let (bytes, files) = small_files();
        let img = Image::open(&bytes[..]).unwrap();
        let root = img.node(0).unwrap();
        let first = img
            .node(img.lookup(&root, b"f00").unwrap().unwrap())
            .unwrap();
        assert_eq!(img.chunk(&first, 0).unwrap().codec, Codec::Packed);
        let mut f = Fs::new(Some(img));
        let mut m = TestMem {
            app: alloc::vec![0; 200_000],
            image: bytes.clone(),
        };
        let f00 = f.lookup(&root, b"f00").unwrap().unwrap();
        assert_eq!(read_all(&mut f, &mut m, f00), files[0]);
        let total: usize = files.iter().map(Vec::len).sum();
        let first = f.cache.lens()[0];
        assert!(
            first < total,
            "the first file decodes part of the block: {first}"
        );
        for (i, want) in files.iter().enumerate().rev() {
            let name = alloc::format!("f{i:02}");
            let id = f.lookup(&root, name.as_bytes()).unwrap().unwrap();
            assert_eq!(&read_all(&mut f, &mut m, id), want, "{name}");
            f.cache.forget(id);
        }
        assert_eq!(f.cache.slot_count(), 1, "one block, kept after close");
        assert_eq!(
            f.cache.lens(),
            [total],
            "decoded whole once a later file needed it"
        );
        let z = f.lookup(&root, b"z").unwrap().unwrap();
        assert_eq!(read_all(&mut f, &mut m, z), big()[..100 * 1024]);
    }

    #[test]
    fn a_small_file_in_a_shared_block_copies_only_its_bytes_on_write_and_truncates() {
        let (bytes, files) = small_files();
        let mut f = Fs::new(Some(Image::open(&bytes[..]).unwrap()));
        let mut m = TestMem {
            app: alloc::vec![b'#'; 10_000],
            image: bytes.clone(),
        };
        let root = f.node(0).unwrap();
        let id = f.lookup(&root, b"f07").unwrap().unwrap();
        f.write(&m, id, 10, 0, 2, 1).unwrap();
        let mut want = files[7].clone();
        want[10..12].copy_from_slice(b"##");
        assert_eq!(read_all(&mut f, &mut m, id), want);
        if let Some(ONode {
            data: Data::File { chunks, .. },
            ..
        }) = f.get(id)
        {
            assert_eq!(chunks.len(), 1);
            assert_eq!(chunks[0].1.len(), files[7].len(), "the file, not the block");
        }
        f.set_size(id, 5, 2).unwrap();
        assert_eq!(read_all(&mut f, &mut m, id), files[7][..5]);
        let next = f.lookup(&root, b"f08").unwrap().unwrap();
        assert_eq!(read_all(&mut f, &mut m, next), files[8]);
    }
}
