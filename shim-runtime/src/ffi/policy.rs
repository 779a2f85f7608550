//! The exports the WASI policies add (args, environ, clocks, random; redirected by the rewriter
//! only when a policy asks for them) and the stdio gate of the fd_read/fd_write family.

use alloc::vec::Vec;
use core::arch::wasm32::unreachable;
use core::cell::UnsafeCell;

#[cfg(feature = "trace")]
use wasifs_image::policy::Trace;
use wasifs_image::policy::{Deny, EnvMode, Stdio, DENY_AT, STDIO_AT};

use super::imports::*;
use super::ret;
use super::state::with;
use crate::fallible::resize;
use crate::mem::AppMem;
use crate::overlay::{io, R};
use crate::policy::{merge_args, merge_env, sizes, split_list, write_list, Runtime, DENIED};
use crate::wasi::{EFAULT, ENOMEM, SUCCESS};

/// Most bytes of the host's args or environment (pointers and strings) read through app memory
/// lent by `borrow`; a larger host list answers ENOMEM.
const HOST_LIST_MAX: u32 = 32 * 1024;

/// The policies' state and the lists the app sees, made on first use.
struct PolicyState {
    rt: Runtime,
    env: Option<Vec<Vec<u8>>>,
    args: Option<Vec<Vec<u8>>>,
}

/// A cell for the shim's single-threaded, non-re-entrant state.
struct Cell<T>(UnsafeCell<Option<T>>);

// SAFETY: wasm32 without threads; the shim is never re-entered.
unsafe impl<T> Sync for Cell<T> {}

static POLICY: Cell<PolicyState> = Cell(UnsafeCell::new(None));
static STDIO: Cell<[u8; 4]> = Cell(UnsafeCell::new(None));

/// The time of a change under a fixed clock of base `base`: what the clock reads next (the base
/// before the app has read it). Only reads the policy state, and never makes it: the tree's state
/// is borrowed while this runs, and no policy call changes files.
pub(super) fn fixed_now(base: u64) -> u64 {
    // SAFETY: single-threaded, not re-entrant; a shared read while no `policy` call is running.
    let slot = unsafe { &*POLICY.0.get() };
    slot.as_ref().and_then(|s| s.rt.fixed_now()).unwrap_or(base)
}

/// Advances a fixed clock by `slept` nanoseconds, the time a poll_oneoff waited on it. Like
/// [`fixed_now`], never makes the policy state: a sleep before the app's first reading of a clock
/// or other policy call is not counted (no reading saw the clock before it).
pub(super) fn fixed_advance(slept: u64) {
    // SAFETY: single-threaded, not re-entrant; called from poll_oneoff, while no `policy` call is
    // running: the only live reference.
    let slot = unsafe { &mut *POLICY.0.get() };
    if let Some(s) = slot.as_mut() {
        s.rt.advance(slept);
    }
}

/// Runs `f` on the policy state, made on first use by [`init`] (whose error is answered, and
/// tried again on the next call).
fn policy<T>(f: impl FnOnce(&mut PolicyState) -> R<T>) -> R<T> {
    // SAFETY: single-threaded, not re-entrant: the only live reference.
    let slot = unsafe { &mut *POLICY.0.get() };
    if slot.is_none() {
        *slot = Some(init()?);
    }
    match slot {
        Some(s) => f(s),
        None => Err(ENOMEM),
    }
}

/// Reads the image's policy block into shim memory: ENOMEM when there is no room, ENOTCAPABLE
/// when it is corrupt (no rewrite makes one; every policy call is then refused).
#[inline(never)]
fn init() -> R<PolicyState> {
    let block = with(|s| -> R<Vec<u8>> {
        let Ok(img) = s.fs.img() else {
            return Ok(Vec::new());
        };
        let mut block = Vec::new();
        resize(&mut block, img.policy_len() as usize)?;
        io(img.read_policy(0, &mut block))?;
        Ok(block)
    })?;
    Ok(PolicyState {
        rt: Runtime::new(block)?,
        env: None,
        args: None,
    })
}

