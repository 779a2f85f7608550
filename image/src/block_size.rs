//! The size of the shared blocks small files are packed in (`--block-size`): a power of two from 16K to 1M, or `off`, checked once when made.

use core::fmt;
use core::str::FromStr;

use crate::cache_size::parse_bytes;
use crate::format::{BLOCK_LOG2, PACK_BELOW, WHOLE_CHUNK_LOG2};

/// Most uncompressed bytes in one shared block of small files: larger blocks compress files that
/// share content better, smaller ones cost less to read one file from (BENCHMARKS.md, P11).
///
/// Made through [`FromStr`] (a clap `value_parser` as is: `128K`, `1M`, `off`), [`BlockSize::DEFAULT`]
/// or [`BlockSize::OFF`]; at least 16 KiB (every packed file fits one block) and at most 1 MiB (a
/// chunk's largest size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockSize(u8);

impl BlockSize {
    /// The default, 128 KiB ([`BLOCK_LOG2`]; measured: BENCHMARKS.md, P5/P11).
    pub const DEFAULT: BlockSize = BlockSize(BLOCK_LOG2);

    /// No shared blocks: every file is compressed alone, so a cold read of one small file decodes
    /// only that file (start-up latency on interpreters: BENCHMARKS.md, P3a), at the cost of ratio.
    pub const OFF: BlockSize = BlockSize(0);

    /// Whether small files are packed into shared blocks (not [`BlockSize::OFF`]).
    pub const fn packs(self) -> bool {
        self.0 != 0
    }

    /// log2 of the size in bytes.
    pub const fn log2(self) -> u8 {
        self.0
    }

    /// The size in bytes.
    pub const fn get(self) -> u32 {
        1 << self.0
    }
}

impl Default for BlockSize {
    fn default() -> Self {
        BlockSize::DEFAULT
    }
}

impl fmt::Display for BlockSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("off"),
            l if l >= 20 => write!(f, "{}M", 1u32 << (l - 20)),
            l => write!(f, "{}K", 1u32 << (l - 10)),
        }
    }
}

/// Why text is not a [`BlockSize`]; the message names the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSizeError;

impl fmt::Display for BlockSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "not a block size: use a power of two from 16K to 1M, in bytes or followed by K (KiB) \
             or M (MiB), e.g. 128K; or off",
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for BlockSizeError {}

impl FromStr for BlockSize {
    type Err = BlockSizeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "off" {
            return Ok(BlockSize::OFF);
        }
        match parse_bytes(s) {
            Some(b) if b.is_power_of_two() && (PACK_BELOW..=1 << WHOLE_CHUNK_LOG2).contains(&b) => {
                Ok(BlockSize(b.trailing_zeros() as u8))
            }
            _ => Err(BlockSizeError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_powers_of_two_from_16k_to_1m() {
        assert_eq!("128K".parse(), Ok(BlockSize::DEFAULT));
        assert_eq!("16k".parse::<BlockSize>().map(BlockSize::get), Ok(16 << 10));
        assert_eq!("1M".parse::<BlockSize>().map(BlockSize::log2), Ok(20));
        assert_eq!(
            "65536".parse::<BlockSize>().map(BlockSize::get),
            Ok(64 << 10)
        );
        for bad in ["8K", "2M", "100K", "0", "", "K", "auto"] {
            assert_eq!(bad.parse::<BlockSize>(), Err(BlockSizeError), "{bad}");
        }
        assert_eq!(alloc::format!("{}", BlockSize::DEFAULT), "128K");
        assert_eq!(alloc::format!("{}", BlockSize(20)), "1M");
        assert_eq!("off".parse(), Ok(BlockSize::OFF));
        assert_eq!(alloc::format!("{}", BlockSize::OFF), "off");
        assert!(BlockSize::DEFAULT.packs() && !BlockSize::OFF.packs());
    }
}
