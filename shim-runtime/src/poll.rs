//! poll_oneoff: image files are always ready; host fds are translated for the host's poll.

use wasifs_image::reader::Source;

use crate::args::PollArgs;
use crate::fdtable::Desc;
use crate::host::Host;
use crate::mem::AppMem;
use crate::vfs::{put_words, Vfs, R};
use crate::wasi::*;

impl<S: Source, H: Host> Vfs<S, H> {
    /// poll_oneoff. Image-file subscriptions are always ready: when there are any, their events are
    /// returned at once. Otherwise host fds are translated in place in the app's subscriptions,
    /// the host's poll_oneoff is called, and the app's fds are put back. An unknown fd or
    /// an image directory makes the whole call EBADF, as in wasmtime.
    pub fn poll_oneoff<M: AppMem>(&mut self, m: &mut M, args: PollArgs) -> R<()> {
        let PollArgs {
            subs,
            events,
            n,
            nevents,
        } = args;
        if n == 0 {
            return Err(EINVAL);
        }
        let sub_bytes = n.checked_mul(SUBSCRIPTION_SIZE).ok_or(EFAULT)?;
        m.check(subs, sub_bytes)?;
        m.check(events, n.checked_mul(EVENT_SIZE as u32).ok_or(EFAULT)?)?;
        m.check(nevents, 4)?;
        let raw = m.get(subs, sub_bytes)?;
        // Pass 1 checks every subscription and counts the ready ones (image files); pass 2 writes
        // their events, or (none ready) puts the host fds in place of the app's for the host.
        let mut ready = 0u32;
        for pass in [false, true] {
            let mut found = 0u32;
            for k in 0..n {
                let at = subs + k * SUBSCRIPTION_SIZE;
                let mut s = [0u8; SUBSCRIPTION_SIZE as usize];
                m.read(at, &mut s);
                let Subscription { userdata, tag, fd } = Subscription::decode(&s);
                if tag == EVENTTYPE_CLOCK {
                    continue;
                }
                if tag != EVENTTYPE_FD_READ && tag != EVENTTYPE_FD_WRITE {
                    return Err(EINVAL);
                }
                if let Some(h) = self.host_fd(fd) {
                    if pass && ready == 0 {
                        m.put_u32(at + SUBSCRIPTION_FD_OFF, h)?;
                    }
                    continue;
                }
                let Some(Desc::File { node, pos, .. }) = self.fds.get(fd) else {
                    return Err(EBADF);
                };
                if pass {
                    let flags = if tag == EVENTTYPE_FD_READ && self.node(node)?.size <= pos {
                        EVENTRWFLAGS_HANGUP
                    } else {
                        0
                    };
                    let e = Event {
                        userdata,
                        ty: tag,
                        nbytes: 1,
                        flags,
                    };
                    put_words(m, events + found * EVENT_SIZE as u32, &e.words())?;
                }
                found += 1;
            }
            ready = found;
        }
        if ready > 0 {
            return m.put_u32(nevents, ready);
        }
        let e = self.host.poll_oneoff(m, args);
        m.put(subs, &raw)?;
        if e == SUCCESS {
            Ok(())
        } else {
            Err(e)
        }
    }
}
