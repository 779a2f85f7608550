//! Deduplication of whole files: a file whose bytes equal an earlier file's shares its chunks.

use std::collections::HashMap;
use std::vec::Vec;

use super::data::ChunkRange;
use super::source::same_contents;
use super::{BuildError, FileData};

/// A file already in the image.
struct Stored {
    /// Its position in the node order.
    index: usize,
    /// Its chunks.
    range: ChunkRange,
}

/// The files stored so far, found by size and content hash and confirmed byte for byte.
#[derive(Default)]
pub(super) struct Dedup<'a> {
    /// Sources of the files added so far, by node-order index (to verify a hash match).
    sources: HashMap<usize, &'a FileData>,
    /// (size, content hash) → files stored with that key.
    seen: HashMap<(u64, u64), Vec<Stored>>,
}

impl<'a> Dedup<'a> {
    /// Records where file `order[index]` comes from, before its chunks are written.
    pub(super) fn add_source(&mut self, index: usize, data: &'a FileData) {
        self.sources.insert(index, data);
    }

    /// The chunks of an earlier file with the same `size` bytes as file `order[index]`, or `None`
    /// (then this file, stored at `range`, is remembered for later ones).
    pub(super) fn earlier_copy(
        &mut self,
        index: usize,
        size: u64,
        hash: u64,
        range: ChunkRange,
    ) -> Result<Option<ChunkRange>, BuildError> {
        let source = |i: usize| self.sources.get(&i).copied().ok_or(BuildError::UnknownNode);
        let key = (size, hash);
        if let Some(cands) = self.seen.get(&key) {
            let me = source(index)?;
            for c in cands {
                if same_contents(source(c.index)?, me, size)? {
                    return Ok(Some(c.range));
                }
            }
        }
        self.seen
            .entry(key)
            .or_default()
            .push(Stored { index, range });
        Ok(None)
    }
}
