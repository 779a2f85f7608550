//! The fixed-size table records (Node, Dirent, Chunk, Preopen, HostAlias) and their little-endian encoding.

use super::{
    get_u16, get_u32, get_u64, put_u32, put_u64, Codec, FormatError, Kind, CHUNK_RECORD_SIZE,
    DIRENT_SIZE, HOST_ALIAS_SIZE, MAX_BLOCK_OFF, NODE_SIZE, PREOPEN_FLAG_READONLY, PREOPEN_SIZE,
};

/// One Node record (56 bytes); `id` is its index and is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// Node id (index in the node table).
    pub id: u32,
    /// Directory, file or symlink.
    pub kind: Kind,
    /// Files: log2 of the uncompressed size of every chunk but the last (byte 1; version 5);
    /// others: 0.
    pub chunk_log2: u8,
    /// Permission bits.
    pub mode: u16,
    /// Link count.
    pub nlink: u32,
    /// File length; symlink target length; 0 for a directory.
    pub size: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: u64,
    /// Access time, ns since the epoch.
    pub atime_ns: u64,
    /// Status-change time, ns since the epoch.
    pub ctime_ns: u64,
    /// Directories: the parent directory (a root is its own parent); others: 0.
    pub parent: u32,
    /// Dir: first dirent index; file: first chunk index; symlink: target string offset.
    pub a: u32,
    /// Dir: dirent count; file: chunk count; symlink: target length.
    pub b: u32,
}

impl Node {
    /// Encodes the record.
    pub fn encode(&self) -> [u8; NODE_SIZE as usize] {
        let mut r = [0u8; NODE_SIZE as usize];
        r[0] = self.kind.to_byte();
        r[1] = self.chunk_log2;
        r[2..4].copy_from_slice(&self.mode.to_le_bytes());
        put_u32(&mut r, 4, self.nlink);
        put_u64(&mut r, 8, self.size);
        put_u64(&mut r, 16, self.mtime_ns);
        put_u64(&mut r, 24, self.atime_ns);
        put_u64(&mut r, 32, self.ctime_ns);
        put_u32(&mut r, 40, self.parent);
        put_u32(&mut r, 44, self.a);
        put_u32(&mut r, 48, self.b);
        r
    }

    /// Decodes the record of node `id`; fails on an unknown kind.
    pub fn decode(id: u32, r: &[u8; NODE_SIZE as usize]) -> Result<Self, FormatError> {
        Ok(Node {
            id,
            kind: Kind::from_byte(r[0])?,
            chunk_log2: r[1],
            mode: get_u16(r, 2),
            nlink: get_u32(r, 4),
            size: get_u64(r, 8),
            mtime_ns: get_u64(r, 16),
            atime_ns: get_u64(r, 24),
            ctime_ns: get_u64(r, 32),
            parent: get_u32(r, 40),
            a: get_u32(r, 44),
            b: get_u32(r, 48),
        })
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }

    /// True for a regular file.
    pub fn is_file(&self) -> bool {
        self.kind == Kind::File
    }

    /// True for a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.kind == Kind::Symlink
    }

    /// Uncompressed size of every chunk of a file but its last, `1 << chunk_log2` (no panic path;
    /// the reader checks `chunk_log2`).
    pub fn chunk_size(&self) -> u64 {
        1u64.wrapping_shl(u32::from(self.chunk_log2))
    }

    /// Inode number: node id + 1, never 0.
    pub fn ino(&self) -> u64 {
        u64::from(self.id) + 1
    }
}

/// One Dirent record (12 bytes): a name in a directory and the node it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dirent {
    /// Absolute image offset of the name (inside the string table).
    pub name_off: u32,
    /// Length of the name in bytes.
    pub name_len: u32,
    /// The node it names.
    pub node: u32,
}

impl Dirent {
    /// Encodes the record.
    pub fn encode(&self) -> [u8; DIRENT_SIZE as usize] {
        let mut r = [0u8; DIRENT_SIZE as usize];
        put_u32(&mut r, 0, self.name_off);
        put_u32(&mut r, 4, self.name_len);
        put_u32(&mut r, 8, self.node);
        r
    }

