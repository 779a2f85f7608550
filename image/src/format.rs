//! The one definition of the image layout (docs/ARCHITECTURE.md §1): constants and fixed-size records.

use core::fmt;

mod records;
#[cfg(test)]
mod tests;

pub use records::{Chunk, Dirent, HostAlias, Node, Preopen};

/// The 8 bytes every image starts with.
pub const MAGIC: [u8; 8] = *b"WASIFS\0\x01";
/// The only image format version this crate reads and writes (10: a file's chunks may be 4 MiB,
/// [`TEXT_CHUNK_LOG2`]; 9: a chunk of zeros is stored as
/// nothing, [`CODEC_ZERO`]; 8: the dictionary of shared blocks may hold up to 2 MiB, and a chunk
/// may be a zstd frame of its own against it, [`CODEC_ZSTD_DICT`]; 7: shared blocks may be
/// compressed against a raw-content dictionary, header fields `block_dict_*`; 6: chunks read at
/// random may be LZ4 blocks against the image's dictionary, header fields `dict_*`; 5: each file
/// node records its own chunk size, small files share compressed blocks, and the tables may be
/// stored as a compressed metadata region, header fields `meta_*`; 4 added the `cache_size` header
/// field; older images are refused, re-run `wasifs rewrite`).
pub const VERSION: u32 = 10;

/// Size of the header at offset 0.
pub const HEADER_SIZE: u32 = 116;
/// Size of one Node record.
pub const NODE_SIZE: u32 = 56;
/// Size of one Dirent record.
pub const DIRENT_SIZE: u32 = 12;
/// Size of one Chunk record.
pub const CHUNK_RECORD_SIZE: u32 = 12;
/// Size of one Preopen record.
pub const PREOPEN_SIZE: u32 = 16;
/// Size of one HostAlias record.
pub const HOST_ALIAS_SIZE: u32 = 16;

/// Header flag: hide every host preopen that no HostAlias names (`--host-fs=deny`).
pub const FLAG_HOST_FS_DENY: u32 = 1;

/// Largest length (or offset) an image records: its fields are `u32`, so the image and every file
/// in it must be smaller than 4 GiB.
pub const MAX_LEN: u64 = u32::MAX as u64;

/// A length over [`MAX_LEN`] (4 GiB or more), which no image field can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge(pub u64);

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes is 4 GiB or more; an image holds less than 4 GiB",
            self.0
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TooLarge {}

/// `len` as the `u32` an image field holds, or [`TooLarge`] past [`MAX_LEN`].
pub fn len_u32(len: u64) -> Result<u32, TooLarge> {
    if len > MAX_LEN {
        return Err(TooLarge(len));
    }
    Ok(len as u32)
}

/// The image's length as its header records it (`total_len` at [`header_off::TOTAL_LEN`]); nothing
/// else is checked: [`crate::Image::open`] compares it with the real length.
pub fn total_len(header: &[u8; HEADER_SIZE as usize]) -> u32 {
    get_u32(header, header_off::TOTAL_LEN)
}

/// log2 of the uncompressed chunk size `--chunk-size auto` gives a file that fits the cache (256 KiB,
/// read a [`CHUNK_SEGMENT`] at a time: on a real source tree 9 % smaller images than 32 KiB
/// chunks, with the same time to a large file's first byte; BENCHMARKS.md, P11).
pub const DEFAULT_CHUNK_LOG2: u8 = 18;
/// Uncompressed size of such a chunk, `1 << DEFAULT_CHUNK_LOG2` (the header's without files).
pub const DEFAULT_CHUNK_SIZE: u32 = 1 << DEFAULT_CHUNK_LOG2;
/// A compressed chunk larger than this is one zstd frame that ends a zstd block every this many
/// bytes (one window: on real sources 5 % smaller than one zstd block per 64 KiB chunk, even): a
/// reader decodes a chunk's first segments only, whole segments (a read near the start of a
/// 256 KiB chunk decodes 32 KiB; BENCHMARKS.md, P11).
pub const CHUNK_SEGMENT: u32 = 32 * 1024;
/// log2 of the chunks of a file the shim creates, or cuts to 0 bytes (32 KiB: what a write copies
/// at most).
pub const NEW_FILE_CHUNK_LOG2: u8 = 15;
/// log2 of the chunk size of files too large to stay cached (4 KiB, a common database page): read
/// at random, a small chunk costs less to decompress (BENCHMARKS.md, P9: 4 KiB reads 1.3x faster
/// than with 8 KiB chunks for +2 % on such files).
pub const SMALL_CHUNK_LOG2: u8 = 12;
/// log2 of the chunks of a file read whole (1 MiB: executables, archives, wasm modules), of the
/// largest `--chunk-size`, and of the most bytes in a shared frame (a block of small files, a
/// group's or a pair's frame).
pub const WHOLE_CHUNK_LOG2: u8 = 20;
/// log2 of the largest chunks of text larger than the cache (4 MiB, given from a 32 MiB cache:
/// text gets an eighth of the cache, at least 1 MiB), which is read through from its start: each
/// chunk is one zstd frame whose window holds all of it, as `tar.zst`'s window holds the repeats
/// of a file's text that lie a few MiB apart (the bench's `realtext`: 1.22× `tar.zst` in 1 MiB
/// chunks, 1.03× in 4 MiB ones; bench/NOTES.md). A read at random decodes up to the segment it
/// falls in, 2 MiB on average; `--random-access` gives such a file small chunks.
pub const TEXT_CHUNK_LOG2: u8 = 22;
/// log2 of the largest chunk size a file may record ([`TEXT_CHUNK_LOG2`]).
pub const MAX_CHUNK_LOG2: u8 = TEXT_CHUNK_LOG2;

