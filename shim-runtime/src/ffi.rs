//! The wasm32 boundary: intrinsic and host imports, the `shim_*` exports and the state singleton.

use core::cell::UnsafeCell;

use wasifs_image::format::header_off;
use wasifs_image::reader::{Image, Source};

use crate::fdtable::Desc;
use crate::mem::AppMem;
use crate::vfs::{Vfs, R};
use crate::wasi::{EBADF, SUCCESS};

#[link(wasm_import_module = "wasifs_intrinsics")]
extern "C" {
    fn copy_to_app(dst: u32, src: *const u8, len: u32);
    fn copy_from_app(dst: *mut u8, src: u32, len: u32);
    fn image_to_shim(dst: *mut u8, image_off: u32, len: u32);
    fn image_to_app(dst: u32, image_off: u32, len: u32);
    fn app_memory_size() -> u32;
    fn app_stack_pointer() -> u32;
}

/// Declares the host's preview1 functions under `host_<name>`.
macro_rules! host_imports {
    ($($name:ident => $host:ident ($($arg:ident : $ty:ty),*);)*) => {
        #[link(wasm_import_module = "wasi_snapshot_preview1")]
        extern "C" {
            $(
                #[link_name = stringify!($name)]
                fn $host($($arg: $ty),*) -> u32;
            )*
        }
    };
}

host_imports! {
    clock_time_get => host_clock_time_get(id: u32, precision: u64, time: u32);
    fd_advise => host_fd_advise(fd: u32, offset: u64, len: u64, advice: u32);
    fd_allocate => host_fd_allocate(fd: u32, offset: u64, len: u64);
    fd_close => host_fd_close(fd: u32);
    fd_datasync => host_fd_datasync(fd: u32);
    fd_fdstat_get => host_fd_fdstat_get(fd: u32, buf: u32);
    fd_fdstat_set_flags => host_fd_fdstat_set_flags(fd: u32, flags: u32);
    fd_fdstat_set_rights => host_fd_fdstat_set_rights(fd: u32, base: u64, inheriting: u64);
    fd_filestat_get => host_fd_filestat_get(fd: u32, buf: u32);
    fd_filestat_set_size => host_fd_filestat_set_size(fd: u32, size: u64);
    fd_filestat_set_times => host_fd_filestat_set_times(fd: u32, atim: u64, mtim: u64, fst: u32);
    fd_pread => host_fd_pread(fd: u32, iovs: u32, n: u32, offset: u64, nread: u32);
    fd_prestat_get => host_fd_prestat_get(fd: u32, buf: u32);
    fd_prestat_dir_name => host_fd_prestat_dir_name(fd: u32, path: u32, len: u32);
    fd_pwrite => host_fd_pwrite(fd: u32, iovs: u32, n: u32, offset: u64, nwritten: u32);
    fd_read => host_fd_read(fd: u32, iovs: u32, n: u32, nread: u32);
    fd_readdir => host_fd_readdir(fd: u32, buf: u32, len: u32, cookie: u64, bufused: u32);
    fd_seek => host_fd_seek(fd: u32, offset: i64, whence: u32, newoffset: u32);
    fd_sync => host_fd_sync(fd: u32);
    fd_tell => host_fd_tell(fd: u32, offset: u32);
    fd_write => host_fd_write(fd: u32, iovs: u32, n: u32, nwritten: u32);
    path_create_directory => host_path_create_directory(fd: u32, path: u32, len: u32);
    path_filestat_get => host_path_filestat_get(fd: u32, flags: u32, path: u32, len: u32, buf: u32);
    path_filestat_set_times => host_path_filestat_set_times(
        fd: u32, flags: u32, path: u32, len: u32, atim: u64, mtim: u64, fst: u32);
    path_link => host_path_link(
        old_fd: u32, old_flags: u32, old: u32, old_len: u32, new_fd: u32, new: u32, new_len: u32);
    path_open => host_path_open(
        fd: u32, dirflags: u32, path: u32, len: u32, oflags: u32, base: u64, inheriting: u64,
        fdflags: u32, out: u32);
    path_readlink => host_path_readlink(
        fd: u32, path: u32, len: u32, buf: u32, buf_len: u32, bufused: u32);
    path_remove_directory => host_path_remove_directory(fd: u32, path: u32, len: u32);
    path_rename => host_path_rename(
        fd: u32, old: u32, old_len: u32, new_fd: u32, new: u32, new_len: u32);
    path_symlink => host_path_symlink(old: u32, old_len: u32, fd: u32, new: u32, new_len: u32);
    path_unlink_file => host_path_unlink_file(fd: u32, path: u32, len: u32);
    poll_oneoff => host_poll_oneoff(subs: u32, events: u32, n: u32, nevents: u32);
    sock_accept => host_sock_accept(fd: u32, flags: u32, out: u32);
    sock_recv => host_sock_recv(
        fd: u32, iovs: u32, n: u32, flags: u32, datalen: u32, roflags: u32);
    sock_send => host_sock_send(fd: u32, iovs: u32, n: u32, flags: u32, datalen: u32);
    sock_shutdown => host_sock_shutdown(fd: u32, how: u32);
}

