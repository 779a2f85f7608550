//! Typed arguments of the preview1 calls: built from the raw words by the FFI layer, checked and
//! read by the calls at the point wasmtime checks them (its order decides the errno).

use alloc::vec::Vec;

use crate::mem::AppMem;
use crate::overlay::R;
use crate::path::validate;
use crate::wasi::*;

/// `Err(EINVAL)` when `v` has bits outside `all` (wasmtime rejects such flags first).
fn flags_ok(v: u64, all: u64) -> R<()> {
    if v & !all == 0 {
        Ok(())
    } else {
        Err(EINVAL)
    }
}

/// A path argument: `len` bytes at app address `ptr`.
#[derive(Clone, Copy)]
pub struct PathArg {
    /// App address of the first byte.
    pub ptr: u32,
    /// Length in bytes.
    pub len: u32,
}

impl PathArg {
    /// The path's bytes, read from app memory (EFAULT) and checked to be UTF-8 (EILSEQ).
    pub fn read<M: AppMem>(self, m: &M) -> R<Vec<u8>> {
        let p = m.get(self.ptr, self.len)?;
        validate(&p)?;
        Ok(p)
    }
}

/// An iovec or ciovec list: `count` entries at app address `ptr`.
#[derive(Clone, Copy)]
pub struct Iovecs {
    /// App address of the first entry.
    pub ptr: u32,
    /// Number of entries.
    pub count: u32,
}

impl Iovecs {
    /// The first non-empty buffer (address, length); EFAULT when the list or it is out of bounds.
    pub fn first<M: AppMem>(self, m: &M) -> R<(u32, u32)> {
        m.first_iovec(self.ptr, self.count)
    }
}

/// An output buffer: `len` bytes at app address `ptr`.
#[derive(Clone, Copy)]
pub struct Buf {
    /// App address of the first byte.
    pub ptr: u32,
    /// Room in bytes.
    pub len: u32,
}

/// lookupflags.
#[derive(Clone, Copy)]
pub struct LookupFlags(pub u32);

impl LookupFlags {
    /// EINVAL for undefined bits.
    pub fn check(self) -> R<()> {
        flags_ok(u64::from(self.0), u64::from(LOOKUPFLAGS_ALL))
    }
    /// Whether a symbolic link in the final component is followed.
    pub fn follow(self) -> bool {
        self.0 & LOOKUPFLAGS_SYMLINK_FOLLOW != 0
    }
}

/// oflags of path_open.
#[derive(Clone, Copy)]
pub struct OFlags(pub u32);

impl OFlags {
    /// EINVAL for undefined bits.
    pub fn check(self) -> R<()> {
        flags_ok(u64::from(self.0), u64::from(OFLAGS_ALL))
    }
    /// Whether `flag` (an `OFLAGS_*` bit) is set.
    pub fn has(self, flag: u16) -> bool {
        self.0 as u16 & flag != 0
    }
}

/// fdflags.
#[derive(Clone, Copy)]
pub struct FdFlags(pub u32);

impl FdFlags {
    /// EINVAL for undefined bits.
    pub fn check(self) -> R<()> {
        flags_ok(u64::from(self.0), u64::from(FDFLAGS_ALL))
    }
    /// Whether any of `flags` (`FDFLAGS_*` bits) is set.
    pub fn has(self, flags: u16) -> bool {
        self.0 as u16 & flags != 0
    }
}

/// A rights pair (base, inheriting).
#[derive(Clone, Copy)]
pub struct Rights {
    /// Rights of the fd itself.
    pub base: u64,
    /// Rights of fds opened through it.
    pub inheriting: u64,
}

impl Rights {
    /// EINVAL for undefined bits in either.
    pub fn check(self) -> R<()> {
        flags_ok(self.base, RIGHTS_ALL)?;
        flags_ok(self.inheriting, RIGHTS_ALL)
    }
}

/// The times of a *_set_times call and the fstflags saying which to set.
#[derive(Clone, Copy)]
pub struct Times {
    /// Access time, ns (used with `FSTFLAGS_ATIM`).
    pub atim: u64,
    /// Modification time, ns (used with `FSTFLAGS_MTIM`).
    pub mtim: u64,
    /// fstflags.
    pub fst: u32,
}

impl Times {
    /// Validates fstflags the way wasmtime does (unknown bits, or a time both given and "now").
    pub fn check(self) -> R<()> {
        let fst = self.fst;
        flags_ok(u64::from(fst), u64::from(FSTFLAGS_ALL))?;
        let both = |a, b| fst & a != 0 && fst & b != 0;
        if both(FSTFLAGS_ATIM, FSTFLAGS_ATIM_NOW) || both(FSTFLAGS_MTIM, FSTFLAGS_MTIM_NOW) {
            return Err(EINVAL);
        }
        Ok(())
    }
}

/// What path_open is asked for besides the path: how to look it up, create it and open it.
#[derive(Clone, Copy)]
pub struct OpenArgs {
    /// Lookup of the final component.
    pub dirflags: LookupFlags,
    /// Creation and truncation.
    pub oflags: OFlags,
    /// Rights asked for.
    pub rights: Rights,
    /// Flags of the new fd.
    pub fdflags: FdFlags,
}

/// poll_oneoff's arguments: `n` subscriptions at `subs`, room for `n` events at `events`, and
/// where the count of events goes.
#[derive(Clone, Copy)]
pub struct PollArgs {
    /// App address of the subscriptions.
    pub subs: u32,
    /// App address of the events.
    pub events: u32,
    /// Number of subscriptions.
    pub n: u32,
    /// App address of the event count.
    pub nevents: u32,
}
