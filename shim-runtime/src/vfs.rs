//! All shim state in one place, and the preview1 calls on fds that are not host-backed that read
//! (the calls that change the tree are in `mutate.rs`).
//!
//! The FFI layer forwards calls on host-backed fds itself; everything else (image fds and unknown
//! fds) lands here. Errnos follow wasmtime-wasi's preview1 host on a real directory (read-only
//! mounts: a read-only preopen), including the order in which it checks arguments.

use alloc::vec::Vec;

use wasifs_image::format::Kind;
use wasifs_image::reader::{Image, Node, Source};

use crate::fdtable::{Desc, FdTable};
use crate::mem::AppMem;
use crate::path::{resolve, validate};
use crate::wasi::*;

pub use crate::overlay::{io, zeroed, Fs, R};

/// The shim's whole state.
pub struct Vfs<S: Source> {
    /// Every node: the image's and the changes.
    pub fs: Fs<S>,
    /// fd number → descriptor.
    pub fds: FdTable,
}

/// The preview1 filetype of an image node kind.
pub fn filetype(k: Kind) -> u8 {
    match k {
        Kind::Dir => FILETYPE_DIRECTORY,
        Kind::File => FILETYPE_REGULAR_FILE,
        Kind::Symlink => FILETYPE_SYMBOLIC_LINK,
    }
}

/// Writes `words` as little-endian bytes at app address `ptr`.
fn put_words<M: AppMem>(m: &mut M, ptr: u32, words: &[u64]) -> R<()> {
    m.check(ptr, words.len() as u32 * 8)?;
    let mut at = ptr;
    for w in words {
        m.write(at, &w.to_le_bytes());
        at += 8;
    }
    Ok(())
}

/// Writes as much of `bytes` as fits in `room` bytes at `ptr` (range checked by the caller);
/// returns the count written.
fn put_part<M: AppMem>(m: &mut M, ptr: u32, bytes: &[u8], room: u32) -> u32 {
    let n = core::cmp::min(bytes.len(), room as usize);
    m.write(ptr, bytes.get(..n).unwrap_or(&[]));
    n as u32
}

/// The filestat of a node (layout: wasi::FILESTAT_SIZE).
pub fn filestat(n: &Node) -> [u64; 8] {
    [
        IMAGE_DEV,
        n.ino(),
        u64::from(filetype(n.kind)),
        u64::from(n.nlink),
        n.size,
        n.atime_ns,
        n.mtime_ns,
        n.ctime_ns,
    ]
}

/// An fdstat (layout: wasi::FDSTAT_SIZE).
pub fn fdstat(filetype: u8, flags: u16, base: u64, inheriting: u64) -> [u64; 3] {
    [
        u64::from(filetype) | u64::from(flags) << 16,
        base,
        inheriting,
    ]
}

/// A dirent header (layout: wasi::DIRENT_SIZE).
pub fn dirent(next: u64, ino: u64, namlen: u32, filetype: u8) -> [u64; 3] {
    [next, ino, u64::from(namlen) | u64::from(filetype) << 32]
}

/// A successful fd_read/fd_write event (layout: wasi::EVENT_SIZE).
pub fn event(userdata: u64, ty: u8, nbytes: u64, flags: u16) -> [u64; 4] {
    [userdata, u64::from(ty) << 16, nbytes, u64::from(flags)]
}

/// `Err(EINVAL)` when `v` has bits outside `all` (wasmtime rejects such flags before anything else).
pub fn flags_ok(v: u64, all: u64) -> R<()> {
    if v & !all == 0 {
        Ok(())
    } else {
        Err(EINVAL)
    }
}

/// Validates fstflags the way wasmtime does (unknown bits, or a time both given and "now").
pub fn fst_ok(fst: u32) -> R<()> {
    flags_ok(u64::from(fst), u64::from(FSTFLAGS_ALL))?;
    let both = |a, b| fst & a != 0 && fst & b != 0;
    if both(FSTFLAGS_ATIM, FSTFLAGS_ATIM_NOW) || both(FSTFLAGS_MTIM, FSTFLAGS_MTIM_NOW) {
        return Err(EINVAL);
    }
    Ok(())
}

