//! The shim's chunk-cache budget (`--cache-size`): a byte count with an optional K/M suffix, checked once when made.

use core::fmt;
use core::str::FromStr;

use crate::format::DEFAULT_CACHE_SIZE;

/// Bytes of decompressed chunks the shim may keep cached, at most [`CacheSize::MAX`].
///
/// Made through [`FromStr`] (a clap `value_parser` as is: `4096`, `512K`, `4M`, KiB and MiB) or
/// [`CacheSize::DEFAULT`]; whoever holds one need not check it. The shim keeps at least one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CacheSize(u32);

impl CacheSize {
    /// The default, [`DEFAULT_CACHE_SIZE`] (measured: BENCHMARKS.md, P9).
    pub const DEFAULT: CacheSize = CacheSize(DEFAULT_CACHE_SIZE);
    /// The largest budget, 1 GiB (the shim's memory is at most 4 GiB).
    pub const MAX: CacheSize = CacheSize(1 << 30);

    /// The budget in bytes.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for CacheSize {
    fn default() -> Self {
        CacheSize::DEFAULT
    }
}

impl fmt::Display for CacheSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            n if n != 0 && n % (1 << 20) == 0 => write!(f, "{}M", n >> 20),
            n if n != 0 && n % (1 << 10) == 0 => write!(f, "{}K", n >> 10),
            n => write!(f, "{n}"),
        }
    }
}

/// Why text is not a [`CacheSize`]; the message names the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSizeError;

impl fmt::Display for CacheSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not a cache size: use bytes, or a number followed by K (KiB) or M (MiB), at most {}",
            CacheSize::MAX
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CacheSizeError {}

/// Bytes written as a whole number, optionally followed by K (KiB) or M (MiB); `None` for anything
/// else or past `u64`.
pub(crate) fn parse_bytes(s: &str) -> Option<u64> {
    let (num, unit) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1u64 << 10),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 1u64 << 20),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(unit)
}

impl FromStr for CacheSize {
    type Err = CacheSizeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match parse_bytes(s) {
            Some(b) if b <= u64::from(CacheSize::MAX.0) => Ok(CacheSize(b as u32)),
            _ => Err(CacheSizeError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_k_and_m_suffixes_up_to_one_gib() {
        assert_eq!("4096".parse(), Ok(CacheSize(4096)));
        assert_eq!("512K".parse(), Ok(CacheSize(512 << 10)));
        assert_eq!("4m".parse(), Ok(CacheSize(4 << 20)));
        assert_eq!("1024M".parse(), Ok(CacheSize::MAX));
        assert_eq!("1025M".parse::<CacheSize>(), Err(CacheSizeError));
        assert_eq!("-1".parse::<CacheSize>(), Err(CacheSizeError));
        assert_eq!("M".parse::<CacheSize>(), Err(CacheSizeError));
        assert_eq!(alloc::format!("{}", CacheSize::DEFAULT), "8M");
    }
}
