//! The WASI policies of an image (env, args, stdio, clocks, random, deny): their one definition,
//! encoded by the rewriter into the image's policy block and decoded by the shim at start-up.
//!
//! Block layout (little-endian): 8 mode bytes (deny, stdin, stdout, stderr, clock, random,
//! env-from-host, trace), clock base u64 (ns since the epoch), random seed u64, then three
//! string lists (baked env `K=V`, host env names let through, baked args), each a u32 count and
//! per string a u32 length and its bytes.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use crate::format::FormatError;
use crate::time::{parse_rfc3339, Rfc3339};

/// What a denied call does (`--deny`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Deny {
    /// Answers an errno: `ENOTCAPABLE` (76) for clocks, random and stdio.
    #[default]
    Errno,
    /// Traps (`unreachable`), stopping the program at the denied call.
    Trap,
}

/// What the app's stdin, stdout or stderr is (`--stdin/--stdout/--stderr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stdio {
    /// The runtime's own stream.
    #[default]
    Inherit,
    /// Reads see end of file, writes succeed and are dropped.
    Null,
    /// Reads and writes are denied ([`Deny`]).
    Deny,
}

/// The clocks the app reads (`--clock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// The runtime's clocks.
    #[default]
    Host,
    /// `clock_time_get`/`clock_res_get` are denied ([`Deny`]).
    Deny,
    /// Every clock reads `ns` since the epoch plus 1 µs per earlier clock_time_get call (of any
    /// clock), so a run reads the same times every time; resolution 1 µs.
    Fixed(u64),
}

/// The bytes `random_get` gives (`--random`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Random {
    /// The runtime's random source.
    #[default]
    Host,
    /// `random_get` is denied ([`Deny`]).
    Deny,
    /// xoshiro256** seeded with SplitMix64(`n`): successive outputs as little-endian u64s, the
    /// same stream on every run.
    Seed(u64),
}

/// Whether the shim logs every WASI call the app makes to stderr (`--trace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trace {
    /// No trace: the app's calls reach the untraced entry points.
    #[default]
    Off,
    /// Every call is logged.
    On,
    /// Calls are logged when the runtime's environment has `WASIFS_TRACE` set (not empty, not `0`).
    Env,
}

impl FromStr for Trace {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        match s {
            "off" => Ok(Trace::Off),
            "on" => Ok(Trace::On),
            "env" => Ok(Trace::Env),
            _ => Err(bad("trace mode", s, "off, on or env")),
        }
    }
}

/// Which of the runtime's environment variables the app sees (`--env-from-host`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EnvFromHost {
    /// All of them (a baked `--env` of the same name wins).
    #[default]
    Allow,
    /// None.
    Deny,
    /// Only those named.
    Only(Vec<String>),
}

/// Every WASI policy an image carries; the default changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policies {
    /// Baked environment variables `(name, value)`, in order, before the host's.
    pub env: Vec<(String, String)>,
    /// Which host variables the app sees.
    pub env_from_host: EnvFromHost,
    /// Baked arguments: the app sees the host's `argv[0]`, then these, then the host's other args.
    pub args: Vec<String>,
    /// stdin, stdout, stderr.
    pub stdio: [Stdio; 3],
    /// The clocks.
    pub clock: Clock,
    /// The random source.
    pub random: Random,
    /// What a denied call does.
    pub deny: Deny,
    /// The call trace.
    pub trace: Trace,
}

/// A policy value that does not parse; its text says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PolicyError {}

fn bad(what: &str, got: &str, accepted: &str) -> PolicyError {
    PolicyError(alloc::format!(
        "invalid {what} `{got}`: expected {accepted}"
    ))
}

impl FromStr for Deny {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        match s {
            "errno" => Ok(Deny::Errno),
            "trap" => Ok(Deny::Trap),
            _ => Err(bad("deny mode", s, "errno or trap")),
        }
    }
}

impl FromStr for Stdio {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        match s {
            "inherit" => Ok(Stdio::Inherit),
            "null" => Ok(Stdio::Null),
            "deny" => Ok(Stdio::Deny),
            _ => Err(bad("stdio mode", s, "inherit, null or deny")),
        }
    }
}

impl FromStr for Clock {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        match s {
            "host" => Ok(Clock::Host),
            "deny" => Ok(Clock::Deny),
            _ => match s.strip_prefix("fixed:") {
                Some(t) => parse_rfc3339(t)
                    .map(Clock::Fixed)
                    .map_err(|_| bad("fixed time", t, "RFC 3339, e.g. 2024-01-02T03:04:05Z")),
                None => Err(bad("clock", s, "host, deny or fixed:RFC3339")),
            },
        }
    }
}