/// Files smaller than this are packed together into shared blocks when compressed (the way
/// squashfs packs fragments): one zstd frame for many small files compresses far better than a
/// frame each (BENCHMARKS.md, P11).
pub const PACK_BELOW: u64 = 16 * 1024;
/// log2 of the most uncompressed bytes the builder puts in one shared block (128 KiB): what a read
/// of one small file may decompress (BENCHMARKS.md, P5/P11). A packed file records its block's
/// size as its chunk size (node byte 1: one chunk either way), so readers learn it from the node.
pub const BLOCK_LOG2: u8 = 17;
/// Most uncompressed bytes the builder puts in one shared block, `1 << BLOCK_LOG2`.
pub const BLOCK_SIZE: u32 = 1 << BLOCK_LOG2;
/// Largest in-block offset a chunk record holds (24 bits).
pub const MAX_BLOCK_OFF: u32 = (1 << 24) - 1;

/// Default budget of the shim's cache of decompressed chunks (header `cache_size`).
pub const DEFAULT_CACHE_SIZE: u32 = 8 * 1024 * 1024;

/// Block size of a compressed metadata region the builder writes (8 KiB: on 50,000 tiny files the
/// image is 3.8 % larger than with 16 KiB blocks, but opening one file decodes 42 % fewer wasm
/// instructions, 25 % less time on wasmtime; bench/NOTES.md, docs/ARCHITECTURE.md §1).
pub const DEFAULT_META_BLOCK_SIZE: u32 = 8 * 1024;
/// Smallest block size of a compressed metadata region (a power of two).
pub const MIN_META_BLOCK_SIZE: u32 = 512;
/// Largest block size of a compressed metadata region (a power of two).
pub const MAX_META_BLOCK_SIZE: u32 = 1 << 20;

