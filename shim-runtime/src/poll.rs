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

#[cfg(test)]
mod tests {
    use crate::args::PollArgs;
    use crate::fdtable::Desc;
    use crate::mem::AppMem;
    use crate::tests::{setup, u64_at, BUF, IOV, OUT};
    use crate::wasi::*;

    /// `n` subscriptions at BUF, events at OUT, the count at IOV.
    fn poll(n: u32) -> PollArgs {
        PollArgs {
            subs: BUF,
            events: OUT,
            n,
            nevents: IOV,
        }
    }

    #[test]
    fn poll_answers_image_files_at_once_and_translates_host_fds() {
        let mut t = setup(3);
        let f = t.open("a.txt").unwrap();
        let sub = |ud: u64, tag: u8, fd: u32| {
            let mut s = [0u8; 48];
            s[..8].copy_from_slice(&ud.to_le_bytes());
            s[8] = tag;
            s[16..20].copy_from_slice(&fd.to_le_bytes());
            s
        };
        t.m.put(BUF, &sub(7, EVENTTYPE_FD_READ, f)).unwrap();
        t.m.put(BUF + 48, &sub(8, EVENTTYPE_FD_WRITE, 1)).unwrap();
        t.v.poll_oneoff(&mut t.m, poll(2)).unwrap();
        assert!(t.v.host.polled.is_empty(), "host polled");
        assert_eq!(t.m.get_u32(IOV), Ok(1));
        let e = t.m.get(OUT, 32).unwrap();
        assert_eq!(
            (u64_at(&e, 0), e[10], u64_at(&e, 16), e[24]),
            (7, EVENTTYPE_FD_READ, 1, 0)
        );

        let h = t.v.fds.push(Desc::Host(42)).unwrap();
        t.m.put(BUF, &sub(7, EVENTTYPE_FD_READ, h)).unwrap();
        t.v.poll_oneoff(&mut t.m, poll(2)).unwrap();
        assert_eq!(t.v.host.polled, [42]);
        assert_eq!(t.m.get_u32(BUF + 16), Ok(h));

        t.m.put(BUF, &sub(7, EVENTTYPE_FD_READ, 3)).unwrap();
        assert_eq!(t.v.poll_oneoff(&mut t.m, poll(1)), Err(EBADF));
        t.m.put(BUF, &sub(7, EVENTTYPE_FD_READ, 99)).unwrap();
        assert_eq!(t.v.poll_oneoff(&mut t.m, poll(1)), Err(EBADF));
        assert_eq!(t.v.poll_oneoff(&mut t.m, poll(0)), Err(EINVAL));
    }

    #[test]
    fn a_file_at_end_of_file_polls_readable_with_hangup() {
        let mut t = setup(3);
        let f = t.open("a.txt").unwrap();
        t.read(f, 10).unwrap();
        let mut s = [0u8; 48];
        s[8] = EVENTTYPE_FD_READ;
        s[16..20].copy_from_slice(&f.to_le_bytes());
        t.m.put(BUF, &s).unwrap();
        t.v.poll_oneoff(&mut t.m, poll(1)).unwrap();
        assert_eq!(
            t.m.get(OUT + 24, 2).unwrap(),
            EVENTRWFLAGS_HANGUP.to_le_bytes()
        );
    }
}
