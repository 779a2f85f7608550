//! The shim's state: the one accessor every export goes through, and its initialisation (the
//! image opened, the host's preopens enumerated).

use alloc::vec::Vec;
use core::cell::UnsafeCell;

use wasifs_image::format::header_off;
use wasifs_image::reader::Image;

use super::imports::{
    host_fd_prestat_dir_name, host_fd_prestat_get, image_to_shim, scratch, HostCalls, ImageSrc, Mem,
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
/// Longest host preopen name read: the name goes to scratch app memory below the stack pointer; a
/// longer one is left unnamed (no alias renames it, no embedded mount hides it).
const NAME_SCRATCH: u32 = 512;

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
    let mut vfs = Vfs::new(img, HostCalls);
    // The prestat (and the name) go to scratch app memory below the app's stack pointer.
    let Some(scratch) = scratch() else {
        return vfs;
    };
    let name_at = scratch.checked_sub(NAME_SCRATCH);
    for h in 3..3 + MAX_HOST_PROBE {
        // SAFETY: host call writing 8 bytes at an in-bounds app address.
        let e = unsafe { host_fd_prestat_get(h, scratch) };
        if e == u32::from(EBADF) {
            break;
        }
        if e != u32::from(SUCCESS) {
            continue;
        }
        let name = match (name_at, Mem.get_u32(scratch + 4)) {
            (Some(at), Ok(n)) if n <= NAME_SCRATCH => host_name(h, at, n),
            _ => None,
        };
        if let Some(d) = vfs.host_preopen(h, name.as_deref()) {
            // Without room in the table the preopen is not shown (its fd answers EBADF).
            let _ = vfs.fds.push(d);
        }
    }
    vfs
}

/// The name of host preopen `h`, `n` bytes long, read with `fd_prestat_dir_name` to app address
/// `at` (scratch).
fn host_name(h: u32, at: u32, n: u32) -> Option<Vec<u8>> {
    // SAFETY: host call writing `n` <= NAME_SCRATCH bytes at `at`, below the app's stack pointer.
    if unsafe { host_fd_prestat_dir_name(h, at, n) } != u32::from(SUCCESS) {
        return None;
    }
    Mem.get(at, n).ok()
}
