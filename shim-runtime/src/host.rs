//! Services of the host that the calls need besides the app's memory: the clock, closing a host
//! fd and the host's poll_oneoff (the FFI layer implements them on the real host; tests fake them).

use crate::args::PollArgs;
use crate::mem::AppMem;
use crate::wasi::Errno;

/// The host, as the calls on the tree see it (statically dispatched: the shim keeps no indirect
/// call, so `wasm-opt` can drop the table and the formatting code only it would reach).
pub trait Host {
    /// The realtime clock in ns since the epoch, for the timestamps of changes (0 if it fails).
    fn now(&self) -> u64;
    /// Closes host fd `h` (fd_renumber onto a host fd).
    fn fd_close(&mut self, h: u32) -> Errno;
    /// The host's poll_oneoff on the app's buffers (their ranges checked), whose fds are already
    /// the host's; the subscriptions may be changed in place (the caller puts them back).
    fn poll_oneoff<M: AppMem>(&mut self, m: &mut M, args: PollArgs) -> Errno;
}

/// A host for host tests: the clock is 0, closes succeed, and what was asked is recorded.
#[cfg(test)]
#[derive(Default)]
pub struct TestHost {
    /// Host fds closed, in order.
    pub closed: alloc::vec::Vec<u32>,
    /// The fd in the first subscription of each host poll, in order.
    pub polled: alloc::vec::Vec<u32>,
}

#[cfg(test)]
impl Host for TestHost {
    fn now(&self) -> u64 {
        0
    }
    fn fd_close(&mut self, h: u32) -> Errno {
        self.closed.push(h);
        crate::wasi::SUCCESS
    }
    fn poll_oneoff<M: AppMem>(&mut self, m: &mut M, args: PollArgs) -> Errno {
        let fd = m.get_u32(args.subs + crate::wasi::SUBSCRIPTION_FD_OFF);
        self.polled.push(fd.unwrap_or(u32::MAX));
        crate::wasi::SUCCESS
    }
}
