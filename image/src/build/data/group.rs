//! Writing a group: of similar files (`similar.rs`), chunk `i` of every member in one shared frame; or of a base and its followers (`pairs.rs`), in the frames planned; read when the group's first member's turn comes. The members' chunk records are kept apart until the group ends, sorted back into chunk order, so that each file's records stay contiguous.

use std::io;
use std::vec::Vec;

use super::{DataWriter, Item};
use crate::build::dedup::content_hash;
use crate::build::error::to_u32;
use crate::build::pack::Block;
use crate::build::pairs::Paired;
use crate::build::similar::MAX_MEMBERS;
use crate::build::{BuildError, BuildOptions, FileData};
use crate::format::{CHUNK_SEGMENT, WHOLE_CHUNK_LOG2};

/// The members of a group: (position, contents, size), in node order.
pub(super) type Members<'a> = Vec<(usize, &'a FileData, u64)>;

/// A group's frames when they are not chunk `i` of each member (`pairs.rs`): each a list of
/// (position, chunk number).
pub(super) type Frames = Vec<Vec<(usize, u32)>>;

/// Whether a file in chunks of `1 << log2` bytes may join a group: when compressing, non-empty,
/// and with chunks small enough for a frame to hold one of each member (at most 1 MiB).
pub(super) fn may_join(opts: &BuildOptions, log2: u8, size: u64) -> bool {
    opts.level.zstd().is_some()
        && size > 0
        && (1u64 << log2) * MAX_MEMBERS as u64 <= 1 << WHOLE_CHUNK_LOG2
        && log2 > crate::format::SMALL_CHUNK_LOG2
}

/// One member while its group is written.
struct Member<'a> {
    index: usize,
    size: u64,
    /// Its chunk size, as a log2.
    log2: u8,
    pieces: crate::build::source::Pieces<'a>,
    /// No piece read yet.
    first: bool,
    /// Found to be a copy of an earlier file: written as that.
    copy: bool,
}

