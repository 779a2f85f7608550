//! The mutable node store: the image's nodes plus every change made since start-up.
//!
//! Node ids below the image's node count name image nodes; a node stays image-backed (its record
//! and data are read from the image) until it changes, when it gets an [`ONode`]. New nodes get
//! fresh ids after the image's (inode = id + 1, never 0). A changed directory materialises its
//! entries into owned maps on its first change; a changed file keeps its size and a sparse map of
//! the chunks written since (see `file.rs`); every other chunk still comes from the image.

use alloc::boxed::Box;
use alloc::vec::Vec;
use wasifs_image::format::{Kind, NEW_FILE_CHUNK_LOG2};
use wasifs_image::reader::{Image, Node, Source};
use wasifs_image::Decoder;

use crate::cache::ChunkCache;
use crate::fallible::{boxed, copy, grow_with_none, push, reserve, resize};
use crate::wasi::{Errno, EIO, ENOENT, ENOMEM, ENOTDIR};

/// A call's outcome: `Ok` or an errno.
pub type R<T> = Result<T, Errno>;

/// Maps an image format error to an errno: ENOMEM when a metadata block found no memory, else
/// EIO (a corrupt image).
pub fn io<T>(r: Result<T, wasifs_image::FormatError>) -> R<T> {
    r.map_err(|e| match e {
        wasifs_image::FormatError::NoMemory => ENOMEM,
        _ => EIO,
    })
}

/// The entries of a changed directory, sorted by name (the image's order): lookups are a binary
/// search, and the `k`-th entry of a listing is just `entries[k]`.
#[derive(Default)]
pub struct Dir {
    entries: Vec<(Vec<u8>, u32)>,
}

impl Dir {
    /// Where `name` is (`Ok`) or would go (`Err`).
    fn find(&self, name: &[u8]) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.0.as_slice().cmp(name))
    }

    /// Adds (or replaces) `name` → `node`; ENOMEM leaves the directory unchanged (none when
    /// [`Fs::prepare_entry`] made room first).
    pub fn insert(&mut self, name: Vec<u8>, node: u32) -> R<()> {
        match self.find(&name) {
            Ok(i) => {
                if let Some(e) = self.entries.get_mut(i) {
                    e.1 = node;
                }
                Ok(())
            }
            Err(i) => insert_at(&mut self.entries, i, (name, node)),
        }
    }

    /// Removes `name`, returning its node.
    pub fn remove(&mut self, name: &[u8]) -> Option<u32> {
        let i = self.find(name).ok()?;
        remove_at(&mut self.entries, i).map(|e| e.1)
    }

    /// The node named `name`.
    pub fn get(&self, name: &[u8]) -> Option<u32> {
        self.entries.get(self.find(name).ok()?).map(|e| e.1)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the directory is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `k`-th entry of the listing: (name, node).
    pub fn nth(&self, k: u64) -> Option<(&[u8], u32)> {
        let e = self.entries.get(usize::try_from(k).ok()?)?;
        Some((&e.0, e.1))
    }
}

/// What a changed node holds.
pub enum Data {
    /// A directory: `None` while its entries are still the image's.
    Dir(Option<Dir>),
    /// A file: image data is valid below `img_len`; `chunks` are the chunks written since
    /// (sorted by index; bytes past a buffer's end, up to the chunk size, are zeros).
    File {
        /// Image data is the file's content below this offset (unless a chunk overrides it).
        img_len: u64,
        /// Owned chunks: (index, bytes), sorted by index.
        chunks: Vec<(u32, Vec<u8>)>,
    },
    /// A symlink's target.
    Link(Vec<u8>),
}

/// A node that changed (or is new): its metadata record, open-fd count and contents.
pub struct ONode {
    /// Metadata (`a`/`b` keep the image's values for image nodes).
    pub n: Node,
    /// Number of fds referring to it: an unlinked node lives until this drops to 0.
    pub open: u32,
    /// An image node's record made only to count its fds, unchanged since: freed once its last
    /// fd has closed and another such record is closed after it (200,000 files opened and closed
    /// once kept 33 MB). Any change goes through [`Fs::own`], which clears it.
    pub fresh: bool,
    /// Contents.
    pub data: Data,
}

