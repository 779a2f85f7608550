//! The no_std image reader (docs/ARCHITECTURE.md §2): reads only the records it is asked for.
//!
//! Every table read goes through `Image::read_meta` (`meta.rs`): from the image itself, or from
//! the compressed metadata region through its block cache.

use core::cmp::Ordering;

pub use crate::format::{
    Chunk, Codec, Dirent, FormatError, Header, HostAlias, Kind, Node, Preopen,
};
use crate::format::{
    CHUNK_RECORD_SIZE, DIRENT_SIZE, FLAG_HOST_FS_DENY, HEADER_SIZE, HOST_ALIAS_SIZE,
    MAX_BLOCK_DICT_LEN, MAX_CHUNK_LOG2, MAX_DICT_LEN, NODE_SIZE, PREOPEN_SIZE, VERSION,
};
use crate::meta::MetaSpace;

/// Random-access bytes of an image (a slice on the host, `memory.init` in the shim).
pub trait Source {
    /// Length of the image in bytes.
    fn len(&self) -> u32;
    /// Fills `dst` from `offset`; the caller keeps `offset + dst.len()` within `len()`.
    fn read_at(&self, offset: u32, dst: &mut [u8]);
    /// True when the image has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Source for &[u8] {
    fn len(&self) -> u32 {
        u32::try_from(<[u8]>::len(self)).unwrap_or(u32::MAX)
    }

    fn read_at(&self, offset: u32, dst: &mut [u8]) {
        let start = offset as usize;
        match start
            .checked_add(dst.len())
            .and_then(|end| self.get(start..end))
        {
            Some(src) => dst.copy_from_slice(src),
            None => dst.fill(0),
        }
    }
}

/// An opened, validated image.
#[derive(Debug, Clone)]
pub struct Image<S: Source> {
    src: S,
    header: Header,
    /// Where the tables are read from (the image, or the compressed metadata region).
    meta: MetaSpace,
    /// The dictionary of LZ4 chunks, read by the first [`Self::read_chunk`] that needs it.
    #[cfg(feature = "decode")]
    dict: core::cell::OnceCell<alloc::vec::Vec<u8>>,
    /// The dictionary of shared blocks, decoded by the first [`Self::read_chunk`] that needs it.
    #[cfg(feature = "decode")]
    block_dict: core::cell::OnceCell<Result<alloc::vec::Vec<u8>, FormatError>>,
}

/// True when `count` records of `size` bytes at `off` lie within `[start, end)`.
fn table_fits(off: u32, count: u32, size: u32, (start, end): (u32, u32)) -> bool {
    off >= start && u64::from(off) + u64::from(count) * u64::from(size) <= u64::from(end)
}

/// True when `[off, off + len)` lies within `[start, start + size)`.
fn range_within(off: u32, len: u32, start: u32, size: u32) -> bool {
    off >= start && u64::from(off) + u64::from(len) <= u64::from(start) + u64::from(size)
}

