//! Whether an image may carry dictionaries (`--dictionaries`): `auto` or `off`, checked once when made.

use core::fmt;
use core::str::FromStr;

/// Whether compression may use content from elsewhere in the tree: the dictionary that chunks read
/// at random are LZ4 blocks against (trained on them), the one that shared blocks of small files
/// are compressed against (small files sampled from the tree), and groups of similar files
/// (versions of one file, compressed chunk by chunk side by side). Each is used only where it
/// pays (BENCHMARKS.md, P9 and P11); a reader decodes a dictionary before the first chunk or block
/// that uses it and keeps it (up to 1 MiB for shared blocks: the first read of a small file costs
/// its decoding), and a group member's chunk after the earlier members' chunks in its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dictionaries {
    /// Each dictionary and group where its rule says it pays.
    #[default]
    Auto,
    /// None: every file is compressed on its own (small files still share blocks).
    Off,
}

impl Dictionaries {
    /// Whether dictionaries may be added.
    pub const fn allowed(self) -> bool {
        matches!(self, Dictionaries::Auto)
    }
}

impl fmt::Display for Dictionaries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dictionaries::Auto => "auto",
            Dictionaries::Off => "off",
        })
    }
}

/// Why text is not a [`Dictionaries`] setting; the message names the accepted ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictionariesError;

impl fmt::Display for DictionariesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("use auto or off")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DictionariesError {}

impl FromStr for Dictionaries {
    type Err = DictionariesError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Dictionaries::Auto),
            "off" => Ok(Dictionaries::Off),
            _ => Err(DictionariesError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_and_off_parse_and_print_back() {
        for d in [Dictionaries::Auto, Dictionaries::Off] {
            assert_eq!(alloc::format!("{d}").parse(), Ok(d));
        }
        assert_eq!(Dictionaries::default(), Dictionaries::Auto);
        assert!(Dictionaries::Auto.allowed() && !Dictionaries::Off.allowed());
        for bad in ["", "on", "Auto", "none"] {
            assert_eq!(bad.parse::<Dictionaries>(), Err(DictionariesError), "{bad}");
        }
    }
}
