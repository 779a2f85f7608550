//! The host-side image builder: an in-memory tree, laid out deterministically and zstd-compressed per
//! chunk on several threads, streamed from the host files and deduplicated.

use std::boxed::Box;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::string::{String, ToString};
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::vec::Vec;

use crate::format::{
    Chunk, Codec, Dirent, Header, HostAlias, Kind, Node, Preopen, CHUNK_RECORD_SIZE,
    DEFAULT_CHUNK_SIZE, DIRENT_SIZE, FLAG_HOST_FS_DENY, HEADER_SIZE, HOST_ALIAS_SIZE, NODE_SIZE,
    PREOPEN_SIZE, VERSION,
};

/// Highest zstd level accepted (0 means "store raw").
pub const MAX_LEVEL: i32 = 22;
/// Largest accepted chunk size (1 GiB); the shim allocates one chunk-sized buffer.
pub const MAX_CHUNK_SIZE: u32 = 1 << 30;

/// How the builder compresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOptions {
    /// zstd level 1..=22; 0 stores every chunk raw.
    pub level: i32,
    /// Uncompressed size of every chunk of a file except its last.
    pub chunk_size: u32,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            level: 3,
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

/// Permission bits and timestamps of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits (masked to 0o7777).
    pub mode: u16,
    /// Modification time, ns since the epoch.
    pub mtime_ns: u64,
    /// Access time, ns since the epoch.
    pub atime_ns: u64,
    /// Status-change time, ns since the epoch.
    pub ctime_ns: u64,
}

impl Default for Meta {
    fn default() -> Self {
        Meta {
            mode: 0o755,
            mtime_ns: 0,
            atime_ns: 0,
            ctime_ns: 0,
        }
    }
}

/// Where a file's contents come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileData {
    /// A host file, read while the image is written (never held whole in memory).
    Path(PathBuf),
    /// Bytes in memory.
    Bytes(Vec<u8>),
}

/// A node of the tree being built (valid only for the builder that returned it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeRef(u32);

/// Counts of what the image holds (hard links counted once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BuildStats {
    /// Regular files.
    pub files: u64,
    /// Directories, roots included.
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Total uncompressed bytes of file data.
    pub data_len: u64,
}

/// Why an image could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// `level` or `chunk_size` out of range.
    InvalidOptions(String),
    /// A name that cannot be a directory entry (empty, `.`, `..`, or containing `/` or NUL).
    InvalidName(Vec<u8>),
    /// A directory already has an entry with this name.
    Duplicate(Vec<u8>),
    /// A node used as a parent or preopen is not a directory.
    NotADirectory,
    /// A hard link target is a directory.
    LinkToDirectory,
    /// A `NodeRef` from another builder.
    UnknownNode,
    /// A file is 4 GiB or larger.
    FileTooLarge {
        /// The host path (or the entry name for in-memory data).
        what: String,
        /// Its length in bytes.
        size: u64,
    },
    /// The image would be 4 GiB or larger.
    ImageTooLarge,
    /// A host file's length changed between adding it and reading it.
    SizeChanged {
        /// The host file.
        path: PathBuf,
        /// Its length when it was added.
        expected: u64,
    },
    /// Reading a host file failed.
    Io {
        /// The host file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// zstd failed.
    Compress(io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidOptions(m) => write!(f, "invalid image options: {m}"),
            BuildError::InvalidName(n) => {
                write!(f, "invalid name {:?} for a directory entry", String::from_utf8_lossy(n))
            }
            BuildError::Duplicate(n) => write!(f, "duplicate name {:?} in a directory", String::from_utf8_lossy(n)),
            BuildError::NotADirectory => f.write_str("parent or preopen node is not a directory"),
            BuildError::LinkToDirectory => f.write_str("cannot hard-link a directory"),
            BuildError::UnknownNode => f.write_str("node reference from another image builder"),
            BuildError::FileTooLarge { what, size } => {
                write!(f, "{what}: file of {size} bytes is too large (the image holds files under 4 GiB)")
            }
            BuildError::ImageTooLarge => f.write_str("image would be 4 GiB or larger; mount less or compress more"),
            BuildError::SizeChanged { path, expected } => write!(
                f,
                "{}: file changed size while being read (expected {expected} bytes); retry when it is not being written",
                path.display()
            ),
            BuildError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            BuildError::Compress(e) => write!(f, "zstd compression failed: {e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Io { source, .. } | BuildError::Compress(source) => Some(source),
            _ => None,
        }
    }
}