/// Header field offsets (bytes from the start of the image).
pub mod header_off {
    /// `magic`, 8 bytes.
    pub const MAGIC: usize = 0;
    /// `version` u32.
    pub const VERSION: usize = 8;
    /// `total_len` u32: length of the whole image.
    pub const TOTAL_LEN: usize = 12;
    /// `node_count` u32.
    pub const NODE_COUNT: usize = 16;
    /// `nodes_off` u32.
    pub const NODES_OFF: usize = 20;
    /// `dirents_off` u32.
    pub const DIRENTS_OFF: usize = 24;
    /// `dirent_count` u32.
    pub const DIRENT_COUNT: usize = 28;
    /// `strings_off` u32.
    pub const STRINGS_OFF: usize = 32;
    /// `strings_len` u32.
    pub const STRINGS_LEN: usize = 36;
    /// `chunks_off` u32.
    pub const CHUNKS_OFF: usize = 40;
    /// `chunk_count` u32.
    pub const CHUNK_COUNT: usize = 44;
    /// `preopens_off` u32.
    pub const PREOPENS_OFF: usize = 48;
    /// `preopen_count` u32.
    pub const PREOPEN_COUNT: usize = 52;
    /// `chunk_size` u32: the largest chunk size any file uses (a power of two, at most
    /// `1 << MAX_CHUNK_LOG2`; version 5).
    pub const CHUNK_SIZE: usize = 56;
    /// `flags` u32: [`super::FLAG_HOST_FS_DENY`]; other bits 0.
    pub const FLAGS: usize = 60;
    /// `host_aliases_off` u32: offset of the HostAlias table.
    pub const HOST_ALIASES_OFF: usize = 64;
    /// `host_alias_count` u32.
    pub const HOST_ALIAS_COUNT: usize = 68;
    /// `max_write_kib` u32: most KiB the shim's in-memory layer may take (0: no limit).
    pub const MAX_WRITE_KIB: usize = 72;
    /// `policy_off` u32: offset of the WASI policy block ([`crate::policy`]; version 3), which runs
    /// to the end of the image; 0: every policy is the default.
    pub const POLICY_OFF: usize = 76;
    /// `cache_size` u32: bytes of decompressed chunks the reader may keep (at least one chunk;
    /// version 4).
    pub const CACHE_SIZE: usize = 80;
    /// `meta_block_size` u32: 0 when the tables are stored raw (table offsets are image offsets);
    /// else the block size of the compressed metadata region (table offsets are offsets in its
    /// `meta_len` decompressed bytes; version 5).
    pub const META_BLOCK_SIZE: usize = 84;
    /// `meta_len` u32: decompressed length of the metadata region (0 when stored raw).
    pub const META_LEN: usize = 88;
    /// `meta_index_off` u32: offset of the region's block index, `ceil(meta_len / block size) + 1`
    /// u32 image offsets; block `i` is stored at `[index[i], index[i + 1])`, raw when that is as
    /// long as the block, else one zstd frame (0 when stored raw).
    pub const META_INDEX_OFF: usize = 92;
    /// `dict_off` u32: offset of the dictionary of [`super::CODEC_LZ4`] chunks (0: none; version 6).
    pub const DICT_OFF: usize = 96;
    /// `dict_len` u32: its length, at most [`super::MAX_DICT_LEN`].
    pub const DICT_LEN: usize = 100;
    /// `block_dict_off` u32: offset of the dictionary of shared blocks, one zstd frame (0: none;
    /// version 7).
    pub const BLOCK_DICT_OFF: usize = 104;
    /// `block_dict_len` u32: its stored length.
    pub const BLOCK_DICT_LEN: usize = 108;
    /// `block_dict_size` u32: its decompressed length, at most [`super::MAX_BLOCK_DICT_LEN`].
    pub const BLOCK_DICT_SIZE: usize = 112;
}

/// Node `kind` byte of a directory.
pub const KIND_DIR: u8 = 1;
/// Node `kind` byte of a regular file.
pub const KIND_FILE: u8 = 2;
/// Node `kind` byte of a symbolic link.
pub const KIND_SYMLINK: u8 = 3;

/// Chunk `codec` of data stored uncompressed.
pub const CODEC_RAW: u8 = 0;
/// Chunk `codec` of data stored as one zstd frame.
pub const CODEC_ZSTD: u8 = 1;
/// Chunk `codec` of a piece of a shared frame: the stored bytes are one zstd frame of at most the
/// header's `chunk_size` holding several files' pieces (small files in a block of [`BLOCK_SIZE`]
/// as built, or one chunk of each file of a group of similar files), and the chunk is its bytes
/// from `block_off`. The frame is compressed against the dictionary of shared blocks when
/// the image has one (header `block_dict_*`).
pub const CODEC_PACKED: u8 = 2;

/// Chunk `codec` of an LZ4 block (no frame) whose matches may reach into the image's dictionary
/// (header `dict_off`, `dict_len`: the bytes just before the chunk's first); it decodes to exactly
/// the chunk's length (version 6). The builder uses it for chunks of at most 4 KiB, read at random.
pub const CODEC_LZ4: u8 = 3;
/// Chunk `codec` of one zstd frame of the chunk alone, compressed against the dictionary of shared
/// blocks (header `block_dict_*`; version 8). The builder uses it for files of 16 KiB to 1 MiB
/// read whole, when the image has that dictionary.
pub const CODEC_ZSTD_DICT: u8 = 4;
/// Chunk `codec` of a chunk whose bytes are all zeros: nothing is stored (`stored_off` and
/// `stored_len` 0; version 9), and readers serve it without decoding or caching anything (the
/// holes of a sparse file, a database's or disk image's unused space).
pub const CODEC_ZERO: u8 = 5;
/// Longest dictionary of shared blocks (decompressed): raw zstd history every [`CODEC_PACKED`]
/// frame may reference, held by the reader from the first such frame it decodes.
pub const MAX_BLOCK_DICT_LEN: u32 = 2 << 20;
/// Longest dictionary an image may carry: what an LZ4 match (offset < 64 KiB) can reach from the
/// start of a 4 KiB chunk.
pub const MAX_DICT_LEN: u32 = 60 * 1024;

