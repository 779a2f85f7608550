//! The chunk size of file data (`--chunk-size`): `auto` (chosen per file by its size) or one power of two, checked once when made.

use core::fmt;
use core::str::FromStr;

use crate::cache_size::{parse_bytes, CacheSize};
use crate::format::{DEFAULT_CHUNK_LOG2, SMALL_CHUNK_LOG2, TEXT_CHUNK_LOG2, WHOLE_CHUNK_LOG2};

/// How a file is read, as far as its format tells (its first bytes): what `auto` weighs besides
/// its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// A page at a time, wherever a lookup leads (SQLite and redb databases): small chunks
    /// whatever its size.
    Paged,
    /// Loaded or read through (executables, object files and archives of them, wasm modules):
    /// 1 MiB chunks whatever its size.
    Whole,
    /// Text larger than the cache (logs, CSV, JSON, dumps: no NUL bytes, few control characters
    /// anywhere it was looked at): read through from the start, so large chunks (an eighth of the
    /// cache, 1–4 MiB), whose frames find repeats as far apart as `tar.zst`'s window does.
    Text,
    /// Nothing known: small chunks only when it is larger than the cache.
    Unknown,
}

/// How large the chunks of each file are: [`ChunkSize::AUTO`] or a fixed power of two from
/// 1 byte to 1 MiB.
///
/// Made through [`FromStr`] (a clap `value_parser` as is: `auto`, `8192`, `8K`, `1M`),
/// [`ChunkSize::fixed_log2`] or [`ChunkSize::AUTO`]; whoever holds one need not check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChunkSize(Option<u8>);

impl ChunkSize {
    /// Chosen per file by [`ChunkSize::log2_for`]'s rule (the default).
    pub const AUTO: ChunkSize = ChunkSize(None);

    /// Every file in chunks of `1 << log2` bytes, or `None` past 1 MiB (`log2` > 20).
    pub const fn fixed_log2(log2: u8) -> Option<ChunkSize> {
        if log2 <= WHOLE_CHUNK_LOG2 {
            Some(ChunkSize(Some(log2)))
        } else {
            None
        }
    }

    /// Whether the chunk size is chosen per file ([`ChunkSize::AUTO`]).
    pub fn is_auto(self) -> bool {
        self.0.is_none()
    }

    /// log2 of the chunk size of a file that takes `size` bytes to cache whole (its length; for a
    /// file mostly of zeros, such as a sparse file or a disk image, the chunks that are not all
    /// zeros: chunks of zeros are never cached) whose image gives the shim `cache` bytes of chunk
    /// cache, read as `access` says. The auto rule: a file larger than the cache cannot stay
    /// cached, so it is read at random through small chunks (4 KiB: databases, indexes, models),
    /// and so is a paged file of any size: a cold read of one page then decodes 4 KiB, not up to
    /// 256 KiB (bench/NOTES.md: a 7 MiB SQLite database, 10 lookups 6.8 → 0.67 ms, 10,000 lookups
    /// 58 → 53 ms, image +2.5 %); every other file keeps 256 KiB chunks (read 32 KiB at a time),
    /// for ratio and sequential speed, and once read is served from the cache. A file read whole
    /// gets 1 MiB chunks whatever its size (still decoded 32 KiB at a time as it is read; LLVM's
    /// 381 MB of libraries and tools: 1.34× `tar.zst` in 4 KiB chunks, 1.08× in 256 KiB ones, 1.03×
    /// in 1 MiB ones, rewritten 3× faster); the image builder gives it 256 KiB again if it is
    /// compressed with versions of itself. Text larger than the cache is read through, not at
    /// random (in 4 KiB chunks, a 73 MiB table of packages was 1.41× `tar.zst`, a 14 MiB HTML file
    /// 3.95×, and took LZ4 HC 3–4× `tar | zstd`'s time): it gets chunks of an eighth of the cache,
    /// from 1 MiB (the default cache) to 4 MiB (a cache of 32 MiB or more), whose frames reach
    /// repeats as far apart as `tar.zst`'s window does (64 MiB of sources back to back: 1.22×
    /// `tar.zst` in 1 MiB chunks, 1.03× in 4 MiB ones; bench/NOTES.md).
    pub fn log2_for(self, size: u64, cache: CacheSize, access: Access) -> u8 {
        match (self.0, access) {
            (Some(log2), _) => log2,
            (None, Access::Paged) => SMALL_CHUNK_LOG2,
            (None, Access::Unknown) if size > u64::from(cache.get()) => SMALL_CHUNK_LOG2,
            (None, Access::Whole) => WHOLE_CHUNK_LOG2,
            (None, Access::Text) => text_log2(cache),
            (None, Access::Unknown) => DEFAULT_CHUNK_LOG2,
        }
    }
}

