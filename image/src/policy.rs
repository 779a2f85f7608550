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

#[cfg(test)]
mod tests;
mod view;

pub use view::{EnvMode, PolicyView, Strings};

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
