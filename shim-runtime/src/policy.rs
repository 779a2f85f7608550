//! The WASI policies the shim enforces besides the tree (args, environment, clocks, random), apart
//! from the FFI: argument and environment lists merged, the fixed clock ticked, seeded bytes made.

use alloc::vec::Vec;

use wasifs_image::policy::{
    split_env, Clock, Deny, EnvMode, PolicyView, Random, Trace, Xoshiro256,
};

use crate::fallible::{copy, push};
use crate::mem::AppMem;
use crate::overlay::R;
use crate::wasi::{Errno, EINVAL, ENOTCAPABLE};

/// Nanoseconds a fixed clock advances per `clock_time_get`, and its resolution.
pub const FIXED_TICK_NS: u64 = 1000;
/// Highest preview1 clock id (realtime, monotonic, process and thread CPU time).
const CLOCK_MAX: u32 = 3;

/// The policies and the state they keep while the app runs.
pub struct Runtime {
    /// The image's policy block (checked), read in place by [`view`](Self::view).
    block: Vec<u8>,
    /// The clocks.
    pub clock: Clock,
    /// The random source.
    pub random: Random,
    /// What a denied call does.
    pub deny: Deny,
    /// The call trace.
    pub trace: Trace,
    /// Nanoseconds a fixed clock has advanced: [`FIXED_TICK_NS`] per read, and the time slept.
    elapsed: u64,
    /// The seeded generator, if random is seeded.
    rng: Option<Xoshiro256>,
}

/// The errno of a denied call (the FFI traps instead under `--deny=trap`).
pub const DENIED: Errno = ENOTCAPABLE;

impl Runtime {
    /// The state at start-up for policy block `block` (empty: the defaults); ENOTCAPABLE if it
    /// is corrupt (no rewrite makes one: every policy call is then refused).
    pub fn new(block: Vec<u8>) -> R<Self> {
        let v = PolicyView::parse(&block).map_err(|_| DENIED)?;
        let (clock, random, deny, trace) = (v.clock(), v.random(), v.deny(), v.trace());
        let rng = match random {
            Random::Seed(n) => Some(Xoshiro256::new(n)),
            _ => None,
        };
        Ok(Runtime {
            block,
            clock,
            random,
            deny,
            trace,
            elapsed: 0,
            rng,
        })
    }

    /// The policy block, read in place.
    pub fn view(&self) -> PolicyView<'_> {
        PolicyView::parse(&self.block).unwrap_or_default()
    }

    /// `clock_time_get` under a clock policy: `None` when the host answers, else the time written
    /// at `out`. A fixed clock reads its base plus [`FIXED_TICK_NS`] per earlier read and plus the
    /// time slept (see [`advance`](Self::advance)).
    pub fn clock_time<M: AppMem>(&mut self, m: &mut M, id: u32, out: u32) -> Option<R<()>> {
        match self.clock {
            Clock::Host => None,
            Clock::Deny => Some(Err(DENIED)),
            Clock::Fixed(base) => Some(if id > CLOCK_MAX {
                Err(EINVAL)
            } else {
                let t = base.wrapping_add(self.elapsed);
                self.elapsed = self.elapsed.wrapping_add(FIXED_TICK_NS);
                m.put_u64(out, t)
            }),
        }
    }

    /// What a fixed clock reads next (`None` for other clocks): the time of a change, so that a
    /// file's times are never earlier than a clock reading made before the change.
    pub fn fixed_now(&self) -> Option<u64> {
        match self.clock {
            Clock::Fixed(base) => Some(base.wrapping_add(self.elapsed)),
            _ => None,
        }
    }

    /// Advances a fixed clock by `slept` nanoseconds, the time a poll_oneoff waited on it.
    pub fn advance(&mut self, slept: u64) {
        self.elapsed = self.elapsed.wrapping_add(slept);
    }

    /// `clock_res_get` under a clock policy: `None` when the host answers.
    pub fn clock_res<M: AppMem>(&self, m: &mut M, id: u32, out: u32) -> Option<R<()>> {
        match self.clock {
            Clock::Host => None,
            Clock::Deny => Some(Err(DENIED)),
            Clock::Fixed(_) if id > CLOCK_MAX => Some(Err(EINVAL)),
            Clock::Fixed(_) => Some(m.put_u64(out, FIXED_TICK_NS)),
        }
    }

    /// `random_get` under a random policy: `None` when the host answers. A seeded generator fills
    /// the buffer with whole outputs, little-endian; the unused bytes of the last are dropped.
    pub fn random<M: AppMem>(&mut self, m: &mut M, buf: u32, len: u32) -> Option<R<()>> {
        let rng = match self.random {
            Random::Host => return None,
            Random::Deny => return Some(Err(DENIED)),
            Random::Seed(_) => self.rng.as_mut()?,
        };
        if let Err(e) = m.check(buf, len) {
            return Some(Err(e));
        }
        let mut chunk = [0u8; 256];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(chunk.len() as u32);
            let part = chunk.get_mut(..n as usize).unwrap_or_default();
            for w in part.chunks_mut(8) {
                for (d, s) in w.iter_mut().zip(rng.next_u64().to_le_bytes()) {
                    *d = s;
                }
            }
            m.write(buf + done, part);
            done += n;
        }
        Some(Ok(()))
    }
}