impl FromStr for Random {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        match s {
            "host" => Ok(Random::Host),
            "deny" => Ok(Random::Deny),
            _ => match s.strip_prefix("seed:") {
                Some(n) => n
                    .parse()
                    .map(Random::Seed)
                    .map_err(|_| bad("seed", n, "an unsigned 64-bit integer")),
                None => Err(bad("random source", s, "host, deny or seed:N")),
            },
        }
    }
}

impl FromStr for EnvFromHost {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        match s {
            "allow" => Ok(EnvFromHost::Allow),
            "deny" => Ok(EnvFromHost::Deny),
            _ => {
                let names: Vec<String> = s.split(',').map(String::from).collect();
                if names.iter().any(|n| n.is_empty() || n.contains('=')) {
                    return Err(bad(
                        "--env-from-host",
                        s,
                        "allow, deny or a comma list of variable names",
                    ));
                }
                Ok(EnvFromHost::Only(names))
            }
        }
    }
}

impl Deny {
    fn byte(self) -> u8 {
        self as u8
    }
}

/// Offset in the block of the deny mode byte (0 errno, 1 trap).
pub const DENY_AT: u32 = 0;
/// Offset in the block of the stdin, stdout and stderr mode bytes ([`Stdio::from_byte`]).
pub const STDIO_AT: u32 = 1;
/// Bytes at the block's start that hold the clock policy: the mode bytes and the fixed clock's
/// base ([`Clock::from_head`]).
pub const CLOCK_HEAD: u32 = 16;
/// Offset in the block of the clock mode byte (0 host, 1 deny, 2 fixed).
const CLOCK_AT: usize = 4;
/// Offset in the block of the fixed clock's base (ns since the epoch, little-endian).
const CLOCK_BASE_AT: usize = 8;

impl Clock {
    /// The clock policy the first [`CLOCK_HEAD`] bytes of a policy block encode (an unknown mode:
    /// the host's, as a block [`PolicyView::parse`] refuses never reaches a reader that trusts it).
    pub fn from_head(head: &[u8; CLOCK_HEAD as usize]) -> Clock {
        let mut base = [0u8; 8];
        for (i, b) in base.iter_mut().enumerate() {
            *b = head.get(CLOCK_BASE_AT + i).copied().unwrap_or(0);
        }
        match head.get(CLOCK_AT) {
            Some(1) => Clock::Deny,
            Some(2) => Clock::Fixed(u64::from_le_bytes(base)),
            _ => Clock::Host,
        }
    }
}

impl Stdio {
    fn byte(self) -> u8 {
        self as u8
    }
    /// The mode a block's stdio byte encodes.
    pub fn from_byte(b: u8) -> Result<Self, FormatError> {
        match b {
            0 => Ok(Stdio::Inherit),
            1 => Ok(Stdio::Null),
            2 => Ok(Stdio::Deny),
            _ => Err(FormatError::BadPolicy),
        }
    }
}

/// Size of the fixed part of the block: 8 mode bytes, clock base, seed.
const FIXED: usize = 24;

impl Policies {
    /// Whether every policy is the default (nothing to record, nothing for the shim to serve).
    pub fn is_default(&self) -> bool {
        *self == Policies::default()
    }

    /// Whether `args_get`/`args_sizes_get` must be served by the shim.
    pub fn serves_args(&self) -> bool {
        !self.args.is_empty()
    }

    /// Whether `environ_get`/`environ_sizes_get` must be served by the shim.
    pub fn serves_env(&self) -> bool {
        !self.env.is_empty() || self.env_from_host != EnvFromHost::Allow
    }

    /// Whether `clock_time_get`/`clock_res_get` must be served by the shim.
    pub fn serves_clock(&self) -> bool {
        self.clock != Clock::Host
    }

    /// Whether `random_get` must be served by the shim.
    pub fn serves_random(&self) -> bool {
        self.random != Random::Host
    }

