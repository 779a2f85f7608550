//! The traced entry points (`shim_trace_<call>`): the rewriter redirects the app's WASI imports
//! here instead of to `shim_<call>` only under `--trace`, so untraced modules carry none of this.
//! Each forwards to the untraced entry point (or the host), then logs one line to host stderr.

use core::arch::wasm32::unreachable;
use core::cell::UnsafeCell;

use wasifs_image::policy::Trace;

use super::imports::*;
use super::policy::{host_env_value, trace_mode};
use super::*;
use crate::mem::AppMem;
use crate::trace::{line, Kind};
use crate::wasi::{EBADF, SUCCESS};

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    /// The host's `proc_exit` (no result: it does not return).
    #[link_name = "proc_exit"]
    fn host_proc_exit(code: u32);
    /// The host's `proc_raise`.
    #[link_name = "proc_raise"]
    fn host_proc_raise(sig: u32) -> u32;
    /// The host's `sched_yield`.
    #[link_name = "sched_yield"]
    fn host_sched_yield() -> u32;
}

/// The longest line written; longer ones are cut (their end is lost).
const LINE_MAX: u32 = 1024;

/// Where trace lines go: `None` when tracing is off, else a host fd — stderr (2), or the file
/// `WASIFS_TRACE` names when it is an absolute path under one of the runtime's preopens (created
/// or truncated). Tracing is on under `--trace`, or under `--trace=env` when `WASIFS_TRACE` is set
/// (not empty, not `0`). Decided once.
fn dest() -> Option<u32> {
    struct Cell(UnsafeCell<Option<Option<u32>>>);
    // SAFETY: wasm32 without threads; the shim is never re-entered.
    unsafe impl Sync for Cell {}
    static DEST: Cell = Cell(UnsafeCell::new(None));
    // SAFETY: single-threaded, not re-entrant: the only live reference.
    let slot = unsafe { &mut *DEST.0.get() };
    *slot.get_or_insert_with(|| {
        let mode = trace_mode();
        if mode == Trace::Off {
            return None;
        }
        let var = host_env_value(b"WASIFS_TRACE").unwrap_or_default();
        if mode == Trace::Env && (var.is_empty() || var == b"0") {
            return None;
        }
        Some(match var.first() {
            Some(b'/') => open_trace_file(&var).unwrap_or(2),
            _ => 2,
        })
    })
}

/// Whether tracing is on.
fn on() -> bool {
    dest().is_some()
}

/// Creates (or truncates) the host file at absolute guest path `path` under the runtime preopen
/// whose name starts it, for writing; `None` when no preopen holds it or the open fails.
fn open_trace_file(path: &[u8]) -> Option<u32> {
    const OFLAGS_CREAT_TRUNC: u32 = 1 | 8;
    const RIGHT_FD_WRITE: u64 = 1 << 6;
    let at = scratch()?;
    let name_at = at.checked_sub(1024)?;
    for h in 3..3 + 1024u32 {
        // SAFETY: host call writing 8 bytes at an in-bounds app address.
        let e = unsafe { host_fd_prestat_get(h, at) };
        if e == u32::from(EBADF) {
            return None;
        }
        let n = Mem.get_u32(at + 4).ok()?;
        if e != u32::from(SUCCESS) || n > 512 {
            continue;
        }
        // SAFETY: host call writing `n` <= 512 bytes at `name_at`, below the stack pointer.
        if unsafe { host_fd_prestat_dir_name(h, name_at, n) } != u32::from(SUCCESS) {
            continue;
        }
        let name = Mem.get(name_at, n).ok()?;
        let dir = name.strip_suffix(b"/").unwrap_or(&name);
        let Some(rel) = path.strip_prefix(dir).and_then(|r| r.strip_prefix(b"/")) else {
            continue;
        };
        if rel.is_empty() || rel.len() > 512 {
            return None;
        }
        Mem.put(name_at, rel).ok()?;
        // SAFETY: host call on a path and a result slot in app memory below the stack pointer.
        let e = unsafe {
            host_path_open(
                h,
                0,
                name_at,
                rel.len() as u32,
                OFLAGS_CREAT_TRUNC,
                RIGHT_FD_WRITE,
                0,
                0,
                at,
            )
        };
        return if e == u32::from(SUCCESS) {
            Mem.get_u32(at).ok()
        } else {
            None
        };
    }
    None
}

