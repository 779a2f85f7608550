//! Deduplication of whole files: a file whose bytes and chunk size equal an earlier file's shares
//! its chunks (found by size and the hash of its first chunk, before any of it is compressed).

use std::boxed::Box;
use std::collections::HashMap;
use std::vec::Vec;

use super::source::same_contents;
use super::{BuildError, FileData};

/// Files up to this size have their contents kept in memory, to confirm later copies without
/// reading either file again: trees of many tiny files repeat a few contents thousands of times, and
/// each copy cost two opens and reads. (Larger files are read again, one open per copy: keeping
/// them would hold megabytes of a tree with few copies for nothing.)
const KEEP_FILES_UP_TO: usize = 512;
/// Most bytes kept so.
const KEEP_BYTES: usize = 8 << 20;

/// A file stored so far: its node-order index, and its contents when they were kept.
type Stored = (usize, Option<Box<[u8]>>);

/// The files stored so far, found by size and content hash and confirmed byte for byte.
#[derive(Default)]
pub(super) struct Dedup<'a> {
    /// Sources of the files added so far, by node-order index (to verify a hash match).
    sources: Vec<Option<&'a FileData>>,
    /// (size, chunk size as a log2, content hash) → the files stored with that key: node-order
    /// index, and the contents when they were kept.
    seen: HashMap<(u64, u8, u64), Vec<Stored>>,
    /// Bytes of contents kept in `seen` (at most [`KEEP_BYTES`]).
    kept: usize,
}

impl<'a> Dedup<'a> {
    /// Records where file `order[index]` comes from, before its chunks are written.
    pub(super) fn add_source(&mut self, index: usize, data: &'a FileData) {
        if self.sources.len() <= index {
            self.sources.resize(index + 1, None);
        }
        self.sources[index] = Some(data);
    }

    /// The node-order index of an earlier file with the same `size` bytes as file `order[index]`,
    /// stored in chunks of the same `1 << chunk_log2` bytes (a copy is read through the earlier
    /// file's chunk records), or `None` (then this file is remembered for later ones). `whole` is
    /// all of its contents when the caller has them in memory (checked to end there): then they are
    /// compared without reading this file again, and kept for later files when small
    /// ([`KEEP_FILES_UP_TO`], [`KEEP_BYTES`]).
    pub(super) fn earlier_copy(
        &mut self,
        index: usize,
        size: u64,
        chunk_log2: u8,
        hash: u64,
        whole: Option<&[u8]>,
    ) -> Result<Option<usize>, BuildError> {
        let source = |i: usize| {
            let known = self.sources.get(i).copied().flatten();
            known.ok_or(BuildError::UnknownNode)
        };
        let key = (size, chunk_log2, hash);
        if let Some(cands) = self.seen.get(&key) {
            for (c, kept) in cands {
                let same = match (kept, whole) {
                    (Some(kept), Some(whole)) => kept[..] == whole[..],
                    (None, Some(whole)) => source(*c)?.holds(whole)?,
                    _ => same_contents(source(*c)?, source(index)?, size)?,
                };
                if same {
                    return Ok(Some(*c));
                }
            }
        }
        let keep = whole.filter(|w| w.len() <= KEEP_FILES_UP_TO.min(KEEP_BYTES - self.kept));
        self.kept += keep.map_or(0, <[u8]>::len);
        // Nearly every key has one file: a vector of one, not of the four a first push reserves
        // (200,000 tiny files: 19 MB less at the peak).
        self.seen
            .entry(key)
            .or_insert_with(|| Vec::with_capacity(1))
            .push((index, keep.map(Box::from)));
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

    /// A host file holding `bytes` in `dir`.
    fn host_file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> FileData {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        FileData::Path(p)
    }

    #[test]
    fn files_with_equal_hashes_but_other_bytes_are_never_copies_whichever_way_they_are_compared() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (host_file(&dir, "a", b"abcd"), host_file(&dir, "b", b"abce"));
        // One hash for both (a collision): only the bytes decide. In memory, from the host file
        // (the earlier one's bytes not kept) and with neither in memory.
        for (first, second) in [
            (Some(&b"abcd"[..]), Some(&b"abce"[..])),
            (None, Some(b"abce")),
            (None, None),
        ] {
            let mut d = Dedup::default();
            d.add_source(0, &a);
            assert_eq!(d.earlier_copy(0, 4, 12, 7, first).unwrap(), None);
            d.add_source(1, &b);
            assert_eq!(
                d.earlier_copy(1, 4, 12, 7, second).unwrap(),
                None,
                "{first:?} {second:?}"
            );
            d.add_source(2, &a);
            assert_eq!(
                d.earlier_copy(2, 4, 12, 7, first).unwrap(),
                Some(0),
                "{first:?}"
            );
        }
    }

    #[test]
    fn a_small_copy_is_confirmed_from_kept_bytes_without_reading_the_earlier_file_again() {
        let dir = tempfile::tempdir().unwrap();
        let a = host_file(&dir, "a", b"same");
        let b = host_file(&dir, "b", b"same");
        let mut d = Dedup::default();
        d.add_source(0, &a);
        assert_eq!(d.earlier_copy(0, 4, 12, 1, Some(b"same")).unwrap(), None);
        // Gone from the host: a comparison that read it again would fail.
        std::fs::remove_file(dir.path().join("a")).unwrap();
        d.add_source(1, &b);
        assert_eq!(d.earlier_copy(1, 4, 12, 1, Some(b"same")).unwrap(), Some(0));
        // A file larger than KEEP_FILES_UP_TO is not kept either.
        let big = std::vec![7u8; KEEP_FILES_UP_TO + 1];
        d.add_source(2, &a);
        assert_eq!(
            d.earlier_copy(2, big.len() as u64, 12, 2, Some(&big))
                .unwrap(),
            None
        );
        assert_eq!(d.kept, 4);
        // Past the budget nothing is kept: the earlier file is read again.
        let mut d = Dedup {
            kept: KEEP_BYTES - 3,
            ..Dedup::default()
        };
        d.add_source(0, &b);
        assert_eq!(d.earlier_copy(0, 4, 12, 1, Some(b"same")).unwrap(), None);
        assert_eq!(d.kept, KEEP_BYTES - 3);
        std::fs::remove_file(dir.path().join("b")).unwrap();
        d.add_source(1, &a);
        assert!(d.earlier_copy(1, 4, 12, 1, Some(b"same")).is_err());
    }

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
