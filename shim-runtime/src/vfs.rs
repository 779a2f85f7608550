//! All shim state in one place, the fd lookups every call starts with, and the calls on the fd
//! table itself (close, renumber, host fds opened through the host).
//!
//! The FFI layer forwards calls on host-backed fds itself; everything else (image fds and unknown
//! fds) lands on `Vfs`: the calls that leave the tree unchanged are in `query.rs`, poll_oneoff in
//! `poll.rs`, the calls that change the tree in `mutate.rs`. Errnos follow wasmtime-wasi's preview1
//! host on a real directory (read-only mounts: a read-only preopen), including the order in which
//! it checks arguments.

use wasifs_image::format::Kind;
use wasifs_image::reader::{Image, Node, Source};

use crate::fdtable::{Desc, FdTable};
use crate::host::Host;
use crate::mem::AppMem;
use crate::wasi::*;

pub use crate::overlay::{io, zeroed, Fs, R};

/// The shim's whole state.
pub struct Vfs<S: Source, H: Host> {
    /// Every node: the image's and the changes.
    pub fs: Fs<S>,
    /// fd number → descriptor.
    pub fds: FdTable,
    /// The host's clock, fd_close and poll_oneoff.
    pub host: H,
}

/// The preview1 filetype of an image node kind.
pub fn filetype(k: Kind) -> u8 {
    match k {
        Kind::Dir => FILETYPE_DIRECTORY,
        Kind::File => FILETYPE_REGULAR_FILE,
        Kind::Symlink => FILETYPE_SYMBOLIC_LINK,
    }
}

/// The filestat of a node, as the words of its layout (one out-of-line copy: it is the same for
/// fd_filestat_get and path_filestat_get).
#[inline(never)]
pub fn filestat(n: &Node) -> [u64; 8] {
    Filestat {
        dev: IMAGE_DEV,
        ino: n.ino(),
        filetype: filetype(n.kind),
        nlink: u64::from(n.nlink),
        size: n.size,
        atim: n.atime_ns,
        mtim: n.mtime_ns,
        ctim: n.ctime_ns,
    }
    .words()
}

/// Writes `words` as little-endian bytes at app address `ptr` (EFAULT when out of bounds).
pub(crate) fn put_words<M: AppMem>(m: &mut M, ptr: u32, words: &[u64]) -> R<()> {
    m.check(ptr, words.len() as u32 * 8)?;
    let mut at = ptr;
    for w in words {
        m.write(at, &w.to_le_bytes());
        at += 8;
    }
    Ok(())
}

impl<S: Source, H: Host> Vfs<S, H> {
    /// State with fds 0–2 forwarded to the host's 0–2 and one fd per image preopen (3, 4, …).
    pub fn new(img: Option<Image<S>>, host: H) -> Self {
        let mut fds = FdTable::new();
        // A fresh table always has room for these (if not, their fds answer EBADF: no trap).
        for h in 0..3 {
            let _ = fds.push(Desc::Host(h));
        }
        if let Some(img) = &img {
            for i in 0..img.preopen_count() {
                if let Ok(p) = img.preopen(i) {
                    let _ = fds.push(Desc::Dir {
                        node: p.node,
                        preopen: Some(i),
                        ro: p.readonly,
                    });
                }
            }
        }
        Vfs {
            fs: Fs::new(img),
            fds,
            host,
        }
    }

    /// The host fd behind `fd`, when it is host-backed (the FFI layer then forwards the call).
    pub fn host_fd(&self, fd: u32) -> Option<u32> {
        match self.fds.get(fd) {
            Some(Desc::Host(h) | Desc::Alias { host: h, .. }) => Some(h),
            _ => None,
        }
    }

    pub(crate) fn node(&self, id: u32) -> R<Node> {
        self.fs.node(id)
    }

    /// The directory behind `fd` and whether its mount is read-only (wasmtime's `get_dir_fd`:
    /// anything else is EBADF).
    pub(crate) fn dir(&self, fd: u32) -> R<(Node, bool)> {
        match self.fds.get(fd) {
            Some(Desc::Dir { node, ro, .. }) => Ok((self.node(node)?, ro)),
            _ => Err(EBADF),
        }
    }

    /// The node behind an image fd (file or directory) and whether it may not be changed.
    pub(crate) fn any_node(&self, fd: u32) -> R<(Node, bool)> {
        match self.fds.get(fd) {
            Some(Desc::Dir { node, ro, .. }) | Some(Desc::File { node, ro, .. }) => {
                Ok((self.node(node)?, ro))
            }
            _ => Err(EBADF),
        }
    }

    /// `Ok` for an image file fd (wasmtime's `get_file_fd`), else EBADF.
    pub(crate) fn is_file(&self, fd: u32) -> R<()> {
        match self.fds.get(fd) {
            Some(Desc::File { .. }) => Ok(()),
            _ => Err(EBADF),
        }
    }

    /// Forgets what an fd referred to: the node may be freed if it was unlinked.
    fn drop_desc(&mut self, d: Desc) {
        if let Desc::Dir { node, .. } | Desc::File { node, .. } = d {
            self.fs.close(node);
        }
    }

    /// fd_close of an image fd (preopens included).
    pub fn fd_close(&mut self, fd: u32) -> R<()> {
        let d = self.fds.remove(fd).ok_or(EBADF)?;
        self.drop_desc(d);
        Ok(())
    }

    /// fd_renumber: both fds must exist; what `to` held is closed (by the host for a host fd).
    pub fn fd_renumber(&mut self, from: u32, to: u32) -> R<()> {
        if self.fds.get(from).is_none() {
            return Err(EBADF);
        }
        let Some(target) = self.fds.get(to) else {
            return Err(EBADF);
        };
        if from == to {
            return Ok(());
        }
        if let Desc::Host(h) | Desc::Alias { host: h, .. } = target {
            let e = self.host.fd_close(h);
            if e != SUCCESS {
                return Err(e);
            }
        }
        if !self.fds.renumber(from, to) {
            return Err(EBADF);
        }
        self.drop_desc(target);
        Ok(())
    }

    /// Registers a host fd the host just wrote at `ptr` (path_open, sock_accept) and writes the
    /// app's fd number for it there instead.
    pub fn wrap_host_fd<M: AppMem>(&mut self, m: &mut M, ptr: u32) -> R<()> {
        let h = m.get_u32(ptr)?;
        let fd = match self.fds.push(Desc::Host(h)) {
            Ok(fd) => fd,
            Err(e) => {
                // No app fd can name it: the host fd is closed, not leaked.
                self.host.fd_close(h);
                return Err(e);
            }
        };
        m.put_u32(ptr, fd)
    }

    /// sock_* on a fd that is not host-backed: ENOTSOCK for image fds, EBADF otherwise.
    pub fn sock(&self, fd: u32) -> R<()> {
        self.any_node(fd)?;
        Err(ENOTSOCK)
    }
}