    /// Encodes the policy block (layout in the module doc).
    pub fn encode(&self) -> Vec<u8> {
        let (clock, base) = match self.clock {
            Clock::Host => (0, 0),
            Clock::Deny => (1, 0),
            Clock::Fixed(ns) => (2, ns),
        };
        let (random, seed) = match self.random {
            Random::Host => (0, 0),
            Random::Deny => (1, 0),
            Random::Seed(n) => (2, n),
        };
        let (from_host, names): (u8, &[String]) = match &self.env_from_host {
            EnvFromHost::Allow => (0, &[]),
            EnvFromHost::Deny => (1, &[]),
            EnvFromHost::Only(n) => (2, n),
        };
        let [i, o, e] = self.stdio.map(Stdio::byte);
        let mut out = Vec::new();
        let trace = self.trace as u8;
        out.extend_from_slice(&[self.deny.byte(), i, o, e, clock, random, from_host, trace]);
        out.extend_from_slice(&base.to_le_bytes());
        out.extend_from_slice(&seed.to_le_bytes());
        let env: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| alloc::format!("{k}={v}"))
            .collect();
        for list in [&env[..], names, &self.args] {
            out.extend_from_slice(&(list.len() as u32).to_le_bytes());
            for s in list {
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
        out
    }

    /// Decodes a policy block; an empty block is the default. [`FormatError::BadPolicy`] if it is
    /// malformed.
    pub fn decode(b: &[u8]) -> Result<Self, FormatError> {
        let v = PolicyView::parse(b)?;
        let text = |s: &[u8]| String::from(core::str::from_utf8(s).unwrap_or_default());
        let env_from_host = match v.env_from_host() {
            EnvMode::Allow => EnvFromHost::Allow,
            EnvMode::Deny => EnvFromHost::Deny,
            EnvMode::Only => EnvFromHost::Only(v.host_names().map(text).collect()),
        };
        let env = v
            .env()
            .map(|kv| {
                let (k, val) = split_env(kv);
                (text(k), text(val))
            })
            .collect();
        Ok(Policies {
            env,
            env_from_host,
            args: v.args().map(text).collect(),
            stdio: v.stdio(),
            clock: v.clock(),
            random: v.random(),
            deny: v.deny(),
            trace: v.trace(),
        })
    }
}

/// `NAME=value` split at its first `=` into name and value (all of it is the name without one).
pub fn split_env(kv: &[u8]) -> (&[u8], &[u8]) {
    match kv.iter().position(|&b| b == b'=') {
        Some(i) => (
            kv.get(..i).unwrap_or_default(),
            kv.get(i + 1..).unwrap_or_default(),
        ),
        None => (kv, &[]),
    }
}

/// What `--env-from-host` lets through, without the names (see [`PolicyView::host_names`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvMode {
    /// All host variables.
    Allow,
    /// None.
    Deny,
    /// Those [`PolicyView::host_names`] names.
    Only,
}

/// The strings of one list of a policy block, read in place.
#[derive(Debug, Clone, Copy, Default)]
pub struct Strings<'a> {
    /// The list's strings, each a u32 length and its bytes (checked by [`PolicyView::parse`]).
    rest: &'a [u8],
}

impl<'a> Iterator for Strings<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let len: [u8; 4] = self.rest.get(..4)?.try_into().ok()?;
        let len = u32::from_le_bytes(len) as usize;
        let s = self.rest.get(4..4usize.checked_add(len)?)?;
        self.rest = self.rest.get(4 + len..).unwrap_or_default();
        Some(s)
    }
}

/// A policy block read in place, without allocating: what the shim reads at start-up
/// ([`Policies::decode`] builds on it).
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicyView<'a> {
    /// The 8 mode bytes (checked).
    modes: [u8; 8],
    /// The fixed clock's base.
    base: u64,
    /// The random seed.
    seed: u64,
    /// Baked env, host env names, baked args.
    lists: [Strings<'a>; 3],
}