impl<'a> DataWriter<'a, '_, '_, '_> {
    /// Takes the groups of similar files (positions in node order) and of bases and their
    /// followers, with each member's contents and size from `file(position)`.
    pub(super) fn set_groups(
        &mut self,
        groups: &[Vec<usize>],
        paired: Vec<Paired>,
        file: impl Fn(usize) -> Option<(&'a FileData, u64)>,
    ) {
        self.grouped = std::vec![false; self.data.ranges.len()];
        let named = groups.iter().map(|g| (g.clone(), None));
        let paired = paired.into_iter().map(|p| (p.members, Some(p.frames)));
        for (g, frames) in named.chain(paired) {
            let members: Members<'a> = g
                .iter()
                .filter_map(|&i| file(i).map(|(data, size)| (i, data, size)))
                .collect();
            if let [(first, ..), rest @ ..] = &members[..] {
                for &(i, ..) in rest {
                    self.grouped[i] = true;
                }
                self.groups.insert(*first, (members, frames));
            }
        }
    }

    /// Queues the frames of a base and its followers: each member read whole (one equal to an
    /// earlier file queued as a copy of it instead), then each of `frames` with its pieces in
    /// the order given, a zstd block ending every [`CHUNK_SEGMENT`] bytes of each; then the
    /// group's end.
    pub(super) fn add_frames(
        &mut self,
        members: Members<'a>,
        frames: &[Vec<(usize, u32)>],
    ) -> Result<(), BuildError> {
        let mut bodies: Vec<(usize, Vec<u8>, usize)> = Vec::with_capacity(members.len());
        for (index, data, size) in members {
            self.dedup.add_source(index, data);
            let log2 = self.data.chunk_log2.get(index).copied().unwrap_or_default();
            let chunk = 1usize << log2;
            let mut pieces = data.pieces(size, chunk)?;
            // One byte more than the file: see `Pieces::read_into`.
            let mut body = std::vec![0u8; size as usize + 1];
            let mut at = 0;
            while let Some(len) = pieces.next_len() {
                pieces.read_into(&mut body[at..=at + len])?;
                at += len;
            }
            pieces.end()?;
            body.truncate(at);
            if !self.queued_as_copy((index, size, log2), &body[..chunk.min(at)])? {
                bodies.push((index, body, chunk));
            }
        }
        for pieces in frames {
            let mut frame = Block::default();
            for &(index, number) in pieces {
                // A member queued as a copy has no pieces here.
                let Some((_, body, chunk)) = bodies.iter().find(|(i, ..)| *i == index) else {
                    continue;
                };
                let start = number as usize * chunk;
                let piece = body
                    .get(start..(start + chunk).min(body.len()))
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| {
                        BuildError::Compress(io::Error::other("group piece past its file"))
                    })?;
                frame.add_piece((index, number), piece, CHUNK_SEGMENT as usize);
            }
            if !frame.files.is_empty() {
                self.batch.packed += frame.raw.len();
                self.push(Item::Group(frame))?;
            }
        }
        self.push(Item::GroupEnd)
    }

    /// Queues the frames of a group: frame `i` holds chunk `i` of each member that has one, a
    /// zstd block ending every [`CHUNK_SEGMENT`] bytes of each chunk; then the group's end. A
    /// member whose size and first chunk match an earlier file's, and so do all its bytes, is
    /// queued as a copy of that file instead.
    pub(super) fn add_group(&mut self, members: Members<'a>) -> Result<(), BuildError> {
        let mut live = Vec::with_capacity(members.len());
        for (index, data, size) in members {
            self.dedup.add_source(index, data);
            let log2 = self.data.chunk_log2.get(index).copied().unwrap_or_default();
            live.push(Member {
                index,
                size,
                log2,
                pieces: data.pieces(size, 1usize << log2)?,
                first: true,
                copy: false,
            });
        }
        let mut piece = Vec::new();
        for number in 0u32.. {
            let mut frame = Block::default();
            for m in live.iter_mut().filter(|m| !m.copy) {
                let Some(len) = m.pieces.next_len() else {
                    continue;
                };
                // One byte more than the piece: see `Pieces::read_into`.
                piece.resize(len + 1, 0);
                m.pieces.read_into(&mut piece[..=len])?;
                if std::mem::take(&mut m.first)
                    && self.queued_as_copy((m.index, m.size, m.log2), &piece[..len])?
                {
                    m.copy = true;
                    continue;
                }
                frame.add_piece((m.index, number), &piece[..len], CHUNK_SEGMENT as usize);
            }
            if frame.files.is_empty() {
                break;
            }
            self.batch.packed += frame.raw.len();
            self.push(Item::Group(frame))?;
        }
        for m in live.into_iter().filter(|m| !m.copy) {
            m.pieces.end()?;
        }
        self.push(Item::GroupEnd)
    }

    /// Queues member `index` (`size` bytes in chunks of `1 << log2`, the first of them `head`) as a
    /// copy of an earlier file when its size and first chunk match one's and so do all its bytes;
    /// whether it was.
    fn queued_as_copy(
        &mut self,
        (index, size, log2): (usize, u64, u8),
        head: &[u8],
    ) -> Result<bool, BuildError> {
        let whole = (head.len() as u64 == size).then_some(head);
        let hash = content_hash(head);
        match self.dedup.earlier_copy(index, size, log2, hash, whole)? {
            Some(earlier) => {
                self.push(Item::Copy {
                    index,
                    earlier,
                    size,
                })?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Appends one frame of a group, compressed (`stored`) or raw, keeping its chunk records
    /// with their members'.
    pub(super) fn append_group_frame(
        &mut self,
        frame: &Block,
        stored: Option<&[u8]>,
    ) -> Result<(), BuildError> {
        let out = &mut *self.sink.out;
        let stored_off = out.len();
        let bytes = stored.unwrap_or(&frame.raw);
        to_u32(stored_off + bytes.len() as u64)?;
        out.append(bytes).map_err(BuildError::Write)?;
        if stored.is_some() {
            let raw = to_u32(frame.raw.len() as u64)?;
            self.data.max_group_frame = self.data.max_group_frame.max(raw);
        }
        let records = frame.records(stored_off, bytes.len(), stored.is_some())?;
        for ((index, chunk), piece) in records.into_iter().zip(&frame.files) {
            let record = (piece.chunk, chunk);
            match self.group_records.iter_mut().find(|(i, _)| *i == index) {
                Some((_, records)) => records.push(record),
                None => self.group_records.push((index, std::vec![record])),
            }
        }
        self.sink.written += frame.raw.len() as u64;
        Ok(())
    }

    /// Ends the group being appended: each member's chunk records, in order, and its range.
    pub(super) fn end_group(&mut self) -> Result<(), BuildError> {
        for (index, mut records) in std::mem::take(&mut self.group_records) {
            // A follower's pieces come in its base's chunk order.
            records.sort_by_key(|&(number, _)| number);
            let first = to_u32(self.data.chunks.len() as u64)?;
            self.data.ranges[index] = (first, to_u32(records.len() as u64)?);
            self.data
                .chunks
                .extend(records.into_iter().map(|(_, chunk)| chunk));
        }
        Ok(())
    }
}