/// The app's memory, reached through the intrinsics.
struct Mem;

impl AppMem for Mem {
    fn size(&self) -> u64 {
        // SAFETY: intrinsic without preconditions.
        u64::from(unsafe { app_memory_size() }) * 65536
    }
    fn read(&self, src: u32, dst: &mut [u8]) {
        // SAFETY: `dst` is a live shim buffer; the app range was checked by the caller.
        unsafe { copy_from_app(dst.as_mut_ptr(), src, dst.len() as u32) }
    }
    fn write(&mut self, dst: u32, src: &[u8]) {
        // SAFETY: `src` is a live shim buffer; the app range was checked by the caller.
        unsafe { copy_to_app(dst, src.as_ptr(), src.len() as u32) }
    }
    fn image_to_app(&mut self, dst: u32, image_off: u32, len: u32) {
        // SAFETY: both ranges were checked by the caller (app memory and image bounds).
        unsafe { image_to_app(dst, image_off, len) }
    }
}

/// The embedded image, read with `memory.init` into shim memory.
struct ImageSrc {
    len: u32,
}

impl Source for ImageSrc {
    fn len(&self) -> u32 {
        self.len
    }
    fn read_at(&self, offset: u32, dst: &mut [u8]) {
        // SAFETY: `dst` is a live shim buffer; the reader keeps the range within `len`.
        unsafe { image_to_shim(dst.as_mut_ptr(), offset, dst.len() as u32) }
    }
}

/// Most host fds probed for host preopens.
const MAX_HOST_PROBE: u32 = 1024;
/// Longest host preopen name read when the image renames or hides host preopens: the name goes to
/// scratch app memory below the stack pointer; a longer name matches no alias (it is unnamed).
const NAME_SCRATCH: u32 = 512;

/// Opens the image (its total length read from the header, at `header_off::TOTAL_LEN`) and enumerates the host's preopens: host fds 3..
/// until EBADF, each one visible (renumbered after the image's preopens) unless the image's host
/// policy hides it. Without a policy (no `--preopen`, no `--host-fs=deny`) names are not read.
fn init() -> Vfs<ImageSrc> {
    let mut len = [0u8; 4];
    // SAFETY: the rewriter always embeds an image of at least one header (`HEADER_SIZE` bytes),
    // which holds the total length.
    unsafe { image_to_shim(len.as_mut_ptr(), header_off::TOTAL_LEN as u32, 4) };
    let len = u32::from_le_bytes(len);
    let mut vfs = Vfs::new(Image::open(ImageSrc { len }).ok());
    let (deny, aliases) = vfs
        .fs
        .img()
        .map_or((false, 0), |i| (i.host_fs_denied(), i.host_alias_count()));
    // Host functions see only the app's memory: the prestat (and the name) go below the app's
    // stack pointer.
    // SAFETY: intrinsic without preconditions.
    let sp = unsafe { app_stack_pointer() };
    if sp < 16 || u64::from(sp) > Mem.size() {
        return vfs;
    }
    let scratch = (sp - 16) & !7;
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
        if !deny && aliases == 0 {
            vfs.fds.push(Desc::Host(h));
            continue;
        }
        let alias = match (name_at, Mem.get_u32(scratch + 4)) {
            (Some(at), Ok(n)) if n <= NAME_SCRATCH => host_alias(&vfs, h, at, n),
            _ => None,
        };
        match alias {
            Some(alias) => vfs.fds.push(Desc::Alias { host: h, alias }),
            None if !deny => vfs.fds.push(Desc::Host(h)),
            None => continue,
        };
    }
    vfs
}

