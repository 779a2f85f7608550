//! The compression level of an image's file data: a zstd level, or "store raw", checked once when made.

use core::fmt;
use core::str::FromStr;

/// A valid compression level: 0 stores every chunk raw, 1..=22 are zstd levels.
///
/// It can only be made through [`TryFrom<i32>`] or [`FromStr`] (so it serves as a clap
/// `value_parser` as is), which reject anything out of range; whoever holds one need not check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Level(i32);

impl Level {
    /// Store file data uncompressed (`--level 0`, `--store`).
    pub const STORE: Level = Level(0);
    /// The default: zstd level 3 (zstd's own default; fast, and most of the gain of higher levels).
    pub const DEFAULT: Level = Level(3);
    /// The highest zstd level.
    pub const MAX: Level = Level(22);

    /// The level as a number: 0 for [`Level::STORE`], else the zstd level.
    pub const fn get(self) -> i32 {
        self.0
    }

    /// The zstd level to compress with, or `None` to store raw.
    pub const fn zstd(self) -> Option<i32> {
        if self.0 == Self::STORE.0 {
            None
        } else {
            Some(self.0)
        }
    }

    /// The LZ4 HC level for chunks read at random, or `None` to store raw: one step of zstd's
    /// scale is one of HC's, the default (zstd 3) at HC 6 and HC's highest (12) from zstd 9 up.
    pub const fn lz4_hc(self) -> Option<i32> {
        match self.zstd() {
            None => None,
            Some(z) if z + 3 > 12 => Some(12),
            Some(z) => Some(z + 3),
        }
    }

    /// How long a match may be that chunks read at random spell out as literals instead: up to
    /// the default level 6 bytes (fewer LZ4 sequences: random reads ~10 % faster, those chunks
    /// 4–12 % larger), above it 0 (every match kept: smallest).
    pub const fn lz4_literal_matches(self) -> usize {
        match self.zstd() {
            Some(z) if z <= Self::DEFAULT.0 => 6,
            _ => 0,
        }
    }
}

impl Default for Level {
    fn default() -> Self {
        Level::DEFAULT
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Why a number or string is not a [`Level`]; the message names the valid range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelError {
    /// A number outside 0..=22.
    OutOfRange(i64),
    /// Text that is not a whole number.
    NotANumber,
}

impl fmt::Display for LevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (store, max) = (Level::STORE.0, Level::MAX.0);
        let valid = format_args!(
            "use {store} to store files uncompressed or a zstd level {}..={max}",
            store + 1
        );
        match self {
            LevelError::OutOfRange(n) => {
                write!(f, "compression level {n} is out of range: {valid}")
            }
            LevelError::NotANumber => write!(f, "compression level is not a whole number: {valid}"),
        }
    }
}

impl core::error::Error for LevelError {}

impl TryFrom<i32> for Level {
    type Error = LevelError;

    fn try_from(n: i32) -> Result<Self, LevelError> {
        if (Level::STORE.0..=Level::MAX.0).contains(&n) {
            Ok(Level(n))
        } else {
            Err(LevelError::OutOfRange(i64::from(n)))
        }
    }
}

impl FromStr for Level {
    type Err = LevelError;

    fn from_str(s: &str) -> Result<Self, LevelError> {
        let n: i64 = s.trim().parse().map_err(|_| LevelError::NotANumber)?;
        let n = i32::try_from(n).map_err(|_| LevelError::OutOfRange(n))?;
        Level::try_from(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn every_level_from_store_to_max_is_accepted_and_keeps_its_number() {
        for n in 0..=22 {
            assert_eq!(Level::try_from(n).map(Level::get), Ok(n));
            assert_eq!(n.to_string().parse::<Level>().map(Level::get), Ok(n));
        }
        assert_eq!(Level::STORE.zstd(), None);
        assert_eq!(Level::DEFAULT.zstd(), Some(3));
        assert_eq!(Level::default(), Level::DEFAULT);
    }

    #[test]
    fn lz4_hc_follows_the_zstd_level_three_up_to_twelve_and_stores_raw_at_zero() {
        let hc = |n: i32| Level::try_from(n).map(Level::lz4_hc);
        assert_eq!(hc(0), Ok(None));
        assert_eq!(hc(1), Ok(Some(4)));
        assert_eq!(Level::DEFAULT.lz4_hc(), Some(6));
        assert_eq!(hc(9), Ok(Some(12)));
        assert_eq!(hc(22), Ok(Some(12)));
    }

    #[test]
    fn short_matches_become_literals_up_to_the_default_level_only() {
        let up_to = |n: i32| Level::try_from(n).map(Level::lz4_literal_matches);
        assert_eq!(up_to(1), Ok(6));
        assert_eq!(Level::DEFAULT.lz4_literal_matches(), 6);
        assert_eq!(up_to(4), Ok(0));
        assert_eq!(up_to(22), Ok(0));
        assert_eq!(Level::STORE.lz4_literal_matches(), 0);
    }

    #[test]
    fn out_of_range_or_non_numeric_levels_are_rejected_naming_the_range() {
        for n in [-1, 23, i32::MIN, i32::MAX] {
            assert_eq!(
                Level::try_from(n),
                Err(LevelError::OutOfRange(i64::from(n)))
            );
        }
        for s in ["-1", "23", "99999999999", "", "three", "3.5"] {
            let e = s.parse::<Level>().unwrap_err().to_string();
            assert!(
                e.contains("0 to store") && e.contains("1..=22"),
                "{s:?}: {e}"
            );
        }
    }
}
