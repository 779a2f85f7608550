//! The shim's imports (intrinsics over app memory and the image, the host's preview1 functions)
//! and the `AppMem`, `Source` and `Host` implementations on them.

use wasifs_image::policy::Clock;
use wasifs_image::reader::Source;

use crate::args::PollArgs;
use crate::fixed_sleep;
use crate::host::Host;
use crate::mem::AppMem;
use crate::wasi::{Errno, SUCCESS};

#[link(wasm_import_module = "wasifs_intrinsics")]
extern "C" {
    pub(super) fn copy_to_app(dst: u32, src: *const u8, len: u32);
    pub(super) fn copy_from_app(dst: *mut u8, src: u32, len: u32);
    pub(super) fn zero_app(dst: u32, len: u32);
    pub(super) fn image_to_shim(dst: *mut u8, image_off: u32, len: u32);
    pub(super) fn image_to_app(dst: u32, image_off: u32, len: u32);
    pub(super) fn app_memory_size() -> u32;
}

/// Declares the host's preview1 functions under `host_<name>`.
macro_rules! host_imports {
    ($($name:ident => $host:ident ($($arg:ident : $ty:ty),*);)*) => {
        #[link(wasm_import_module = "wasi_snapshot_preview1")]
        extern "C" {
            $(
                #[link_name = stringify!($name)]
                pub(super) fn $host($($arg: $ty),*) -> u32;
            )*
        }
    };
}

host_imports! {
    args_get => host_args_get(argv: u32, argv_buf: u32);
    args_sizes_get => host_args_sizes_get(argc: u32, argv_buf_size: u32);
    clock_res_get => host_clock_res_get(id: u32, res: u32);
    clock_time_get => host_clock_time_get(id: u32, precision: u64, time: u32);
    environ_get => host_environ_get(environ: u32, environ_buf: u32);
    environ_sizes_get => host_environ_sizes_get(count: u32, size: u32);
    random_get => host_random_get(buf: u32, len: u32);
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
pub(super) struct Mem;

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
    fn zero(&mut self, dst: u32, len: u32) {
        // SAFETY: the app range was checked by the caller.
        unsafe { zero_app(dst, len) }
    }
    fn image_to_app(&mut self, dst: u32, image_off: u32, len: u32) {
        // SAFETY: both ranges were checked by the caller (app memory and image bounds).
        unsafe { self::image_to_app(dst, image_off, len) }
    }
}

/// The embedded image, read with `memory.init` into shim memory.
pub(super) struct ImageSrc {
    pub(super) len: u32,
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

/// Most app bytes `borrow` lends the host at once (a prestat or a clock reading: 8; a preopen name).
pub(super) const BORROW_MAX: u32 = 512;

/// Lends the host `len` (<= `BORROW_MAX`) bytes of the app's memory for one call: host functions
/// see only the app's memory, so results the shim asks for land there. The bytes at app address 0
/// are saved in shim memory, `call` gets their address (it makes the host call and copies the
/// result out), and the saved bytes are written back. wasip1 is single-threaded, shared memories
/// are refused, and a host function never calls back into the app, so no app code runs while the
/// bytes are lent: the app's memory is byte-for-byte unchanged after every shim call, wherever the
/// bytes sit (no stack pointer needed). Address 0 because in the single-memory layout the shim's
/// own memory starts at a page the merge puts above 0 (the top of memory may be shim heap).
/// Up to `BORROW_MAX` bytes are saved on the shim's stack, more in its heap. `None` when the
/// app's memory is smaller than `len`, or the shim has no room to save the bytes.
pub(super) fn borrow<T>(len: u32, call: impl FnOnce(u32) -> T) -> Option<T> {
    if u64::from(len) > Mem.size() {
        return None;
    }
    let at = 0;
    let mut small = [0u8; BORROW_MAX as usize];
    let mut big = alloc::vec::Vec::new();
    let saved: &mut [u8] = if len <= BORROW_MAX {
        &mut small[..len as usize]
    } else {
        crate::fallible::resize(&mut big, len as usize).ok()?;
        &mut big
    };
    Mem.read(at, saved);
    let r = call(at);
    Mem.write(at, saved);
    Some(r)
}

/// The real host: its clock, fd_close and poll_oneoff; the timestamps of changes follow the
/// `--clock` policy (what a fixed clock reads next, 0 when clocks are denied: a file's times never
/// show the host's clock to an app that may not read it).
pub(super) struct HostCalls {
    /// The image's clock policy.
    pub(super) clock: Clock,
}

impl Host for HostCalls {
    fn now(&self) -> u64 {
        match self.clock {
            Clock::Fixed(base) => return super::policy::fixed_now(base),
            Clock::Deny => return 0,
            Clock::Host => {}
        }
        let mut b = [0u8; 8];
        let read = borrow(8, |at| {
            // SAFETY: host call writing 8 bytes at an in-bounds app address lent by `borrow`.
            let ok = unsafe { host_clock_time_get(0, 1, at) } == u32::from(SUCCESS);
            if ok {
                Mem.read(at, &mut b);
            }
            ok
        });
        if read == Some(true) {
            u64::from_le_bytes(b)
        } else {
            0
        }
    }
    fn fd_close(&mut self, h: u32) -> Errno {
        // SAFETY: host call closing a host fd the shim holds.
        unsafe { host_fd_close(h) as Errno }
    }
    fn poll_oneoff<M: AppMem>(&mut self, m: &mut M, a: PollArgs) -> Errno {
        // SAFETY: host call on the app's buffers, fds already translated in place.
        let poll = || unsafe { host_poll_oneoff(a.subs, a.events, a.n, a.nevents) as Errno };
        let Clock::Fixed(base) = self.clock else {
            return poll();
        };
        // A fixed clock: deadlines read on it, and it advances by the time slept (`fixed_sleep`).
        fixed_sleep::make_relative(m, a, super::policy::fixed_now(base));
        let e = poll();
        if e == SUCCESS {
            super::policy::fixed_advance(fixed_sleep::slept(m, a));
        }
        e
    }
}