/// The image's host alias naming host preopen `h`, whose name is `n` bytes long: the name is read
/// with `fd_prestat_dir_name` to app address `at` (scratch) and compared with each alias's host name.
fn host_alias(vfs: &Vfs<ImageSrc>, h: u32, at: u32, n: u32) -> Option<u32> {
    // SAFETY: host call writing `n` <= NAME_SCRATCH bytes at `at`, below the app's stack pointer.
    if unsafe { host_fd_prestat_dir_name(h, at, n) } != u32::from(SUCCESS) {
        return None;
    }
    let name = Mem.get(at, n).ok()?;
    let img = vfs.fs.img().ok()?;
    (0..img.host_alias_count()).find(|&i| {
        img.host_alias(i).is_ok_and(|a| {
            a.host_len == n && vfs.fs.image_str(a.host_off, n).as_deref() == Ok(&name)
        })
    })
}

/// The host's realtime clock in ns (0 if it fails); the result lands below the app's stack pointer.
pub(crate) fn now() -> u64 {
    // SAFETY: intrinsic without preconditions.
    let sp = unsafe { app_stack_pointer() };
    if sp < 16 || u64::from(sp) > Mem.size() {
        return 0;
    }
    let scratch = (sp - 16) & !7;
    // SAFETY: host call writing 8 bytes at an in-bounds app address.
    if unsafe { host_clock_time_get(0, 1, scratch) } != u32::from(SUCCESS) {
        return 0;
    }
    let mut b = [0u8; 8];
    Mem.read(scratch, &mut b);
    u64::from_le_bytes(b)
}

/// The one place the shim's state lives.
struct Global(UnsafeCell<Option<Vfs<ImageSrc>>>);

// SAFETY: wasm32 without threads; the shim is never re-entered (host calls do not call back).
unsafe impl Sync for Global {}

static STATE: Global = Global(UnsafeCell::new(None));

/// The state, initialised on the first call.
fn state() -> &'static mut Vfs<ImageSrc> {
    // SAFETY: single-threaded and not re-entrant, so this is the only live reference.
    let slot = unsafe { &mut *STATE.0.get() };
    slot.get_or_insert_with(init)
}

/// An outcome as the errno the app sees.
fn ret(r: R<()>) -> u32 {
    match r {
        Ok(()) => u32::from(SUCCESS),
        Err(e) => u32::from(e),
    }
}

/// The host fd behind app fd `fd` when it is host-backed, else -1 (an i64 keeps the exports small).
#[inline(never)]
fn host(fd: u32) -> i64 {
    match state().host_fd(fd) {
        Some(h) => i64::from(h),
        None => -1,
    }
}

/// Forwards to the host when `fd` is host-backed (with the host's fd number), else serves it.
macro_rules! on_fd {
    ($fd:expr, $h:ident => $host:expr, $s:ident => $virt:expr) => {{
        let $h = host($fd);
        if $h >= 0 {
            let $h = $h as u32;
            // SAFETY: a host call with the app's own arguments, only the fd translated.
            unsafe { $host }
        } else {
            let $s = state();
            ret($virt)
        }
    }};
}

#[no_mangle]
pub extern "C" fn shim_fd_advise(fd: u32, offset: u64, len: u64, advice: u32) -> u32 {
    on_fd!(fd, h => host_fd_advise(h, offset, len, advice), s => s.fd_advise(fd, advice))
}

#[no_mangle]
pub extern "C" fn shim_fd_allocate(fd: u32, offset: u64, len: u64) -> u32 {
    on_fd!(fd, h => host_fd_allocate(h, offset, len), s => s.fd_allocate(fd))
}

