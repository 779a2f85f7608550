//! The preview1 calls that create, write, rename or delete, on the tree's fds.
//!
//! Semantics are wasmtime's on a real directory (cap-std underneath): a read-only mount answers
//! EPERM before any lookup; trailing slashes and `.`/`..` as last component behave as on Linux.

use alloc::vec::Vec;

use wasifs_image::format::Kind;
use wasifs_image::reader::{Node, Source};

use crate::fdtable::Desc;
use crate::mem::AppMem;
use crate::path::{ancestry, is_dot, resolve, split};
use crate::vfs::{flags_ok, fst_ok, Vfs, R};
use crate::wasi::*;

impl<S: Source> Vfs<S> {
    /// The directory behind `fd` and path argument `path`, for a call that changes the tree:
    /// EBADF, then the path's EFAULT/EILSEQ, then EPERM on a read-only mount.
    fn wdir<M: AppMem>(&self, m: &M, fd: u32, path: u32, len: u32) -> R<(Node, Vec<u8>)> {
        let (dir, ro) = self.dir(fd)?;
        let p = Self::path(m, path, len)?;
        if ro {
            return Err(EPERM);
        }
        Ok((dir, p))
    }

    /// Sets the times `fst` asks for on node `id` (ctime moves to now).
    fn set_times(&mut self, id: u32, atim: u64, mtim: u64, fst: u32) -> R<()> {
        let now = self.now();
        let n = &mut self.fs.own(id)?.n;
        let pick = |given, at_now, v, old| {
            if fst & given != 0 {
                v
            } else if fst & at_now != 0 {
                now
            } else {
                old
            }
        };
        n.atime_ns = pick(FSTFLAGS_ATIM, FSTFLAGS_ATIM_NOW, atim, n.atime_ns);
        n.mtime_ns = pick(FSTFLAGS_MTIM, FSTFLAGS_MTIM_NOW, mtim, n.mtime_ns);
        if fst != 0 {
            n.ctime_ns = now;
        }
        Ok(())
    }

    /// path_open beneath a directory of the tree. Write access (the fd_write right, CREAT or
    /// TRUNC) on a read-only mount is EPERM before any lookup, as wasmtime answers.
    #[allow(clippy::too_many_arguments)]
    pub fn path_open<M: AppMem>(
        &mut self,
        m: &mut M,
        fd: u32,
        dirflags: u32,
        path: u32,
        path_len: u32,
        oflags: u32,
        base: u64,
        inheriting: u64,
        fdflags: u32,
        fd_ptr: u32,
    ) -> R<()> {
        flags_ok(u64::from(dirflags), u64::from(LOOKUPFLAGS_ALL))?;
        flags_ok(u64::from(oflags), u64::from(OFLAGS_ALL))?;
        flags_ok(base, RIGHTS_ALL)?;
        flags_ok(inheriting, RIGHTS_ALL)?;
        flags_ok(u64::from(fdflags), u64::from(FDFLAGS_ALL))?;
        let p = Self::path(m, path, path_len)?;
        let (dir, ro) = match self.fds.get(fd) {
            Some(Desc::Dir { node, ro, .. }) => (self.node(node)?, ro),
            Some(Desc::File { .. }) => return Err(ENOTDIR),
            _ => return Err(EBADF),
        };
        let (oflags, fdflags) = (oflags as u16, fdflags as u16);
        let creat = oflags & OFLAGS_CREAT != 0;
        let trunc = oflags & OFLAGS_TRUNC != 0;
        let excl = oflags & OFLAGS_EXCL != 0;
        let directory = oflags & OFLAGS_DIRECTORY != 0;
        // wasmtime's open mode: the fd_write right, CREAT or TRUNC open for writing; without the
        // fd_write right the file is also opened for reading.
        let write = base & RIGHT_FD_WRITE != 0 || creat || trunc;
        let read = base & RIGHT_FD_READ != 0 || base & RIGHT_FD_WRITE == 0;
        if fdflags & (FDFLAGS_SYNC | FDFLAGS_DSYNC | FDFLAGS_RSYNC) != 0 {
            return Err(ENOTSUP);
        }
        if directory && (creat || excl || trunc) {
            return Err(EINVAL);
        }
        if ro && write {
            return Err(EPERM);
        }
        let follow = dirflags & LOOKUPFLAGS_SYMLINK_FOLLOW != 0;
        let now = self.now();
        let n = if creat {
            self.open_create(&dir, p, follow, excl, now)?
        } else {
            resolve(&self.fs, &dir, &p, follow)?
        };
        let desc = match n.kind {
            Kind::Symlink => return Err(ELOOP),
            Kind::Dir if write => return Err(EISDIR),
            Kind::Dir => Desc::Dir {
                node: n.id,
                preopen: None,
                ro,
            },
            Kind::File if directory => return Err(ENOTDIR),
            Kind::File => {
                if trunc {
                    self.fs.set_size(n.id, 0, now)?;
                }
                Desc::File {
                    node: n.id,
                    pos: 0,
                    append: fdflags & FDFLAGS_APPEND != 0,
                    nonblock: fdflags & FDFLAGS_NONBLOCK != 0,
                    read,
                    write,
                    ro,
                }
            }
        };
        m.check(fd_ptr, 4)?;
        self.fs.open(n.id)?;
        let new = self.fds.push(desc);
        m.put_u32(fd_ptr, new)
    }