/// What a builder node holds.
#[derive(Debug)]
enum Body {
    Dir {
        parent: NodeRef,
        children: BTreeMap<Vec<u8>, NodeRef>,
    },
    File {
        data: FileData,
        size: u64,
    },
    Symlink {
        target: Vec<u8>,
    },
}

#[derive(Debug)]
struct BNode {
    meta: Meta,
    body: Body,
}

/// Builds an image in memory; see the crate docs for the layout.
#[derive(Debug)]
pub struct ImageBuilder {
    opts: BuildOptions,
    nodes: Vec<BNode>,
    roots: Vec<NodeRef>,
    shared_root: Option<NodeRef>,
    preopens: Vec<(Vec<u8>, NodeRef, bool)>,
    /// Host preopens shown under another name: (guest name, host name).
    host_aliases: Vec<(Vec<u8>, Vec<u8>)>,
    /// Hide host preopens that no alias names.
    host_fs_deny: bool,
    /// `--max-write-memory` in KiB (0: no limit).
    max_write_kib: u32,
    /// Compression threads; 0 = one per available core. Never changes the output.
    threads: usize,
}

/// Checks that `name` can be a directory entry.
fn check_name(name: &[u8]) -> Result<(), BuildError> {
    if name.is_empty() || name == b"." || name == b".." || name.iter().any(|&b| b == b'/' || b == 0)
    {
        return Err(BuildError::InvalidName(name.to_vec()));
    }
    Ok(())
}

/// Reads into `buf` until it is full or the file ends; returns the bytes read.
fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match f.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Deduplicated string table, offsets relative to its start.
#[derive(Default)]
struct Strings {
    bytes: Vec<u8>,
    seen: BTreeMap<Vec<u8>, u32>,
}

impl Strings {
    fn intern(&mut self, s: &[u8]) -> Result<(u32, u32), BuildError> {
        let len = u32::try_from(s.len()).map_err(|_| BuildError::ImageTooLarge)?;
        if let Some(&off) = self.seen.get(s) {
            return Ok((off, len));
        }
        let off = u32::try_from(self.bytes.len()).map_err(|_| BuildError::ImageTooLarge)?;
        self.bytes.extend_from_slice(s);
        self.seen.insert(s.to_vec(), off);
        Ok((off, len))
    }
}

/// Converts a byte count to an image offset, failing past 4 GiB.
fn to_u32(v: u64) -> Result<u32, BuildError> {
    u32::try_from(v).map_err(|_| BuildError::ImageTooLarge)
}

impl ImageBuilder {
    /// An empty builder.
    pub fn new(opts: BuildOptions) -> Self {
        ImageBuilder {
            opts,
            nodes: Vec::new(),
            roots: Vec::new(),
            shared_root: None,
            preopens: Vec::new(),
            host_aliases: Vec::new(),
            host_fs_deny: false,
            max_write_kib: 0,
            threads: 0,
        }
    }