impl<'a> PolicyView<'a> {
    /// Checks block `b` (an empty one is the default) and reads it in place.
    pub fn parse(b: &'a [u8]) -> Result<Self, FormatError> {
        if b.is_empty() {
            return Ok(PolicyView::default());
        }
        let bad = FormatError::BadPolicy;
        let fixed: &[u8; FIXED] = b.get(..FIXED).and_then(|f| f.try_into().ok()).ok_or(bad)?;
        let modes = [
            fixed[0], fixed[1], fixed[2], fixed[3], fixed[4], fixed[5], fixed[6], fixed[7],
        ];
        let max = [1, 2, 2, 2, 2, 2, 2, 2];
        if modes.iter().zip(max).any(|(&m, max)| m > max) {
            return Err(bad);
        }
        let u64_at = |o: usize| {
            let mut a = [0u8; 8];
            for (i, x) in a.iter_mut().enumerate() {
                *x = fixed.get(o + i).copied().unwrap_or(0);
            }
            u64::from_le_bytes(a)
        };
        let mut at = FIXED;
        let mut lists = [Strings::default(); 3];
        for list in &mut lists {
            let n = read_u32(b, &mut at)?;
            let start = at;
            for _ in 0..n {
                let len = read_u32(b, &mut at)? as usize;
                let end = at.checked_add(len).ok_or(bad)?;
                let s = b.get(at..end).ok_or(bad)?;
                core::str::from_utf8(s).map_err(|_| bad)?;
                at = end;
            }
            list.rest = b.get(start..at).ok_or(bad)?;
        }
        if at != b.len() {
            return Err(bad);
        }
        Ok(PolicyView {
            modes,
            base: u64_at(CLOCK_BASE_AT),
            seed: u64_at(16),
            lists,
        })
    }

    /// What a denied call does.
    pub fn deny(&self) -> Deny {
        if self.modes[0] == 1 {
            Deny::Trap
        } else {
            Deny::Errno
        }
    }

    /// stdin, stdout, stderr.
    pub fn stdio(&self) -> [Stdio; 3] {
        let s = |b| Stdio::from_byte(b).unwrap_or_default();
        [s(self.modes[1]), s(self.modes[2]), s(self.modes[3])]
    }

    /// The clocks.
    pub fn clock(&self) -> Clock {
        match self.modes[CLOCK_AT] {
            1 => Clock::Deny,
            2 => Clock::Fixed(self.base),
            _ => Clock::Host,
        }
    }

    /// The random source.
    pub fn random(&self) -> Random {
        match self.modes[5] {
            1 => Random::Deny,
            2 => Random::Seed(self.seed),
            _ => Random::Host,
        }
    }

    /// Which host variables the app sees.
    pub fn env_from_host(&self) -> EnvMode {
        match self.modes[6] {
            1 => EnvMode::Deny,
            2 => EnvMode::Only,
            _ => EnvMode::Allow,
        }
    }

    /// The call trace.
    pub fn trace(&self) -> Trace {
        match self.modes[7] {
            1 => Trace::On,
            2 => Trace::Env,
            _ => Trace::Off,
        }
    }

    /// The baked variables, `NAME=value` each.
    pub fn env(&self) -> Strings<'a> {
        self.lists[0]
    }

    /// The host variable names `--env-from-host=LIST` lets through.
    pub fn host_names(&self) -> Strings<'a> {
        self.lists[1]
    }

    /// The baked arguments.
    pub fn args(&self) -> Strings<'a> {
        self.lists[2]
    }
}

fn read_u32(b: &[u8], at: &mut usize) -> Result<u32, FormatError> {
    let s: [u8; 4] = b
        .get(*at..at.saturating_add(4))
        .and_then(|s| s.try_into().ok())
        .ok_or(FormatError::BadPolicy)?;
    *at += 4;
    Ok(u32::from_le_bytes(s))
}

impl fmt::Display for Stdio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stdio::Inherit => "inherit",
            Stdio::Null => "null",
            Stdio::Deny => "deny",
        })
    }
}

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clock::Host => f.write_str("host"),
            Clock::Deny => f.write_str("deny"),
            Clock::Fixed(ns) => write!(f, "fixed:{} (+1 us per read)", Rfc3339(*ns)),
        }
    }
}

impl fmt::Display for Random {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Random::Host => f.write_str("host"),
            Random::Deny => f.write_str("deny"),
            Random::Seed(n) => write!(f, "seed:{n} (xoshiro256**)"),
        }
    }
}

impl fmt::Display for Policies {
    /// One `name: value` line per policy, e.g. `clock: host`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "env:")?;
        for (k, v) in &self.env {
            write!(f, " {k}={v}")?;
        }
        writeln!(f)?;
        match &self.env_from_host {
            EnvFromHost::Allow => writeln!(f, "env-from-host: allow")?,
            EnvFromHost::Deny => writeln!(f, "env-from-host: deny")?,
            EnvFromHost::Only(n) => writeln!(f, "env-from-host: {}", n.join(","))?,
        }
        write!(f, "args: <host argv[0]>")?;
        for a in &self.args {
            write!(f, " {a:?}")?;
        }
        writeln!(f, " <host args>")?;
        let [i, o, e] = self.stdio;
        writeln!(f, "stdin: {i}\nstdout: {o}\nstderr: {e}")?;
        writeln!(f, "clock: {}", self.clock)?;
        writeln!(f, "random: {}", self.random)?;
        let deny = match self.deny {
            Deny::Errno => "errno (ENOTCAPABLE)",
            Deny::Trap => "trap",
        };
        writeln!(f, "deny: {deny}")?;
        let trace = match self.trace {
            Trace::Off => "off",
            Trace::On => "on (stderr)",
            Trace::Env => "when WASIFS_TRACE is set (stderr)",
        };
        writeln!(f, "trace: {trace}")
    }
}

