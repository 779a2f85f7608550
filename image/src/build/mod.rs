//! The host-side image builder: its API (add nodes, preopens, host aliases; then `finish`).
//!
//! `finish` runs the stages in order: `tree.rs` fixes the node order, `data.rs` streams the file
//! contents (small files packed into shared blocks by `pack.rs`) through `compress.rs` and
//! `dedup.rs` into the image, and `layout.rs` appends the tables (raw, or compressed in blocks as
//! `meta.rs` decides) and writes the header, all into an `ImageSink` (`sink.rs`: a `Vec`, or a file
//! the image is streamed into). `source.rs` reads host files; `error.rs` says what went wrong.

mod block_dict;
mod compress;
mod data;
mod dedup;
mod dict;
mod error;
mod formats;
mod holes;
mod layout;
mod meta;
mod pack;
mod pairs;
mod parallel;
mod short_matches;
mod similar;
mod sink;
mod source;
mod tree;
mod zstd_ctx;

use std::path::PathBuf;
use std::vec::Vec;

use crate::block_size::BlockSize;
use crate::cache_size::CacheSize;
use crate::chunk_size::ChunkSize;
use crate::dictionaries::Dictionaries;
use crate::format::{Kind, HEADER_SIZE};
use crate::level::Level;
pub use error::BuildError;
use layout::{Extras, Tables};
pub use meta::{MetaMode, AUTO_MIN_SAVING_BYTES, AUTO_MIN_SAVING_PERCENT};
pub use sink::ImageSink;
pub use source::FileData;
use tree::{Body, Tree};

/// How the builder compresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOptions {
    /// How chunks are compressed (or stored raw).
    pub level: Level,
    /// Uncompressed size of every chunk of a file except its last: chosen per file by default.
    pub chunk_size: ChunkSize,
    /// Bytes of decompressed chunks the shim may keep cached (header `cache_size`).
    pub cache_size: CacheSize,
    /// Most bytes in one shared block of small files.
    pub block_size: BlockSize,
    /// Whether the tables are stored as a compressed metadata region (default: the auto rule).
    pub meta: MetaMode,
    /// Whether the image may carry dictionaries (of chunks read at random, of shared blocks).
    pub dictionaries: Dictionaries,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            level: Level::DEFAULT,
            chunk_size: ChunkSize::AUTO,
            cache_size: CacheSize::DEFAULT,
            block_size: BlockSize::DEFAULT,
            meta: MetaMode::Auto,
            dictionaries: Dictionaries::Auto,
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

/// Builds an image in memory; see the crate docs for the layout.
#[derive(Debug)]
pub struct ImageBuilder {
    opts: BuildOptions,
    tree: Tree,
    /// Preopens, host aliases and the host preopen policy.
    extras: Extras,
    /// Compression threads; 0 = one per available core. Never changes the output.
    threads: usize,
}

impl ImageBuilder {
    /// An empty builder.
    pub fn new(opts: BuildOptions) -> Self {
        ImageBuilder {
            opts,
            tree: Tree::default(),
            extras: Extras::default(),
            threads: 0,
        }
    }