/// Preopen `flags` bit: the mount is read-only.
pub const PREOPEN_FLAG_READONLY: u32 = 1;

/// Everything that can be wrong with an image; the reader never panics on bad input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// The image is shorter than its header.
    TooShort,
    /// The image does not start with [`MAGIC`].
    BadMagic,
    /// The header names a version other than [`VERSION`].
    UnsupportedVersion(u32),
    /// The header's `total_len` is not the length of the image.
    LengthMismatch,
    /// A table (or the chunk size) described by the header does not fit in the image.
    BadTable,
    /// A node, dirent, chunk or preopen index is out of range.
    IndexOutOfRange,
    /// A string range lies outside the string table, or the destination buffer is too small.
    BadString,
    /// A node record has an unknown kind or inconsistent fields.
    BadNode,
    /// A chunk record has an unknown codec or lies outside the image.
    BadChunk,
    /// An operation was asked of a node of the wrong kind (e.g. a dirent of a file).
    WrongKind,
    /// Decompressing a chunk or a metadata block failed or produced the wrong length.
    Decompress,
    /// The WASI policy block is malformed.
    BadPolicy,
    /// The tables are compressed and this reader was built without the `decode` feature.
    NeedsDecoder,
    /// No memory for a decompressed metadata block.
    NoMemory,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::TooShort => f.write_str("image shorter than its header"),
            FormatError::BadMagic => f.write_str("not a wasifs image (bad magic)"),
            FormatError::UnsupportedVersion(v) => write!(
                f,
                "image format version {v}, but this wasifs reads only version {VERSION}: \
                 rewrite the module from its original with this wasifs"
            ),
            FormatError::LengthMismatch => f.write_str("image length does not match its header"),
            FormatError::BadTable => f.write_str("image table out of bounds"),
            FormatError::IndexOutOfRange => f.write_str("image record index out of range"),
            FormatError::BadString => f.write_str("image string out of bounds"),
            FormatError::BadNode => f.write_str("corrupt image node"),
            FormatError::BadChunk => f.write_str("corrupt image chunk"),
            FormatError::WrongKind => f.write_str("image node of the wrong kind"),
            FormatError::Decompress => {
                f.write_str("image chunk or metadata block failed to decompress")
            }
            FormatError::BadPolicy => f.write_str("corrupt image WASI policy block"),
            FormatError::NeedsDecoder => f.write_str(
                "image tables are compressed, but this reader was built without the decode feature",
            ),
            FormatError::NoMemory => {
                f.write_str("no memory for a decompressed image metadata block")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FormatError {}

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A directory; `a`/`b` = first dirent index and count.
    Dir,
    /// A regular file; `a`/`b` = first chunk index and count.
    File,
    /// A symbolic link; `a`/`b` = target string offset and length.
    Symlink,
}

impl Kind {
    /// The `kind` byte stored in a node record.
    pub fn to_byte(self) -> u8 {
        match self {
            Kind::Dir => KIND_DIR,
            Kind::File => KIND_FILE,
            Kind::Symlink => KIND_SYMLINK,
        }
    }

    /// Parses a `kind` byte.
    pub fn from_byte(b: u8) -> Result<Self, FormatError> {
        match b {
            KIND_DIR => Ok(Kind::Dir),
            KIND_FILE => Ok(Kind::File),
            KIND_SYMLINK => Ok(Kind::Symlink),
            _ => Err(FormatError::BadNode),
        }
    }
}

/// How a chunk's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Stored uncompressed.
    Raw,
    /// One zstd frame.
    Zstd,
    /// Inside a shared frame, against the block dictionary if any ([`CODEC_PACKED`]).
    Packed,
    /// One LZ4 block against the image's dictionary ([`CODEC_LZ4`]).
    Lz4,
    /// One zstd frame against the block dictionary ([`CODEC_ZSTD_DICT`]).
    ZstdDict,
    /// All zeros, nothing stored ([`CODEC_ZERO`]).
    Zero,
}

