//! poll_oneoff under a fixed clock: deadlines are read on that clock, which advances by the time slept.
//!
//! The host's poll waits on the runtime's clock, so an absolute deadline computed from the fixed
//! clock would be read on another timeline (a fixed time in the future: a wait of years), and a
//! program that sleeps until its clock passes a deadline would never see it pass. The host is
//! given every absolute clock subscription as the time left on the fixed clock, and afterwards
//! the clock advances by the time the first clock subscription to fire waited: the same times
//! every run, whatever the host's timing.

use crate::args::PollArgs;
use crate::mem::AppMem;
use crate::wasi::*;

/// The little-endian integer of `N` bytes at `off` in `b` (0 past the end).
fn le<const N: usize>(b: &[u8], off: u32) -> u64 {
    let mut w = [0u8; 8];
    let field = b.get(off as usize..).unwrap_or_default().iter().take(N);
    for (d, s) in w.iter_mut().zip(field) {
        *d = *s;
    }
    u64::from_le_bytes(w)
}

/// Subscription `k` of poll_oneoff `a` when it is a clock's: its address, timeout and flags.
fn clock_sub<M: AppMem>(m: &M, a: PollArgs, k: u32) -> Option<(u32, u64, u16)> {
    let mut s = [0u8; SUBSCRIPTION_SIZE as usize];
    let at = a.subs + k * SUBSCRIPTION_SIZE;
    m.read(at, &mut s);
    let timeout = le::<8>(&s, SUBSCRIPTION_TIMEOUT_OFF);
    let flags = le::<2>(&s, SUBSCRIPTION_CLOCK_FLAGS_OFF) as u16;
    (s[SUBSCRIPTION_TAG_OFF as usize] == EVENTTYPE_CLOCK).then_some((at, timeout, flags))
}

/// Rewrites, in place, each absolute clock subscription of poll_oneoff `a` as the time left until
/// its deadline from `now` (what the fixed clock reads next), relative. The caller has checked
/// the subscriptions' range and puts the app's subscriptions back after the host's poll. (A clock
/// the policy does not serve is refused by the host either way.)
pub fn make_relative<M: AppMem>(m: &mut M, a: PollArgs, now: u64) {
    for k in 0..a.n {
        if let Some((at, deadline, flags)) = clock_sub(m, a, k) {
            if flags & SUBCLOCKFLAGS_ABSTIME != 0 {
                let left = deadline.saturating_sub(now);
                m.write(at + SUBSCRIPTION_TIMEOUT_OFF, &left.to_le_bytes());
                let flags = flags & !SUBCLOCKFLAGS_ABSTIME;
                m.write(at + SUBSCRIPTION_CLOCK_FLAGS_OFF, &flags.to_le_bytes());
            }
        }
    }
}