/// Logs `name(vals as kinds) = errno` to [`dest`] (stderr past any stdio policy, or the trace
/// file), the line placed in scratch app memory below the stack pointer.
fn log(name: &str, kinds: &[Kind], vals: &[u64], errno: u32) {
    let Some(fd) = dest() else {
        return;
    };
    let text = line(&Mem, name, kinds, vals, errno);
    let len = (text.len() as u32).min(LINE_MAX);
    let Some(at) = scratch() else {
        return;
    };
    let Some(buf) = at.checked_sub(len) else {
        return;
    };
    if Mem.put(buf, &text.as_bytes()[..len as usize]).is_err()
        || Mem.put_u32(at, buf).is_err()
        || Mem.put_u32(at + 4, len).is_err()
    {
        return;
    }
    // SAFETY: host call on a ciovec and buffer in app memory below the stack pointer.
    unsafe { host_fd_write(fd, at, 1, at + 8) };
}

/// Defines `shim_trace_<call>` for each call: forward to `$target`, log, answer.
macro_rules! traced {
    ($($name:ident => $target:expr; ($($arg:ident : $ty:ty = $k:ident),*);)*) => {
        $(
            #[no_mangle]
            pub extern "C" fn $name($($arg: $ty),*) -> u32 {
                let r = $target($($arg),*);
                if on() {
                    let call = &stringify!($name)["shim_trace_".len()..];
                    log(call, &[$(Kind::$k),*], &[$($arg as u64),*], r);
                }
                r
            }
        )*
    };
}

/// `sched_yield` and `proc_raise` are the host's, not the shim's.
fn sched_yield() -> u32 {
    // SAFETY: host call without arguments.
    unsafe { host_sched_yield() }
}

/// The host's `proc_raise`.
fn proc_raise(sig: u32) -> u32 {
    // SAFETY: host call with the app's argument.
    unsafe { host_proc_raise(sig) }
}

