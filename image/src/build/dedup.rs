//! Deduplication of whole files: a file whose bytes equal an earlier file's shares its chunks.

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