/// The time the host's poll of `a` (made relative by [`make_relative`]) slept: the shortest
/// clock timeout when an event of a clock came back without an error, else 0 (the shortest fires
/// first; when several fire at once the clock may lag what the host waited, never lead it). The
/// caller has checked the ranges of the subscriptions, the events and their count.
pub fn slept<M: AppMem>(m: &M, a: PollArgs) -> u64 {
    let mut count = [0u8; 4];
    m.read(a.nevents, &mut count);
    let mut fired = false;
    for e in 0..u32::from_le_bytes(count).min(a.n) {
        let mut ev = [0u8; EVENT_SIZE];
        m.read(a.events + e * EVENT_SIZE as u32, &mut ev);
        fired |=
            ev[EVENT_TYPE_OFF as usize] == EVENTTYPE_CLOCK && le::<2>(&ev, EVENT_ERROR_OFF) == 0;
    }
    let mut shortest = u64::MAX;
    for k in 0..a.n {
        if let Some((_, timeout, _)) = clock_sub(m, a, k) {
            shortest = shortest.min(timeout);
        }
    }
    if fired {
        shortest
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::TestMem;

    const SUBS: u32 = 0;
    const EVENTS: u32 = 1024;
    const NEVENTS: u32 = 2048;

    /// A clock subscription: `userdata`, clock `id`, `timeout`, absolute or relative.
    fn clock(userdata: u64, id: u32, timeout: u64, abs: bool) -> [u8; 48] {
        let mut s = [0u8; 48];
        s[..8].copy_from_slice(&userdata.to_le_bytes());
        s[8] = EVENTTYPE_CLOCK;
        s[16..20].copy_from_slice(&id.to_le_bytes());
        s[24..32].copy_from_slice(&timeout.to_le_bytes());
        s[40] = u8::from(abs);
        s
    }

    fn setup(subs: &[[u8; 48]]) -> (TestMem, PollArgs) {
        let mut m = TestMem {
            app: alloc::vec![0; 4096],
            image: Vec::new(),
        };
        for (k, s) in subs.iter().enumerate() {
            m.app[k * 48..k * 48 + 48].copy_from_slice(s);
        }
        let a = PollArgs {
            subs: SUBS,
            events: EVENTS,
            n: subs.len() as u32,
            nevents: NEVENTS,
        };
        (m, a)
    }

    /// What the host saw of subscription `k`: (timeout, flags).
    fn seen(m: &TestMem, k: usize) -> (u64, u8) {
        let s = &m.app[k * 48..k * 48 + 48];
        (le::<8>(s, 24), s[40])
    }

    /// The host's answer: events of `(userdata, type, error)`.
    fn answer(m: &mut TestMem, events: &[(u64, u8, u16)]) {
        for (k, &(ud, ty, err)) in events.iter().enumerate() {
            let e = EVENTS as usize + k * EVENT_SIZE;
            m.app[e..e + 8].copy_from_slice(&ud.to_le_bytes());
            m.app[e + 8..e + 10].copy_from_slice(&err.to_le_bytes());
            m.app[e + 10] = ty;
        }
        m.put_u32(NEVENTS, events.len() as u32).unwrap();
    }

    #[test]
    fn an_absolute_deadline_on_the_fixed_clock_reaches_the_host_as_the_time_left_to_it() {
        let subs = [
            clock(1, 1, 5_000_300, true),
            clock(2, 0, 700, false),
            clock(3, 0, 4_000_000, true),
        ];
        let (mut m, a) = setup(&subs);
        make_relative(&mut m, a, 5_000_000);
        assert_eq!(seen(&m, 0), (300, 0));
        assert_eq!(seen(&m, 1), (700, 0));
        assert_eq!(
            seen(&m, 2),
            (0, 0),
            "a deadline already past waits for nothing"
        );
        answer(&mut m, &[(3, EVENTTYPE_CLOCK, 0)]);
        assert_eq!(slept(&m, a), 0, "the deadline already past fired first");
        let (mut m, a) = setup(&subs[..2]);
        make_relative(&mut m, a, 5_000_000);
        answer(&mut m, &[(1, EVENTTYPE_CLOCK, 0)]);
        assert_eq!(slept(&m, a), 300);
    }

    #[test]
    fn the_clock_advances_by_the_first_wait_to_fire_and_not_for_fds_or_errors() {
        let mut fd = [0u8; 48];
        fd[..8].copy_from_slice(&9u64.to_le_bytes());
        fd[8] = EVENTTYPE_FD_READ;
        let subs = [clock(1, 1, 900, false), clock(2, 1, 100, false), fd];
        let (mut m, a) = setup(&subs);
        make_relative(&mut m, a, 0);
        assert_eq!(
            m.app[..3 * 48],
            subs.concat()[..],
            "relative ones are left as they are"
        );
        answer(&mut m, &[(2, EVENTTYPE_CLOCK, 0), (1, EVENTTYPE_CLOCK, 0)]);
        assert_eq!(slept(&m, a), 100);
        for events in [
            &[(9, EVENTTYPE_FD_READ, 0)][..],
            &[(2, EVENTTYPE_CLOCK, 28)],
            &[],
        ] {
            answer(&mut m, events);
            assert_eq!(slept(&m, a), 0);
        }
    }
}