/// All nodes: the image's and the overlay's.
pub struct Fs<S: Source> {
    pub(crate) img: Option<Image<S>>,
    /// Changed and new nodes, indexed by id (4 bytes per slot for unchanged image nodes).
    pub(crate) nodes: Vec<Option<Box<ONode>>>,
    /// Ids of freed new nodes, handed out again.
    free: Vec<u32>,
    /// Number of image nodes (ids below are image-backed).
    base: u32,
    /// Next fresh node id.
    next_id: u32,
    /// The image node whose fd-counting record ([`ONode::fresh`]) outlived its last close, the
    /// last one closed (`u32::MAX`: none): a program that opens one file again and again does not
    /// make its record anew each time (100,000 opens of one file: 78 ms if it did, 68 ms).
    last: u32,
    /// Decompressed image chunks, bounded by the image's `cache_size`.
    pub(crate) cache: ChunkCache,
    /// Compressed bytes of the zstd block being decoded (reused; grows to the largest block).
    pub(crate) stored: Vec<u8>,
    pub(crate) decoder: Decoder,
    /// The image's dictionary of LZ4 chunks, read on the first such chunk (empty until then).
    pub(crate) dict: Vec<u8>,
    /// The image's dictionary of shared blocks, decoded before the first block (empty until then).
    pub(crate) block_dict: Vec<u8>,
}

/// `v.insert(i, x)` (`i` clamped to the length), or ENOMEM, without `Vec::insert`'s panicking
/// assertion: the shim keeps no panic path that formats a message (that would pull `core::fmt`
/// into the budget).
pub(crate) fn insert_at<T>(v: &mut Vec<T>, i: usize, x: T) -> R<()> {
    let len = v.len();
    let i = core::cmp::min(i, len);
    reserve(v, 1)?;
    // SAFETY: after `reserve` there is room for `len + 1` elements and `i <= len`: the tail
    // `[i, len)` moves up by one (overlapping copy), slot `i` is written, then the length grows.
    unsafe {
        let p = v.as_mut_ptr().add(i);
        core::ptr::copy(p, p.add(1), len - i);
        core::ptr::write(p, x);
        v.set_len(len + 1);
    }
    Ok(())
}

/// `v.remove(i)` when `i` is in range (else `None`), without `Vec::remove`'s panicking assertion.
pub(crate) fn remove_at<T>(v: &mut Vec<T>, i: usize) -> Option<T> {
    let len = v.len();
    if i >= len {
        return None;
    }
    // SAFETY: `i < len`: element `i` is moved out, the tail `(i, len)` moves down over it and the
    // length shrinks, so the moved-out value is never dropped twice.
    unsafe {
        let p = v.as_mut_ptr().add(i);
        let x = core::ptr::read(p);
        core::ptr::copy(p.add(1), p, len - i - 1);
        v.set_len(len - 1);
        Some(x)
    }
}

/// A vector of `len` zero bytes, or ENOMEM.
pub fn zeroed(len: usize) -> R<Vec<u8>> {
    let mut v = Vec::new();
    resize(&mut v, len)?;
    Ok(v)
}

impl<S: Source> Fs<S> {
    /// The store over `img` (no image: an empty store, every lookup EIO).
    pub fn new(img: Option<Image<S>>) -> Self {
        let base = img.as_ref().map_or(0, |i| i.node_count());
        let budget = img.as_ref().map_or(0, |i| i.header().cache_size);
        Fs {
            img,
            nodes: Vec::new(),
            free: Vec::new(),
            base,
            next_id: base,
            last: u32::MAX,
            cache: ChunkCache::new(budget),
            stored: Vec::new(),
            decoder: Decoder::new(),
            dict: Vec::new(),
            block_dict: Vec::new(),
        }
    }

    /// The image.
    pub fn img(&self) -> R<&Image<S>> {
        self.img.as_ref().ok_or(EIO)
    }

    /// The changed state of `id`, if any.
    pub fn get(&self, id: u32) -> Option<&ONode> {
        self.nodes.get(id as usize)?.as_deref()
    }

    /// The changed state of `id`, if any, mutably.
    pub fn get_mut(&mut self, id: u32) -> Option<&mut ONode> {
        self.nodes.get_mut(id as usize)?.as_deref_mut()
    }

    /// Stores the changed state of node `id`.
    fn put(&mut self, id: u32, o: Option<ONode>) -> R<()> {
        let i = id as usize;
        let o = match o {
            Some(o) => Some(boxed(o)?),
            None => None,
        };
        grow_with_none(&mut self.nodes, i + 1)?;
        if let Some(s) = self.nodes.get_mut(i) {
            *s = o;
        }
        Ok(())
    }

    /// The current record of node `id`.
    #[inline(never)]
    pub fn node(&self, id: u32) -> R<Node> {
        match self.get(id) {
            Some(o) => Ok(o.n),
            None if id < self.base => io(self.img()?.node(id)),
            None => Err(EIO),
        }
    }

    /// Reads an image string into a new vector.
    pub(crate) fn image_str(&self, off: u32, len: u32) -> R<Vec<u8>> {
        let mut v = zeroed(len as usize)?;
        io(self.img()?.read_str(off, len, &mut v))?;
        Ok(v)
    }

