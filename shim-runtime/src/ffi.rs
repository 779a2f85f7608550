//! The wasm32 boundary: the `shim_*` exports. Each forwards a call on a host-backed fd to the host
//! (only the fd translated) or decodes its raw words into typed arguments (`args.rs`) for the tree.

mod imports;
mod policy;
mod state;
#[cfg(feature = "trace")]
mod trace;

use imports::*;
use state::with;

use crate::args::{
    Buf, FdFlags, Iovecs, LookupFlags, OFlags, OpenArgs, PathArg, PollArgs, Rights, Times,
};
use crate::fdtable::Desc;
use crate::vfs::R;
use crate::wasi::SUCCESS;

/// An outcome as the errno the app sees.
fn ret(r: R<()>) -> u32 {
    match r {
        Ok(()) => u32::from(SUCCESS),
        Err(e) => u32::from(e),
    }
}

/// The path argument `len` bytes at `ptr`.
fn path_arg(ptr: u32, len: u32) -> PathArg {
    PathArg { ptr, len }
}

/// The host fd behind app fd `fd` when it is host-backed, else -1 (an i64 keeps the exports small).
#[inline(never)]
fn host(fd: u32) -> i64 {
    match with(|s| s.host_fd(fd)) {
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
            with(|$s| ret($virt))
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
    with(|s| match s.host_fd(fd) {
        Some(h) => {
            // SAFETY: host call.
            let e = unsafe { host_fd_close(h) };
            if e == u32::from(SUCCESS) {
                s.fds.remove(fd);
            }
            e
        }
        None => ret(s.fd_close(fd)),
    })
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
    on_fd!(
        fd,
        h => host_fd_fdstat_set_flags(h, flags),
        s => s.fd_fdstat_set_flags(fd, FdFlags(flags))
    )
}

#[no_mangle]
pub extern "C" fn shim_fd_fdstat_set_rights(fd: u32, base: u64, inheriting: u64) -> u32 {
    on_fd!(
        fd,
        h => host_fd_fdstat_set_rights(h, base, inheriting),
        s => s.fd_fdstat_set_rights(fd, Rights { base, inheriting })
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
        s => s.fd_filestat_set_times(fd, Times { atim, mtim, fst })
    )
}

#[no_mangle]
pub extern "C" fn shim_fd_pread(fd: u32, iovs: u32, n: u32, offset: u64, nread: u32) -> u32 {
    on_fd!(
        fd,
        h => policy::stdio_gate(h, false, iovs, n, nread).unwrap_or_else(|| host_fd_pread(h, iovs, n, offset, nread)),
        s => s.fd_read(&mut Mem, fd, Iovecs { ptr: iovs, count: n }, Some(offset), nread)
    )
}

/// The host fd behind `fd` when the host answers its prestat calls: a plain host fd (a renamed
/// host preopen is answered by the shim, with its guest name).
fn prestat_host(fd: u32) -> Option<u32> {
    match with(|s| s.fds.get(fd)) {
        Some(Desc::Host(h)) => Some(h),
        _ => None,
    }
}

#[no_mangle]
pub extern "C" fn shim_fd_prestat_get(fd: u32, buf: u32) -> u32 {
    match prestat_host(fd) {
        // SAFETY: host call with the app's arguments, fd translated.
        Some(h) => unsafe { host_fd_prestat_get(h, buf) },
        None => with(|s| ret(s.fd_prestat_get(&mut Mem, fd, buf))),
    }
}

#[no_mangle]
pub extern "C" fn shim_fd_prestat_dir_name(fd: u32, path: u32, len: u32) -> u32 {
    match prestat_host(fd) {
        // SAFETY: host call with the app's arguments, fd translated.
        Some(h) => unsafe { host_fd_prestat_dir_name(h, path, len) },
        None => with(|s| ret(s.fd_prestat_dir_name(&mut Mem, fd, Buf { ptr: path, len }))),
    }
}

#[no_mangle]
pub extern "C" fn shim_fd_pwrite(fd: u32, iovs: u32, n: u32, offset: u64, nwritten: u32) -> u32 {
    on_fd!(
        fd,
        h => policy::stdio_gate(h, true, iovs, n, nwritten).unwrap_or_else(|| host_fd_pwrite(h, iovs, n, offset, nwritten)),
        s => s.fd_write(&mut Mem, fd, Iovecs { ptr: iovs, count: n }, Some(offset), nwritten)
    )
}

#[no_mangle]
pub extern "C" fn shim_fd_read(fd: u32, iovs: u32, n: u32, nread: u32) -> u32 {
    on_fd!(
        fd,
        h => policy::stdio_gate(h, false, iovs, n, nread).unwrap_or_else(|| host_fd_read(h, iovs, n, nread)),
        s => s.fd_read(&mut Mem, fd, Iovecs { ptr: iovs, count: n }, None, nread)
    )
}

#[no_mangle]
pub extern "C" fn shim_fd_readdir(fd: u32, buf: u32, len: u32, cookie: u64, bufused: u32) -> u32 {
    on_fd!(
        fd,
        h => host_fd_readdir(h, buf, len, cookie, bufused),
        s => s.fd_readdir(&mut Mem, fd, Buf { ptr: buf, len }, cookie, bufused)
    )
}

#[no_mangle]
pub extern "C" fn shim_fd_renumber(from: u32, to: u32) -> u32 {
    with(|s| ret(s.fd_renumber(from, to)))
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
        h => policy::stdio_gate(h, true, iovs, n, nwritten).unwrap_or_else(|| host_fd_write(h, iovs, n, nwritten)),
        s => s.fd_write(&mut Mem, fd, Iovecs { ptr: iovs, count: n }, None, nwritten)
    )
}