/// The errno answering `r`, trapping instead of answering a denial under `--deny=trap`.
fn answer(r: R<()>, deny: Deny) -> u32 {
    if r == Err(DENIED) && deny == Deny::Trap {
        unreachable()
    }
    ret(r)
}

/// The host's args (`env` false) or environment, read through app memory lent by `borrow`.
fn host_list(env: bool) -> R<Vec<Vec<u8>>> {
    let (n, size) = borrow(8, |at| -> R<(u32, u32)> {
        // SAFETY: host calls writing two u32s at an in-bounds app address lent by `borrow`.
        let e = unsafe {
            if env {
                host_environ_sizes_get(at, at + 4)
            } else {
                host_args_sizes_get(at, at + 4)
            }
        };
        if e != u32::from(SUCCESS) {
            return Err(e as u16);
        }
        Ok((Mem.get_u32(at)?, Mem.get_u32(at + 4)?))
    })
    .ok_or(EFAULT)??;
    if n == 0 {
        // Nothing to read (Node 20's environ_get answers EINVAL to an empty list).
        return Ok(Vec::new());
    }
    let need = n
        .checked_mul(4)
        .and_then(|p| p.checked_add(size))
        .filter(|&x| x <= HOST_LIST_MAX)
        .ok_or(ENOMEM)?;
    borrow(need, |ptrs| {
        let buf = ptrs + 4 * n;
        // SAFETY: host calls writing `need` bytes at an in-bounds app address lent by `borrow`.
        let e = unsafe {
            if env {
                host_environ_get(ptrs, buf)
            } else {
                host_args_get(ptrs, buf)
            }
        };
        if e != u32::from(SUCCESS) {
            return Err(e as u16);
        }
        split_list(&Mem.get(buf, size)?, n)
    })
    .ok_or(ENOMEM)?
}

impl PolicyState {
    /// The arguments the app sees (host argv[0], baked, host rest).
    fn args(&mut self) -> R<&[Vec<u8>]> {
        if self.args.is_none() {
            self.args = Some(merge_args(&self.rt.view(), &host_list(false)?)?);
        }
        Ok(self.args.as_deref().unwrap_or_default())
    }

    /// The environment the app sees (baked, then the host's that the policy lets through).
    fn env(&mut self) -> R<&[Vec<u8>]> {
        if self.env.is_none() {
            let host = match self.rt.view().env_from_host() {
                EnvMode::Deny => Vec::new(),
                _ => host_list(true)?,
            };
            self.env = Some(merge_env(&self.rt.view(), &host)?);
        }
        Ok(self.env.as_deref().unwrap_or_default())
    }
}

/// The image's trace mode.
#[cfg(feature = "trace")]
pub(super) fn trace_mode() -> Trace {
    policy(|s| Ok(s.rt.trace)).unwrap_or(Trace::Off)
}

/// The value of the runtime's environment variable `name`, if set.
#[cfg(feature = "trace")]
pub(super) fn host_env_value(name: &[u8]) -> Option<Vec<u8>> {
    let env = host_list(true).ok()?;
    let v = env
        .iter()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix(b"="))?;
    crate::fallible::copy(v).ok()
}

/// Writes the count and size of a list at `count` and `size`.
fn put_sizes(list: &[Vec<u8>], count: u32, size: u32) -> R<()> {
    let (n, bytes) = sizes(list);
    Mem.put_u32(count, n)?;
    Mem.put_u32(size, bytes)
}

/// The arguments, or with `env` the environment: their count and size written at `a` and `b`
/// (`sizes`), or the list itself (pointers at `a`, strings at `b`). One function for the four
/// calls: each inlined the policy's set-up and took ~200 bytes of the shim.
#[inline(never)]
fn list_call(env: bool, sizes: bool, a: u32, b: u32) -> u32 {
    ret(policy(|s| {
        let list = if env { s.env()? } else { s.args()? };
        if sizes {
            put_sizes(list, a, b)
        } else {
            write_list(&mut Mem, list, a, b)
        }
    }))
}