    /// The node path_open with CREAT opens: the existing one, or a new empty file. A dangling
    /// symlink is followed (with `follow`) and its target created, as open(2) does.
    fn open_create(
        &mut self,
        start: &Node,
        mut p: Vec<u8>,
        follow: bool,
        excl: bool,
        now: u64,
    ) -> R<Node> {
        for _ in 0..=MAX_SYMLINKS {
            let (dir, base, trail) = split(&self.fs, start, &p)?;
            if trail || is_dot(&base) {
                // Names a directory (or nothing): open(2) with O_CREAT says EISDIR.
                return match resolve(&self.fs, start, &p, true) {
                    Ok(_) if excl => Err(EEXIST),
                    Ok(_) | Err(ENOENT) => Err(EISDIR),
                    Err(e) => Err(e),
                };
            }
            let Some(id) = self.fs.lookup(&dir, &base)? else {
                let id = self.fs.create(dir.id, &base, Kind::File, Vec::new(), now)?;
                return self.node(id);
            };
            let n = self.node(id)?;
            if excl {
                return Err(EEXIST);
            }
            if n.kind != Kind::Symlink {
                return Ok(n);
            }
            if !follow {
                return Err(ELOOP);
            }
            let t = self.fs.target(&n)?;
            match t.first() {
                None => return Err(ENOENT),
                Some(b'/') => return Err(EPERM),
                _ => {}
            }
            let cut = p.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1);
            p.truncate(cut);
            p.extend_from_slice(&t);
        }
        Err(ELOOP)
    }

    /// fd_write (`at` = None) and fd_pwrite: writes the first non-empty iovec, as wasmtime does;
    /// in append mode always at the end of the file (Linux `pwrite` ignores the offset then).
    #[allow(clippy::too_many_arguments)]
    pub fn fd_write<M: AppMem>(
        &mut self,
        m: &mut M,
        fd: u32,
        iovs: u32,
        count: u32,
        at: Option<u64>,
        nwritten: u32,
    ) -> R<()> {
        let (buf, len) = m.first_iovec(iovs, count)?;
        let Some(Desc::File {
            node,
            pos,
            append,
            write,
            ..
        }) = self.fds.get(fd)
        else {
            return Err(EBADF);
        };
        if !write {
            return Err(EBADF);
        }
        m.check(nwritten, 4)?;
        let off = if append {
            self.node(node)?.size
        } else {
            at.unwrap_or(pos)
        };
        if len > 0 {
            self.fs.write(m, node, off, buf, len, self.now())?;
        }
        if at.is_none() {
            if let Some(Desc::File { pos, .. }) = self.fds.get_mut(fd) {
                *pos = off + u64::from(len);
            }
        }
        m.put_u32(nwritten, len)
    }

    /// fd_filestat_set_size: EPERM on a read-only mount, EINVAL unless opened for writing.
    pub fn fd_filestat_set_size(&mut self, fd: u32, size: u64) -> R<()> {
        let Some(Desc::File {
            node, write, ro, ..
        }) = self.fds.get(fd)
        else {
            return Err(EBADF);
        };
        if ro {
            return Err(EPERM);
        }
        if !write {
            return Err(EINVAL);
        }
        self.fs.set_size(node, size, self.now())
    }

    /// fd_filestat_set_times on a file or directory fd (EPERM on a read-only mount).
    pub fn fd_filestat_set_times(&mut self, fd: u32, atim: u64, mtim: u64, fst: u32) -> R<()> {
        fst_ok(fst)?;
        let (n, ro) = self.any_node(fd)?;
        if ro {
            return Err(EPERM);
        }
        self.set_times(n.id, atim, mtim, fst)
    }

    /// path_filestat_set_times: flags checked, EPERM on a read-only mount, then the times set on
    /// the node the path names (the final symlink followed or not).
    #[allow(clippy::too_many_arguments)]
    pub fn path_filestat_set_times<M: AppMem>(
        &mut self,
        m: &M,
        fd: u32,
        flags: u32,
        path: u32,
        path_len: u32,
        atim: u64,
        mtim: u64,
        fst: u32,
    ) -> R<()> {
        flags_ok(u64::from(flags), u64::from(LOOKUPFLAGS_ALL))?;
        fst_ok(fst)?;
        let (dir, p) = self.wdir(m, fd, path, path_len)?;
        let n = resolve(&self.fs, &dir, &p, flags & LOOKUPFLAGS_SYMLINK_FOLLOW != 0)?;
        self.set_times(n.id, atim, mtim, fst)
    }

    /// path_create_directory: EEXIST for any existing name (a dangling symlink too).
    pub fn path_create_directory<M: AppMem>(
        &mut self,
        m: &M,
        fd: u32,
        path: u32,
        len: u32,
    ) -> R<()> {
        let (start, p) = self.wdir(m, fd, path, len)?;
        let (dir, base, _) = split(&self.fs, &start, &p)?;
        if is_dot(&base) || self.fs.lookup(&dir, &base)?.is_some() {
            return Err(EEXIST);
        }
        self.fs
            .create(dir.id, &base, Kind::Dir, Vec::new(), self.now())
            .map(drop)
    }

    /// path_remove_directory (`dir` true) and path_unlink_file: Linux's errnos, including a
    /// trailing slash or `.` naming the directory itself (rmdir: EINVAL, unlink: EISDIR).
    pub fn path_remove<M: AppMem>(
        &mut self,
        m: &M,
        fd: u32,
        path: u32,
        len: u32,
        want_dir: bool,
    ) -> R<()> {
        let (start, p) = self.wdir(m, fd, path, len)?;
        let (dir, base, trail) = split(&self.fs, &start, &p)?;
        if trail || is_dot(&base) {
            resolve(&self.fs, &start, &p, true)?;
            return Err(match (want_dir, base.as_slice()) {
                (false, _) => EISDIR,
                (true, b"..") => ENOTEMPTY,
                _ => EINVAL,
            });
        }
        let id = self.fs.lookup(&dir, &base)?.ok_or(ENOENT)?;
        let n = self.node(id)?;
        match (want_dir, n.kind == Kind::Dir) {
            (true, false) => return Err(ENOTDIR),
            (false, true) => return Err(EISDIR),
            (true, true) if self.fs.count(&n)? > 0 => return Err(ENOTEMPTY),
            _ => {}
        }
        self.fs.remove_entry(dir.id, &base, self.now())?;
        self.fs.release(id);
        Ok(())
    }

    /// path_symlink: absolute targets are EPERM (cap-std refuses them), an empty one ENOENT.
    pub fn path_symlink<M: AppMem>(
        &mut self,
        m: &M,
        old: u32,
        old_len: u32,
        fd: u32,
        new: u32,
        new_len: u32,
    ) -> R<()> {
        self.dir(fd)?;
        let target = Self::path(m, old, old_len)?;
        let (start, p) = self.wdir(m, fd, new, new_len)?;
        match target.first() {
            None => return Err(ENOENT),
            Some(b'/') => return Err(EPERM),
            _ => {}
        }
        let (dir, base, trail) = split(&self.fs, &start, &p)?;
        if is_dot(&base) || self.fs.lookup(&dir, &base)?.is_some() {
            return Err(EEXIST);
        }
        if trail {
            return Err(ENOENT);
        }
        self.fs
            .create(dir.id, &base, Kind::Symlink, target, self.now())
            .map(drop)
    }

    /// The two sides of path_link/path_rename, split into (parent dir, last component, trailing
    /// slash). A read-only side is EPERM (wasmtime checks permissions first); a host directory on
    /// one side only is EXDEV (the embedded tree is another filesystem).
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn two<M: AppMem>(
        &self,
        m: &M,
        old_fd: u32,
        old: u32,
        old_len: u32,
        new_fd: u32,
        new: u32,
        new_len: u32,
    ) -> R<[(Node, Vec<u8>, bool); 2]> {
        // Each side: `None` for a host directory, else the tree directory and its read-only flag.
        let side = |fd| match self.host_fd(fd) {
            Some(_) => Ok(None),
            None => self.dir(fd).map(Some),
        };
        let (sa, sb) = (side(old_fd)?, side(new_fd)?);
        let a = Self::path(m, old, old_len)?;
        let b = Self::path(m, new, new_len)?;
        if sa.is_some_and(|d| d.1) || sb.is_some_and(|d| d.1) {
            return Err(EPERM);
        }
        let (Some((da, _)), Some((db, _))) = (sa, sb) else {
            return Err(EXDEV);
        };
        Ok([split(&self.fs, &da, &a)?, split(&self.fs, &db, &b)?])
    }

    /// path_link: a new name for a file or symlink (never followed: FOLLOW is EINVAL in wasmtime).
    #[allow(clippy::too_many_arguments)]
    pub fn path_link<M: AppMem>(
        &mut self,
        m: &M,
        old_fd: u32,
        flags: u32,
        old: u32,
        old_len: u32,
        new_fd: u32,
        new: u32,
        new_len: u32,
    ) -> R<()> {
        let [(sdir, sbase, strail), (ddir, dbase, dtrail)] =
            self.two(m, old_fd, old, old_len, new_fd, new, new_len)?;
        if flags != 0 {
            return Err(EINVAL);
        }
        if is_dot(&sbase) {
            return Err(EPERM);
        }
        let id = self.fs.lookup(&sdir, &sbase)?.ok_or(ENOENT)?;
        if self.node(id)?.kind == Kind::Dir {
            return Err(EPERM);
        }
        if strail {
            return Err(ENOTDIR);
        }
        if is_dot(&dbase) || self.fs.lookup(&ddir, &dbase)?.is_some() {
            return Err(EEXIST);
        }
        if dtrail {
            return Err(ENOENT);
        }
        let now = self.now();
        self.fs.add_entry(ddir.id, &dbase, id, now)?;
        let n = &mut self.fs.own(id)?.n;
        n.nlink += 1;
        n.ctime_ns = now;
        Ok(())
    }

    /// path_rename: files and directories, over an existing target of a compatible kind (an empty
    /// directory for a directory); moving a directory into itself is EINVAL.
    #[allow(clippy::too_many_arguments)]
    pub fn path_rename<M: AppMem>(
        &mut self,
        m: &M,
        old_fd: u32,
        old: u32,
        old_len: u32,
        new_fd: u32,
        new: u32,
        new_len: u32,
    ) -> R<()> {
        let [(sdir, sbase, strail), (ddir, dbase, dtrail)] =
            self.two(m, old_fd, old, old_len, new_fd, new, new_len)?;
        if is_dot(&sbase) || is_dot(&dbase) {
            return Err(EINVAL);
        }
        let id = self.fs.lookup(&sdir, &sbase)?.ok_or(ENOENT)?;
        let n = self.node(id)?;
        let is_dir = n.kind == Kind::Dir;
        if (strail || dtrail) && !is_dir {
            return Err(ENOTDIR);
        }
        if is_dir && ancestry(&self.fs, &ddir)?.contains(&id) {
            return Err(EINVAL);
        }
        let target = self.fs.lookup(&ddir, &dbase)?;
        if let Some(t) = target {
            if t == id {
                return Ok(());
            }
            let tn = self.node(t)?;
            match (is_dir, tn.kind == Kind::Dir) {
                (true, false) => return Err(ENOTDIR),
                (false, true) => return Err(EISDIR),
                (true, true) if self.fs.count(&tn)? > 0 => return Err(ENOTEMPTY),
                _ => {}
            }
        }
        let now = self.now();
        self.fs.remove_entry(sdir.id, &sbase, now)?;
        if let Some(t) = target {
            self.fs.remove_entry(ddir.id, &dbase, now)?;
            self.fs.release(t);
        }
        self.fs.add_entry(ddir.id, &dbase, id, now)?;
        let o = &mut self.fs.own(id)?.n;
        o.nlink = n.nlink;
        o.ctime_ns = now;
        Ok(())
    }
}