#[no_mangle]
pub extern "C" fn shim_fd_close(fd: u32) -> u32 {
    let s = state();
    match s.host_fd(fd) {
        Some(h) => {
            // SAFETY: host call.
            let e = unsafe { host_fd_close(h) };
            if e == u32::from(SUCCESS) {
                s.fds.remove(fd);
            }
            e
        }
        None => ret(s.fd_close(fd)),
    }
}

#[no_mangle]
pub extern "C" fn shim_fd_datasync(fd: u32) -> u32 {
    on_fd!(fd, h => host_fd_datasync(h), s => s.fd_sync(fd))
}

#[no_mangle]
pub extern "C" fn shim_fd_fdstat_get(fd: u32, buf: u32) -> u32 {
    on_fd!(fd, h => host_fd_fdstat_get(h, buf), s => s.fd_fdstat_get(&mut Mem, fd, buf))
}

#[no_mangle]
pub extern "C" fn shim_fd_fdstat_set_flags(fd: u32, flags: u32) -> u32 {
    on_fd!(fd, h => host_fd_fdstat_set_flags(h, flags), s => s.fd_fdstat_set_flags(fd, flags))
}

#[no_mangle]
pub extern "C" fn shim_fd_fdstat_set_rights(fd: u32, base: u64, inheriting: u64) -> u32 {
    on_fd!(
        fd,
        h => host_fd_fdstat_set_rights(h, base, inheriting),
        s => s.fd_fdstat_set_rights(fd, base, inheriting)
    )
}

#[no_mangle]
pub extern "C" fn shim_fd_filestat_get(fd: u32, buf: u32) -> u32 {
    on_fd!(fd, h => host_fd_filestat_get(h, buf), s => s.fd_filestat_get(&mut Mem, fd, buf))
}

#[no_mangle]
pub extern "C" fn shim_fd_filestat_set_size(fd: u32, size: u64) -> u32 {
    on_fd!(fd, h => host_fd_filestat_set_size(h, size), s => s.fd_filestat_set_size(fd, size))
}

#[no_mangle]
pub extern "C" fn shim_fd_filestat_set_times(fd: u32, atim: u64, mtim: u64, fst: u32) -> u32 {
    on_fd!(
        fd,
        h => host_fd_filestat_set_times(h, atim, mtim, fst),
        s => s.fd_filestat_set_times(fd, atim, mtim, fst)
    )
}

#[no_mangle]
pub extern "C" fn shim_fd_pread(fd: u32, iovs: u32, n: u32, offset: u64, nread: u32) -> u32 {
    on_fd!(
        fd,
        h => host_fd_pread(h, iovs, n, offset, nread),
        s => s.fd_read(&mut Mem, fd, iovs, n, Some(offset), nread)
    )
}

/// The host fd behind `fd` when the host answers its prestat calls: a plain host fd (a renamed
/// host preopen is answered by the shim, with its guest name).
fn prestat_host(fd: u32) -> Option<u32> {
    match state().fds.get(fd) {
        Some(Desc::Host(h)) => Some(h),
        _ => None,
    }
}

#[no_mangle]
pub extern "C" fn shim_fd_prestat_get(fd: u32, buf: u32) -> u32 {
    match prestat_host(fd) {
        // SAFETY: host call with the app's arguments, fd translated.
        Some(h) => unsafe { host_fd_prestat_get(h, buf) },
        None => ret(state().fd_prestat_get(&mut Mem, fd, buf)),
    }
}

#[no_mangle]
pub extern "C" fn shim_fd_prestat_dir_name(fd: u32, path: u32, len: u32) -> u32 {
    match prestat_host(fd) {
        // SAFETY: host call with the app's arguments, fd translated.
        Some(h) => unsafe { host_fd_prestat_dir_name(h, path, len) },
        None => ret(state().fd_prestat_dir_name(&mut Mem, fd, path, len)),
    }
}

#[no_mangle]
pub extern "C" fn shim_fd_pwrite(fd: u32, iovs: u32, n: u32, offset: u64, nwritten: u32) -> u32 {
    on_fd!(fd, h => host_fd_pwrite(h, iovs, n, offset, nwritten), s => s.fd_write(&mut Mem, fd, iovs, n, Some(offset), nwritten))
}

#[no_mangle]
pub extern "C" fn shim_fd_read(fd: u32, iovs: u32, n: u32, nread: u32) -> u32 {
    on_fd!(fd, h => host_fd_read(h, iovs, n, nread), s => s.fd_read(&mut Mem, fd, iovs, n, None, nread))
}