#[no_mangle]
pub extern "C" fn shim_path_create_directory(fd: u32, path: u32, len: u32) -> u32 {
    on_fd!(
        fd,
        h => host_path_create_directory(h, path, len),
        s => s.path_create_directory(&Mem, fd, path_arg(path, len))
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
        s => s.path_filestat_get(&mut Mem, fd, path_arg(path, len), LookupFlags(flags), buf)
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
        s => s.path_filestat_set_times(
            &Mem,
            fd, path_arg(path, len),
            LookupFlags(flags),
            Times { atim, mtim, fst }
        )
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
    with(|s| match (s.host_fd(old_fd), s.host_fd(new_fd)) {
        // SAFETY: host call with the app's arguments, fds translated.
        (Some(a), Some(b)) => unsafe {
            host_path_link(a, old_flags, old, old_len, b, new, new_len)
        },
        _ => ret(s.path_link(
            &Mem,
            old_fd,
            path_arg(old, old_len),
            LookupFlags(old_flags),
            new_fd,
            path_arg(new, new_len),
        )),
    })
}

#[no_mangle]
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
    with(|s| match s.host_fd(fd) {
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
        None => {
            let args = OpenArgs {
                dirflags: LookupFlags(dirflags),
                oflags: OFlags(oflags),
                rights: Rights { base, inheriting },
                fdflags: FdFlags(fdflags),
            };
            ret(s.path_open(&mut Mem, fd, path_arg(path, len), args, out))
        }
    })
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
        s => {
            let out = Buf { ptr: buf, len: buf_len };
            s.path_readlink(&mut Mem, fd, path_arg(path, len), out, bufused)
        }
    )
}

#[no_mangle]
pub extern "C" fn shim_path_remove_directory(fd: u32, path: u32, len: u32) -> u32 {
    on_fd!(
        fd,
        h => host_path_remove_directory(h, path, len),
        s => s.path_remove(&Mem, fd, path_arg(path, len), true)
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
    with(|s| match (s.host_fd(fd), s.host_fd(new_fd)) {
        // SAFETY: host call with the app's arguments, fds translated.
        (Some(a), Some(b)) => unsafe { host_path_rename(a, old, old_len, b, new, new_len) },
        _ => ret(s.path_rename(
            &Mem,
            fd,
            path_arg(old, old_len),
            new_fd,
            path_arg(new, new_len),
        )),
    })
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
        s => s.path_symlink(&Mem, path_arg(old, old_len), fd, path_arg(new, new_len))
    )
}

#[no_mangle]
pub extern "C" fn shim_path_unlink_file(fd: u32, path: u32, len: u32) -> u32 {
    on_fd!(
        fd,
        h => host_path_unlink_file(h, path, len),
        s => s.path_remove(&Mem, fd, path_arg(path, len), false)
    )
}

#[no_mangle]
pub extern "C" fn shim_poll_oneoff(subs: u32, events: u32, n: u32, nevents: u32) -> u32 {
    let args = PollArgs {
        subs,
        events,
        n,
        nevents,
    };
    with(|s| ret(s.poll_oneoff(&mut Mem, args)))
}

#[no_mangle]
pub extern "C" fn shim_sock_accept(fd: u32, flags: u32, out: u32) -> u32 {
    with(|s| match s.host_fd(fd) {
        Some(h) => {
            // SAFETY: host call with the app's arguments, fd translated.
            let e = unsafe { host_sock_accept(h, flags, out) };
            if e != u32::from(SUCCESS) {
                return e;
            }
            ret(s.wrap_host_fd(&mut Mem, out))
        }
        None => ret(s.sock(fd)),
    })
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
