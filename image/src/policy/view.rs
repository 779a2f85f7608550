//! The reader side of a policy block: [`PolicyView`] checks a block and reads it in place, without allocating.

use super::{Clock, Deny, Random, Stdio, Trace, CLOCK_AT, CLOCK_BASE_AT, FIXED};
use crate::format::FormatError;

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
/// ([`Policies::decode`](super::Policies::decode) builds on it).
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
                // Bytes, as the app receives them: nothing reads them as text.
                b.get(at..end).ok_or(bad)?;
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