#[no_mangle]
pub extern "C" fn shim_fd_readdir(fd: u32, buf: u32, len: u32, cookie: u64, bufused: u32) -> u32 {
    on_fd!(
        fd,
        h => host_fd_readdir(h, buf, len, cookie, bufused),
        s => s.fd_readdir(&mut Mem, fd, buf, len, cookie, bufused)
    )
}

#[no_mangle]
pub extern "C" fn shim_fd_renumber(from: u32, to: u32) -> u32 {
    // SAFETY: host call closing the host fd that `to` held.
    ret(state().fd_renumber(from, to, |h| unsafe { host_fd_close(h) } as u16))
}

#[no_mangle]
pub extern "C" fn shim_fd_seek(fd: u32, offset: i64, whence: u32, newoffset: u32) -> u32 {
    on_fd!(
        fd,
        h => host_fd_seek(h, offset, whence, newoffset),
        s => s.fd_seek(&mut Mem, fd, offset, whence, newoffset)
    )
}

#[no_mangle]
pub extern "C" fn shim_fd_sync(fd: u32) -> u32 {
    on_fd!(fd, h => host_fd_sync(h), s => s.fd_sync(fd))
}

#[no_mangle]
pub extern "C" fn shim_fd_tell(fd: u32, offset: u32) -> u32 {
    on_fd!(fd, h => host_fd_tell(h, offset), s => s.fd_tell(&mut Mem, fd, offset))
}

#[no_mangle]
pub extern "C" fn shim_fd_write(fd: u32, iovs: u32, n: u32, nwritten: u32) -> u32 {
    on_fd!(
        fd,
        h => host_fd_write(h, iovs, n, nwritten),
        s => s.fd_write(&mut Mem, fd, iovs, n, None, nwritten)
    )
}

#[no_mangle]
pub extern "C" fn shim_path_create_directory(fd: u32, path: u32, len: u32) -> u32 {
    on_fd!(
        fd,
        h => host_path_create_directory(h, path, len),
        s => s.path_create_directory(&Mem, fd, path, len)
    )
}

#[no_mangle]
pub extern "C" fn shim_path_filestat_get(
    fd: u32,
    flags: u32,
    path: u32,
    len: u32,
    buf: u32,
) -> u32 {
    on_fd!(
        fd,
        h => host_path_filestat_get(h, flags, path, len, buf),
        s => s.path_filestat_get(&mut Mem, fd, flags, path, len, buf)
    )
}

#[no_mangle]
pub extern "C" fn shim_path_filestat_set_times(
    fd: u32,
    flags: u32,
    path: u32,
    len: u32,
    atim: u64,
    mtim: u64,
    fst: u32,
) -> u32 {
    on_fd!(
        fd,
        h => host_path_filestat_set_times(h, flags, path, len, atim, mtim, fst),
        s => s.path_filestat_set_times(&Mem, fd, flags, path, len, atim, mtim, fst)
    )
}

#[no_mangle]
pub extern "C" fn shim_path_link(
    old_fd: u32,
    old_flags: u32,
    old: u32,
    old_len: u32,
    new_fd: u32,
    new: u32,
    new_len: u32,
) -> u32 {
    let s = state();
    match (s.host_fd(old_fd), s.host_fd(new_fd)) {
        // SAFETY: host call with the app's arguments, fds translated.
        (Some(a), Some(b)) => unsafe {
            host_path_link(a, old_flags, old, old_len, b, new, new_len)
        },
        _ => ret(s.path_link(&Mem, old_fd, old_flags, old, old_len, new_fd, new, new_len)),
    }
}

#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn shim_path_open(
    fd: u32,
    dirflags: u32,
    path: u32,
    len: u32,
    oflags: u32,
    base: u64,
    inheriting: u64,
    fdflags: u32,
    out: u32,
) -> u32 {
    let s = state();
    match s.host_fd(fd) {
        Some(h) => {
            // SAFETY: host call with the app's arguments, fd translated.
            let e = unsafe {
                host_path_open(
                    h, dirflags, path, len, oflags, base, inheriting, fdflags, out,
                )
            };
            if e != u32::from(SUCCESS) {
                return e;
            }
            ret(s.wrap_host_fd(&mut Mem, out))
        }
        None => ret(s.path_open(
            &mut Mem, fd, dirflags, path, len, oflags, base, inheriting, fdflags, out,
        )),
    }
}