    /// Sets how many threads compress chunks (0, the default: one per available core). The image
    /// is the same bytes whatever the count.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads;
    }

    fn push(&mut self, meta: Meta, body: Body) -> Result<NodeRef, BuildError> {
        let r = NodeRef(u32::try_from(self.nodes.len()).map_err(|_| BuildError::ImageTooLarge)?);
        self.nodes.push(BNode {
            meta: Meta {
                mode: meta.mode & 0o7777,
                ..meta
            },
            body,
        });
        Ok(r)
    }

    fn get(&self, n: NodeRef) -> Result<&BNode, BuildError> {
        self.nodes.get(n.0 as usize).ok_or(BuildError::UnknownNode)
    }

    /// The shared root `/`, created (mode 0o755, time 0; see [`Self::set_meta`]) on first use.
    pub fn root(&mut self) -> NodeRef {
        if let Some(r) = self.shared_root {
            return r;
        }
        let r = NodeRef(self.nodes.len() as u32);
        self.nodes.push(BNode {
            meta: Meta::default(),
            body: Body::Dir {
                parent: r,
                children: BTreeMap::new(),
            },
        });
        self.roots.push(r);
        self.shared_root = Some(r);
        r
    }

    /// A new separate root directory (for a relative mount).
    pub fn add_root(&mut self, meta: Meta) -> Result<NodeRef, BuildError> {
        let r = NodeRef(u32::try_from(self.nodes.len()).map_err(|_| BuildError::ImageTooLarge)?);
        self.push(
            meta,
            Body::Dir {
                parent: r,
                children: BTreeMap::new(),
            },
        )?;
        self.roots.push(r);
        Ok(r)
    }

    /// Replaces a node's permission bits and timestamps.
    pub fn set_meta(&mut self, node: NodeRef, meta: Meta) -> Result<(), BuildError> {
        let n = self
            .nodes
            .get_mut(node.0 as usize)
            .ok_or(BuildError::UnknownNode)?;
        n.meta = Meta {
            mode: meta.mode & 0o7777,
            ..meta
        };
        Ok(())
    }

    /// The kind of a node.
    pub fn kind(&self, node: NodeRef) -> Result<Kind, BuildError> {
        Ok(match self.get(node)?.body {
            Body::Dir { .. } => Kind::Dir,
            Body::File { .. } => Kind::File,
            Body::Symlink { .. } => Kind::Symlink,
        })
    }

    /// The entry `name` of directory `parent`, if any.
    pub fn lookup_child(&self, parent: NodeRef, name: &[u8]) -> Option<NodeRef> {
        match &self.get(parent).ok()?.body {
            Body::Dir { children, .. } => children.get(name).copied(),
            _ => None,
        }
    }

    /// Links `child` into `parent` as `name`, checking the name and that it is new.
    fn link(&mut self, parent: NodeRef, name: &[u8], child: NodeRef) -> Result<(), BuildError> {
        let p = self
            .nodes
            .get_mut(parent.0 as usize)
            .ok_or(BuildError::UnknownNode)?;
        let Body::Dir { children, .. } = &mut p.body else {
            return Err(BuildError::NotADirectory);
        };
        if children.contains_key(name) {
            return Err(BuildError::Duplicate(name.to_vec()));
        }
        children.insert(name.to_vec(), child);
        Ok(())
    }

    /// Checks that `name` can be added to `parent` before a node is created for it.
    fn check_new_entry(&self, parent: NodeRef, name: &[u8]) -> Result<(), BuildError> {
        check_name(name)?;
        match &self.get(parent)?.body {
            Body::Dir { children, .. } if children.contains_key(name) => {
                Err(BuildError::Duplicate(name.to_vec()))
            }
            Body::Dir { .. } => Ok(()),
            _ => Err(BuildError::NotADirectory),
        }
    }

    /// Adds directory `name` under `parent`.
    pub fn add_dir(
        &mut self,
        parent: NodeRef,
        name: &[u8],
        meta: Meta,
    ) -> Result<NodeRef, BuildError> {
        self.check_new_entry(parent, name)?;
        let n = self.push(
            meta,
            Body::Dir {
                parent,
                children: BTreeMap::new(),
            },
        )?;
        self.link(parent, name, n)?;
        Ok(n)
    }

    /// Adds file `name` under `parent`; a host path is only stat'ed now and read by [`Self::finish`].
    pub fn add_file(
        &mut self,
        parent: NodeRef,
        name: &[u8],
        meta: Meta,
        data: FileData,
    ) -> Result<NodeRef, BuildError> {
        self.check_new_entry(parent, name)?;
        let size = match &data {
            FileData::Bytes(b) => b.len() as u64,
            FileData::Path(p) => std::fs::metadata(p)
                .map_err(|e| BuildError::Io {
                    path: p.clone(),
                    source: e,
                })?
                .len(),
        };
        if size > u64::from(u32::MAX) {
            let what = match &data {
                FileData::Path(p) => p.display().to_string(),
                FileData::Bytes(_) => String::from_utf8_lossy(name).into_owned(),
            };
            return Err(BuildError::FileTooLarge { what, size });
        }
        let n = self.push(meta, Body::File { data, size })?;
        self.link(parent, name, n)?;
        Ok(n)
    }

    /// Adds symlink `name` under `parent` pointing at `target` (bytes kept as-is).
    pub fn add_symlink(
        &mut self,
        parent: NodeRef,
        name: &[u8],
        meta: Meta,
        target: &[u8],
    ) -> Result<NodeRef, BuildError> {
        self.check_new_entry(parent, name)?;
        let n = self.push(
            meta,
            Body::Symlink {
                target: target.to_vec(),
            },
        )?;
        self.link(parent, name, n)?;
        Ok(n)
    }

    /// Adds `name` under `parent` as another name of the existing file or symlink `existing`.
    pub fn add_hardlink(
        &mut self,
        parent: NodeRef,
        name: &[u8],
        existing: NodeRef,
    ) -> Result<(), BuildError> {
        self.check_new_entry(parent, name)?;
        if self.kind(existing)? == Kind::Dir {
            return Err(BuildError::LinkToDirectory);
        }
        self.link(parent, name, existing)
    }

    /// Shows the host preopen the runtime names `host` to the app as `guest` (`--preopen GUEST=HOST`).
    pub fn add_host_alias(&mut self, guest: &[u8], host: &[u8]) {
        self.host_aliases.push((guest.to_vec(), host.to_vec()));
    }

    /// Caps the shim's in-memory layer at `bytes` (`--max-write-memory`, rounded up to whole KiB;
    /// 0 or 4 TiB and more: no cap but the address space).
    pub fn set_max_write_memory(&mut self, bytes: u64) {
        self.max_write_kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(0);
    }

    /// Hides every host preopen that no alias names (`--host-fs=deny`).
    pub fn deny_host_fs(&mut self) {
        self.host_fs_deny = true;
    }

    /// Declares directory `node` a preopen named `name`; preopens keep the order they are added in.
    pub fn add_preopen(
        &mut self,
        name: &[u8],
        node: NodeRef,
        readonly: bool,
    ) -> Result<(), BuildError> {
        if self.kind(node)? != Kind::Dir {
            return Err(BuildError::NotADirectory);
        }
        self.preopens.push((name.to_vec(), node, readonly));
        Ok(())
    }

    /// Counts files, directories, symlinks and file bytes (each node once).
    pub fn stats(&self) -> BuildStats {
        let mut s = BuildStats::default();
        for n in &self.nodes {
            match &n.body {
                Body::Dir { .. } => s.dirs += 1,
                Body::File { size, .. } => {
                    s.files += 1;
                    s.data_len += size;
                }
                Body::Symlink { .. } => s.symlinks += 1,
            }
        }
        s
    }

    /// Node order of the image: roots in creation order, then breadth-first over names sorted by bytes.
    fn walk_order(&self) -> (Vec<NodeRef>, Vec<u32>) {
        let mut id_of = std::vec![u32::MAX; self.nodes.len()];
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut queue = VecDeque::new();
        for &r in &self.roots {
            id_of[r.0 as usize] = order.len() as u32;
            order.push(r);
            queue.push_back(r);
        }
        while let Some(d) = queue.pop_front() {
            if let Body::Dir { children, .. } = &self.nodes[d.0 as usize].body {
                for &c in children.values() {
                    if id_of[c.0 as usize] == u32::MAX {
                        id_of[c.0 as usize] = order.len() as u32;
                        order.push(c);
                        if matches!(self.nodes[c.0 as usize].body, Body::Dir { .. }) {
                            queue.push_back(c);
                        }
                    }
                }
            }
        }
        (order, id_of)
    }

    /// Lays out, reads, compresses and encodes the image.
    pub fn finish(self) -> Result<Vec<u8>, BuildError> {
        self.finish_with_progress(&mut |_, _| {})
    }

    /// Like [`Self::finish`], calling `progress(done, total)` (uncompressed file bytes) as data is
    /// written. Files are read chunk by chunk, a bounded batch at a time, and compressed on
    /// [`Self::set_threads`] threads; identical files are stored once (their nodes share chunks).
    pub fn finish_with_progress(
        self,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Vec<u8>, BuildError> {
        let opts = self.opts;
        if !(0..=MAX_LEVEL).contains(&opts.level) {
            return Err(BuildError::InvalidOptions(std::format!(
                "compression level {} (use 0 to store raw or 1..={MAX_LEVEL})",
                opts.level
            )));
        }
        if opts.chunk_size == 0 || opts.chunk_size > MAX_CHUNK_SIZE {
            return Err(BuildError::InvalidOptions(std::format!(
                "chunk size {} (use 1..={MAX_CHUNK_SIZE})",
                opts.chunk_size
            )));
        }
        let (order, id_of) = self.walk_order();
        let id = |r: NodeRef| id_of[r.0 as usize];

        // Layout: header, file data, then nodes, dirents, chunks, preopens, strings. Data comes first
        // so it can be streamed straight into the output; the reader only follows header offsets.
        let mut out = std::vec![0u8; HEADER_SIZE as usize];
        let total = self.stats().data_len;
        let mut ranges: Vec<(u32, u32)> = std::vec![(0, 0); order.len()];
        let (chunks, file_ranges) = std::thread::scope(|scope| {
            let mut writer = DataWriter::new(opts, self.threads, scope)?;
            for (i, &r) in order.iter().enumerate() {
                if let Body::File { data, size } = &self.nodes[r.0 as usize].body {
                    writer.add_file(i, data, *size, &mut out, progress, total)?;
                }
            }
            writer.flush(&mut out, progress, total)?;
            writer.wait(&mut out, progress, total)?;
            Ok::<_, BuildError>(writer.into_parts())
        })?;
        for (i, range) in file_ranges {
            ranges[i] = range;
        }

        // Link counts of files and symlinks: one per dirent naming them.
        let mut links = std::vec![0u32; self.nodes.len()];
        for n in &self.nodes {
            if let Body::Dir { children, .. } = &n.body {
                for &c in children.values() {
                    links[c.0 as usize] = links[c.0 as usize].saturating_add(1);
                }
            }
        }

        // Strings, dirents and node records, all in node-id order.
        let mut strings = Strings::default();
        let mut dirents: Vec<(u32, u32, u32)> = Vec::new();
        let mut records: Vec<Node> = Vec::with_capacity(order.len());
        for (i, &r) in order.iter().enumerate() {
            let n = &self.nodes[r.0 as usize];
            let mut rec = Node {
                id: i as u32,
                kind: Kind::Dir,
                mode: n.meta.mode,
                nlink: 1,
                size: 0,
                mtime_ns: n.meta.mtime_ns,
                atime_ns: n.meta.atime_ns,
                ctime_ns: n.meta.ctime_ns,
                parent: 0,
                a: 0,
                b: 0,
            };
            match &n.body {
                Body::Dir { parent, children } => {
                    let subdirs = children
                        .values()
                        .filter(|c| matches!(self.nodes[c.0 as usize].body, Body::Dir { .. }))
                        .count();
                    rec.nlink = to_u32(2 + subdirs as u64)?;
                    rec.parent = id(*parent);
                    rec.a = to_u32(dirents.len() as u64)?;
                    rec.b = to_u32(children.len() as u64)?;
                    for (name, &c) in children {
                        let (off, len) = strings.intern(name)?;
                        dirents.push((off, len, id(c)));
                    }
                }
                Body::File { size, .. } => {
                    rec.kind = Kind::File;
                    rec.nlink = links[r.0 as usize];
                    rec.size = *size;
                    (rec.a, rec.b) = ranges[i];
                }
                Body::Symlink { target } => {
                    let (off, len) = strings.intern(target)?;
                    rec.kind = Kind::Symlink;
                    rec.nlink = links[r.0 as usize];
                    rec.size = u64::from(len);
                    rec.a = off;
                    rec.b = len;
                }
            }
            records.push(rec);
        }
        let mut preopens = Vec::with_capacity(self.preopens.len());
        for (name, node, readonly) in &self.preopens {
            let (off, len) = strings.intern(name)?;
            preopens.push(Preopen {
                name_off: off,
                name_len: len,
                node: id(*node),
                readonly: *readonly,
            });
        }

        let mut host_aliases = Vec::with_capacity(self.host_aliases.len());
        for (guest, host) in &self.host_aliases {
            let (guest_off, guest_len) = strings.intern(guest)?;
            let (host_off, host_len) = strings.intern(host)?;
            host_aliases.push(HostAlias {
                guest_off,
                guest_len,
                host_off,
                host_len,
            });
        }

        let nodes_off = out.len() as u64;
        let dirents_off = nodes_off + records.len() as u64 * u64::from(NODE_SIZE);
        let chunks_off = dirents_off + dirents.len() as u64 * u64::from(DIRENT_SIZE);
        let preopens_off = chunks_off + chunks.len() as u64 * u64::from(CHUNK_RECORD_SIZE);
        let host_aliases_off = preopens_off + preopens.len() as u64 * u64::from(PREOPEN_SIZE);
        let strings_off = host_aliases_off + host_aliases.len() as u64 * u64::from(HOST_ALIAS_SIZE);
        let end = strings_off + strings.bytes.len() as u64;
        let total_len = to_u32(end)?;
        let strings_base = to_u32(strings_off)?;
        out.reserve_exact((end - nodes_off) as usize);
        for rec in &mut records {
            if rec.kind == Kind::Symlink {
                rec.a += strings_base;
            }
            out.extend_from_slice(&rec.encode());
        }
        for &(off, len, node) in &dirents {
            out.extend_from_slice(
                &Dirent {
                    name_off: off + strings_base,
                    name_len: len,
                    node,
                }
                .encode(),
            );
        }
        for c in &chunks {
            out.extend_from_slice(&c.encode());
        }
        for p in &preopens {
            out.extend_from_slice(
                &Preopen {
                    name_off: p.name_off + strings_base,
                    ..*p
                }
                .encode(),
            );
        }
        for a in &host_aliases {
            out.extend_from_slice(
                &HostAlias {
                    guest_off: a.guest_off + strings_base,
                    host_off: a.host_off + strings_base,
                    ..*a
                }
                .encode(),
            );
        }
        out.extend_from_slice(&strings.bytes);
        let header = Header {
            version: VERSION,
            total_len,
            node_count: to_u32(records.len() as u64)?,
            nodes_off: to_u32(nodes_off)?,
            dirents_off: to_u32(dirents_off)?,
            dirent_count: to_u32(dirents.len() as u64)?,
            strings_off: strings_base,
            strings_len: to_u32(strings.bytes.len() as u64)?,
            chunks_off: to_u32(chunks_off)?,
            chunk_count: to_u32(chunks.len() as u64)?,
            preopens_off: to_u32(preopens_off)?,
            preopen_count: to_u32(preopens.len() as u64)?,
            chunk_size: opts.chunk_size,
            flags: if self.host_fs_deny {
                FLAG_HOST_FS_DENY
            } else {
                0
            },
            host_aliases_off: to_u32(host_aliases_off)?,
            host_alias_count: to_u32(host_aliases.len() as u64)?,
            max_write_kib: self.max_write_kib,
        };
        out[..HEADER_SIZE as usize].copy_from_slice(&header.encode());
        Ok(out)
    }
}

