//! The app's fd table: every fd number the app sees, and what backs it (host fd or image node).

use alloc::vec::Vec;

use crate::fallible::push;
use crate::overlay::R;

/// What an app fd refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Desc {
    /// A host fd (stdio, a host preopen, or something opened through one): calls forward to it.
    Host(u32),
    /// A host preopen the image renames (`--preopen GUEST=HOST`): calls forward to host fd
    /// `host`, except `fd_prestat_get`/`fd_prestat_dir_name`, which answer with the guest name of
    /// the image's host alias `alias`.
    Alias {
        /// The host fd.
        host: u32,
        /// Index of the image's HostAlias record.
        alias: u32,
    },
    /// A directory of the tree; `preopen` is the image preopen index when it was preopened.
    Dir {
        /// Node id of the directory.
        node: u32,
        /// Index of the image preopen this fd is, if it is one.
        preopen: Option<u32>,
        /// It lies in a read-only mount.
        ro: bool,
    },
    /// A file of the tree.
    File {
        /// Node id of the file.
        node: u32,
        /// Current position.
        pos: u64,
        /// fdflags::append: every fd_write/fd_pwrite goes to the end of the file.
        append: bool,
        /// fdflags::nonblock was requested (reported by fd_fdstat_get).
        nonblock: bool,
        /// Opened for reading (else fd_read is EBADF, as for an `O_WRONLY` fd).
        read: bool,
        /// Opened for writing (else fd_write is EBADF and set_size EINVAL, as for `O_RDONLY`).
        write: bool,
        /// It lies in a read-only mount (set_size/set_times: EPERM).
        ro: bool,
    },
}

/// fd number → descriptor. Numbers are handed out like wasmtime does: the highest freed number
/// first, else one past the highest number in use.
#[derive(Debug, Default)]
pub struct FdTable {
    slots: Vec<Option<Desc>>,
}

impl FdTable {
    /// An empty table.
    pub const fn new() -> Self {
        FdTable { slots: Vec::new() }
    }

    /// The descriptor behind `fd`, if any.
    pub fn get(&self, fd: u32) -> Option<Desc> {
        self.slots.get(fd as usize).copied().flatten()
    }

    /// Mutable access to the descriptor behind `fd`, if any.
    pub fn get_mut(&mut self, fd: u32) -> Option<&mut Desc> {
        self.slots.get_mut(fd as usize).and_then(Option::as_mut)
    }

    /// Installs `d` under a fresh number and returns it (ENOMEM when the table cannot grow).
    pub fn push(&mut self, d: Desc) -> R<u32> {
        match self.slots.iter().rposition(Option::is_none) {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i) {
                    *s = Some(d);
                }
                Ok(i as u32)
            }
            None => {
                push(&mut self.slots, Some(d))?;
                Ok((self.slots.len() - 1) as u32)
            }
        }
    }

    /// Removes `fd`, returning what it was.
    pub fn remove(&mut self, fd: u32) -> Option<Desc> {
        self.slots.get_mut(fd as usize).and_then(Option::take)
    }

    /// Moves `from` to `to` (both must exist; the caller has closed what `to` held).
    pub fn renumber(&mut self, from: u32, to: u32) -> bool {
        if self.get(to).is_none() {
            return false;
        }
        match self.remove(from) {
            Some(d) => match self.slots.get_mut(to as usize) {
                Some(s) => {
                    *s = Some(d);
                    true
                }
                None => false,
            },
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_reused_highest_freed_first_like_wasmtime() {
        let mut t = FdTable::new();
        for h in 0..6 {
            assert_eq!(t.push(Desc::Host(h)), Ok(h));
        }
        t.remove(3);
        t.remove(4);
        assert_eq!(t.push(Desc::Host(40)), Ok(4));
        assert_eq!(t.push(Desc::Host(30)), Ok(3));
        assert_eq!(t.push(Desc::Host(60)), Ok(6));
    }

    #[test]
    fn renumber_moves_the_entry_and_frees_the_source() {
        let mut t = FdTable::new();
        t.push(Desc::Host(0)).unwrap();
        t.push(Desc::Host(1)).unwrap();
        t.push(Desc::Host(2)).unwrap();
        assert!(t.renumber(2, 0));
        assert_eq!(t.get(0), Some(Desc::Host(2)));
        assert_eq!(t.get(2), None);
        assert!(!t.renumber(2, 1));
        assert!(!t.renumber(1, 7));
        assert_eq!(t.push(Desc::Host(9)), Ok(2));
    }

    #[test]
    fn unknown_fds_are_absent() {
        let mut t = FdTable::new();
        t.push(Desc::Host(0)).unwrap();
        assert_eq!(t.get(1), None);
        assert_eq!(t.get(u32::MAX), None);
        assert_eq!(t.remove(u32::MAX), None);
        assert!(t.get_mut(5).is_none());
    }
}
