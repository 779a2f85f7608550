//! The preview1 calls that create, write, rename or delete, on the tree's fds.
//!
//! Semantics are wasmtime's on a real directory (cap-std underneath): a read-only mount answers
//! EPERM before any lookup; trailing slashes and `.`/`..` as last component behave as on Linux.

use alloc::vec::Vec;

use wasifs_image::format::Kind;
use wasifs_image::reader::{Node, Source};

use crate::args::{Iovecs, LookupFlags, OpenArgs, PathArg, Times};
use crate::fallible::extend;
use crate::fdtable::Desc;
use crate::host::Host;
use crate::mem::AppMem;
use crate::path::{ancestry, is_dot, resolve, split};
use crate::vfs::{Vfs, R};
use crate::wasi::*;

/// A path split for a call that changes the tree: its parent directory, last component, and
/// whether it had a trailing slash (see `path::split`).
type Split = (Node, Vec<u8>, bool);

impl<S: Source, H: Host> Vfs<S, H> {
    /// The directory behind `fd` and path argument `path`, for a call that changes the tree:
    /// EBADF, then the path's EFAULT/EILSEQ, then EPERM on a read-only mount.
    fn wdir<M: AppMem>(&self, m: &M, fd: u32, path: PathArg) -> R<(Node, Vec<u8>)> {
        let (dir, ro) = self.dir(fd)?;
        let p = path.read(m)?;
        if ro {
            return Err(EPERM);
        }
        Ok((dir, p))
    }

