//! Chunks whose stored bytes repeat an earlier chunk's (runs of one byte value: a database's free
//! pages, padding; chunks of zeros store nothing at all, `Codec::Zero`): stored once, every later
//! record pointing at the first copy.
//!
//! Only chunks that compress to a few bytes are remembered, keyed by those bytes: they are the ones
//! that repeat (a run of one byte compresses to the same ~20 bytes wherever it is), and a file of
//! 4 KiB chunks has a record and ~28 stored bytes for each: a 1 GiB file of one byte value was
//! 6.8 MiB of image (13 KiB with them).
//! Remembering them costs nothing else: no hash to trust, the bytes are the key.

use std::boxed::Box;
use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::format::Codec;

/// Stored chunks up to this many bytes are remembered (a 4 KiB LZ4 block of one byte value is
/// ~28 bytes, a 256 KiB zstd frame of one in 32 KiB blocks ~70).
const REMEMBER_UP_TO: usize = 128;
/// Most stored bytes remembered in all (then only those seen so far are matched).
const REMEMBER_BYTES: usize = 4 << 20;

/// The small stored chunks appended so far: per codec, stored bytes → image offset.
#[derive(Default)]
pub(super) struct Repeats {
    seen: [HashMap<Box<[u8]>, u32>; 6],
    /// Stored bytes in `seen`'s keys.
    kept: usize,
}

impl Repeats {
    /// The image offset of an earlier chunk stored as exactly `bytes` with `codec`, if any.
    pub(super) fn find(&self, codec: Codec, bytes: &[u8]) -> Option<u32> {
        if bytes.is_empty() || bytes.len() > REMEMBER_UP_TO {
            return None;
        }
        self.seen[index(codec)].get(bytes).copied()
    }

    /// Remembers that `bytes` (stored with `codec`) were appended at image offset `off`, if they
    /// are small enough and there is room.
    pub(super) fn add(&mut self, codec: Codec, bytes: &[u8], off: u32) {
        if bytes.is_empty()
            || bytes.len() > REMEMBER_UP_TO
            || self.kept + bytes.len() > REMEMBER_BYTES
        {
            return;
        }
        if let Entry::Vacant(v) = self.seen[index(codec)].entry(Box::from(bytes)) {
            self.kept += bytes.len();
            v.insert(off);
        }
    }
}

/// `codec`'s map in [`Repeats::seen`].
fn index(codec: Codec) -> usize {
    match codec {
        Codec::Raw => 0,
        Codec::Zstd => 1,
        Codec::Packed => 2,
        Codec::Lz4 => 3,
        Codec::ZstdDict => 4,
        Codec::Zero => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_stored_chunk_seen_before_with_the_same_codec_is_found_at_its_first_copy() {
        let mut r = Repeats::default();
        let zeros = [0x1fu8, 0, 1, 0, 0xff, 0xee];
        assert_eq!(r.find(Codec::Lz4, &zeros), None);
        r.add(Codec::Lz4, &zeros, 100);
        r.add(Codec::Lz4, &zeros, 900);
        assert_eq!(r.find(Codec::Lz4, &zeros), Some(100));
        assert_eq!(r.find(Codec::Zstd, &zeros), None, "another codec");
        assert_eq!(r.find(Codec::Lz4, &zeros[..5]), None, "other bytes");
    }

    #[test]
    fn large_chunks_and_chunks_past_the_memory_bound_are_not_remembered() {
        let mut r = Repeats::default();
        let big = [7u8; REMEMBER_UP_TO + 1];
        r.add(Codec::Raw, &big, 1);
        assert_eq!(r.find(Codec::Raw, &big), None);
        r.kept = REMEMBER_BYTES - 3;
        r.add(Codec::Zstd, &[1, 2, 3, 4], 5);
        assert_eq!(r.find(Codec::Zstd, &[1, 2, 3, 4]), None);
        r.add(Codec::Zstd, &[1, 2, 3], 6);
        assert_eq!(r.find(Codec::Zstd, &[1, 2, 3]), Some(6));
    }
}