    /// The target of symlink `n`.
    pub fn target(&self, n: &Node) -> R<Vec<u8>> {
        match self.get(n.id) {
            Some(ONode {
                data: Data::Link(t),
                ..
            }) => copy(t),
            _ => self.image_str(n.a, n.b),
        }
    }

    /// The changed state of `id`, created from its image record on first use.
    #[inline(never)]
    pub fn own(&mut self, id: u32) -> R<&mut ONode> {
        if self.get(id).is_none() {
            let n = self.node(id)?;
            let data = match n.kind {
                Kind::Dir => Data::Dir(None),
                Kind::File => Data::File {
                    img_len: n.size,
                    chunks: Vec::new(),
                },
                Kind::Symlink => Data::Link(self.image_str(n.a, n.b)?),
            };
            self.put(
                id,
                Some(ONode {
                    n,
                    open: 0,
                    fresh: false,
                    data,
                }),
            )?;
        }
        let o = self.get_mut(id).ok_or(EIO)?;
        o.fresh = false;
        Ok(o)
    }

    /// The owned entries of directory `id`, copied from the image on its first change.
    fn dir_mut(&mut self, id: u32) -> R<&mut Dir> {
        if let Data::Dir(None) = self.own(id)?.data {
            let n = self.node(id)?;
            let img = self.img()?;
            let mut d = Dir::default();
            for k in 0..n.b {
                let e = io(img.dirent(&n, k))?;
                d.insert(self.image_str(e.name_off, e.name_len)?, e.node)?;
            }
            self.own(id)?.data = Data::Dir(Some(d));
        }
        match self.own(id)?.data {
            Data::Dir(Some(ref mut d)) => Ok(d),
            _ => Err(ENOTDIR),
        }
    }

    /// The owned entries of `dir`, if it changed.
    fn dir_ref(&self, dir: u32) -> Option<&Dir> {
        match self.get(dir) {
            Some(ONode {
                data: Data::Dir(Some(d)),
                ..
            }) => Some(d),
            _ => None,
        }
    }

    /// The node named `name` in directory `dir`.
    #[inline(never)]
    pub fn lookup(&self, dir: &Node, name: &[u8]) -> R<Option<u32>> {
        match self.dir_ref(dir.id) {
            Some(d) => Ok(d.get(name)),
            // An unmaterialised directory keeps the image's entry range (`a`, `b`) in its record.
            None => io(self.img()?.lookup(dir, name)),
        }
    }

    /// Number of entries of directory `dir` (without `.` and `..`).
    pub fn count(&self, dir: &Node) -> R<u64> {
        match self.dir_ref(dir.id) {
            Some(d) => Ok(d.len() as u64),
            None => Ok(u64::from(dir.b)),
        }
    }

    /// The `k`-th entry of directory `dir` in listing order: (name, node).
    pub fn entry(&self, dir: &Node, k: u64) -> R<Option<(Vec<u8>, u32)>> {
        if let Some(d) = self.dir_ref(dir.id) {
            return match d.nth(k) {
                Some((n, id)) => Ok(Some((copy(n)?, id))),
                None => Ok(None),
            };
        }
        match u32::try_from(k) {
            Ok(k) if k < dir.b => {
                let e = io(self.img()?.dirent(dir, k))?;
                Ok(Some((self.image_str(e.name_off, e.name_len)?, e.node)))
            }
            _ => Ok(None),
        }
    }

    /// Sets mtime and ctime of `id` to `now` (its contents or entries changed).
    pub fn touch(&mut self, id: u32, now: u64) -> R<()> {
        let o = self.own(id)?;
        o.n.mtime_ns = now;
        o.n.ctime_ns = now;
        Ok(())
    }

    /// Makes what adding an entry for `id` to directory `dir` needs (both nodes changed, the
    /// entries materialised, room for one more), so that a call can allocate everything before it
    /// changes anything: ENOMEM then leaves the tree as it was.
    pub fn prepare_entry(&mut self, dir: u32, id: u32) -> R<()> {
        self.own(id)?;
        reserve(&mut self.dir_mut(dir)?.entries, 1)
    }

    /// Adds entry `name` → `id` to directory `dir` (replacing any entry of that name) and keeps the
    /// link counts: `dir` gains one when `id` is a directory (whose parent becomes `dir`). What
    /// may run out of memory comes first: ENOMEM leaves the tree unchanged.
    pub fn add_entry(&mut self, dir: u32, name: Vec<u8>, id: u32, now: u64) -> R<()> {
        self.prepare_entry(dir, id)?;
        self.dir_mut(dir)?.insert(name, id)?;
        let is_dir = self.node(id)?.kind == Kind::Dir;
        self.touch(dir, now)?;
        if is_dir {
            self.own(dir)?.n.nlink += 1;
            self.own(id)?.n.parent = dir;
        }
        Ok(())
    }