/// The name of an environment entry `NAME=value` (all of it without `=`).
fn env_name(kv: &[u8]) -> &[u8] {
    split_env(kv).0
}

/// The environment the app sees: the baked variables in order, then the host's `host` entries
/// that the policy lets through and that no baked variable names; ENOMEM when memory runs out.
pub fn merge_env(p: &PolicyView<'_>, host: &[Vec<u8>]) -> R<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for kv in p.env() {
        push(&mut out, copy(kv)?)?;
    }
    for kv in host {
        let name = env_name(kv);
        let allowed = match p.env_from_host() {
            EnvMode::Allow => true,
            EnvMode::Deny => false,
            EnvMode::Only => p.host_names().any(|n| n == name),
        };
        if allowed && !p.env().any(|b| env_name(b) == name) {
            push(&mut out, copy(kv)?)?;
        }
    }
    Ok(out)
}

/// The arguments the app sees: the host's `argv[0]`, the baked arguments, then the host's others.
pub fn merge_args(p: &PolicyView<'_>, host: &[Vec<u8>]) -> R<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let baked = p.args();
    for a in host.iter().take(1) {
        push(&mut out, copy(a)?)?;
    }
    for a in baked {
        push(&mut out, copy(a)?)?;
    }
    for a in host.iter().skip(1) {
        push(&mut out, copy(a)?)?;
    }
    Ok(out)
}

/// The count and total bytes (each string NUL-terminated) of `list`, as `*_sizes_get` answers.
pub fn sizes(list: &[Vec<u8>]) -> (u32, u32) {
    let bytes = list.iter().map(|s| s.len() + 1).sum::<usize>();
    (list.len() as u32, bytes as u32)
}

/// Writes `list` as `args_get`/`environ_get` do: NUL-terminated strings from `buf`, a pointer to
/// each at `ptrs`.
pub fn write_list<M: AppMem>(m: &mut M, list: &[Vec<u8>], ptrs: u32, buf: u32) -> R<()> {
    let (n, bytes) = sizes(list);
    m.check(ptrs, n.checked_mul(4).ok_or(EINVAL)?)?;
    m.check(buf, bytes)?;
    let mut at = buf;
    for (i, s) in list.iter().enumerate() {
        m.put_u32(ptrs + 4 * i as u32, at)?;
        m.put(at, s)?;
        m.put(at + s.len() as u32, &[0])?;
        at += s.len() as u32 + 1;
    }
    Ok(())
}