    /// Decodes the record.
    pub fn decode(r: &[u8; DIRENT_SIZE as usize]) -> Self {
        Dirent {
            name_off: get_u32(r, 0),
            name_len: get_u32(r, 4),
            node: get_u32(r, 8),
        }
    }
}

/// One Chunk record (12 bytes): where a piece of file data is stored and how. A [`Codec::Packed`]
/// chunk's stored bytes are the whole shared block (every file in it names the same range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Absolute image offset of the stored bytes.
    pub stored_off: u32,
    /// Number of stored bytes.
    pub stored_len: u32,
    /// Raw, zstd, or packed in a shared block.
    pub codec: Codec,
    /// Packed: where the chunk starts in the decompressed block (24 bits); otherwise 0.
    pub block_off: u32,
}

impl Chunk {
    /// Encodes the record: `codec` in byte 8, `block_off` in bytes 9..12 (little-endian).
    pub fn encode(&self) -> [u8; CHUNK_RECORD_SIZE as usize] {
        let mut r = [0u8; CHUNK_RECORD_SIZE as usize];
        put_u32(&mut r, 0, self.stored_off);
        put_u32(&mut r, 4, self.stored_len);
        put_u32(&mut r, 8, (self.block_off & MAX_BLOCK_OFF) << 8);
        r[8] = self.codec.to_byte();
        r
    }

    /// Decodes the record; fails on an unknown codec.
    pub fn decode(r: &[u8; CHUNK_RECORD_SIZE as usize]) -> Result<Self, FormatError> {
        Ok(Chunk {
            stored_off: get_u32(r, 0),
            stored_len: get_u32(r, 4),
            codec: Codec::from_byte(r[8])?,
            block_off: get_u32(r, 8) >> 8,
        })
    }
}

/// One Preopen record (16 bytes): a directory the guest sees as a preopened fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preopen {
    /// Absolute image offset of the preopen name (inside the string table).
    pub name_off: u32,
    /// Length of the name in bytes.
    pub name_len: u32,
    /// The directory node.
    pub node: u32,
    /// True when the mount is read-only (flags bit 0).
    pub readonly: bool,
}

impl Preopen {
    /// Encodes the record.
    pub fn encode(&self) -> [u8; PREOPEN_SIZE as usize] {
        let mut r = [0u8; PREOPEN_SIZE as usize];
        put_u32(&mut r, 0, self.name_off);
        put_u32(&mut r, 4, self.name_len);
        put_u32(&mut r, 8, self.node);
        put_u32(
            &mut r,
            12,
            if self.readonly {
                PREOPEN_FLAG_READONLY
            } else {
                0
            },
        );
        r
    }

    /// Decodes the record.
    pub fn decode(r: &[u8; PREOPEN_SIZE as usize]) -> Self {
        Preopen {
            name_off: get_u32(r, 0),
            name_len: get_u32(r, 4),
            node: get_u32(r, 8),
            readonly: get_u32(r, 12) & PREOPEN_FLAG_READONLY != 0,
        }
    }
}

/// One HostAlias record (16 bytes): the host preopen named `host` is shown to the app as `guest`
/// (`--preopen GUEST=HOST`). Both names are absolute string-table ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostAlias {
    /// Offset of the name the app sees.
    pub guest_off: u32,
    /// Length of the name the app sees.
    pub guest_len: u32,
    /// Offset of the name the runtime gives the preopen.
    pub host_off: u32,
    /// Length of the name the runtime gives the preopen.
    pub host_len: u32,
}

impl HostAlias {
    /// Encodes the record.
    pub fn encode(&self) -> [u8; HOST_ALIAS_SIZE as usize] {
        let mut r = [0u8; HOST_ALIAS_SIZE as usize];
        put_u32(&mut r, 0, self.guest_off);
        put_u32(&mut r, 4, self.guest_len);
        put_u32(&mut r, 8, self.host_off);
        put_u32(&mut r, 12, self.host_len);
        r
    }

    /// Decodes the record.
    pub fn decode(r: &[u8; HOST_ALIAS_SIZE as usize]) -> Self {
        HostAlias {
            guest_off: get_u32(r, 0),
            guest_len: get_u32(r, 4),
            host_off: get_u32(r, 8),
            host_len: get_u32(r, 12),
        }
    }
}