    /// Removes entry `name` from directory `dir`, returning its node, whose link count drops by one
    /// (a directory's to 0); a directory entry also drops `dir`'s count. The node is freed once it
    /// has no links and no open fd (see [`Fs::release`]) — callers that re-link it do so first.
    pub fn remove_entry(&mut self, dir: u32, name: &[u8], now: u64) -> R<u32> {
        // What may run out of memory comes first: ENOMEM leaves the tree unchanged.
        let id = self.dir_mut(dir)?.get(name).ok_or(ENOENT)?;
        self.own(id)?;
        self.dir_mut(dir)?.remove(name);
        self.touch(dir, now)?;
        let o = self.own(id)?;
        o.n.ctime_ns = now;
        if o.n.kind == Kind::Dir {
            o.n.nlink = 0;
            let p = self.own(dir)?;
            p.n.nlink = p.n.nlink.saturating_sub(1);
        } else {
            o.n.nlink = o.n.nlink.saturating_sub(1);
        }
        Ok(id)
    }

    /// Creates a node of `kind` named `name` in `dir` (symlinks: with `target`); returns its id.
    pub fn create(
        &mut self,
        dir: u32,
        name: &[u8],
        kind: Kind,
        target: Vec<u8>,
        now: u64,
    ) -> R<u32> {
        let name = copy(name)?;
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                let id = self.next_id;
                self.next_id = id.checked_add(1).ok_or(ENOMEM)?;
                id
            }
        };
        let (mode, nlink, data) = match kind {
            Kind::Dir => (0o755, 2, Data::Dir(Some(Dir::default()))),
            Kind::File => (
                0o644,
                1,
                Data::File {
                    img_len: 0,
                    chunks: Vec::new(),
                },
            ),
            Kind::Symlink => (0o777, 1, Data::Link(target)),
        };
        let size = match &data {
            Data::Link(t) => t.len() as u64,
            _ => 0,
        };
        let n = Node {
            id,
            kind,
            // A new file's owned chunks are 32 KiB (an image file keeps its own chunk size, so
            // copy-on-write maps chunk to chunk).
            chunk_log2: NEW_FILE_CHUNK_LOG2,
            mode,
            nlink,
            size,
            mtime_ns: now,
            atime_ns: now,
            ctime_ns: now,
            parent: dir,
            a: 0,
            b: 0,
        };
        let node = ONode {
            n,
            open: 0,
            fresh: false,
            data,
        };
        let added = match self.put(id, Some(node)) {
            Ok(()) => self.add_entry(dir, name, id, now),
            Err(e) => Err(e),
        };
        if let Err(e) = added {
            // Out of memory: the new node goes, and its id back to the free list.
            if let Some(s) = self.nodes.get_mut(id as usize) {
                *s = None;
            }
            let _ = push(&mut self.free, id);
            return Err(e);
        }
        Ok(id)
    }

    /// Counts one more fd on `id`.
    pub fn open(&mut self, id: u32) -> R<()> {
        if let Some(o) = self.get_mut(id) {
            o.open += 1;
            return Ok(());
        }
        let o = self.own(id)?;
        o.open = 1;
        o.fresh = true;
        Ok(())
    }

    /// Drops one fd from `id` and frees it if that was the last reference; the last fd's close also
    /// gives the file's cached chunks back to the allocator, and of the records that only counted
    /// fds ([`ONode::fresh`]) keeps this one, freeing the one kept before (`last`).
    pub fn close(&mut self, id: u32) {
        let Some(o) = self.get_mut(id) else {
            return;
        };
        o.open = o.open.saturating_sub(1);
        if o.open == 0 {
            let fresh = o.fresh;
            self.cache.forget(id);
            if fresh {
                let old = core::mem::replace(&mut self.last, id);
                if old != id {
                    self.release(old);
                }
                return;
            }
        }
        self.release(id);
    }

    /// Frees node `id` when no entry and no fd refers to it: its data goes back to the allocator.
    /// A freed image node keeps an empty record so that the image's copy never comes back; a
    /// record that only counted fds ([`ONode::fresh`]) goes once no fd is left.
    pub fn release(&mut self, id: u32) {
        let base = self.base;
        if let Some(o) = self.get_mut(id) {
            if o.fresh && o.open == 0 {
                let _ = self.put(id, None);
            } else if o.n.nlink == 0 && o.open == 0 {
                if id >= base {
                    let _ = self.put(id, None);
                    // Without room to remember the id, it is just never reused.
                    let _ = push(&mut self.free, id);
                } else {
                    o.data = Data::Link(Vec::new());
                    o.n.size = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