impl<S: Source> Image<S> {
    /// Opens an image: checks magic, version, `total_len` and that every table lies inside it
    /// (inside the metadata region when that is compressed; its blocks are checked when read).
    pub fn open(src: S) -> Result<Self, FormatError> {
        let len = src.len();
        if len < HEADER_SIZE {
            return Err(FormatError::TooShort);
        }
        let mut raw = [0u8; HEADER_SIZE as usize];
        src.read_at(0, &mut raw);
        let header = Header::decode(&raw)?;
        if header.version != VERSION {
            return Err(FormatError::UnsupportedVersion(header.version));
        }
        if header.total_len != len {
            return Err(FormatError::LengthMismatch);
        }
        let h = &header;
        let meta = MetaSpace::new(h, len)?;
        // A raw image's tables follow the header; a compressed region's offsets start at 0.
        let space = (
            if h.meta_compressed() { 0 } else { HEADER_SIZE },
            h.meta_end(),
        );
        let tables_ok = table_fits(h.nodes_off, h.node_count, NODE_SIZE, space)
            && table_fits(h.dirents_off, h.dirent_count, DIRENT_SIZE, space)
            && table_fits(h.chunks_off, h.chunk_count, CHUNK_RECORD_SIZE, space)
            && table_fits(h.preopens_off, h.preopen_count, PREOPEN_SIZE, space)
            && table_fits(
                h.host_aliases_off,
                h.host_alias_count,
                HOST_ALIAS_SIZE,
                space,
            )
            && table_fits(h.strings_off, h.strings_len, 1, space)
            && (h.policy_off == 0 || table_fits(h.policy_off, h.policy_len(), 1, space));
        let chunk_size_ok = h.chunk_size.is_power_of_two() && h.chunk_size <= 1 << MAX_CHUNK_LOG2;
        // After the header, up to the end of the image.
        let data = len - HEADER_SIZE;
        let dict_ok = h.dict_len == 0
            || (h.dict_len <= MAX_DICT_LEN
                && range_within(h.dict_off, h.dict_len, HEADER_SIZE, data));
        let block_dict_ok = if h.block_dict_size == 0 {
            h.block_dict_off == 0 && h.block_dict_len == 0
        } else {
            h.block_dict_size <= MAX_BLOCK_DICT_LEN
                && range_within(h.block_dict_off, h.block_dict_len, HEADER_SIZE, data)
        };
        if !tables_ok || !chunk_size_ok || !dict_ok || !block_dict_ok {
            return Err(FormatError::BadTable);
        }
        Ok(Image {
            src,
            header,
            meta,
            #[cfg(feature = "decode")]
            dict: core::cell::OnceCell::new(),
            #[cfg(feature = "decode")]
            block_dict: core::cell::OnceCell::new(),
        })
    }

    /// Fills `dst` from offset `off` of the space the table offsets point into (the one way the
    /// reader reads a table); the caller keeps the range inside a table checked by `open`.
    /// Inlined: a raw image's read stays one `read_at`, as before compressed tables existed.
    #[inline(always)]
    fn read_meta(&self, off: u32, dst: &mut [u8]) -> Result<(), FormatError> {
        self.meta.read(&self.src, off, dst)
    }

    /// The WASI policies the image carries (the default when it has no policy block).
    pub fn policies(&self) -> Result<crate::policy::Policies, FormatError> {
        let mut block = alloc::vec![0u8; self.header.policy_len() as usize];
        self.read_policy(0, &mut block)?;
        crate::policy::Policies::decode(&block)
    }

    /// Length of the WASI policy block (0 without one).
    pub fn policy_len(&self) -> u32 {
        self.header.policy_len()
    }

    /// Copies bytes `[at, at + dst.len())` of the WASI policy block into `dst`.
    pub fn read_policy(&self, at: u32, dst: &mut [u8]) -> Result<(), FormatError> {
        let len = u32::try_from(dst.len()).map_err(|_| FormatError::BadPolicy)?;
        if u64::from(at) + u64::from(len) > u64::from(self.policy_len()) {
            return Err(FormatError::BadPolicy);
        }
        self.read_meta(self.header.policy_off + at, dst)
    }

    /// The underlying source.
    pub fn source(&self) -> &S {
        &self.src
    }

    /// The decoded header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The largest chunk size any file uses (a buffer this long holds any chunk).
    pub fn chunk_size(&self) -> u32 {
        self.header.chunk_size
    }

    /// Number of nodes.
    pub fn node_count(&self) -> u32 {
        self.header.node_count
    }

    /// Number of preopens.
    pub fn preopen_count(&self) -> u32 {
        self.header.preopen_count
    }

    /// True when host preopens not named by a HostAlias are hidden (`--host-fs=deny`).
    pub fn host_fs_denied(&self) -> bool {
        self.header.flags & FLAG_HOST_FS_DENY != 0
    }

    /// Most bytes the shim's in-memory layer may take (`--max-write-memory`; 0: no limit).
    pub fn max_write_memory(&self) -> u64 {
        u64::from(self.header.max_write_kib) * 1024
    }

    /// Number of host preopen aliases.
    pub fn host_alias_count(&self) -> u32 {
        self.header.host_alias_count
    }