    /// Sets how many threads compress chunks (0, the default: one per available core). The image
    /// is the same bytes whatever the count.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads;
    }

    /// The shared root `/`, created (mode 0o755, time 0; see [`Self::set_meta`]) on first use.
    pub fn root(&mut self) -> NodeRef {
        self.tree.shared_root()
    }

    /// A new separate root directory (for a relative mount).
    pub fn add_root(&mut self, meta: Meta) -> Result<NodeRef, BuildError> {
        self.tree.add_root(meta)
    }

    /// Replaces a node's permission bits and timestamps.
    pub fn set_meta(&mut self, node: NodeRef, meta: Meta) -> Result<(), BuildError> {
        self.tree.set_meta(node, meta)
    }

    /// The kind of a node.
    pub fn kind(&self, node: NodeRef) -> Result<Kind, BuildError> {
        self.tree.kind(node)
    }

    /// The entry `name` of directory `parent`, if any.
    pub fn lookup_child(&self, parent: NodeRef, name: &[u8]) -> Option<NodeRef> {
        self.tree.lookup_child(parent, name)
    }

    /// Adds directory `name` under `parent`.
    pub fn add_dir(
        &mut self,
        parent: NodeRef,
        name: &[u8],
        meta: Meta,
    ) -> Result<NodeRef, BuildError> {
        self.tree.check_new_entry(parent, name)?;
        self.tree
            .insert(parent, name, meta, Body::empty_dir(parent))
    }

    /// Adds file `name` under `parent`; a host path is only stat'ed now and read by [`Self::finish`].
    pub fn add_file(
        &mut self,
        parent: NodeRef,
        name: &[u8],
        meta: Meta,
        data: FileData,
    ) -> Result<NodeRef, BuildError> {
        self.tree.check_new_entry(parent, name)?;
        let size = data.size(name)?;
        self.tree.insert(parent, name, meta, Body::file(data, size))
    }

    /// Like [`Self::add_file`] with host file `path` whose length, `size`, the caller has just read
    /// (from a directory walk's metadata): the file is not stat'ed again, and must still be `size`
    /// bytes long when [`Self::finish`] reads it.
    pub fn add_host_file(
        &mut self,
        parent: NodeRef,
        name: &[u8],
        meta: Meta,
        path: PathBuf,
        size: u64,
    ) -> Result<NodeRef, BuildError> {
        self.tree.check_new_entry(parent, name)?;
        let data = FileData::Path(path);
        let size = data.checked_size(name, size)?;
        self.tree.insert(parent, name, meta, Body::file(data, size))
    }

    /// Marks file `node` as read at random (a database, an index): when compressing, it gets 4 KiB
    /// chunks (LZ4 against the image's dictionary when there is one) whatever its size and
    /// [`BuildOptions::chunk_size`], as `auto` gives SQLite and redb databases and files larger
    /// than the cache. A file too small to need chunks still shares a block.
    pub fn read_at_random(&mut self, node: NodeRef) -> Result<(), BuildError> {
        self.tree.mark_random(node)
    }

    /// Adds symlink `name` under `parent` pointing at `target` (bytes kept as-is).
    pub fn add_symlink(
        &mut self,
        parent: NodeRef,
        name: &[u8],
        meta: Meta,
        target: &[u8],
    ) -> Result<NodeRef, BuildError> {
        self.tree.check_new_entry(parent, name)?;
        let target = target.to_vec();
        self.tree
            .insert(parent, name, meta, Body::Symlink { target })
    }

    /// Adds `name` under `parent` as another name of the existing file or symlink `existing`.
    pub fn add_hardlink(
        &mut self,
        parent: NodeRef,
        name: &[u8],
        existing: NodeRef,
    ) -> Result<(), BuildError> {
        self.tree.check_new_entry(parent, name)?;
        if self.tree.kind(existing)? == Kind::Dir {
            return Err(BuildError::LinkToDirectory);
        }
        self.tree.link(parent, name, existing)
    }

    /// Shows the host preopen the runtime names `host` to the app as `guest` (`--preopen GUEST=HOST`).
    pub fn add_host_alias(&mut self, guest: &[u8], host: &[u8]) {
        self.extras
            .host_aliases
            .push((guest.to_vec(), host.to_vec()));
    }

    /// Records the WASI policies (env, args, stdio, clocks, random) the shim enforces.
    pub fn set_policies(&mut self, policies: &crate::policy::Policies) {
        self.extras.policy = if policies.is_default() {
            Vec::new()
        } else {
            policies.encode()
        };
    }

    /// Caps the shim's in-memory layer at `bytes` (`--max-write-memory`, rounded up to whole KiB;
    /// 0 or 4 TiB and more: no cap but the address space).
    pub fn set_max_write_memory(&mut self, bytes: u64) {
        self.extras.max_write_kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(0);
    }

    /// Hides every host preopen that no alias names (`--host-fs=deny`).
    pub fn deny_host_fs(&mut self) {
        self.extras.host_fs_deny = true;
    }

    /// Declares directory `node` a preopen named `name`; preopens keep the order they are added in.
    pub fn add_preopen(
        &mut self,
        name: &[u8],
        node: NodeRef,
        readonly: bool,
    ) -> Result<(), BuildError> {
        if self.tree.kind(node)? != Kind::Dir {
            return Err(BuildError::NotADirectory);
        }
        self.extras.preopens.push((name.to_vec(), node, readonly));
        Ok(())
    }

    /// Counts files, directories, symlinks and file bytes (each node once).
    pub fn stats(&self) -> BuildStats {
        self.tree.stats()
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
        let mut out = Vec::new();
        self.finish_into(&mut out, progress)?;
        Ok(out)
    }

    /// Like [`Self::finish_with_progress`], streaming the image into `out` as it is built (so it
    /// is never held whole in memory); returns its length. `out` must be empty.
    pub fn finish_into(
        self,
        out: &mut dyn ImageSink,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u32, BuildError> {
        self.opts.meta.check()?;
        if !out.is_empty() {
            let e = std::io::Error::other("the image's sink already holds bytes");
            return Err(BuildError::Write(e));
        }
        let order = self.tree.walk_order();
        // Layout: header, file data, then the tables. Data comes first so it can be streamed
        // straight into the output; the reader only follows header offsets. The header is written
        // over its placeholder last.
        out.append(&[0u8; HEADER_SIZE as usize])
            .map_err(BuildError::Write)?;
        let data = data::write(&self.tree, &order, self.opts, self.threads, out, progress)?;
        Tables {
            tree: &self.tree,
            order: &order,
            data: &data,
            extras: &self.extras,
            cache_size: self.opts.cache_size.get(),
            level: self.opts.level,
            threads: self.threads,
            meta: self.opts.meta,
        }
        .append_to(out)
    }
}