/// Splits a host list as `*_get` wrote it (`n` NUL-terminated strings in `buf`) into strings;
/// ENOMEM when memory runs out.
pub fn split_list(buf: &[u8], n: u32) -> R<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for s in buf.split(|&b| b == 0).take(n as usize) {
        push(&mut out, copy(s)?)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::TestMem;
    use wasifs_image::policy::{EnvFromHost, Policies};

    /// The runtime for `p`, through its encoded block as the shim gets it.
    fn runtime(p: Policies) -> Runtime {
        Runtime::new(p.encode()).unwrap()
    }

    fn mem() -> TestMem {
        TestMem {
            app: alloc::vec![0; 4096],
            image: Vec::new(),
        }
    }

    fn strs(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn baked_env_comes_first_wins_over_the_host_and_the_list_filters_the_host() {
        let p = Policies {
            env: alloc::vec![("A".into(), "baked".into())],
            env_from_host: EnvFromHost::Only(alloc::vec!["A".into(), "HOME".into()]),
            ..Policies::default()
        };
        let host = strs(&["A=host", "HOME=/h", "PATH=/bin", "HOMEX=1"]);
        let rt = runtime(p.clone());
        assert_eq!(
            merge_env(&rt.view(), &host),
            Ok(strs(&["A=baked", "HOME=/h"]))
        );
        let deny = runtime(Policies {
            env_from_host: EnvFromHost::Deny,
            ..p
        });
        assert_eq!(merge_env(&deny.view(), &host), Ok(strs(&["A=baked"])));
    }

    #[test]
    fn baked_args_go_after_the_host_argv0_and_before_the_host_args() {
        let p = Policies {
            args: alloc::vec!["-v".into(), "x y".into()],
            ..Policies::default()
        };
        let rt = runtime(p);
        assert_eq!(
            merge_args(&rt.view(), &strs(&["prog", "h1"])),
            Ok(strs(&["prog", "-v", "x y", "h1"]))
        );
        assert_eq!(merge_args(&rt.view(), &[]), Ok(strs(&["-v", "x y"])));
    }

    #[test]
    fn lists_are_written_as_pointers_and_nul_terminated_strings() {
        let mut m = mem();
        let list = strs(&["ab", "", "c"]);
        assert_eq!(sizes(&list), (3, 6));
        write_list(&mut m, &list, 100, 200).unwrap();
        assert_eq!(m.get_u32(100), Ok(200));
        assert_eq!(m.get_u32(104), Ok(203));
        assert_eq!(m.get_u32(108), Ok(204));
        assert_eq!(&m.app[200..206], b"ab\0\0c\0");
        assert_eq!(split_list(&m.app[200..206], 3), Ok(list.clone()));
        assert_eq!(
            write_list(&mut m, &list, 4094, 200),
            Err(crate::wasi::EFAULT)
        );
    }

    #[test]
    fn a_fixed_clock_ticks_one_microsecond_per_read_on_every_clock_and_advances_by_sleeps() {
        let mut r = runtime(Policies {
            clock: Clock::Fixed(5_000),
            ..Policies::default()
        });
        let mut m = mem();
        let read = |r: &mut Runtime, m: &mut TestMem, id| {
            r.clock_time(m, id, 8).unwrap().unwrap();
            u64::from_le_bytes(m.app[8..16].try_into().unwrap())
        };
        assert_eq!(read(&mut r, &mut m, 0), 5_000);
        assert_eq!(read(&mut r, &mut m, 1), 6_000);
        assert_eq!(read(&mut r, &mut m, 0), 7_000);
        r.advance(2_000_000);
        assert_eq!(r.fixed_now(), Some(2_008_000), "the time slept counts once");
        assert_eq!(read(&mut r, &mut m, 1), 2_008_000);
        assert_eq!(r.clock_time(&mut m, 9, 8), Some(Err(EINVAL)));
        assert_eq!(r.clock_res(&mut m, 1, 8), Some(Ok(())));
        assert_eq!(m.app[8..16], FIXED_TICK_NS.to_le_bytes());
    }

    #[test]
    fn denied_clock_and_random_answer_enotcapable_and_host_ones_are_not_served() {
        let mut r = runtime(Policies {
            clock: Clock::Deny,
            random: Random::Deny,
            deny: Deny::Errno,
            ..Policies::default()
        });
        let mut m = mem();
        assert_eq!(r.clock_time(&mut m, 0, 8), Some(Err(ENOTCAPABLE)));
        assert_eq!(r.clock_res(&mut m, 0, 8), Some(Err(ENOTCAPABLE)));
        assert_eq!(r.random(&mut m, 8, 8), Some(Err(ENOTCAPABLE)));
        let mut host = Runtime::new(Vec::new()).unwrap();
        assert!(host.clock_time(&mut m, 0, 8).is_none());
        assert!(host.random(&mut m, 8, 8).is_none());
    }

    #[test]
    fn seeded_random_is_the_xoshiro_stream_in_whole_little_endian_outputs() {
        let mut r = runtime(Policies {
            random: Random::Seed(7),
            ..Policies::default()
        });
        let mut m = mem();
        r.random(&mut m, 0, 300).unwrap().unwrap();
        let mut x = Xoshiro256::new(7);
        let want: Vec<u8> = (0..38).flat_map(|_| x.next_u64().to_le_bytes()).collect();
        // 300 bytes = 37 whole outputs and 4 bytes of a 38th (a 256-byte chunk ends on an output).
        assert_eq!(&m.app[..300], &want[..300]);
        assert_eq!(r.random(&mut m, 4090, 8), Some(Err(crate::wasi::EFAULT)));
    }
}