/// Uncompressed bytes read into one batch before it is compressed (two batches are in memory at
/// once: one being read, one being compressed).
const BATCH_BYTES: usize = 8 << 20;
/// Most items in one batch (many small files).
const BATCH_ITEMS: usize = 4096;

/// One step of the data stream, in image order.
enum Item {
    /// A chunk's uncompressed bytes.
    Chunk(Vec<u8>),
    /// The end of file `order[index]` (after its chunks).
    End { index: usize, size: u64 },
}

/// A compressed (or raw) chunk with the hash of its uncompressed bytes.
struct Done {
    stored: Option<Vec<u8>>,
    hash: u64,
}

/// One zstd context per compression thread (`None` when storing raw).
type Compressor = zstd::bulk::Compressor<'static>;
/// A compressed batch: its items, their results, and the contexts handed back.
type Compressed = (
    Vec<Item>,
    Result<Vec<Done>, BuildError>,
    Vec<Option<Compressor>>,
);

/// A file's chunk range: (first chunk record, count).
type Range = (u32, u32);

/// A file already in the image, for deduplication.
struct Stored {
    index: usize,
    range: Range,
}

/// Streams file data into the image: reads chunks into a bounded batch, compresses the batch on
/// several threads (each chunk its own zstd frame, so the bytes do not depend on the thread count),
/// appends the results in order, and stores a file identical to an earlier one only once.
struct DataWriter<'a, 's, 'e> {
    chunk_size: u32,
    scope: &'s std::thread::Scope<'s, 'e>,
    /// The batch being compressed in the background while the next one is read.
    pending: Option<std::thread::ScopedJoinHandle<'s, Compressed>>,
    compressors: Vec<Option<Compressor>>,
    batch: Vec<Item>,
    batch_bytes: usize,
    /// Sources of the files added so far, by node-order index (to verify a hash match byte for byte).
    sources: HashMap<usize, &'a FileData>,
    chunks: Vec<Chunk>,
    ranges: Vec<(usize, Range)>,
    /// (size, content hash) → files stored with that key.
    seen: HashMap<(u64, u64), Vec<Stored>>,
    /// Flush state of the file being appended: first chunk, its offset, running hash.
    file_start: Option<(u32, usize, u64)>,
    written: u64,
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