impl<S: Source> Vfs<S> {
    /// State with fds 0–2 forwarded to the host's 0–2 and one fd per image preopen (3, 4, …).
    pub fn new(img: Option<Image<S>>) -> Self {
        let mut fds = FdTable::new();
        for h in 0..3 {
            fds.push(Desc::Host(h));
        }
        if let Some(img) = &img {
            for i in 0..img.preopen_count() {
                if let Ok(p) = img.preopen(i) {
                    fds.push(Desc::Dir {
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
        }
    }

    /// The realtime clock (ns since the epoch) for the timestamps of changes: the host's in the
    /// shim, 0 in host tests. A direct call, not a function pointer: the shim keeps no indirect
    /// call, so `wasm-opt` can drop the table and the formatting code only it would reach.
    pub(crate) fn now(&self) -> u64 {
        #[cfg(target_arch = "wasm32")]
        return crate::ffi::now();
        #[cfg(not(target_arch = "wasm32"))]
        0
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
    fn is_file(&self, fd: u32) -> R<()> {
        match self.fds.get(fd) {
            Some(Desc::File { .. }) => Ok(()),
            _ => Err(EBADF),
        }
    }

    /// Reads a path argument from app memory (EFAULT, EILSEQ).
    pub(crate) fn path<M: AppMem>(m: &M, ptr: u32, len: u32) -> R<Vec<u8>> {
        let p = m.get(ptr, len)?;
        validate(&p)?;
        Ok(p)
    }

    /// fd_advise: validates `advice`; a no-op on image files.
    pub fn fd_advise(&self, fd: u32, advice: u32) -> R<()> {
        if advice > ADVICE_MAX {
            return Err(EINVAL);
        }
        self.is_file(fd)
    }

    /// fd_allocate: wasmtime never supports it on files.
    pub fn fd_allocate(&self, fd: u32) -> R<()> {
        self.is_file(fd)?;
        Err(ENOTSUP)
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

    /// fd_sync / fd_datasync: nothing to flush in memory; files only.
    pub fn fd_sync(&self, fd: u32) -> R<()> {
        self.is_file(fd)
    }

    /// fd_fdstat_get: the rights and flags wasmtime reports for a file or directory.
    pub fn fd_fdstat_get<M: AppMem>(&self, m: &mut M, fd: u32, ptr: u32) -> R<()> {
        let st = match self.fds.get(fd) {
            Some(Desc::Dir {
                preopen: Some(_), ..
            }) => fdstat(
                FILETYPE_DIRECTORY,
                0,
                RIGHTS_PREOPEN_BASE,
                RIGHTS_PREOPEN_INHERITING,
            ),
            Some(Desc::Dir { preopen: None, .. }) => {
                fdstat(FILETYPE_DIRECTORY, 0, RIGHTS_OPENED_DIR, RIGHTS_OPENED_DIR)
            }
            Some(Desc::File {
                append,
                nonblock,
                read,
                write,
                ..
            }) => {
                let mut flags = 0;
                if append {
                    flags |= FDFLAGS_APPEND;
                }
                if nonblock {
                    flags |= FDFLAGS_NONBLOCK;
                }
                let mut rights = RIGHTS_ALL;
                if !read {
                    rights &= !RIGHT_FD_READ;
                }
                if !write {
                    rights &= !RIGHT_FD_WRITE;
                }
                fdstat(FILETYPE_REGULAR_FILE, flags, rights, rights)
            }
            _ => return Err(EBADF),
        };
        put_words(m, ptr, &st)
    }

    /// fd_fdstat_set_flags: files only; APPEND and NONBLOCK may change, the sync flags may not.
    pub fn fd_fdstat_set_flags(&mut self, fd: u32, flags: u32) -> R<()> {
        flags_ok(u64::from(flags), u64::from(FDFLAGS_ALL))?;
        let Some(Desc::File {
            append, nonblock, ..
        }) = self.fds.get_mut(fd)
        else {
            return Err(EBADF);
        };
        let flags = flags as u16;
        if flags & (FDFLAGS_DSYNC | FDFLAGS_SYNC | FDFLAGS_RSYNC) != 0 {
            return Err(EINVAL);
        }
        *append = flags & FDFLAGS_APPEND != 0;
        *nonblock = flags & FDFLAGS_NONBLOCK != 0;
        Ok(())
    }

    /// fd_fdstat_set_rights: wasmtime does not support it.
    pub fn fd_fdstat_set_rights(&self, fd: u32, base: u64, inheriting: u64) -> R<()> {
        flags_ok(base, RIGHTS_ALL)?;
        flags_ok(inheriting, RIGHTS_ALL)?;
        self.any_node(fd)?;
        Err(ENOTSUP)
    }

    /// fd_filestat_get of an image file or directory.
    pub fn fd_filestat_get<M: AppMem>(&self, m: &mut M, fd: u32, ptr: u32) -> R<()> {
        let (n, _) = self.any_node(fd)?;
        put_words(m, ptr, &filestat(&n))
    }

    /// fd_read / fd_pread: reads into the first non-empty iovec (as wasmtime does) at `at` (pread,
    /// at most 64 KiB, position unchanged) or at the current position (which advances).
    pub fn fd_read<M: AppMem>(
        &mut self,
        m: &mut M,
        fd: u32,
        iovs: u32,
        count: u32,
        at: Option<u64>,
        nread: u32,
    ) -> R<()> {
        let (buf, len) = m.first_iovec(iovs, count)?;
        let Some(Desc::File {
            node, pos, read, ..
        }) = self.fds.get(fd)
        else {
            return Err(EBADF);
        };
        m.check(nread, 4)?;
        if !read {
            return Err(EBADF);
        }
        let got = match at {
            Some(off) => self
                .fs
                .read(m, node, off, buf, core::cmp::min(len, PREAD_MAX))?,
            None => {
                let got = self.fs.read(m, node, pos, buf, len)?;
                if let Some(Desc::File { pos, .. }) = self.fds.get_mut(fd) {
                    *pos += u64::from(got);
                }
                got
            }
        };
        m.put_u32(nread, got)
    }

    /// The name (image string offset, length) of the preopen behind `fd`: an image preopen or a
    /// renamed host preopen (its guest name). `Ok(None)` for any other fd the shim knows.
    fn preopen_name(&self, fd: u32) -> R<Option<(u32, u32)>> {
        let d = self.fds.get(fd).ok_or(EBADF)?;
        let img = self.fs.img();
        Ok(match d {
            Desc::Dir {
                preopen: Some(i), ..
            } => {
                let p = io(img?.preopen(i))?;
                Some((p.name_off, p.name_len))
            }
            Desc::Alias { alias, .. } => {
                let a = io(img?.host_alias(alias))?;
                Some((a.guest_off, a.guest_len))
            }
            _ => None,
        })
    }

    /// fd_prestat_get of an image preopen or a renamed host preopen.
    pub fn fd_prestat_get<M: AppMem>(&self, m: &mut M, fd: u32, ptr: u32) -> R<()> {
        let (_, len) = self.preopen_name(fd)?.ok_or(EBADF)?;
        put_words(m, ptr, &[u64::from(PREOPENTYPE_DIR) | u64::from(len) << 32])
    }

    /// fd_prestat_dir_name of an image preopen or a renamed host preopen (ENAMETOOLONG when the
    /// buffer is short, no NUL).
    pub fn fd_prestat_dir_name<M: AppMem>(&self, m: &mut M, fd: u32, ptr: u32, len: u32) -> R<()> {
        let (off, name_len) = self.preopen_name(fd)?.ok_or(ENOTDIR)?;
        if name_len > len {
            return Err(ENAMETOOLONG);
        }
        let name = self.fs.image_str(off, name_len)?;
        m.put(ptr, &name)
    }

    /// fd_readdir: `.`, `..`, then the entries in listing order; cookie = index of the next entry
    /// in the current listing (wasmtime's rule); the entry that does not fit is truncated to the
    /// buffer, exactly like wasmtime.
    pub fn fd_readdir<M: AppMem>(
        &self,
        m: &mut M,
        fd: u32,
        buf: u32,
        buf_len: u32,
        cookie: u64,
        bufused: u32,
    ) -> R<()> {
        let (dir, _) = self.dir(fd)?;
        m.check(buf, buf_len)?;
        m.check(bufused, 4)?;
        let mut used = 0u32;
        let mut idx = cookie;
        while used < buf_len {
            let (name, ino, ty) = if idx < 2 {
                let dots: &[u8] = if idx == 0 { b"." } else { b".." };
                (dots.to_vec(), dir.ino(), FILETYPE_DIRECTORY)
            } else {
                let Some((name, id)) = self.fs.entry(&dir, idx - 2)? else {
                    break;
                };
                let n = self.node(id)?;
                (name, n.ino(), filetype(n.kind))
            };
            for w in dirent(idx + 1, ino, name.len() as u32, ty) {
                used += put_part(m, buf + used, &w.to_le_bytes(), buf_len - used);
            }
            used += put_part(m, buf + used, &name, buf_len - used);
            idx += 1;
        }
        m.put_u32(bufused, used)
    }

    /// fd_renumber: both fds must exist; what `to` held is closed (`close_host` for a host fd).
    pub fn fd_renumber(
        &mut self,
        from: u32,
        to: u32,
        close_host: impl FnOnce(u32) -> Errno,
    ) -> R<()> {
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
            let e = close_host(h);
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

    /// fd_seek on an image file (directories: EBADF, as wasmtime).
    pub fn fd_seek<M: AppMem>(
        &mut self,
        m: &mut M,
        fd: u32,
        offset: i64,
        whence: u32,
        ptr: u32,
    ) -> R<()> {
        if whence > WHENCE_END {
            return Err(EINVAL);
        }
        let Some(Desc::File { node, pos, .. }) = self.fds.get(fd) else {
            return Err(EBADF);
        };
        m.check(ptr, 8)?;
        let new = match whence {
            WHENCE_SET => u64::try_from(offset).map_err(|_| EINVAL)?,
            WHENCE_CUR => pos.checked_add_signed(offset).ok_or(EINVAL)?,
            _ => self
                .node(node)?
                .size
                .checked_add_signed(offset)
                .ok_or(EINVAL)?,
        };
        if let Some(Desc::File { pos, .. }) = self.fds.get_mut(fd) {
            *pos = new;
        }
        m.put_u64(ptr, new)
    }

    /// fd_tell on an image file.
    pub fn fd_tell<M: AppMem>(&self, m: &mut M, fd: u32, ptr: u32) -> R<()> {
        let Some(Desc::File { pos, .. }) = self.fds.get(fd) else {
            return Err(EBADF);
        };
        m.put_u64(ptr, pos)
    }

    /// path_filestat_get beneath an image directory, following the final symlink or not.
    pub fn path_filestat_get<M: AppMem>(
        &self,
        m: &mut M,
        fd: u32,
        flags: u32,
        path: u32,
        path_len: u32,
        ptr: u32,
    ) -> R<()> {
        flags_ok(u64::from(flags), u64::from(LOOKUPFLAGS_ALL))?;
        let (dir, _) = self.dir(fd)?;
        let p = Self::path(m, path, path_len)?;
        let follow = flags & LOOKUPFLAGS_SYMLINK_FOLLOW != 0;
        let n = resolve(&self.fs, &dir, &p, follow)?;
        put_words(m, ptr, &filestat(&n))
    }

    /// path_readlink: the target, truncated to the buffer (EINVAL if not a symlink).
    #[allow(clippy::too_many_arguments)]
    pub fn path_readlink<M: AppMem>(
        &self,
        m: &mut M,
        fd: u32,
        path: u32,
        path_len: u32,
        buf: u32,
        buf_len: u32,
        bufused: u32,
    ) -> R<()> {
        let (dir, _) = self.dir(fd)?;
        let p = Self::path(m, path, path_len)?;
        let n = resolve(&self.fs, &dir, &p, false)?;
        if n.kind != Kind::Symlink {
            return Err(EINVAL);
        }
        let target = self.fs.target(&n)?;
        let len = core::cmp::min(target.len(), buf_len as usize);
        m.check(bufused, 4)?;
        m.put(buf, target.get(..len).unwrap_or(&[]))?;
        m.put_u32(bufused, len as u32)
    }

    /// Registers a host fd the host just wrote at `ptr` (path_open, sock_accept) and writes the
    /// app's fd number for it there instead.
    pub fn wrap_host_fd<M: AppMem>(&mut self, m: &mut M, ptr: u32) -> R<()> {
        let h = m.get_u32(ptr)?;
        let fd = self.fds.push(Desc::Host(h));
        m.put_u32(ptr, fd)
    }

    /// sock_* on a fd that is not host-backed: ENOTSOCK for image fds, EBADF otherwise.
    pub fn sock(&self, fd: u32) -> R<()> {
        self.any_node(fd)?;
        Err(ENOTSOCK)
    }
    /// poll_oneoff. Image-file subscriptions are always ready: when there are any, their events are
    /// returned at once. Otherwise host fds are translated in place in the app's subscriptions,
    /// `host` is called (the host's poll_oneoff), and the app's fds are put back. An unknown fd or
    /// an image directory makes the whole call EBADF, as in wasmtime.
    pub fn poll_oneoff<M: AppMem>(
        &self,
        m: &mut M,
        subs: u32,
        events: u32,
        n: u32,
        nevents: u32,
        host: impl FnOnce(&mut M) -> Errno,
    ) -> R<()> {
        if n == 0 {
            return Err(EINVAL);
        }
        let sub_bytes = n.checked_mul(SUBSCRIPTION_SIZE).ok_or(EFAULT)?;
        m.check(subs, sub_bytes)?;
        m.check(events, n.checked_mul(EVENT_SIZE as u32).ok_or(EFAULT)?)?;
        m.check(nevents, 4)?;
        let raw = m.get(subs, sub_bytes)?;
        // Pass 1 checks every subscription and counts the ready ones (image files); pass 2 writes
        // their events, or (none ready) puts the host fds in place of the app's for the host.
        let mut ready = 0u32;
        for pass in [false, true] {
            let mut found = 0u32;
            for k in 0..n {
                let at = subs + k * SUBSCRIPTION_SIZE;
                let mut s = [0u8; SUBSCRIPTION_SIZE as usize];
                m.read(at, &mut s);
                let tag = s[SUBSCRIPTION_TAG_OFF as usize];
                if tag == EVENTTYPE_CLOCK {
                    continue;
                }
                if tag != EVENTTYPE_FD_READ && tag != EVENTTYPE_FD_WRITE {
                    return Err(EINVAL);
                }
                let o = SUBSCRIPTION_FD_OFF as usize;
                let fd = u32::from_le_bytes([s[o], s[o + 1], s[o + 2], s[o + 3]]);
                if let Some(h) = self.host_fd(fd) {
                    if pass && ready == 0 {
                        m.put_u32(at + SUBSCRIPTION_FD_OFF, h)?;
                    }
                    continue;
                }
                let Some(Desc::File { node, pos, .. }) = self.fds.get(fd) else {
                    return Err(EBADF);
                };
                if pass {
                    let ud = u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]);
                    let flags = if tag == EVENTTYPE_FD_READ && self.node(node)?.size <= pos {
                        EVENTRWFLAGS_HANGUP
                    } else {
                        0
                    };
                    put_words(
                        m,
                        events + found * EVENT_SIZE as u32,
                        &event(ud, tag, 1, flags),
                    )?;
                }
                found += 1;
            }
            ready = found;
        }
        if ready > 0 {
            return m.put_u32(nevents, ready);
        }
        let e = host(m);
        m.put(subs, &raw)?;
        if e == SUCCESS {
            Ok(())
        } else {
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::TestMem;
    use crate::path::tests::tree;
    use alloc::boxed::Box;

    /// App scratch addresses used by the tests.
    const PATH: u32 = 1000;
    const OUT: u32 = 2000;
    const IOV: u32 = 3000;
    const BUF: u32 = 4096;

    struct T {
        v: Vfs<&'static [u8]>,
        m: TestMem,
    }

    fn setup(level: i32) -> T {
        let bytes: &'static [u8] = Box::leak(tree(level).into_boxed_slice());
        let v = Vfs::new(Some(Image::open(bytes).unwrap()));
        T {
            v,
            m: TestMem {
                app: alloc::vec![0; 1 << 20],
                image: bytes.to_vec(),
            },
        }
    }

    impl T {
        fn path(&mut self, p: &str) -> (u32, u32) {
            self.m.put(PATH, p.as_bytes()).unwrap();
            (PATH, p.len() as u32)
        }
        fn open_with(
            &mut self,
            dir: u32,
            p: &str,
            follow: bool,
            oflags: u16,
            base: u64,
            fdflags: u16,
        ) -> R<u32> {
            let (pp, pl) = self.path(p);
            let df = if follow {
                LOOKUPFLAGS_SYMLINK_FOLLOW
            } else {
                0
            };
            self.v
                .path_open(
                    &mut self.m,
                    dir,
                    df,
                    pp,
                    pl,
                    u32::from(oflags),
                    base,
                    0,
                    u32::from(fdflags),
                    OUT,
                )
                .map(|()| self.m.get_u32(OUT).unwrap())
        }
        fn open(&mut self, p: &str) -> R<u32> {
            self.open_with(3, p, true, 0, RIGHTS_READ_FILE, 0)
        }
        fn read(&mut self, fd: u32, len: u32) -> R<Vec<u8>> {
            self.m.put(IOV, &[0; 8]).unwrap();
            self.m.put(IOV + 8, &BUF.to_le_bytes()).unwrap();
            self.m.put(IOV + 12, &len.to_le_bytes()).unwrap();
            self.v.fd_read(&mut self.m, fd, IOV, 2, None, OUT)?;
            let n = self.m.get_u32(OUT).unwrap();
            Ok(self.m.get(BUF, n).unwrap())
        }
        fn pread(&mut self, fd: u32, len: u32, off: u64) -> R<Vec<u8>> {
            self.m.put(IOV, &BUF.to_le_bytes()).unwrap();
            self.m.put(IOV + 4, &len.to_le_bytes()).unwrap();
            self.v.fd_read(&mut self.m, fd, IOV, 1, Some(off), OUT)?;
            let n = self.m.get_u32(OUT).unwrap();
            Ok(self.m.get(BUF, n).unwrap())
        }
        fn stat(&mut self, dir: u32, p: &str, follow: bool) -> R<Vec<u8>> {
            let (pp, pl) = self.path(p);
            let f = if follow {
                LOOKUPFLAGS_SYMLINK_FOLLOW
            } else {
                0
            };
            self.v.path_filestat_get(&mut self.m, dir, f, pp, pl, OUT)?;
            Ok(self.m.get(OUT, FILESTAT_SIZE as u32).unwrap())
        }
        fn readdir(&mut self, fd: u32, len: u32, cookie: u64) -> R<Vec<u8>> {
            self.v.fd_readdir(&mut self.m, fd, BUF, len, cookie, OUT)?;
            let n = self.m.get_u32(OUT).unwrap();
            Ok(self.m.get(BUF, n).unwrap())
        }
    }

    fn u64_at(b: &[u8], off: usize) -> u64 {
        u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
    }

    /// Splits a readdir buffer into (d_next, d_ino, d_type, name) entries.
    fn entries(b: &[u8]) -> Vec<(u64, u64, u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i + DIRENT_SIZE <= b.len() {
            let namlen = u32::from_le_bytes(b[i + 16..i + 20].try_into().unwrap()) as usize;
            let end = core::cmp::min(b.len(), i + DIRENT_SIZE + namlen);
            out.push((
                u64_at(b, i),
                u64_at(b, i + 8),
                b[i + 20],
                b[i + DIRENT_SIZE..end].to_vec(),
            ));
            i += DIRENT_SIZE + namlen;
        }
        out
    }

    #[test]
    fn image_preopens_follow_stdio_and_report_their_names() {
        let mut t = setup(3);
        assert_eq!(t.v.host_fd(1), Some(1));
        assert_eq!(t.v.host_fd(3), None);
        t.v.fd_prestat_get(&mut t.m, 4, OUT).unwrap();
        assert_eq!(t.m.get(OUT, 8).unwrap(), [0, 0, 0, 0, 5, 0, 0, 0]);
        t.v.fd_prestat_dir_name(&mut t.m, 4, BUF, 5).unwrap();
        assert_eq!(t.m.get(BUF, 5).unwrap(), b"/data");
        assert_eq!(
            t.v.fd_prestat_dir_name(&mut t.m, 4, BUF, 4),
            Err(ENAMETOOLONG)
        );
        assert_eq!(t.v.fd_prestat_get(&mut t.m, 5, OUT), Err(EBADF));
        let fd = t.open("a.txt").unwrap();
        assert_eq!(fd, 5);
        assert_eq!(t.v.fd_prestat_get(&mut t.m, fd, OUT), Err(EBADF));
        assert_eq!(t.v.fd_prestat_dir_name(&mut t.m, fd, BUF, 9), Err(ENOTDIR));
        assert_eq!(t.v.fd_prestat_dir_name(&mut t.m, 99, BUF, 9), Err(EBADF));
    }

    #[test]
    fn reads_advance_the_position_and_fill_only_the_first_nonempty_iovec() {
        for level in [0, 3] {
            let mut t = setup(level);
            let fd = t.open("a.txt").unwrap();
            assert_eq!(t.read(fd, 3).unwrap(), b"hel");
            assert_eq!(t.read(fd, 100).unwrap(), b"lo");
            assert_eq!(t.read(fd, 100).unwrap(), b"");
            t.v.fd_tell(&mut t.m, fd, OUT).unwrap();
            assert_eq!(t.m.get(OUT, 8).unwrap(), 5u64.to_le_bytes());
        }
    }

    #[test]
    fn reads_across_chunks_match_the_file_for_raw_and_zstd_images() {
        let expect: Vec<u8> = (0..300 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
        for level in [0, 3] {
            let mut t = setup(level);
            let fd = t.open("big.bin").unwrap();
            let mut got = Vec::new();
            loop {
                let part = t.read(fd, 50_000).unwrap();
                if part.is_empty() {
                    break;
                }
                got.extend_from_slice(&part);
            }
            assert_eq!(got, expect, "level {level}");
            let part = t.pread(fd, 10, 65_530).unwrap();
            assert_eq!(part, &expect[65_530..65_540]);
        }
    }

    #[test]
    fn sequential_reads_decompress_each_chunk_once() {
        let mut t = setup(3);
        let fd = t.open("big.bin").unwrap();
        t.read(fd, 100).unwrap();
        assert_eq!(t.v.fs.cache_key.map(|k| k.1), Some(0));
        t.v.fs.stored.clear();
        t.read(fd, 100).unwrap();
        assert!(t.v.fs.stored.is_empty(), "chunk 0 was decoded again");
    }

    #[test]
    fn pread_is_capped_at_64k_and_leaves_the_position() {
        let mut t = setup(3);
        let fd = t.open("big.bin").unwrap();
        assert_eq!(t.pread(fd, 100_000, 0).unwrap().len(), 65_536);
        assert_eq!(t.pread(fd, 10, 400_000).unwrap().len(), 0);
        t.v.fd_tell(&mut t.m, fd, OUT).unwrap();
        assert_eq!(t.m.get(OUT, 8).unwrap(), 0u64.to_le_bytes());
    }

    #[test]
    fn seek_handles_set_cur_end_and_rejects_negative_positions() {
        let mut t = setup(3);
        let fd = t.open("a.txt").unwrap();
        t.v.fd_seek(&mut t.m, fd, -2, WHENCE_END, OUT).unwrap();
        assert_eq!(t.read(fd, 10).unwrap(), b"lo");
        t.v.fd_seek(&mut t.m, fd, -4, WHENCE_CUR, OUT).unwrap();
        assert_eq!(t.m.get(OUT, 8).unwrap(), 1u64.to_le_bytes());
        assert_eq!(t.v.fd_seek(&mut t.m, fd, -1, WHENCE_SET, OUT), Err(EINVAL));
        assert_eq!(t.v.fd_seek(&mut t.m, fd, -9, WHENCE_CUR, OUT), Err(EINVAL));
        assert_eq!(t.v.fd_seek(&mut t.m, fd, 0, 3, OUT), Err(EINVAL));
        assert_eq!(t.v.fd_seek(&mut t.m, 3, 0, WHENCE_SET, OUT), Err(EBADF));
        t.v.fd_seek(&mut t.m, fd, 100, WHENCE_SET, OUT).unwrap();
        assert_eq!(t.read(fd, 10).unwrap(), b"");
    }

    #[test]
    fn path_open_answers_wasmtimes_read_only_errnos() {
        let mut t = setup(3);
        assert_eq!(
            t.open_with(3, "a.txt", true, OFLAGS_CREAT, 0, 0),
            Err(EPERM)
        );
        assert_eq!(
            t.open_with(3, "new.txt", true, OFLAGS_CREAT, 0, 0),
            Err(EPERM)
        );
        assert_eq!(
            t.open_with(3, "a.txt", true, OFLAGS_TRUNC, 0, 0),
            Err(EPERM)
        );
        assert_eq!(
            t.open_with(3, "a.txt", true, 0, RIGHT_FD_WRITE, 0),
            Err(EPERM)
        );
        assert_eq!(
            t.open_with(3, "a.txt", true, OFLAGS_CREAT | OFLAGS_EXCL, 0, 0),
            Err(EPERM)
        );
        assert_eq!(
            t.open_with(3, "no.txt", true, OFLAGS_CREAT | OFLAGS_EXCL, 0, 0),
            Err(EPERM)
        );
        assert_eq!(
            t.open_with(3, "a.txt", true, OFLAGS_DIRECTORY, 0, 0),
            Err(ENOTDIR)
        );
        assert_eq!(
            t.open_with(3, "sub", true, OFLAGS_DIRECTORY | OFLAGS_TRUNC, 0, 0),
            Err(EINVAL)
        );
        assert_eq!(
            t.open_with(3, "a.txt", true, 0, 0, FDFLAGS_SYNC),
            Err(ENOTSUP)
        );
        assert_eq!(t.open_with(3, "link_a", false, 0, 0, 0), Err(ELOOP));
        assert_eq!(t.open_with(3, "a.txt", true, 0x10, 0, 0), Err(EINVAL));
        assert_eq!(t.open_with(3, "missing", true, 0, 0, 0), Err(ENOENT));
        assert_eq!(t.open_with(3, "..", true, 0, 0, 0), Err(EPERM));
        assert_eq!(t.open_with(3, "/a.txt", true, 0, 0, 0), Err(EPERM));
        assert_eq!(t.open_with(99, "a.txt", true, 0, 0, 0), Err(EBADF));
        let f = t
            .open_with(3, "link_a", true, 0, 0, FDFLAGS_APPEND)
            .unwrap();
        assert_eq!(t.open_with(f, "x", true, 0, 0, 0), Err(ENOTDIR));
        let (pp, _) = t.path("a.txt");
        assert_eq!(
            t.v.path_open(&mut t.m, 3, 0, pp, 5, 0, 0, 0, 0, u32::MAX),
            Err(EFAULT)
        );
        t.m.put(PATH, &[0xff]).unwrap();
        assert_eq!(
            t.v.path_open(&mut t.m, 3, 0, PATH, 1, 0, 0, 0, 0, OUT),
            Err(EILSEQ)
        );
    }

    #[test]
    fn fdstat_reports_wasmtimes_rights_for_preopens_dirs_and_files() {
        let mut t = setup(3);
        t.v.fd_fdstat_get(&mut t.m, 3, OUT).unwrap();
        let b = t.m.get(OUT, 24).unwrap();
        assert_eq!(b[0], FILETYPE_DIRECTORY);
        assert_eq!(
            (u64_at(&b, 8), u64_at(&b, 16)),
            (RIGHTS_PREOPEN_BASE, RIGHTS_PREOPEN_INHERITING)
        );
        assert_eq!(RIGHTS_PREOPEN_BASE, 0x07b7_fe00);
        let d = t.open_with(3, "sub", true, OFLAGS_DIRECTORY, 0, 0).unwrap();
        t.v.fd_fdstat_get(&mut t.m, d, OUT).unwrap();
        let b = t.m.get(OUT, 24).unwrap();
        assert_eq!(
            (b[0], u64_at(&b, 8), u64_at(&b, 16)),
            (FILETYPE_DIRECTORY, RIGHTS_OPENED_DIR, RIGHTS_OPENED_DIR)
        );
        let f = t
            .open_with(
                3,
                "a.txt",
                true,
                0,
                RIGHTS_READ_FILE,
                FDFLAGS_APPEND | FDFLAGS_NONBLOCK,
            )
            .unwrap();
        t.v.fd_fdstat_get(&mut t.m, f, OUT).unwrap();
        let b = t.m.get(OUT, 24).unwrap();
        assert_eq!(b[0], FILETYPE_REGULAR_FILE);
        assert_eq!(
            u16::from_le_bytes([b[2], b[3]]),
            FDFLAGS_APPEND | FDFLAGS_NONBLOCK
        );
        assert_eq!(u64_at(&b, 8), RIGHTS_ALL & !RIGHT_FD_WRITE);
        t.v.fd_fdstat_set_flags(f, 0).unwrap();
        t.v.fd_fdstat_get(&mut t.m, f, OUT).unwrap();
        assert_eq!(t.m.get(OUT, 4).unwrap()[2], 0);
        assert_eq!(
            t.v.fd_fdstat_set_flags(f, u32::from(FDFLAGS_SYNC)),
            Err(EINVAL)
        );
        assert_eq!(t.v.fd_fdstat_set_flags(3, 0), Err(EBADF));
        assert_eq!(t.v.fd_fdstat_get(&mut t.m, 77, OUT), Err(EBADF));
    }

    #[test]
    fn filestat_reports_node_metadata_with_and_without_following() {
        let mut t = setup(3);
        let b = t.stat(3, "link_a", true).unwrap();
        assert_eq!(u64_at(&b, 0), IMAGE_DEV);
        assert_ne!(u64_at(&b, 8), 0);
        assert_eq!(b[16], FILETYPE_REGULAR_FILE);
        assert_eq!(u64_at(&b, 24), 1);
        assert_eq!(u64_at(&b, 32), 5);
        assert_eq!(
            (u64_at(&b, 40), u64_at(&b, 48), u64_at(&b, 56)),
            (2_000_000_002, 1_000_000_001, 3_000_000_003)
        );
        let l = t.stat(3, "link_a", false).unwrap();
        assert_eq!((l[16], u64_at(&l, 32)), (FILETYPE_SYMBOLIC_LINK, 5));
        assert_ne!(u64_at(&l, 8), u64_at(&b, 8));
        assert_eq!(t.stat(3, "a.txt/", false), Err(ENOTDIR));
        assert_eq!(t.stat(3, "a.txt/", true), Err(ENOTDIR));
        assert_eq!(t.stat(3, "nope", true), Err(ENOENT));
        let f = t.open("a.txt").unwrap();
        assert_eq!(t.stat(f, "x", true), Err(EBADF));
        t.v.fd_filestat_get(&mut t.m, f, OUT).unwrap();
        assert_eq!(t.m.get(OUT, 64).unwrap(), b);
    }

    #[test]
    fn readdir_lists_dot_dotdot_then_sorted_entries_with_stable_cookies() {
        let mut t = setup(3);
        let d = t.open_with(3, "sub", true, OFLAGS_DIRECTORY, 0, 0).unwrap();
        let all = entries(&t.readdir(d, 4096, 0).unwrap());
        let names: Vec<&[u8]> = all.iter().map(|e| &e.3[..]).collect();
        assert_eq!(names, [&b"."[..], b"..", b"abs_a", b"b.txt", b"deep"]);
        assert_eq!(all.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert!(all.iter().all(|e| e.1 != 0));
        assert_eq!(all[0].1, all[1].1);
        assert_eq!(
            (all[2].2, all[3].2, all[4].2),
            (
                FILETYPE_SYMBOLIC_LINK,
                FILETYPE_REGULAR_FILE,
                FILETYPE_DIRECTORY
            )
        );
        let rest = entries(&t.readdir(d, 4096, 3).unwrap());
        assert_eq!(rest[0].3, b"b.txt");
        assert!(t.readdir(d, 4096, 5).unwrap().is_empty());
    }

    #[test]
    fn readdir_truncates_the_entry_that_does_not_fit_like_wasmtime() {
        let mut t = setup(3);
        let full = t.readdir(3, 4096, 0).unwrap();
        for len in [0u32, 10, 24, 25, 30, 51] {
            let part = t.readdir(3, len, 0).unwrap();
            assert_eq!(part.len(), len as usize);
            assert_eq!(&part[..], &full[..len as usize]);
        }
        assert_eq!(t.v.fd_readdir(&mut t.m, 5, BUF, 10, 0, OUT), Err(EBADF));
        let f = t.open("a.txt").unwrap();
        assert_eq!(t.v.fd_readdir(&mut t.m, f, BUF, 10, 0, OUT), Err(EBADF));
        assert_eq!(
            t.v.fd_readdir(&mut t.m, 3, u32::MAX - 4, 10, 0, OUT),
            Err(EFAULT)
        );
    }

    #[test]
    fn readlink_truncates_to_the_buffer_and_rejects_non_links() {
        let mut t = setup(3);
        let (pp, pl) = t.path("sub/abs_a");
        t.v.path_readlink(&mut t.m, 3, pp, pl, BUF, 100, OUT)
            .unwrap();
        assert_eq!(t.m.get_u32(OUT), Ok(6));
        assert_eq!(t.m.get(BUF, 6).unwrap(), b"/a.txt");
        t.v.path_readlink(&mut t.m, 3, pp, pl, BUF, 3, OUT).unwrap();
        assert_eq!(t.m.get_u32(OUT), Ok(3));
        let (pp, pl) = t.path("a.txt");
        assert_eq!(
            t.v.path_readlink(&mut t.m, 3, pp, pl, BUF, 100, OUT),
            Err(EINVAL)
        );
    }

    #[test]
    fn write_side_calls_answer_the_read_only_errnos() {
        let mut t = setup(3);
        let f = t.open("a.txt").unwrap();
        let (pp, pl) = t.path("x");
        t.m.put(IOV, &[0; 8]).unwrap();
        assert_eq!(t.v.fd_write(&mut t.m, f, IOV, 1, None, OUT), Err(EBADF));
        assert_eq!(
            t.v.fd_write(&mut t.m, f, u32::MAX, 1, None, OUT),
            Err(EFAULT)
        );
        assert_eq!(t.v.fd_allocate(f), Err(ENOTSUP));
        assert_eq!(t.v.fd_allocate(3), Err(EBADF));
        assert_eq!(t.v.fd_filestat_set_size(f, 0), Err(EPERM));
        assert_eq!(
            t.v.fd_filestat_set_times(f, 0, 0, FSTFLAGS_MTIM_NOW),
            Err(EPERM)
        );
        assert_eq!(
            t.v.fd_filestat_set_times(f, 0, 0, FSTFLAGS_MTIM | FSTFLAGS_MTIM_NOW),
            Err(EINVAL)
        );
        assert_eq!(t.v.fd_sync(f), Ok(()));
        assert_eq!(t.v.fd_sync(3), Err(EBADF));
        assert_eq!(t.v.fd_advise(f, 9), Err(EINVAL));
        assert_eq!(t.v.fd_advise(f, 1), Ok(()));
        assert_eq!(t.v.fd_fdstat_set_rights(f, 0, 0), Err(ENOTSUP));
        assert_eq!(t.v.path_create_directory(&t.m, 3, pp, pl), Err(EPERM));
        assert_eq!(t.v.path_remove(&t.m, 3, pp, pl, true), Err(EPERM));
        assert_eq!(t.v.path_remove(&t.m, f, pp, pl, false), Err(EBADF));
        assert_eq!(t.v.path_symlink(&t.m, pp, pl, 3, pp, pl), Err(EPERM));
        assert_eq!(
            t.v.path_filestat_set_times(&t.m, 3, 0, pp, pl, 0, 0, FSTFLAGS_ATIM),
            Err(EPERM)
        );
        assert_eq!(t.v.path_rename(&t.m, 3, pp, pl, 4, pp, pl), Err(EPERM));
        assert_eq!(t.v.path_link(&t.m, 1, 0, pp, pl, 3, pp, pl), Err(EPERM));
        assert_eq!(t.v.path_rename(&t.m, 3, pp, pl, f, pp, pl), Err(EBADF));
        assert_eq!(t.v.sock(f), Err(ENOTSOCK));
        assert_eq!(t.v.sock(50), Err(EBADF));
    }

    #[test]
    fn close_and_renumber_manage_the_table_like_wasmtime() {
        let mut t = setup(3);
        let f = t.open("a.txt").unwrap();
        let mut closed = Vec::new();
        t.v.fd_renumber(f, 1, |h| {
            closed.push(h);
            SUCCESS
        })
        .unwrap();
        assert_eq!(closed, [1]);
        assert_eq!(t.read(1, 5).unwrap(), b"hello");
        assert_eq!(t.v.fd_renumber(f, 1, |_| SUCCESS), Err(EBADF));
        assert_eq!(t.v.fd_renumber(1, 1, |_| SUCCESS), Ok(()));
        t.v.fd_close(3).unwrap();
        assert_eq!(t.v.fd_close(3), Err(EBADF));
        assert_eq!(t.open_with(3, "a.txt", true, 0, 0, 0), Err(EBADF));
        assert_eq!(t.open_with(4, "d.txt", true, 0, 0, 0), Ok(5));
    }

    #[test]
    fn poll_answers_image_files_at_once_and_translates_host_fds() {
        let mut t = setup(3);
        let f = t.open("a.txt").unwrap();
        let sub = |ud: u64, tag: u8, fd: u32| {
            let mut s = [0u8; 48];
            s[..8].copy_from_slice(&ud.to_le_bytes());
            s[8] = tag;
            s[16..20].copy_from_slice(&fd.to_le_bytes());
            s
        };
        t.m.put(BUF, &sub(7, EVENTTYPE_FD_READ, f)).unwrap();
        t.m.put(BUF + 48, &sub(8, EVENTTYPE_FD_WRITE, 1)).unwrap();
        t.v.poll_oneoff(&mut t.m, BUF, OUT, 2, IOV, |_| panic!("host polled"))
            .unwrap();
        assert_eq!(t.m.get_u32(IOV), Ok(1));
        let e = t.m.get(OUT, 32).unwrap();
        assert_eq!(
            (u64_at(&e, 0), e[10], u64_at(&e, 16), e[24]),
            (7, EVENTTYPE_FD_READ, 1, 0)
        );

        let h = t.v.fds.push(Desc::Host(42));
        t.m.put(BUF, &sub(7, EVENTTYPE_FD_READ, h)).unwrap();
        let mut seen = 0;
        t.v.poll_oneoff(&mut t.m, BUF, OUT, 2, IOV, |m| {
            seen = m.get_u32(BUF + 16).unwrap();
            SUCCESS
        })
        .unwrap();
        assert_eq!(seen, 42);
        assert_eq!(t.m.get_u32(BUF + 16), Ok(h));

        t.m.put(BUF, &sub(7, EVENTTYPE_FD_READ, 3)).unwrap();
        assert_eq!(
            t.v.poll_oneoff(&mut t.m, BUF, OUT, 1, IOV, |_| SUCCESS),
            Err(EBADF)
        );
        t.m.put(BUF, &sub(7, EVENTTYPE_FD_READ, 99)).unwrap();
        assert_eq!(
            t.v.poll_oneoff(&mut t.m, BUF, OUT, 1, IOV, |_| SUCCESS),
            Err(EBADF)
        );
        assert_eq!(
            t.v.poll_oneoff(&mut t.m, BUF, OUT, 0, IOV, |_| SUCCESS),
            Err(EINVAL)
        );
    }

    #[test]
    fn a_file_at_end_of_file_polls_readable_with_hangup() {
        let mut t = setup(3);
        let f = t.open("a.txt").unwrap();
        t.read(f, 10).unwrap();
        let mut s = [0u8; 48];
        s[8] = EVENTTYPE_FD_READ;
        s[16..20].copy_from_slice(&f.to_le_bytes());
        t.m.put(BUF, &s).unwrap();
        t.v.poll_oneoff(&mut t.m, BUF, OUT, 1, IOV, |_| SUCCESS)
            .unwrap();
        assert_eq!(
            t.m.get(OUT + 24, 2).unwrap(),
            EVENTRWFLAGS_HANGUP.to_le_bytes()
        );
    }
}