    /// Host preopen alias `i`, with both name ranges validated.
    pub fn host_alias(&self, i: u32) -> Result<HostAlias, FormatError> {
        if i >= self.header.host_alias_count {
            return Err(FormatError::IndexOutOfRange);
        }
        let mut r = [0u8; HOST_ALIAS_SIZE as usize];
        self.read_meta(self.header.host_aliases_off + i * HOST_ALIAS_SIZE, &mut r)?;
        let a = HostAlias::decode(&r);
        if !self.str_in_table(a.guest_off, a.guest_len)
            || !self.str_in_table(a.host_off, a.host_len)
        {
            return Err(FormatError::BadString);
        }
        Ok(a)
    }

    /// True when `[off, off + len)` lies inside the string table.
    fn str_in_table(&self, off: u32, len: u32) -> bool {
        range_within(off, len, self.header.strings_off, self.header.strings_len)
    }

    /// Preopen `i`, with its name range and directory node validated.
    pub fn preopen(&self, i: u32) -> Result<Preopen, FormatError> {
        if i >= self.header.preopen_count {
            return Err(FormatError::IndexOutOfRange);
        }
        let mut r = [0u8; PREOPEN_SIZE as usize];
        self.read_meta(self.header.preopens_off + i * PREOPEN_SIZE, &mut r)?;
        let p = Preopen::decode(&r);
        if !self.str_in_table(p.name_off, p.name_len) {
            return Err(FormatError::BadString);
        }
        if !self.node(p.node)?.is_dir() {
            return Err(FormatError::WrongKind);
        }
        Ok(p)
    }

    /// Copies the string `[off, off + len)` into `dst[..len]`.
    pub fn read_str(&self, off: u32, len: u32, dst: &mut [u8]) -> Result<(), FormatError> {
        let dst = dst.get_mut(..len as usize).ok_or(FormatError::BadString)?;
        if !self.str_in_table(off, len) {
            return Err(FormatError::BadString);
        }
        self.read_meta(off, dst)
    }

    /// The metadata space (its cache is what the tests look at).
    #[cfg(test)]
    pub(crate) fn meta(&self) -> &MetaSpace {
        &self.meta
    }

    /// Node `id`, with its kind, its chunk size and its dirent/chunk/target range validated.
    pub fn node(&self, id: u32) -> Result<Node, FormatError> {
        let h = &self.header;
        if id >= h.node_count {
            return Err(FormatError::IndexOutOfRange);
        }
        let mut r = [0u8; NODE_SIZE as usize];
        self.read_meta(h.nodes_off + id * NODE_SIZE, &mut r)?;
        let n = Node::decode(id, &r)?;
        let end = u64::from(n.a) + u64::from(n.b);
        let ok = match n.kind {
            Kind::Dir => {
                n.chunk_log2 == 0 && end <= u64::from(h.dirent_count) && n.parent < h.node_count
            }
            Kind::File => {
                // The chunk count by shifts: no division panic path.
                let whole = n.size.wrapping_shr(u32::from(n.chunk_log2));
                let part = n.size & (n.chunk_size() - 1) != 0;
                n.chunk_log2 <= MAX_CHUNK_LOG2
                    && n.chunk_size() <= u64::from(h.chunk_size)
                    && end <= u64::from(h.chunk_count)
                    && u64::from(n.b) == whole + u64::from(part)
            }
            Kind::Symlink => {
                n.chunk_log2 == 0 && u64::from(n.b) == n.size && self.str_in_table(n.a, n.b)
            }
        };
        if ok {
            Ok(n)
        } else {
            Err(FormatError::BadNode)
        }
    }

    /// Entry `index` (in name order) of directory `dir`.
    pub fn dirent(&self, dir: &Node, index: u32) -> Result<Dirent, FormatError> {
        if !dir.is_dir() {
            return Err(FormatError::WrongKind);
        }
        if index >= dir.b {
            return Err(FormatError::IndexOutOfRange);
        }
        let abs = dir
            .a
            .checked_add(index)
            .ok_or(FormatError::IndexOutOfRange)?;
        if abs >= self.header.dirent_count {
            return Err(FormatError::IndexOutOfRange);
        }
        let mut r = [0u8; DIRENT_SIZE as usize];
        self.read_meta(self.header.dirents_off + abs * DIRENT_SIZE, &mut r)?;
        let d = Dirent::decode(&r);
        if !self.str_in_table(d.name_off, d.name_len) {
            return Err(FormatError::BadString);
        }
        if d.node >= self.header.node_count {
            return Err(FormatError::IndexOutOfRange);
        }
        Ok(d)
    }