/// Compresses `raw` when that saves at least 2%.
fn compress_chunk(
    c: Option<&mut zstd::bulk::Compressor<'static>>,
    raw: &[u8],
) -> Result<Option<Vec<u8>>, BuildError> {
    let Some(c) = c else { return Ok(None) };
    let z = c.compress(raw).map_err(BuildError::Compress)?;
    Ok(((z.len() as u64) * 50 <= (raw.len() as u64) * 49).then_some(z))
}

/// Hashes and compresses every chunk, on up to one thread per compressor.
fn compress_all(
    compressors: &mut [Option<Compressor>],
    raws: &[&[u8]],
) -> Result<Vec<Done>, BuildError> {
    fn one(
        c: Option<&mut zstd::bulk::Compressor<'static>>,
        raw: &[u8],
    ) -> Result<Done, BuildError> {
        Ok(Done {
            stored: compress_chunk(c, raw)?,
            hash: chunk_hash(raw),
        })
    }
    if compressors.len() <= 1 || raws.len() <= 1 {
        let mut c = compressors.first_mut().and_then(Option::as_mut);
        return raws.iter().map(|r| one(c.as_deref_mut(), r)).collect();
    }
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<Result<Done, BuildError>>> = Vec::new();
    slots.resize_with(raws.len(), || None);
    std::thread::scope(|s| {
        let handles: Vec<_> = compressors
            .iter_mut()
            .map(|c| {
                let next = &next;
                s.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, AtomicOrdering::Relaxed);
                        let Some(raw) = raws.get(i) else { break };
                        mine.push((i, one(c.as_mut(), raw)));
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
        .map(|s| s.unwrap_or_else(|| Err(BuildError::Compress(io::Error::other("lost chunk")))))
        .collect()
}

/// True when two sources of `size` bytes hold the same bytes (read again, piece by piece).
fn same_contents(a: &FileData, b: &FileData, size: u64) -> Result<bool, BuildError> {
    fn open(d: &FileData) -> Result<Box<dyn Read + '_>, BuildError> {
        Ok(match d {
            FileData::Bytes(b) => Box::new(b.as_slice()),
            FileData::Path(p) => Box::new(File::open(p).map_err(|e| BuildError::Io {
                path: p.clone(),
                source: e,
            })?),
        })
    }
    let io = |d: &FileData, e: io::Error| match d {
        FileData::Path(p) => BuildError::Io {
            path: p.clone(),
            source: e,
        },
        FileData::Bytes(_) => BuildError::Compress(e),
    };
    let (mut ra, mut rb) = (open(a)?, open(b)?);
    let (mut ba, mut bb) = (std::vec![0u8; 64 * 1024], std::vec![0u8; 64 * 1024]);
    let mut left = size;
    while left > 0 {
        let n = left.min(ba.len() as u64) as usize;
        let ga = read_full_dyn(&mut *ra, &mut ba[..n]).map_err(|e| io(a, e))?;
        let gb = read_full_dyn(&mut *rb, &mut bb[..n]).map_err(|e| io(b, e))?;
        if ga != n || gb != n || ba[..n] != bb[..n] {
            return Ok(false);
        }
        left -= n as u64;
    }
    Ok(true)
}

/// [`read_full`] for any reader.
fn read_full_dyn(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match r.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

impl<'a, 's, 'e> DataWriter<'a, 's, 'e> {
    fn new(
        opts: BuildOptions,
        threads: usize,
        scope: &'s std::thread::Scope<'s, 'e>,
    ) -> Result<Self, BuildError> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut compressors = Vec::with_capacity(threads);
        for _ in 0..threads {
            compressors.push(if opts.level == 0 {
                None
            } else {
                Some(zstd::bulk::Compressor::new(opts.level).map_err(BuildError::Compress)?)
            });
        }
        Ok(DataWriter {
            chunk_size: opts.chunk_size,
            scope,
            pending: None,
            compressors,
            batch: Vec::new(),
            batch_bytes: 0,
            sources: HashMap::new(),
            chunks: Vec::new(),
            ranges: Vec::new(),
            seen: HashMap::new(),
            file_start: None,
            written: 0,
        })
    }

    /// Queues one chunk, flushing the batch when it is full.
    fn push(
        &mut self,
        item: Item,
        out: &mut Vec<u8>,
        progress: &mut dyn FnMut(u64, u64),
        total: u64,
    ) -> Result<(), BuildError> {
        if let Item::Chunk(raw) = &item {
            self.batch_bytes += raw.len();
        }
        self.batch.push(item);
        if self.batch_bytes >= BATCH_BYTES || self.batch.len() >= BATCH_ITEMS {
            self.flush(out, progress, total)?;
        }
        Ok(())
    }

    /// Queues all chunks of file `order[index]`; a host file must still be exactly `size` bytes long.
    fn add_file(
        &mut self,
        index: usize,
        data: &'a FileData,
        size: u64,
        out: &mut Vec<u8>,
        progress: &mut dyn FnMut(u64, u64),
        total: u64,
    ) -> Result<(), BuildError> {
        self.sources.insert(index, data);
        let cs = self.chunk_size as usize;
        match data {
            FileData::Bytes(b) => {
                for piece in b.chunks(cs) {
                    self.push(Item::Chunk(piece.to_vec()), out, progress, total)?;
                }
            }
            FileData::Path(p) => {
                let io_err = |e| BuildError::Io {
                    path: p.clone(),
                    source: e,
                };
                let changed = || BuildError::SizeChanged {
                    path: p.clone(),
                    expected: size,
                };
                let mut f = File::open(p).map_err(io_err)?;
                let mut left = size;
                while left > 0 {
                    let n = left.min(cs as u64) as usize;
                    let mut buf = std::vec![0u8; n];
                    if read_full(&mut f, &mut buf).map_err(io_err)? != n {
                        return Err(changed());
                    }
                    self.push(Item::Chunk(buf), out, progress, total)?;
                    left -= n as u64;
                }
                let mut probe = [0u8; 1];
                if read_full(&mut f, &mut probe).map_err(io_err)? != 0 {
                    return Err(changed());
                }
            }
        }
        self.push(Item::End { index, size }, out, progress, total)
    }

    /// Appends the batch being compressed (if any), then starts compressing the queued one in the
    /// background: reading the next batch overlaps compressing this one.
    fn flush(
        &mut self,
        out: &mut Vec<u8>,
        progress: &mut dyn FnMut(u64, u64),
        total: u64,
    ) -> Result<(), BuildError> {
        self.wait(out, progress, total)?;
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        let mut compressors = std::mem::take(&mut self.compressors);
        self.pending = Some(self.scope.spawn(move || {
            let raws: Vec<&[u8]> = batch
                .iter()
                .filter_map(|it| match it {
                    Item::Chunk(raw) => Some(raw.as_slice()),
                    Item::End { .. } => None,
                })
                .collect();
            let done = compress_all(&mut compressors, &raws);
            drop(raws);
            (batch, done, compressors)
        }));
        Ok(())
    }

    /// Waits for the batch being compressed and appends it, in order, to `out`.
    fn wait(
        &mut self,
        out: &mut Vec<u8>,
        progress: &mut dyn FnMut(u64, u64),
        total: u64,
    ) -> Result<(), BuildError> {
        let Some(handle) = self.pending.take() else {
            return Ok(());
        };
        let (batch, done, compressors) = match handle.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        };
        self.compressors = compressors;
        let mut results = done?.into_iter();
        for item in &batch {
            match item {
                Item::Chunk(raw) => {
                    let d = results
                        .next()
                        .ok_or_else(|| BuildError::Compress(io::Error::other("lost chunk")))?;
                    let (chunk_idx, stored_off) = (to_u32(self.chunks.len() as u64)?, out.len());
                    let (start_idx, start_off, hash) =
                        self.file_start.unwrap_or((chunk_idx, stored_off, 0));
                    self.file_start = Some((
                        start_idx,
                        start_off,
                        (hash ^ d.hash)
                            .wrapping_mul(0x100_0000_01B3)
                            .rotate_left(17),
                    ));
                    let (bytes, codec) = match &d.stored {
                        Some(z) => (z.as_slice(), Codec::Zstd),
                        None => (raw.as_slice(), Codec::Raw),
                    };
                    to_u32(out.len() as u64 + bytes.len() as u64)?;
                    out.extend_from_slice(bytes);
                    self.chunks.push(Chunk {
                        stored_off: to_u32(stored_off as u64)?,
                        stored_len: bytes.len() as u32,
                        codec,
                    });
                    self.written += raw.len() as u64;
                }
                Item::End { index, size } => self.end_file(*index, *size, out)?,
            }
        }
        progress(self.written, total);
        Ok(())
    }

    /// Closes file `order[index]`: if an earlier file has the same bytes, drops this copy and shares
    /// the earlier file's chunks.
    fn end_file(&mut self, index: usize, size: u64, out: &mut Vec<u8>) -> Result<(), BuildError> {
        let count = to_u32(self.chunks.len() as u64)?;
        let Some((first, off, hash)) = self.file_start.take() else {
            self.ranges.push((index, (count, 0)));
            return Ok(());
        };
        let range = (first, count - first);
        let source = |i: usize| self.sources.get(&i).copied().ok_or(BuildError::UnknownNode);
        let key = (size, hash);
        if let Some(cands) = self.seen.get(&key) {
            let me = source(index)?;
            for c in cands {
                if same_contents(source(c.index)?, me, size)? {
                    out.truncate(off);
                    self.chunks.truncate(first as usize);
                    self.ranges.push((index, c.range));
                    return Ok(());
                }
            }
        }
        self.seen
            .entry(key)
            .or_default()
            .push(Stored { index, range });
        self.ranges.push((index, range));
        Ok(())
    }

    /// The chunk records and each file's (first chunk, count), by position in the node order.
    fn into_parts(self) -> (Vec<Chunk>, Vec<(usize, Range)>) {
        (self.chunks, self.ranges)
    }
}