#[no_mangle]
pub extern "C" fn shim_args_sizes_get(argc: u32, argv_buf_size: u32) -> u32 {
    list_call(false, true, argc, argv_buf_size)
}

#[no_mangle]
pub extern "C" fn shim_args_get(argv: u32, argv_buf: u32) -> u32 {
    list_call(false, false, argv, argv_buf)
}

#[no_mangle]
pub extern "C" fn shim_environ_sizes_get(count: u32, size: u32) -> u32 {
    list_call(true, true, count, size)
}

#[no_mangle]
pub extern "C" fn shim_environ_get(environ: u32, environ_buf: u32) -> u32 {
    list_call(true, false, environ, environ_buf)
}

/// The answer of a call a policy may serve: `Ok(None)` lets the host answer.
fn served(r: R<Option<u32>>) -> Option<u32> {
    match r {
        Ok(a) => a,
        Err(e) => Some(u32::from(e)),
    }
}

#[no_mangle]
pub extern "C" fn shim_clock_time_get(id: u32, precision: u64, time: u32) -> u32 {
    let a = policy(|s| {
        let deny = s.rt.deny;
        Ok(s.rt.clock_time(&mut Mem, id, time).map(|r| answer(r, deny)))
    });
    // SAFETY: host call with the app's own arguments.
    served(a).unwrap_or_else(|| unsafe { host_clock_time_get(id, precision, time) })
}

#[no_mangle]
pub extern "C" fn shim_clock_res_get(id: u32, res: u32) -> u32 {
    let a = policy(|s| {
        Ok(s.rt
            .clock_res(&mut Mem, id, res)
            .map(|r| answer(r, s.rt.deny)))
    });
    // SAFETY: host call with the app's own arguments.
    served(a).unwrap_or_else(|| unsafe { host_clock_res_get(id, res) })
}

#[no_mangle]
pub extern "C" fn shim_random_get(buf: u32, len: u32) -> u32 {
    let a = policy(|s| {
        let deny = s.rt.deny;
        Ok(s.rt.random(&mut Mem, buf, len).map(|r| answer(r, deny)))
    });
    // SAFETY: host call with the app's own arguments.
    served(a).unwrap_or_else(|| unsafe { host_random_get(buf, len) })
}

/// The deny byte and the three stdio bytes of the policy block (zero without one), read once
/// straight from the image so that the fd_write path does not decode the whole block.
fn stdio_bytes() -> [u8; 4] {
    // SAFETY: single-threaded, not re-entrant: the only live reference.
    let slot = unsafe { &mut *STDIO.0.get() };
    *slot.get_or_insert_with(|| {
        let mut b = [0u8; 4];
        with(|s| {
            if let Ok(img) = s.fs.img() {
                if img.policy_len() >= STDIO_AT + 3 && img.read_policy(DENY_AT, &mut b).is_err() {
                    b = [0; 4];
                }
            }
        });
        b
    })
}

/// Serves a read (`write` false) or write on host fd `h` when it is a stdio stream a policy nulls
/// or denies: `None` lets the host serve it. A null read sees end of file; a null write takes
/// every byte of the `n` ciovecs at `iovs`.
pub(super) fn stdio_gate(h: u32, write: bool, iovs: u32, n: u32, out: u32) -> Option<u32> {
    if h > 2 {
        return None;
    }
    let b = stdio_bytes();
    match Stdio::from_byte(b[(STDIO_AT + h) as usize]) {
        Ok(Stdio::Inherit) => None,
        Ok(Stdio::Null) => Some(ret(null_io(write, iovs, n, out))),
        _ if b[DENY_AT as usize] == 1 => unreachable(),
        _ => Some(u32::from(DENIED)),
    }
}

/// A read of nothing or a write of everything: the byte count written at `out`.
fn null_io(write: bool, iovs: u32, n: u32, out: u32) -> R<()> {
    let mut total = 0u32;
    if write {
        for i in 0..n {
            total = total.saturating_add(Mem.get_u32(iovs + 8 * i + 4)?);
        }
    }
    Mem.put_u32(out, total)
}
