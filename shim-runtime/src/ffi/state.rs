//! The shim's state: the one accessor every export goes through, and its initialisation (the
//! image opened, the host's preopens enumerated).

use alloc::vec::Vec;
use core::cell::UnsafeCell;

use wasifs_image::format::header_off;
use wasifs_image::policy::{Clock, CLOCK_HEAD};
use wasifs_image::reader::Image;

use super::imports::{
    borrow, host_fd_prestat_dir_name, host_fd_prestat_get, image_to_shim, HostCalls, ImageSrc, Mem,
    BORROW_MAX,
};
use crate::mem::AppMem;
use crate::vfs::Vfs;
use crate::wasi::{EBADF, SUCCESS};

/// The shim's state: the tree over the embedded image, the fd table and the real host.
pub(super) type State = Vfs<ImageSrc, HostCalls>;

/// The cell the state lives in.
struct Global(UnsafeCell<Option<State>>);

// SAFETY: wasm32 without threads; the shim is never re-entered (host calls do not call back).
unsafe impl Sync for Global {}

static STATE: Global = Global(UnsafeCell::new(None));

/// Runs `f` on the state, initialised on the first call: the one way to it (like the wasmtime
/// preview1 adapter's `State::with`).
pub(super) fn with<T>(f: impl FnOnce(&mut State) -> T) -> T {
    // SAFETY: single-threaded and not re-entrant (no `f` calls `with`), so this is the only live
    // reference.
    let slot = unsafe { &mut *STATE.0.get() };
    f(slot.get_or_insert_with(init))
}

/// Most host fds probed for host preopens.
const MAX_HOST_PROBE: u32 = 1024;
/// Longest host preopen name read (it is read into app memory lent by `borrow`); a longer one is
/// left unnamed (no alias renames it, no embedded mount hides it).
const NAME_MAX: u32 = BORROW_MAX;

/// Opens the image (its total length read from the header at `header_off::TOTAL_LEN`), caps the
/// heap at its `--max-write-memory`, and enumerates the host's preopens: host fds 3.. until
/// EBADF, each one read with its name and shown (renumbered after the image's preopens) as
/// `Vfs::host_preopen` decides: renamed by an alias, hidden by an embedded mount at the same guest
/// path or by `--host-fs=deny`, else as it is.
fn init() -> State {
    let mut len = [0u8; 4];
    // SAFETY: the rewriter always embeds an image of at least one header (`HEADER_SIZE` bytes),
    // which holds the total length.
    unsafe { image_to_shim(len.as_mut_ptr(), header_off::TOTAL_LEN as u32, 4) };
    let len = u32::from_le_bytes(len);
    let img = Image::open(ImageSrc { len }).ok();
    if let Some(i) = &img {
        // `--max-write-memory`, before anything is allocated (4 GiB or more: no limit).
        super::ALLOC.set_limit(usize::try_from(i.max_write_memory()).unwrap_or(0));
    }
    // The clock policy, straight from the head of the policy block (without one: the host's).
    let mut head = [0u8; CLOCK_HEAD as usize];
    let clock = match &img {
        Some(i) if i.policy_len() >= CLOCK_HEAD && i.read_policy(0, &mut head).is_ok() => {
            Clock::from_head(&head)
        }
        _ => Clock::Host,
    };
    let mut vfs = Vfs::new(img, HostCalls { clock });
    // The prestat (and the name) are read into app memory lent by `borrow` and given back.
    for h in 3..3 + MAX_HOST_PROBE {
        let mut prestat = [0u8; 8];
        let e = borrow(8, |at| {
            // SAFETY: host call writing 8 bytes at an in-bounds app address lent by `borrow`.
            let e = unsafe { host_fd_prestat_get(h, at) };
            Mem.read(at, &mut prestat);
            e
        });
        let Some(e) = e else {
            // The app has no memory to lend: no host preopen can be read.
            break;
        };
        if e == u32::from(EBADF) {
            break;
        }
        if e != u32::from(SUCCESS) {
            continue;
        }
        let n = u32::from_le_bytes([prestat[4], prestat[5], prestat[6], prestat[7]]);
        let name = if n <= NAME_MAX { host_name(h, n) } else { None };
        if let Some(d) = vfs.host_preopen(h, name.as_deref()) {
            // Without room in the table the preopen is not shown (its fd answers EBADF).
            let _ = vfs.fds.push(d);
        }
    }
    vfs
}

/// The name of host preopen `h`, `n` (<= `NAME_MAX`) bytes long, read with `fd_prestat_dir_name`
/// into app memory lent by `borrow`.
fn host_name(h: u32, n: u32) -> Option<Vec<u8>> {
    borrow(n, |at| {
        // SAFETY: host call writing `n` bytes at an in-bounds app address lent by `borrow`.
        if unsafe { host_fd_prestat_dir_name(h, at, n) } != u32::from(SUCCESS) {
            return None;
        }
        Mem.get(at, n).ok()
    })
    .flatten()
}
