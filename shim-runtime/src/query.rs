//! The preview1 calls on the tree's fds that leave the tree unchanged: reads, stats, seeks,
//! listings, prestats and fd flags.

use wasifs_image::format::Kind;
use wasifs_image::reader::Source;

use crate::args::{Buf, FdFlags, Iovecs, LookupFlags, PathArg, Rights};
use crate::fallible::copy;
use crate::fdtable::Desc;
use crate::host::Host;
use crate::mem::AppMem;
use crate::path::resolve;
use crate::vfs::{filestat, filetype, io, put_words, Vfs, R};
use crate::wasi::*;

/// Writes as much of `bytes` as fits in `room` bytes at `ptr` (range checked by the caller);
/// returns the count written.
fn put_part<M: AppMem>(m: &mut M, ptr: u32, bytes: &[u8], room: u32) -> u32 {
    let n = core::cmp::min(bytes.len(), room as usize);
    m.write(ptr, bytes.get(..n).unwrap_or(&[]));
    n as u32
}

impl<S: Source, H: Host> Vfs<S, H> {
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

    /// fd_sync / fd_datasync: nothing to flush in memory; files only.
    pub fn fd_sync(&self, fd: u32) -> R<()> {
        self.is_file(fd)
    }

    /// fd_fdstat_get: the rights and flags wasmtime reports for a file or directory.
    pub fn fd_fdstat_get<M: AppMem>(&self, m: &mut M, fd: u32, ptr: u32) -> R<()> {
        let st = match self.fds.get(fd) {
            Some(Desc::Dir {
                preopen: Some(_), ..
            }) => Fdstat {
                filetype: FILETYPE_DIRECTORY,
                flags: 0,
                base: RIGHTS_PREOPEN_BASE,
                inheriting: RIGHTS_PREOPEN_INHERITING,
            },
            Some(Desc::Dir { preopen: None, .. }) => Fdstat {
                filetype: FILETYPE_DIRECTORY,
                flags: 0,
                base: RIGHTS_OPENED_DIR,
                inheriting: RIGHTS_OPENED_DIR,
            },
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
                Fdstat {
                    filetype: FILETYPE_REGULAR_FILE,
                    flags,
                    base: rights,
                    inheriting: rights,
                }
            }
            _ => return Err(EBADF),
        };
        put_words(m, ptr, &st.words())
    }

    /// fd_fdstat_set_flags: files only; APPEND and NONBLOCK may change, the sync flags may not.
    pub fn fd_fdstat_set_flags(&mut self, fd: u32, flags: FdFlags) -> R<()> {
        flags.check()?;
        let Some(Desc::File {
            append, nonblock, ..
        }) = self.fds.get_mut(fd)
        else {
            return Err(EBADF);
        };
        if flags.has(FDFLAGS_DSYNC | FDFLAGS_SYNC | FDFLAGS_RSYNC) {
            return Err(EINVAL);
        }
        *append = flags.has(FDFLAGS_APPEND);
        *nonblock = flags.has(FDFLAGS_NONBLOCK);
        Ok(())
    }

    /// fd_fdstat_set_rights: wasmtime does not support it.
    pub fn fd_fdstat_set_rights(&self, fd: u32, rights: Rights) -> R<()> {
        rights.check()?;
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
        iovs: Iovecs,
        at: Option<u64>,
        nread: u32,
    ) -> R<()> {
        let (buf, len) = iovs.first(m)?;
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
        put_words(m, ptr, &prestat_dir(len))
    }

    /// fd_prestat_dir_name of an image preopen or a renamed host preopen (ENAMETOOLONG when the
    /// buffer is short, no NUL).
    pub fn fd_prestat_dir_name<M: AppMem>(&self, m: &mut M, fd: u32, buf: Buf) -> R<()> {
        let (off, name_len) = self.preopen_name(fd)?.ok_or(ENOTDIR)?;
        if name_len > buf.len {
            return Err(ENAMETOOLONG);
        }
        let name = self.fs.image_str(off, name_len)?;
        m.put(buf.ptr, &name)
    }

    /// fd_readdir: `.`, `..`, then the entries in listing order; cookie = index of the next entry
    /// in the current listing (wasmtime's rule); the entry that does not fit is truncated to the
    /// buffer, exactly like wasmtime.
    pub fn fd_readdir<M: AppMem>(
        &self,
        m: &mut M,
        fd: u32,
        out: Buf,
        cookie: u64,
        bufused: u32,
    ) -> R<()> {
        let Buf {
            ptr: buf,
            len: buf_len,
        } = out;
        let (dir, _) = self.dir(fd)?;
        m.check(buf, buf_len)?;
        m.check(bufused, 4)?;
        let mut used = 0u32;
        let mut idx = cookie;
        while used < buf_len {
            let (name, ino, ty) = if idx < 2 {
                let dots: &[u8] = if idx == 0 { b"." } else { b".." };
                (copy(dots)?, dir.ino(), FILETYPE_DIRECTORY)
            } else {
                let Some((name, id)) = self.fs.entry(&dir, idx - 2)? else {
                    break;
                };
                let n = self.node(id)?;
                (name, n.ino(), filetype(n.kind))
            };
            let d = Dirent {
                next: idx + 1,
                ino,
                namlen: name.len() as u32,
                filetype: ty,
            };
            for w in d.words() {
                used += put_part(m, buf + used, &w.to_le_bytes(), buf_len - used);
            }
            used += put_part(m, buf + used, &name, buf_len - used);
            idx += 1;
        }
        m.put_u32(bufused, used)
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
        path: PathArg,
        flags: LookupFlags,
        ptr: u32,
    ) -> R<()> {
        flags.check()?;
        let (dir, _) = self.dir(fd)?;
        let p = path.read(m)?;
        let n = resolve(&self.fs, &dir, &p, flags.follow())?;
        put_words(m, ptr, &filestat(&n))
    }

    /// path_readlink: the target, truncated to the buffer (EINVAL if not a symlink).
    pub fn path_readlink<M: AppMem>(
        &self,
        m: &mut M,
        fd: u32,
        path: PathArg,
        out: Buf,
        bufused: u32,
    ) -> R<()> {
        let Buf {
            ptr: buf,
            len: buf_len,
        } = out;
        let (dir, _) = self.dir(fd)?;
        let p = path.read(m)?;
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
}