    /// Sets the times `fst` asks for on node `id` (ctime moves to now).
    fn set_times(&mut self, id: u32, t: Times) -> R<()> {
        let Times { atim, mtim, fst } = t;
        let now = self.host.now();
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
    /// TRUNC) on a read-only mount is EPERM before any lookup, as wasmtime answers. Inlined into
    /// its one caller, the export, so that the `OpenArgs` aggregate costs no stack copy.
    #[inline(always)]
    pub fn path_open<M: AppMem>(
        &mut self,
        m: &mut M,
        fd: u32,
        path: PathArg,
        args: OpenArgs,
        fd_ptr: u32,
    ) -> R<()> {
        let OpenArgs {
            dirflags,
            oflags,
            rights,
            fdflags,
        } = args;
        dirflags.check()?;
        oflags.check()?;
        rights.check()?;
        fdflags.check()?;
        let p = path.read(m)?;
        let (dir, ro) = match self.fds.get(fd) {
            Some(Desc::Dir { node, ro, .. }) => (self.node(node)?, ro),
            Some(Desc::File { .. }) => return Err(ENOTDIR),
            _ => return Err(EBADF),
        };
        let base = rights.base;
        let creat = oflags.has(OFLAGS_CREAT);
        let trunc = oflags.has(OFLAGS_TRUNC);
        let excl = oflags.has(OFLAGS_EXCL);
        let directory = oflags.has(OFLAGS_DIRECTORY);
        // wasmtime's open mode: the fd_write right, CREAT or TRUNC open for writing; without the
        // fd_write right the file is also opened for reading.
        let write = base & RIGHT_FD_WRITE != 0 || creat || trunc;
        let read = base & RIGHT_FD_READ != 0 || base & RIGHT_FD_WRITE == 0;
        if fdflags.has(FDFLAGS_SYNC | FDFLAGS_DSYNC | FDFLAGS_RSYNC) {
            return Err(ENOTSUP);
        }
        if directory && (creat || excl || trunc) {
            return Err(EINVAL);
        }
        if ro && write {
            return Err(EPERM);
        }
        let follow = dirflags.follow();
        let now = self.host.now();
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
                    append: fdflags.has(FDFLAGS_APPEND),
                    nonblock: fdflags.has(FDFLAGS_NONBLOCK),
                    read,
                    write,
                    ro,
                }
            }
        };
        m.check(fd_ptr, 4)?;
        self.fs.open(n.id)?;
        let new = match self.fds.push(desc) {
            Ok(fd) => fd,
            Err(e) => {
                self.fs.close(n.id);
                return Err(e);
            }
        };
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
            extend(&mut p, &t)?;
        }
        Err(ELOOP)
    }

    /// fd_write (`at` = None) and fd_pwrite: writes the first non-empty iovec, as wasmtime does;
    /// in append mode always at the end of the file (Linux `pwrite` ignores the offset then).
    pub fn fd_write<M: AppMem>(
        &mut self,
        m: &mut M,
        fd: u32,
        iovs: Iovecs,
        at: Option<u64>,
        nwritten: u32,
    ) -> R<()> {
        let (buf, len) = iovs.first(m)?;
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
        let n = if len > 0 {
            self.fs.write(m, node, off, buf, len, self.host.now())?
        } else {
            0
        };
        if at.is_none() {
            if let Some(Desc::File { pos, .. }) = self.fds.get_mut(fd) {
                *pos = off + u64::from(n);
            }
        }
        m.put_u32(nwritten, n)
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
        self.fs.set_size(node, size, self.host.now())
    }

    /// fd_filestat_set_times on a file or directory fd (EPERM on a read-only mount). Inlined into
    /// the export, like `path_open`, so that `Times` costs no stack copy.
    #[inline(always)]
    pub fn fd_filestat_set_times(&mut self, fd: u32, t: Times) -> R<()> {
        t.check()?;
        let (n, ro) = self.any_node(fd)?;
        if ro {
            return Err(EPERM);
        }
        self.set_times(n.id, t)
    }

    /// path_filestat_set_times: flags checked, EPERM on a read-only mount, then the times set on
    /// the node the path names (the final symlink followed or not). Inlined into the export.
    #[inline(always)]
    pub fn path_filestat_set_times<M: AppMem>(
        &mut self,
        m: &M,
        fd: u32,
        path: PathArg,
        flags: LookupFlags,
        t: Times,
    ) -> R<()> {
        flags.check()?;
        t.check()?;
        let (dir, p) = self.wdir(m, fd, path)?;
        let n = resolve(&self.fs, &dir, &p, flags.follow())?;
        self.set_times(n.id, t)
    }

    /// path_create_directory: EEXIST for any existing name (a dangling symlink too).
    pub fn path_create_directory<M: AppMem>(&mut self, m: &M, fd: u32, path: PathArg) -> R<()> {
        let (start, p) = self.wdir(m, fd, path)?;
        let (dir, base, _) = split(&self.fs, &start, &p)?;
        if is_dot(&base) || self.fs.lookup(&dir, &base)?.is_some() {
            return Err(EEXIST);
        }
        self.fs
            .create(dir.id, &base, Kind::Dir, Vec::new(), self.host.now())
            .map(drop)
    }

    /// path_remove_directory (`dir` true) and path_unlink_file: wasmtime's errnos, including a
    /// trailing slash, `.` or `..` as last component (rmdir: EINVAL, unlink: EISDIR).
    pub fn path_remove<M: AppMem>(
        &mut self,
        m: &M,
        fd: u32,
        path: PathArg,
        want_dir: bool,
    ) -> R<()> {
        let (start, p) = self.wdir(m, fd, path)?;
        let (dir, base, trail) = split(&self.fs, &start, &p)?;
        if trail || is_dot(&base) {
            resolve(&self.fs, &start, &p, true)?;
            // wasmtime: `dir/.` and `dir/..` alike are EINVAL for rmdir (Linux would say
            // ENOTEMPTY for `..`).
            return Err(if want_dir { EINVAL } else { EISDIR });
        }
        let id = self.fs.lookup(&dir, &base)?.ok_or(ENOENT)?;
        let n = self.node(id)?;
        match (want_dir, n.kind == Kind::Dir) {
            (true, false) => return Err(ENOTDIR),
            (false, true) => return Err(EISDIR),
            (true, true) if self.fs.count(&n)? > 0 => return Err(ENOTEMPTY),
            _ => {}
        }
        self.fs.remove_entry(dir.id, &base, self.host.now())?;
        self.fs.release(id);
        Ok(())
    }

    /// path_symlink: absolute targets are EPERM (cap-std refuses them), an empty one ENOENT.
    pub fn path_symlink<M: AppMem>(&mut self, m: &M, old: PathArg, fd: u32, new: PathArg) -> R<()> {
        self.dir(fd)?;
        let target = old.read(m)?;
        let (start, p) = self.wdir(m, fd, new)?;
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
            .create(dir.id, &base, Kind::Symlink, target, self.host.now())
            .map(drop)
    }

    /// The two sides of path_link/path_rename, split into (parent dir, last component, trailing
    /// slash). A read-only side is EPERM (wasmtime checks permissions first); a host directory on
    /// one side only is EXDEV (the embedded tree is another filesystem).
    fn two<M: AppMem>(
        &self,
        m: &M,
        old_fd: u32,
        old: PathArg,
        new_fd: u32,
        new: PathArg,
    ) -> R<[Split; 2]> {
        // Each side: `None` for a host directory, else the tree directory and its read-only flag.
        let side = |fd| match self.host_fd(fd) {
            Some(_) => Ok(None),
            None => self.dir(fd).map(Some),
        };
        let (sa, sb) = (side(old_fd)?, side(new_fd)?);
        let a = old.read(m)?;
        let b = new.read(m)?;
        if sa.is_some_and(|d| d.1) || sb.is_some_and(|d| d.1) {
            return Err(EPERM);
        }
        let (Some((da, _)), Some((db, _))) = (sa, sb) else {
            return Err(EXDEV);
        };
        let sides = [split(&self.fs, &da, &a)?, split(&self.fs, &db, &b)?];
        // `..` naming the parent of the directory fd leaves it: EPERM, as wasmtime answers any
        // escape (before EBUSY or EEXIST for a last component `..`).
        let leaves = |s: &Split, start: &Node| s.0.id == start.id && s.1 == b"..";
        if leaves(&sides[0], &da) || leaves(&sides[1], &db) {
            return Err(EPERM);
        }
        Ok(sides)
    }

    /// path_link: a new name for a file or symlink (never followed: FOLLOW is EINVAL in wasmtime).
    pub fn path_link<M: AppMem>(
        &mut self,
        m: &M,
        old_fd: u32,
        old: PathArg,
        flags: LookupFlags,
        new_fd: u32,
        new: PathArg,
    ) -> R<()> {
        let [(sdir, sbase, strail), (ddir, dbase, dtrail)] =
            self.two(m, old_fd, old, new_fd, new)?;
        if flags.0 != 0 {
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
        let now = self.host.now();
        self.fs.add_entry(ddir.id, dbase, id, now)?;
        let n = &mut self.fs.own(id)?.n;
        n.nlink += 1;
        n.ctime_ns = now;
        Ok(())
    }

    /// path_rename: files and directories, over an existing target of a compatible kind (an empty
    /// directory for a directory); moving a directory into itself is EINVAL; `.` or `..` as last
    /// component of either side is EBUSY.
    pub fn path_rename<M: AppMem>(
        &mut self,
        m: &M,
        old_fd: u32,
        old: PathArg,
        new_fd: u32,
        new: PathArg,
    ) -> R<()> {
        let [(sdir, sbase, strail), (ddir, dbase, dtrail)] =
            self.two(m, old_fd, old, new_fd, new)?;
        if is_dot(&sbase) || is_dot(&dbase) {
            // wasmtime's answer (a `..` leaving the directory was EPERM in `two`).
            return Err(EBUSY);
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
        // Whatever may run out of memory comes before the first change (removing the source
        // entry is itself all-or-nothing), so that ENOMEM leaves the tree as it was.
        if let Some(t) = target {
            self.fs.own(t)?;
        }
        self.fs.prepare_entry(ddir.id, id)?;
        let now = self.host.now();
        self.fs.remove_entry(sdir.id, &sbase, now)?;
        if let Some(t) = target {
            self.fs.remove_entry(ddir.id, &dbase, now)?;
            self.fs.release(t);
        }
        self.fs.add_entry(ddir.id, dbase, id, now)?;
        let o = &mut self.fs.own(id)?.n;
        o.nlink = n.nlink;
        o.ctime_ns = now;
        Ok(())
    }
}