impl Codec {
    /// The `codec` byte stored in a chunk record.
    pub fn to_byte(self) -> u8 {
        match self {
            Codec::Raw => CODEC_RAW,
            Codec::Zstd => CODEC_ZSTD,
            Codec::Packed => CODEC_PACKED,
            Codec::Lz4 => CODEC_LZ4,
            Codec::ZstdDict => CODEC_ZSTD_DICT,
            Codec::Zero => CODEC_ZERO,
        }
    }

    /// Parses a `codec` byte.
    pub fn from_byte(v: u8) -> Result<Self, FormatError> {
        match v {
            CODEC_RAW => Ok(Codec::Raw),
            CODEC_ZSTD => Ok(Codec::Zstd),
            CODEC_PACKED => Ok(Codec::Packed),
            CODEC_LZ4 => Ok(Codec::Lz4),
            CODEC_ZSTD_DICT => Ok(Codec::ZstdDict),
            CODEC_ZERO => Ok(Codec::Zero),
            _ => Err(FormatError::BadChunk),
        }
    }
}

fn get_u16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn get_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn get_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// The header at offset 0 ([`HEADER_SIZE`] bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// Length of the whole image.
    pub total_len: u32,
    /// Number of Node records.
    pub node_count: u32,
    /// Offset of the Node table.
    pub nodes_off: u32,
    /// Offset of the Dirent table.
    pub dirents_off: u32,
    /// Number of Dirent records.
    pub dirent_count: u32,
    /// Offset of the string table.
    pub strings_off: u32,
    /// Length of the string table.
    pub strings_len: u32,
    /// Offset of the Chunk table.
    pub chunks_off: u32,
    /// Number of Chunk records.
    pub chunk_count: u32,
    /// Offset of the Preopen table.
    pub preopens_off: u32,
    /// Number of Preopen records.
    pub preopen_count: u32,
    /// The largest chunk size any file uses (a power of two; each file records its own).
    pub chunk_size: u32,
    /// Policy flags ([`FLAG_HOST_FS_DENY`]); other bits are 0.
    pub flags: u32,
    /// Offset of the HostAlias table.
    pub host_aliases_off: u32,
    /// Number of HostAlias records.
    pub host_alias_count: u32,
    /// Most KiB the shim's in-memory (writable) layer may take, `--max-write-memory` (0: no limit
    /// but the address space).
    pub max_write_kib: u32,
    /// Offset of the WASI policy block, which runs to `total_len` (0: default policies).
    pub policy_off: u32,
    /// Bytes of decompressed chunks the reader may keep cached (it keeps at least one chunk).
    pub cache_size: u32,
    /// Block size of the compressed metadata region; 0: the tables are stored raw.
    pub meta_block_size: u32,
    /// Decompressed length of the metadata region (0 when stored raw).
    pub meta_len: u32,
    /// Offset of the metadata region's block index (0 when stored raw).
    pub meta_index_off: u32,
    /// Offset of the dictionary of LZ4 chunks (0: none).
    pub dict_off: u32,
    /// Length of that dictionary.
    pub dict_len: u32,
    /// Offset of the dictionary of shared blocks, a zstd frame (0: none).
    pub block_dict_off: u32,
    /// Stored length of that dictionary.
    pub block_dict_len: u32,
    /// Decompressed length of that dictionary.
    pub block_dict_size: u32,
}

impl Header {
    /// True when the tables are stored as a compressed metadata region.
    pub fn meta_compressed(&self) -> bool {
        self.meta_block_size != 0
    }

    /// The end of the space the table offsets point into: `meta_len` for a compressed region,
    /// else `total_len` (the image itself).
    pub fn meta_end(&self) -> u32 {
        if self.meta_compressed() {
            self.meta_len
        } else {
            self.total_len
        }
    }

    /// The length of the WASI policy block, which runs to [`Header::meta_end`] (0 without one).
    pub fn policy_len(&self) -> u32 {
        if self.policy_off == 0 {
            0
        } else {
            self.meta_end().saturating_sub(self.policy_off)
        }
    }
}