/// xoshiro256** (Blackman & Vigna), seeded by SplitMix64 as its authors recommend: the generator
/// of [`Random::Seed`].
#[derive(Debug, Clone)]
pub struct Xoshiro256(pub [u64; 4]);

impl Xoshiro256 {
    /// The state for seed `n`: four successive SplitMix64 outputs from `n`.
    pub fn new(n: u64) -> Self {
        let mut x = n;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Xoshiro256([next(), next(), next(), next()])
    }

    /// The next output.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_round_trip_through_the_block() {
        let p = Policies {
            env: alloc::vec![("A".into(), "1=2".into())],
            env_from_host: EnvFromHost::Only(alloc::vec!["HOME".into(), "PATH".into()]),
            args: alloc::vec!["--x".into(), "".into()],
            stdio: [Stdio::Null, Stdio::Inherit, Stdio::Deny],
            clock: Clock::Fixed(7),
            random: Random::Seed(9),
            deny: Deny::Trap,
            trace: Trace::Env,
        };
        assert_eq!(Policies::decode(&p.encode()), Ok(p));
        assert_eq!(Policies::decode(&[]), Ok(Policies::default()));
        assert_eq!(Policies::decode(&[9; 24]), Err(FormatError::BadPolicy));
    }

    #[test]
    fn the_clock_is_read_back_from_the_head_of_the_block() {
        for clock in [
            Clock::Host,
            Clock::Deny,
            Clock::Fixed(1_700_000_000_123_456_789),
        ] {
            let p = Policies {
                clock,
                random: Random::Seed(u64::MAX),
                ..Policies::default()
            };
            let block = p.encode();
            let head: &[u8; CLOCK_HEAD as usize] = block[..CLOCK_HEAD as usize].try_into().unwrap();
            assert_eq!(Clock::from_head(head), clock);
            assert_eq!(PolicyView::parse(&block).unwrap().clock(), clock);
        }
    }

    #[test]
    fn a_fixed_clock_displays_as_the_rfc3339_time_it_was_given() {
        for t in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59.000000001Z",
            "2024-12-31T00:00:00Z",
        ] {
            let c: Clock = alloc::format!("fixed:{t}").parse().unwrap();
            assert_eq!(
                alloc::format!("{c}"),
                alloc::format!("fixed:{t} (+1 us per read)")
            );
        }
    }

    #[test]
    fn policies_display_one_line_each_for_inspect() {
        let p = Policies {
            env: alloc::vec![("A".into(), "1".into())],
            args: alloc::vec!["-v".into()],
            stdio: [Stdio::Null, Stdio::Inherit, Stdio::Deny],
            clock: "fixed:2024-01-02T03:04:05Z".parse().unwrap(),
            random: Random::Seed(3),
            ..Policies::default()
        };
        assert_eq!(
            alloc::format!("{p}"),
            "env: A=1\nenv-from-host: allow\nargs: <host argv[0]> \"-v\" <host args>\n\
             stdin: null\nstdout: inherit\nstderr: deny\n\
             clock: fixed:2024-01-02T03:04:05Z (+1 us per read)\n\
             random: seed:3 (xoshiro256**)\ndeny: errno (ENOTCAPABLE)\ntrace: off\n"
        );
    }

    #[test]
    fn xoshiro_matches_the_reference_stream_for_seed_zero() {
        // SplitMix64(0) gives 0xe220a8397b1dcdaf first (reference implementation).
        let x = Xoshiro256::new(0);
        assert_eq!(x.0[0], 0xe220_a839_7b1d_cdaf);
        let mut a = Xoshiro256::new(42);
        let mut b = Xoshiro256::new(42);
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(Xoshiro256::new(1).next_u64(), Xoshiro256::new(2).next_u64());
    }
}