traced! {
    shim_trace_args_get => policy::shim_args_get; (argv: u32 = X, buf: u32 = X);
    shim_trace_args_sizes_get => policy::shim_args_sizes_get; (argc: u32 = Out32, size: u32 = Out32);
    shim_trace_environ_get => policy::shim_environ_get; (env: u32 = X, buf: u32 = X);
    shim_trace_environ_sizes_get => policy::shim_environ_sizes_get;
        (count: u32 = Out32, size: u32 = Out32);
    shim_trace_clock_res_get => policy::shim_clock_res_get; (id: u32 = ClockId, res: u32 = Out64);
    shim_trace_clock_time_get => policy::shim_clock_time_get;
        (id: u32 = ClockId, precision: u64 = U, time: u32 = Out64);
    shim_trace_random_get => policy::shim_random_get; (buf: u32 = X, len: u32 = U);
    shim_trace_fd_advise => shim_fd_advise; (fd: u32 = U, offset: u64 = U, len: u64 = U, advice: u32 = U);
    shim_trace_fd_allocate => shim_fd_allocate; (fd: u32 = U, offset: u64 = U, len: u64 = U);
    shim_trace_fd_close => shim_fd_close; (fd: u32 = U);
    shim_trace_fd_datasync => shim_fd_datasync; (fd: u32 = U);
    shim_trace_fd_fdstat_get => shim_fd_fdstat_get; (fd: u32 = U, buf: u32 = X);
    shim_trace_fd_fdstat_set_flags => shim_fd_fdstat_set_flags; (fd: u32 = U, flags: u32 = FdFlags);
    shim_trace_fd_fdstat_set_rights => shim_fd_fdstat_set_rights;
        (fd: u32 = U, base: u64 = X, inheriting: u64 = X);
    shim_trace_fd_filestat_get => shim_fd_filestat_get; (fd: u32 = U, buf: u32 = X);
    shim_trace_fd_filestat_set_size => shim_fd_filestat_set_size; (fd: u32 = U, size: u64 = U);
    shim_trace_fd_filestat_set_times => shim_fd_filestat_set_times;
        (fd: u32 = U, atim: u64 = U, mtim: u64 = U, fst: u32 = X);
    shim_trace_fd_pread => shim_fd_pread;
        (fd: u32 = U, iovs: u32 = X, n: u32 = U, offset: u64 = U, nread: u32 = Out32);
    shim_trace_fd_prestat_get => shim_fd_prestat_get; (fd: u32 = U, buf: u32 = X);
    shim_trace_fd_prestat_dir_name => shim_fd_prestat_dir_name;
        (fd: u32 = U, path: u32 = Str, len: u32 = Len);
    shim_trace_fd_pwrite => shim_fd_pwrite;
        (fd: u32 = U, iovs: u32 = X, n: u32 = U, offset: u64 = U, nwritten: u32 = Out32);
    shim_trace_fd_read => shim_fd_read; (fd: u32 = U, iovs: u32 = X, n: u32 = U, nread: u32 = Out32);
    shim_trace_fd_readdir => shim_fd_readdir;
        (fd: u32 = U, buf: u32 = X, len: u32 = U, cookie: u64 = U, bufused: u32 = Out32);
    shim_trace_fd_renumber => shim_fd_renumber; (fd: u32 = U, to: u32 = U);
    shim_trace_fd_seek => shim_fd_seek;
        (fd: u32 = U, offset: i64 = I, whence: u32 = Whence, newoffset: u32 = Out64);
    shim_trace_fd_sync => shim_fd_sync; (fd: u32 = U);
    shim_trace_fd_tell => shim_fd_tell; (fd: u32 = U, offset: u32 = Out64);
    shim_trace_fd_write => shim_fd_write;
        (fd: u32 = U, iovs: u32 = X, n: u32 = U, nwritten: u32 = Out32);
    shim_trace_path_create_directory => shim_path_create_directory;
        (fd: u32 = U, path: u32 = Str, len: u32 = Len);
    shim_trace_path_filestat_get => shim_path_filestat_get;
        (fd: u32 = U, flags: u32 = Lookup, path: u32 = Str, len: u32 = Len, buf: u32 = X);
    shim_trace_path_filestat_set_times => shim_path_filestat_set_times;
        (fd: u32 = U, flags: u32 = Lookup, path: u32 = Str, len: u32 = Len, atim: u64 = U,
         mtim: u64 = U, fst: u32 = X);
    shim_trace_path_link => shim_path_link;
        (old_fd: u32 = U, old_flags: u32 = Lookup, old: u32 = Str, old_len: u32 = Len,
         new_fd: u32 = U, new: u32 = Str, new_len: u32 = Len);
    shim_trace_path_open => shim_path_open;
        (fd: u32 = U, dirflags: u32 = Lookup, path: u32 = Str, len: u32 = Len, oflags: u32 = OFlags,
         base: u64 = X, inheriting: u64 = X, fdflags: u32 = FdFlags, out: u32 = Out32);
    shim_trace_path_readlink => shim_path_readlink;
        (fd: u32 = U, path: u32 = Str, len: u32 = Len, buf: u32 = X, buf_len: u32 = U,
         bufused: u32 = Out32);
    shim_trace_path_remove_directory => shim_path_remove_directory;
        (fd: u32 = U, path: u32 = Str, len: u32 = Len);
    shim_trace_path_rename => shim_path_rename;
        (fd: u32 = U, old: u32 = Str, old_len: u32 = Len, new_fd: u32 = U, new: u32 = Str,
         new_len: u32 = Len);
    shim_trace_path_symlink => shim_path_symlink;
        (old: u32 = Str, old_len: u32 = Len, fd: u32 = U, new: u32 = Str, new_len: u32 = Len);
    shim_trace_path_unlink_file => shim_path_unlink_file; (fd: u32 = U, path: u32 = Str, len: u32 = Len);
    shim_trace_poll_oneoff => shim_poll_oneoff;
        (subs: u32 = X, events: u32 = X, n: u32 = U, nevents: u32 = Out32);
    shim_trace_proc_raise => proc_raise; (sig: u32 = U);
    shim_trace_sched_yield => sched_yield; ();
    shim_trace_sock_accept => shim_sock_accept; (fd: u32 = U, flags: u32 = FdFlags, out: u32 = Out32);
    shim_trace_sock_recv => shim_sock_recv;
        (fd: u32 = U, iovs: u32 = X, n: u32 = U, flags: u32 = X, datalen: u32 = Out32, roflags: u32 = X);
    shim_trace_sock_send => shim_sock_send;
        (fd: u32 = U, iovs: u32 = X, n: u32 = U, flags: u32 = X, datalen: u32 = Out32);
    shim_trace_sock_shutdown => shim_sock_shutdown; (fd: u32 = U, how: u32 = U);
}

/// `proc_exit`, logged before the host ends the program.
#[no_mangle]
pub extern "C" fn shim_trace_proc_exit(code: u32) {
    if on() {
        log("proc_exit", &[Kind::U], &[u64::from(code)], 0);
    }
    // SAFETY: host call with the app's argument; it does not return.
    unsafe { host_proc_exit(code) };
    unreachable()
}