/// log2 of the chunks of text larger than `cache`: an eighth of the cache, from a file read whole's
/// (1 MiB: the default 8 MiB cache) to [`TEXT_CHUNK_LOG2`] (4 MiB, from a 32 MiB cache). A reader
/// going through several such files at once keeps one chunk of each cached, and one the cache cannot
/// hold is decoded again from its start at every turn: three logs read in turn in 64 KiB reads
/// took 3.7 s in 4 MiB chunks under an 8 MiB cache and 128 ms in 1 MiB ones (bench/NOTES.md), so
/// up to eight stay cached whatever the budget.
fn text_log2(cache: CacheSize) -> u8 {
    let eighth = (cache.get() / 8).max(1).ilog2() as u8;
    eighth.clamp(WHOLE_CHUNK_LOG2, TEXT_CHUNK_LOG2)
}

impl fmt::Display for ChunkSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("auto"),
            Some(l) if l >= 20 => write!(f, "{}M", 1u32 << (l - 20)),
            Some(l) if l >= 10 => write!(f, "{}K", 1u32 << (l - 10)),
            Some(l) => write!(f, "{}", 1u32 << l),
        }
    }
}

/// Why text is not a [`ChunkSize`]; the message names the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkSizeError;

impl fmt::Display for ChunkSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "not a chunk size: use `auto`, or a power of two from 1 byte to 1M in bytes or \
             followed by K (KiB) or M (MiB), e.g. 8K",
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ChunkSizeError {}

impl FromStr for ChunkSize {
    type Err = ChunkSizeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(ChunkSize::AUTO);
        }
        match parse_bytes(s) {
            Some(b) if b.is_power_of_two() => {
                ChunkSize::fixed_log2(b.trailing_zeros() as u8).ok_or(ChunkSizeError)
            }
            _ => Err(ChunkSizeError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_auto_or_powers_of_two_up_to_one_mib() {
        assert_eq!("auto".parse(), Ok(ChunkSize::AUTO));
        assert_eq!("8K".parse(), Ok(ChunkSize(Some(13))));
        assert_eq!("8192".parse(), Ok(ChunkSize(Some(13))));
        assert_eq!("1m".parse(), Ok(ChunkSize(Some(20))));
        assert_eq!("1".parse(), Ok(ChunkSize(Some(0))));
        for bad in ["2M", "12K", "0", "-8K", "K", "", "automatic"] {
            assert_eq!(bad.parse::<ChunkSize>(), Err(ChunkSizeError), "{bad}");
        }
        assert_eq!(alloc::format!("{}", ChunkSize(Some(13))), "8K");
        assert_eq!(alloc::format!("{}", ChunkSize(Some(20))), "1M");
        assert_eq!(alloc::format!("{}", ChunkSize(Some(6))), "64");
        assert_eq!(alloc::format!("{}", ChunkSize::AUTO), "auto");
        assert_eq!(ChunkSize::fixed_log2(21), None);
    }

    #[test]
    fn auto_gives_4k_chunks_to_paged_files_and_larger_than_the_cache_ones_1m_to_files_read_whole_and_4m_to_text_read_through(
    ) {
        let cache = CacheSize::DEFAULT;
        let whole = u64::from(cache.get());
        let auto = |size, cache, access| ChunkSize::AUTO.log2_for(size, cache, access);
        assert_eq!(auto(whole, cache, Access::Unknown), 18);
        assert_eq!(auto(whole, cache, Access::Paged), SMALL_CHUNK_LOG2);
        assert_eq!(auto(1 << 20, cache, Access::Paged), SMALL_CHUNK_LOG2);
        assert_eq!(auto(whole + 1, cache, Access::Unknown), SMALL_CHUNK_LOG2);
        assert_eq!(auto(whole + 1, cache, Access::Whole), WHOLE_CHUNK_LOG2);
        assert_eq!(auto(1 << 20, cache, Access::Whole), WHOLE_CHUNK_LOG2);
        assert_eq!(auto(1 << 30, cache, Access::Whole), WHOLE_CHUNK_LOG2);
        assert_eq!(auto(whole + 1, cache, Access::Text), WHOLE_CHUNK_LOG2);
        // Text chunks are an eighth of the cache, from a file read whole's to 4 MiB.
        let mib = |n: u32| -> CacheSize { alloc::format!("{n}M").parse().expect("a cache size") };
        assert_eq!(auto(1 << 30, mib(16), Access::Text), 21);
        assert_eq!(auto(1 << 30, mib(32), Access::Text), TEXT_CHUNK_LOG2);
        assert_eq!(auto(1 << 30, mib(2), Access::Text), WHOLE_CHUNK_LOG2);
        assert_eq!(auto(1 << 30, mib(1024), Access::Text), TEXT_CHUNK_LOG2);
        assert_eq!(auto(0, cache, Access::Unknown), 18);
        let small: CacheSize = "64K".parse().expect("a valid cache size");
        assert_eq!(auto(300 << 10, small, Access::Unknown), SMALL_CHUNK_LOG2);
        let fixed = ChunkSize::fixed_log2(17).expect("128 KiB is valid");
        assert_eq!(fixed.log2_for(1 << 30, cache, Access::Paged), 17);
    }
}