    /// Compares the stored string `[off, off + len)` with `name`, reading it in small pieces.
    fn compare_str(&self, off: u32, len: u32, name: &[u8]) -> Result<Ordering, FormatError> {
        let mut buf = [0u8; 64];
        let mut done: u32 = 0;
        while done < len {
            let n = core::cmp::min(len - done, buf.len() as u32);
            let piece = &mut buf[..n as usize];
            self.read_meta(off + done, piece)?;
            let theirs = name.get(done as usize..).unwrap_or(&[]);
            let theirs = &theirs[..core::cmp::min(theirs.len(), n as usize)];
            match (*piece).cmp(theirs) {
                Ordering::Equal => {}
                other => return Ok(other),
            }
            done += n;
        }
        Ok((len as usize).cmp(&name.len()))
    }

    /// Looks `name` up in directory `dir` by binary search; `Ok(None)` when absent.
    pub fn lookup(&self, dir: &Node, name: &[u8]) -> Result<Option<u32>, FormatError> {
        if !dir.is_dir() {
            return Err(FormatError::WrongKind);
        }
        let (mut lo, mut hi) = (0u32, dir.b);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let d = self.dirent(dir, mid)?;
            match self.compare_str(d.name_off, d.name_len, name)? {
                Ordering::Equal => return Ok(Some(d.node)),
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
            }
        }
        Ok(None)
    }

    /// Chunk `index` of file `file`, with its stored range validated (and, packed, its range
    /// within the file's chunk size, which is its block's; otherwise `block_off` is 0).
    pub fn chunk(&self, file: &Node, index: u32) -> Result<Chunk, FormatError> {
        if !file.is_file() {
            return Err(FormatError::WrongKind);
        }
        if index >= file.b {
            return Err(FormatError::IndexOutOfRange);
        }
        let abs = file
            .a
            .checked_add(index)
            .ok_or(FormatError::IndexOutOfRange)?;
        if abs >= self.header.chunk_count {
            return Err(FormatError::IndexOutOfRange);
        }
        let mut r = [0u8; CHUNK_RECORD_SIZE as usize];
        self.read_meta(self.header.chunks_off + abs * CHUNK_RECORD_SIZE, &mut r)?;
        let c = Chunk::decode(&r)?;
        let in_image = range_within(c.stored_off, c.stored_len, 0, self.header.total_len);
        let len = self.chunk_len(file, index)?;
        let fits = match c.codec {
            Codec::Raw => c.block_off == 0 && c.stored_len == len,
            Codec::Zstd | Codec::Lz4 | Codec::ZstdDict => c.block_off == 0,
            Codec::Zero => c.block_off == 0 && c.stored_off == 0 && c.stored_len == 0,
            Codec::Packed => c.block_off + len <= self.header.chunk_size,
        };
        if in_image && fits {
            Ok(c)
        } else {
            Err(FormatError::BadChunk)
        }
    }

    /// Where the dictionary of [`Codec::Lz4`] chunks is: (offset, length; 0 without one), checked
    /// by `open` to lie inside the image.
    pub fn dict_range(&self) -> (u32, u32) {
        (self.header.dict_off, self.header.dict_len)
    }

    /// Where the dictionary of shared blocks is: (offset, stored length, decompressed length; all 0
    /// without one), checked by `open` to lie inside the image.
    pub fn block_dict_range(&self) -> (u32, u32, u32) {
        let h = &self.header;
        (h.block_dict_off, h.block_dict_len, h.block_dict_size)
    }

    /// Decodes the dictionary of shared blocks into `out` (cleared first, its capacity reserved
    /// here) with `decoder`: it must decode to exactly its recorded length.
    #[cfg(feature = "decode")]
    pub fn read_block_dict(
        &self,
        decoder: &mut crate::decode::Decoder,
        scratch: &mut alloc::vec::Vec<u8>,
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<(), FormatError> {
        let (off, len, size) = self.block_dict_range();
        out.clear();
        out.try_reserve_exact(size as usize)
            .map_err(|_| FormatError::NoMemory)?;
        let got = decoder.decompress_into(&self.src, (off, len), &[], scratch, out, usize::MAX)?;
        if got != size as usize {
            return Err(FormatError::Decompress);
        }
        Ok(())
    }

    /// Index of the chunk holding byte `offset` of `file` (a node from [`Self::node`]).
    pub fn chunk_index(&self, file: &Node, offset: u64) -> u64 {
        offset.wrapping_shr(u32::from(file.chunk_log2))
    }

    /// Uncompressed length of chunk `index` of `file` (its chunk size except for the last one).
    pub fn chunk_len(&self, file: &Node, index: u32) -> Result<u32, FormatError> {
        if !file.is_file() {
            return Err(FormatError::WrongKind);
        }
        if index >= file.b {
            return Err(FormatError::IndexOutOfRange);
        }
        // A shift, not a checked multiply (in wasm32 a call of a 128-bit multiply, on the path of
        // every chunk read): `index` is below 2^32 and chunks are at most 2^MAX_CHUNK_LOG2 bytes.
        if file.chunk_log2 > MAX_CHUNK_LOG2 {
            return Err(FormatError::BadNode);
        }
        let start = u64::from(index) << file.chunk_log2;
        let rest = file.size.saturating_sub(start);
        Ok(core::cmp::min(rest, file.chunk_size()) as u32)
    }

    /// Reads chunk `index` of `file` uncompressed into `out[..len]`, returning `len` (a packed
    /// chunk decompresses its whole block).
    #[cfg(feature = "decode")]
    pub fn read_chunk(&self, file: &Node, index: u32, out: &mut [u8]) -> Result<u32, FormatError> {
        let c = self.chunk(file, index)?;
        let len = self.chunk_len(file, index)?;
        let out = out.get_mut(..len as usize).ok_or(FormatError::Decompress)?;
        if c.codec == Codec::Raw {
            self.src.read_at(c.stored_off, out);
            return Ok(len);
        }
        if c.codec == Codec::Zero {
            out.fill(0);
            return Ok(len);
        }
        if matches!(c.codec, Codec::Packed | Codec::ZstdDict) {
            self.read_packed(&c, out)?;
            return Ok(len);
        }
        let mut stored = alloc::vec![0u8; c.stored_len as usize];
        self.src.read_at(c.stored_off, &mut stored);
        if c.codec == Codec::Zstd {
            if crate::decode::decompress(&stored, out)? != out.len() {
                return Err(FormatError::Decompress);
            }
            return Ok(len);
        }
        let dict = self.dict.get_or_init(|| {
            let mut dict = alloc::vec![0u8; self.header.dict_len as usize];
            self.src.read_at(self.header.dict_off, &mut dict);
            dict
        });
        crate::lz4::decode_block(&stored, dict, out)?;
        Ok(len)
    }

    /// Fills `out` with packed chunk `c`'s bytes (or a [`Codec::ZstdDict`] chunk's, a frame of its
    /// own): its frame (read from the image a zstd block at a time, against the dictionary of
    /// shared blocks if the image has one) is decoded only up to the end of the chunk's piece (a
    /// group's frame holds later pieces).
    #[cfg(feature = "decode")]
    fn read_packed(&self, c: &Chunk, out: &mut [u8]) -> Result<(), FormatError> {
        let dict = self.block_dict.get_or_init(|| {
            let mut dict = alloc::vec::Vec::new();
            if self.header.block_dict_size != 0 {
                let mut decoder = crate::decode::Decoder::new();
                self.read_block_dict(&mut decoder, &mut alloc::vec::Vec::new(), &mut dict)?;
            }
            Ok(dict)
        });
        let start = c.block_off as usize;
        let mut block = alloc::vec::Vec::with_capacity(self.header.chunk_size as usize);
        let got = crate::decode::Decoder::new().decompress_into(
            &self.src,
            (c.stored_off, c.stored_len),
            dict.as_ref().map_err(|e| *e)?,
            &mut alloc::vec::Vec::new(),
            &mut block,
            start + out.len(),
        )?;
        let piece = block
            .get(start..start + out.len())
            .filter(|_| start + out.len() <= got);
        out.copy_from_slice(piece.ok_or(FormatError::Decompress)?);
        Ok(())
    }
}
