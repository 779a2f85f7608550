//! Deduplication of whole files: a file whose bytes equal an earlier file's shares its chunks (found
//! by size and the hash of its first chunk, before any of it is compressed).

use std::collections::HashMap;
use std::vec::Vec;

use super::source::same_contents;
use super::{BuildError, FileData};

/// The files stored so far, found by size and content hash and confirmed byte for byte.
#[derive(Default)]
pub(super) struct Dedup<'a> {
    /// Sources of the files added so far, by node-order index (to verify a hash match).
    sources: HashMap<usize, &'a FileData>,
    /// (size, content hash) → node-order indexes of the files stored with that key.
    seen: HashMap<(u64, u64), Vec<usize>>,
}

impl<'a> Dedup<'a> {
    /// Records where file `order[index]` comes from, before its chunks are written.
    pub(super) fn add_source(&mut self, index: usize, data: &'a FileData) {
        self.sources.insert(index, data);
    }

    /// The node-order index of an earlier file with the same `size` bytes as file `order[index]`,
    /// or `None` (then this file is remembered for later ones).
    pub(super) fn earlier_copy(
        &mut self,
        index: usize,
        size: u64,
        hash: u64,
    ) -> Result<Option<usize>, BuildError> {
        let source = |i: usize| self.sources.get(&i).copied().ok_or(BuildError::UnknownNode);
        let key = (size, hash);
        if let Some(cands) = self.seen.get(&key) {
            let me = source(index)?;
            for &c in cands {
                if same_contents(source(c)?, me, size)? {
                    return Ok(Some(c));
                }
            }
        }
        self.seen.entry(key).or_default().push(index);
        Ok(None)
    }
}

/// 64-bit hash of a small file or of a large file's first chunk (a filter only: matches are
/// verified byte for byte): four independent word lanes over each 32 bytes, so the multiplies
/// overlap (~20 GB/s here), folded together with the tail at the end.
pub(super) fn content_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mix = |h: u64, v: u64| (h ^ v).wrapping_mul(K).rotate_left(29);
    let word = |w: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        u64::from_le_bytes(a)
    };
    let len = bytes.len() as u64;
    let mut lanes = [len, len ^ 1, len ^ 2, len ^ 3].map(|l| l.wrapping_mul(K));
    let mut blocks = bytes.chunks_exact(32);
    for b in &mut blocks {
        for (lane, w) in lanes.iter_mut().zip(b.chunks_exact(8)) {
            *lane = mix(*lane, word(w));
        }
    }
    let mut h = lanes.iter().fold(0, |h, &l| mix(h, l));
    let mut words = blocks.remainder().chunks_exact(8);
    for w in &mut words {
        h = mix(h, word(w));
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(K);
    }
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_changes_with_any_one_byte_and_with_the_length() {
        let base = super::super::compress::tests::noise(1000, 5);
        let h = content_hash(&base);
        for i in 0..base.len() {
            let mut b = base.clone();
            b[i] ^= 1;
            assert_ne!(content_hash(&b), h, "byte {i}");
        }
        for n in 0..base.len() {
            assert_ne!(content_hash(&base[..n]), h, "length {n}");
        }
        assert_eq!(content_hash(&base), h);
    }
}