#[no_mangle]
pub extern "C" fn shim_path_readlink(
    fd: u32,
    path: u32,
    len: u32,
    buf: u32,
    buf_len: u32,
    bufused: u32,
) -> u32 {
    on_fd!(
        fd,
        h => host_path_readlink(h, path, len, buf, buf_len, bufused),
        s => s.path_readlink(&mut Mem, fd, path, len, buf, buf_len, bufused)
    )
}

#[no_mangle]
pub extern "C" fn shim_path_remove_directory(fd: u32, path: u32, len: u32) -> u32 {
    on_fd!(
        fd,
        h => host_path_remove_directory(h, path, len),
        s => s.path_remove(&Mem, fd, path, len, true)
    )
}

#[no_mangle]
pub extern "C" fn shim_path_rename(
    fd: u32,
    old: u32,
    old_len: u32,
    new_fd: u32,
    new: u32,
    new_len: u32,
) -> u32 {
    let s = state();
    match (s.host_fd(fd), s.host_fd(new_fd)) {
        // SAFETY: host call with the app's arguments, fds translated.
        (Some(a), Some(b)) => unsafe { host_path_rename(a, old, old_len, b, new, new_len) },
        _ => ret(s.path_rename(&Mem, fd, old, old_len, new_fd, new, new_len)),
    }
}

#[no_mangle]
pub extern "C" fn shim_path_symlink(
    old: u32,
    old_len: u32,
    fd: u32,
    new: u32,
    new_len: u32,
) -> u32 {
    on_fd!(
        fd,
        h => host_path_symlink(old, old_len, h, new, new_len),
        s => s.path_symlink(&Mem, old, old_len, fd, new, new_len)
    )
}

#[no_mangle]
pub extern "C" fn shim_path_unlink_file(fd: u32, path: u32, len: u32) -> u32 {
    on_fd!(fd, h => host_path_unlink_file(h, path, len), s => s.path_remove(&Mem, fd, path, len, false))
}

#[no_mangle]
pub extern "C" fn shim_poll_oneoff(subs: u32, events: u32, n: u32, nevents: u32) -> u32 {
    // SAFETY: host call on the app's buffers, fds already translated in place.
    let host = |_: &mut Mem| unsafe { host_poll_oneoff(subs, events, n, nevents) } as u16;
    ret(state().poll_oneoff(&mut Mem, subs, events, n, nevents, host))
}

#[no_mangle]
pub extern "C" fn shim_sock_accept(fd: u32, flags: u32, out: u32) -> u32 {
    let s = state();
    match s.host_fd(fd) {
        Some(h) => {
            // SAFETY: host call with the app's arguments, fd translated.
            let e = unsafe { host_sock_accept(h, flags, out) };
            if e != u32::from(SUCCESS) {
                return e;
            }
            ret(s.wrap_host_fd(&mut Mem, out))
        }
        None => ret(s.sock(fd)),
    }
}

#[no_mangle]
pub extern "C" fn shim_sock_recv(
    fd: u32,
    iovs: u32,
    n: u32,
    flags: u32,
    datalen: u32,
    roflags: u32,
) -> u32 {
    on_fd!(fd, h => host_sock_recv(h, iovs, n, flags, datalen, roflags), s => s.sock(fd))
}

#[no_mangle]
pub extern "C" fn shim_sock_send(fd: u32, iovs: u32, n: u32, flags: u32, datalen: u32) -> u32 {
    on_fd!(fd, h => host_sock_send(h, iovs, n, flags, datalen), s => s.sock(fd))
}

#[no_mangle]
pub extern "C" fn shim_sock_shutdown(fd: u32, how: u32) -> u32 {
    on_fd!(fd, h => host_sock_shutdown(h, how), s => s.sock(fd))
}

#[global_allocator]
static ALLOC: crate::heap::Heap = crate::heap::Heap::new();

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