impl Header {
    /// Encodes the header, magic included.
    pub fn encode(&self) -> [u8; HEADER_SIZE as usize] {
        use header_off as o;
        let mut b = [0u8; HEADER_SIZE as usize];
        b[o::MAGIC..o::MAGIC + 8].copy_from_slice(&MAGIC);
        put_u32(&mut b, o::VERSION, self.version);
        put_u32(&mut b, o::TOTAL_LEN, self.total_len);
        put_u32(&mut b, o::NODE_COUNT, self.node_count);
        put_u32(&mut b, o::NODES_OFF, self.nodes_off);
        put_u32(&mut b, o::DIRENTS_OFF, self.dirents_off);
        put_u32(&mut b, o::DIRENT_COUNT, self.dirent_count);
        put_u32(&mut b, o::STRINGS_OFF, self.strings_off);
        put_u32(&mut b, o::STRINGS_LEN, self.strings_len);
        put_u32(&mut b, o::CHUNKS_OFF, self.chunks_off);
        put_u32(&mut b, o::CHUNK_COUNT, self.chunk_count);
        put_u32(&mut b, o::PREOPENS_OFF, self.preopens_off);
        put_u32(&mut b, o::PREOPEN_COUNT, self.preopen_count);
        put_u32(&mut b, o::CHUNK_SIZE, self.chunk_size);
        put_u32(&mut b, o::FLAGS, self.flags);
        put_u32(&mut b, o::HOST_ALIASES_OFF, self.host_aliases_off);
        put_u32(&mut b, o::HOST_ALIAS_COUNT, self.host_alias_count);
        put_u32(&mut b, o::MAX_WRITE_KIB, self.max_write_kib);
        put_u32(&mut b, o::POLICY_OFF, self.policy_off);
        put_u32(&mut b, o::CACHE_SIZE, self.cache_size);
        put_u32(&mut b, o::META_BLOCK_SIZE, self.meta_block_size);
        put_u32(&mut b, o::META_LEN, self.meta_len);
        put_u32(&mut b, o::META_INDEX_OFF, self.meta_index_off);
        put_u32(&mut b, o::DICT_OFF, self.dict_off);
        put_u32(&mut b, o::DICT_LEN, self.dict_len);
        put_u32(&mut b, o::BLOCK_DICT_OFF, self.block_dict_off);
        put_u32(&mut b, o::BLOCK_DICT_LEN, self.block_dict_len);
        put_u32(&mut b, o::BLOCK_DICT_SIZE, self.block_dict_size);
        b
    }

    /// Decodes a header, checking only the magic (the reader validates the rest).
    pub fn decode(b: &[u8; HEADER_SIZE as usize]) -> Result<Self, FormatError> {
        use header_off as o;
        if b[o::MAGIC..o::MAGIC + 8] != MAGIC {
            return Err(FormatError::BadMagic);
        }
        Ok(Header {
            version: get_u32(b, o::VERSION),
            total_len: get_u32(b, o::TOTAL_LEN),
            node_count: get_u32(b, o::NODE_COUNT),
            nodes_off: get_u32(b, o::NODES_OFF),
            dirents_off: get_u32(b, o::DIRENTS_OFF),
            dirent_count: get_u32(b, o::DIRENT_COUNT),
            strings_off: get_u32(b, o::STRINGS_OFF),
            strings_len: get_u32(b, o::STRINGS_LEN),
            chunks_off: get_u32(b, o::CHUNKS_OFF),
            chunk_count: get_u32(b, o::CHUNK_COUNT),
            preopens_off: get_u32(b, o::PREOPENS_OFF),
            preopen_count: get_u32(b, o::PREOPEN_COUNT),
            chunk_size: get_u32(b, o::CHUNK_SIZE),
            flags: get_u32(b, o::FLAGS),
            host_aliases_off: get_u32(b, o::HOST_ALIASES_OFF),
            host_alias_count: get_u32(b, o::HOST_ALIAS_COUNT),
            max_write_kib: get_u32(b, o::MAX_WRITE_KIB),
            policy_off: get_u32(b, o::POLICY_OFF),
            cache_size: get_u32(b, o::CACHE_SIZE),
            meta_block_size: get_u32(b, o::META_BLOCK_SIZE),
            meta_len: get_u32(b, o::META_LEN),
            meta_index_off: get_u32(b, o::META_INDEX_OFF),
            dict_off: get_u32(b, o::DICT_OFF),
            dict_len: get_u32(b, o::DICT_LEN),
            block_dict_off: get_u32(b, o::BLOCK_DICT_OFF),
            block_dict_len: get_u32(b, o::BLOCK_DICT_LEN),
            block_dict_size: get_u32(b, o::BLOCK_DICT_SIZE),
        })
    }
}
