//! The file-data section: every file's chunks in node order (small files in shared blocks), read a
//! bounded batch at a time, compressed in the background while the next batch is read, appended in
//! order, deduplicated.
//! A batch is appended while the next one is compressed; two batch buffers take turns, so
//! reading allocates nothing once both have grown.

mod classify;
mod group;
mod repeats;

use std::collections::{BTreeMap, HashSet};
use std::thread::{Scope, ScopedJoinHandle};
use std::vec::Vec;

use self::classify::{classify, read_at_random, shares, Classified};
use self::repeats::Repeats;
use super::block_dict;
use super::compress::{lost_chunk, Compressors, Done, Job, Kind, Outputs};
use super::dedup::{content_hash, Dedup};
use super::dict;
use super::error::to_u32;
use super::pack::{Block, Packer};
use super::pairs;
use super::similar;
use super::sink::ImageSink;
use super::tree::{Body, Order, Tree};
use super::{BuildError, BuildOptions, FileData};
use crate::format::{Chunk, Codec, DEFAULT_CHUNK_LOG2};

/// Uncompressed bytes read into one batch before it is compressed (two batches are in memory at
/// once: one being read, one being compressed).
const BATCH_BYTES: usize = 8 << 20;
/// Most items in one batch (many small files).
const BATCH_ITEMS: usize = 4096;
/// The first batch is this power of two smaller than the others, the next ones twice as large
/// each time up to the full size: compression starts soon after reading does.
const FIRST_BATCH_SHIFT: u32 = 4;

/// A file's chunk range: (first chunk record, count).
pub(super) type ChunkRange = (u32, u32);

/// What the data section holds, for the tables.
pub(super) struct Data {
    /// The chunk records, in data order.
    pub(super) chunks: Vec<Chunk>,
    /// Each node's chunk range, by node id ((0, 0) for directories and symlinks).
    pub(super) ranges: Vec<ChunkRange>,
    /// Each file's chunk size as a log2, by node id (0 for directories and symlinks).
    pub(super) chunk_log2: Vec<u8>,
    /// Where the dictionary of LZ4 chunks is: (offset, length), (0, 0) without one.
    pub(super) dict: (u32, u32),
    /// Where the dictionary of shared blocks is: (offset, stored length, decompressed length),
    /// zeros without one.
    pub(super) block_dict: (u32, u32, u32),
    /// The longest compressed frame of a group of similar files (0: none).
    pub(super) max_group_frame: u32,
}

/// Appends the contents of every file of `tree`, in `order`, to `out` (which holds the header so
/// far), calling `progress(done, total)` after each batch.
pub(super) fn write(
    tree: &Tree,
    order: &Order,
    opts: BuildOptions,
    threads: usize,
    out: &mut dyn ImageSink,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Data, BuildError> {
    let sink = Sink {
        out,
        progress,
        total: tree.stats().data_len,
        written: 0,
    };
    // Each file's chunk size, and the files each dictionary and the groups are made from.
    let Classified {
        mut log2s,
        random,
        small,
        mid,
        alike,
    } = classify(tree, order, &opts)?;
    // The dictionaries of chunks read at random and of shared blocks, made before anything is
    // compressed, go first. They and the groups each read files of their own and depend on
    // nothing else: made side by side (~100 ms of a 0.8 s source-tree rewrite, one after another
    // on one core before).
    let (groups, dict, block_dict) = std::thread::scope(|s| {
        let groups = s.spawn(|| -> Result<_, BuildError> {
            let named = similar::groups(&alike, threads)?;
            let mut in_group = std::vec![false; log2s.len()];
            for &i in named.iter().flatten() {
                if let Some(g) = in_group.get_mut(i) {
                    *g = true;
                }
            }
            let taken: Vec<bool> = alike.iter().map(|c| in_group[c.index]).collect();
            let anchored = pairs::anchor(&alike, &taken, &log2s, threads)?;
            Ok((named, anchored))
        });
        let dict = s.spawn(|| dict::train(&random));
        let bytes = tree.stats().data_len;
        let block_dict =
            block_dict::choose(&small, &mid, bytes, opts.level, opts.block_size, threads);
        (joined(groups), joined(dict), block_dict)
    });
    let ((groups, anchored), dict, block_dict) = (groups?, dict?, block_dict?);
    let mut known = HashSet::new();
    if let Some(d) = &block_dict {
        let mut anchors = Vec::new();
        similar::fingerprints(&d.raw, &mut anchors);
        known.extend(anchors);
    }
    let paired = pairs::pairs(anchored, &known);
    let members = paired.iter().flat_map(|p| &p.members);
    for &i in groups.iter().flatten().chain(members) {
        if let Some(log2) = log2s.get_mut(i) {
            *log2 = (*log2).min(DEFAULT_CHUNK_LOG2);
        }
    }
    let dict_range = match &dict {
        Some(d) => {
            let off = to_u32(sink.out.len())?;
            sink.out.append(d).map_err(BuildError::Write)?;
            (off, to_u32(d.len() as u64)?)
        }
        None => (0, 0),
    };
    let block_dict_range = match &block_dict {
        Some(d) => {
            let off = to_u32(sink.out.len())?;
            sink.out.append(&d.stored).map_err(BuildError::Write)?;
            (
                off,
                to_u32(d.stored.len() as u64)?,
                to_u32(d.raw.len() as u64)?,
            )
        }
        None => (0, 0, 0),
    };
    std::thread::scope(|scope| {
        let mut compressors = Compressors::new(opts.level, threads)?;
        if let Some(d) = &dict {
            compressors.set_dict(d, opts.level)?;
        }
        if let Some(d) = &block_dict {
            compressors.set_block_dict(&d.prepared)?;
        }
        let mut w = DataWriter::new(opts, compressors, scope, sink, order.nodes.len());
        w.data.chunk_log2 = log2s;
        w.data.dict = dict_range;
        w.data.block_dict = block_dict_range;
        w.share = block_dict.is_some();
        w.set_groups(&groups, paired, |i| {
            match order.nodes.get(i).map(|&r| &tree.node(r).body) {
                Some(Body::File { data, size, .. }) => Some((data, *size)),
                _ => None,
            }
        });
        for (i, &r) in order.nodes.iter().enumerate() {
            if let Body::File { data, size, .. } = &tree.node(r).body {
                match w.groups.remove(&i) {
                    Some((members, None)) => w.add_group(members)?,
                    Some((members, Some(frames))) => w.add_frames(members, &frames)?,
                    None if w.grouped.get(i) == Some(&true) => {}
                    None => w.add_file(i, data, *size)?,
                }
            }
        }
        if let Some(block) = w.packer.take() {
            w.push_block(block)?;
        }
        w.flush()?;
        w.wait()?;
        for &(index, earlier) in &w.copies {
            w.data.ranges[index] = w.data.ranges[earlier];
        }
        Ok(w.data)
    })
}

/// What a scoped thread returned (its panic, if it panicked, goes on in this thread).
pub(super) fn joined<T>(handle: ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// One step of the data stream, in image order.
enum Item {
    /// A chunk of this many uncompressed bytes (the batch's next ones), and how it is compressed.
    Chunk(usize, Kind),
    /// The end of file `order[index]` (after its chunks).
    End { index: usize },
    /// A shared block of small files.
    Block(Block),
    /// A frame of a group of similar files: one chunk of each member.
    Group(Block),
    /// The end of a group: its members' chunk records follow.
    GroupEnd,
    /// File `order[index]`, a copy of the earlier `order[earlier]`, `size` bytes.
    Copy {
        index: usize,
        earlier: usize,
        size: u64,
    },
}

/// Items read and not yet appended, with the uncompressed bytes of their chunks back to back,
/// and their compressed bytes once compressed.
#[derive(Default)]
struct Batch {
    items: Vec<Item>,
    /// The chunks' bytes up to `used`; the rest is scratch space, kept initialised so that a
    /// batch's buffer, reused for the batch after the next, is zeroed only when it grows.
    bytes: Vec<u8>,
    used: usize,
    /// Uncompressed bytes of the shared blocks in `items`.
    packed: usize,
    /// Chunks, blocks and group frames in `items`: what is compressed.
    jobs: usize,
    /// The compressed chunks.
    outs: Outputs,
}

impl Batch {
    /// Compresses the chunks and blocks into `self.outs`.
    fn compress(&mut self, compressors: &mut Compressors) -> Result<Vec<Done>, BuildError> {
        let mut at = 0;
        let mut raws: Vec<Job<'_>> = Vec::new();
        for it in &self.items {
            match it {
                Item::Chunk(len, kind) => {
                    raws.push((&self.bytes[at..at + len], &[], *kind));
                    at += len;
                }
                Item::Block(b) | Item::Group(b) => raws.push((&b.raw, &b.ends, Kind::Shared)),
                _ => {}
            }
        }
        compressors.compress_all(&raws, &mut self.outs)
    }

    /// Empties the batch, keeping its memory.
    fn clear(&mut self) {
        self.items.clear();
        self.used = 0;
        self.packed = 0;
        self.jobs = 0;
    }
}

/// A compressed batch: its items, their results, and the contexts handed back.
type Compressed = (Batch, Result<Vec<Done>, BuildError>, Compressors);

/// Where the data goes, and how far it is.
struct Sink<'o> {
    out: &'o mut dyn ImageSink,
    progress: &'o mut dyn FnMut(u64, u64),
    /// Uncompressed bytes of all files.
    total: u64,
    /// Uncompressed bytes appended so far.
    written: u64,
}

/// Streams file data into the image: reads chunks into a bounded batch, compresses the batch on
/// several threads, appends the results in order, and stores a file identical to an earlier one
/// only once.
struct DataWriter<'a, 'o, 's, 'e> {
    opts: BuildOptions,
    scope: &'s Scope<'s, 'e>,
    /// The batch being compressed in the background while the next one is read.
    pending: Option<ScopedJoinHandle<'s, Compressed>>,
    compressors: Compressors,
    /// The batch being read.
    batch: Batch,
    sink: Sink<'o>,
    data: Data,
    dedup: Dedup<'a>,
    /// Small stored chunks appended so far, to point repeats of them at the first copy.
    repeats: Repeats,
    /// The first chunk record of the file being appended.
    open: Option<u32>,
    /// How much smaller than the full size the batch being read may be (a power of two).
    shift: u32,
    /// The shared block being filled with small files.
    packer: Packer,
    /// Small files stored as copies: (index, index of the earlier file), resolved at the end.
    copies: Vec<(usize, usize)>,
    /// A small file's bytes (and one scratch byte) while it is read.
    small: Vec<u8>,
    /// Groups of similar files not yet written, by their first member's position: every
    /// member's position, contents and size.
    groups: BTreeMap<usize, (group::Members<'a>, Option<group::Frames>)>,
    /// Whether the file at a position is a later member of a group (written with its first).
    grouped: Vec<bool>,
    /// The chunk records of the group being appended, per member.
    group_records: Vec<(usize, Vec<(u32, Chunk)>)>,
    /// Whether the image has a block dictionary, which files that [`shares`] are compressed
    /// against.
    share: bool,
    /// Threads compressing each batch.
    threads: usize,
}

impl<'a, 'o, 's, 'e> DataWriter<'a, 'o, 's, 'e> {
    fn new(
        opts: BuildOptions,
        compressors: Compressors,
        scope: &'s Scope<'s, 'e>,
        sink: Sink<'o>,
        nodes: usize,
    ) -> Self {
        let threads = compressors.threads();
        DataWriter {
            opts,
            scope,
            pending: None,
            compressors,
            batch: Batch::default(),
            sink,
            data: Data {
                chunks: Vec::new(),
                ranges: std::vec![(0, 0); nodes],
                chunk_log2: std::vec![0; nodes],
                dict: (0, 0),
                block_dict: (0, 0, 0),
                max_group_frame: 0,
            },
            dedup: Dedup::default(),
            repeats: Repeats::default(),
            open: None,
            shift: FIRST_BATCH_SHIFT,
            packer: Packer::new(opts.block_size),
            copies: Vec::new(),
            small: Vec::new(),
            groups: BTreeMap::new(),
            grouped: Vec::new(),
            group_records: Vec::new(),
            share: false,
            threads,
        }
    }

    /// Queues all chunks of file `order[index]`, in its chunk size, then its end; or, when its size
    /// and first chunk match an earlier file's and so do all its bytes, queues it as a copy of that
    /// file (of the same chunk size) before any of it is compressed.
    fn add_file(&mut self, index: usize, data: &'a FileData, size: u64) -> Result<(), BuildError> {
        self.dedup.add_source(index, data);
        let log2 = self.data.chunk_log2.get(index).copied().unwrap_or_default();
        if Packer::packs(self.opts.level, self.opts.block_size, size, log2) {
            self.data.chunk_log2[index] = self.opts.block_size.log2();
            return self.add_small(index, data, size);
        }
        let kind = if read_at_random(&self.opts, log2) {
            Kind::Random
        } else if self.share && shares(&self.opts, log2, size) {
            Kind::Shared
        } else {
            Kind::Alone
        };
        let mut pieces = data.pieces(size, 1usize << log2)?;
        let mut first = true;
        while let Some(len) = pieces.next_len() {
            let b = &mut self.batch;
            let (start, end) = (b.used, b.used + len);
            // One byte more than the piece: see `Pieces::read_into`.
            if b.bytes.len() <= end {
                b.bytes.resize(end + 1, 0);
            }
            pieces.read_into(&mut b.bytes[start..=end])?;
            if std::mem::take(&mut first) {
                let piece = &b.bytes[start..end];
                let whole = (len as u64 == size).then_some(piece);
                let hash = content_hash(piece);
                if let Some(earlier) = self.dedup.earlier_copy(index, size, log2, hash, whole)? {
                    return self.push(Item::Copy {
                        index,
                        earlier,
                        size,
                    });
                }
            }
            self.batch.used = end;
            self.push(Item::Chunk(len, kind))?;
        }
        pieces.end()?;
        self.push(Item::End { index })
    }

    /// Adds small file `order[index]` to the shared block (queueing the block it filled), or
    /// queues it as a copy of an earlier file with the same bytes.
    fn add_small(&mut self, index: usize, data: &'a FileData, size: u64) -> Result<(), BuildError> {
        let n = size as usize;
        let mut pieces = data.pieces(size, n)?;
        // One byte more than the file: see `Pieces::read_into`.
        self.small.resize(n + 1, 0);
        pieces.read_into(&mut self.small[..=n])?;
        pieces.end()?;
        let bytes = &self.small[..n];
        let hash = content_hash(bytes);
        let log2 = self.opts.block_size.log2();
        if let Some(earlier) = self
            .dedup
            .earlier_copy(index, size, log2, hash, Some(bytes))?
        {
            return self.push(Item::Copy {
                index,
                earlier,
                size,
            });
        }
        match self.packer.add(index, bytes) {
            Some(full) => self.push_block(full),
            None => Ok(()),
        }
    }

    /// Queues a full shared block.
    fn push_block(&mut self, block: Block) -> Result<(), BuildError> {
        self.batch.packed += block.raw.len();
        self.push(Item::Block(block))
    }

    /// Queues one item (a chunk's bytes are already in the batch), flushing the batch when it is
    /// full: at its size for now and with a job for each compressing thread (the first batches of
    /// a file in 4 MiB chunks held one chunk each, which left a core idle: `realtext` rewrote in
    /// 1.2× the time of 1 MiB chunks), or at the largest size.
    fn push(&mut self, item: Item) -> Result<(), BuildError> {
        if matches!(item, Item::Chunk(..) | Item::Block(_) | Item::Group(_)) {
            self.batch.jobs += 1;
        }
        self.batch.items.push(item);
        let bytes = self.batch.used + self.batch.packed;
        if (bytes >= BATCH_BYTES >> self.shift && self.batch.jobs >= self.threads)
            || bytes >= BATCH_BYTES
            || self.batch.items.len() >= BATCH_ITEMS >> self.shift
        {
            self.shift = self.shift.saturating_sub(1);
            self.flush()?;
        }
        Ok(())
    }

    /// Starts compressing the queued batch in the background once the previous one is compressed,
    /// then appends that previous one: reading the next batch and appending overlap compressing.
    /// The appended batch's memory takes the next batch.
    fn flush(&mut self) -> Result<(), BuildError> {
        let previous = self.join()?;
        let mut batch = std::mem::take(&mut self.batch);
        let mut compressors = std::mem::take(&mut self.compressors);
        self.pending = Some(self.scope.spawn(move || {
            let done = batch.compress(&mut compressors);
            (batch, done, compressors)
        }));
        if let Some((mut previous, done)) = previous {
            self.append(&previous, done)?;
            previous.clear();
            self.batch = previous;
        }
        Ok(())
    }

    /// Waits for the batch being compressed and appends it.
    fn wait(&mut self) -> Result<(), BuildError> {
        match self.join()? {
            Some((batch, done)) => self.append(&batch, done),
            None => Ok(()),
        }
    }

    /// Waits for the batch being compressed (if any) and takes the contexts back.
    fn join(&mut self) -> Result<Option<(Batch, Vec<Done>)>, BuildError> {
        let Some(handle) = self.pending.take() else {
            return Ok(None);
        };
        let (batch, done, compressors) = joined(handle);
        self.compressors = compressors;
        Ok(Some((batch, done?)))
    }

    /// Appends a compressed batch, in order.
    fn append(&mut self, batch: &Batch, done: Vec<Done>) -> Result<(), BuildError> {
        let mut results = done.into_iter();
        let mut at = 0;
        for item in &batch.items {
            match *item {
                Item::Chunk(len, kind) => {
                    let d = results.next().ok_or_else(lost_chunk)?;
                    let raw = &batch.bytes[at..at + len];
                    at += len;
                    let codec = match (d.zero, d.lz4, kind) {
                        (true, ..) => Codec::Zero,
                        (_, true, _) => Codec::Lz4,
                        (_, false, Kind::Shared) => Codec::ZstdDict,
                        (_, false, _) => Codec::Zstd,
                    };
                    let stored = match d.zero {
                        true => Some(&[][..]),
                        false => batch.outs.stored(&d),
                    };
                    self.append_chunk(raw, stored.map(|s| (s, codec)))?;
                }
                Item::End { index } => self.end_file(index)?,
                Item::Block(ref block) => {
                    let d = results.next().ok_or_else(lost_chunk)?;
                    self.append_block(block, batch.outs.stored(&d))?;
                }
                Item::Group(ref frame) => {
                    let d = results.next().ok_or_else(lost_chunk)?;
                    self.append_group_frame(frame, batch.outs.stored(&d))?;
                }
                Item::GroupEnd => self.end_group()?,
                Item::Copy {
                    index,
                    earlier,
                    size,
                } => {
                    self.copies.push((index, earlier));
                    self.sink.written += size;
                }
            }
        }
        (self.sink.progress)(self.sink.written, self.sink.total);
        Ok(())
    }

    /// Appends one chunk, compressed (`stored`, and how) or raw, and its record; a small stored
    /// chunk appended before is not appended again (its record points at the first copy), and a
    /// chunk of zeros ([`Codec::Zero`]) stores nothing.
    fn append_chunk(
        &mut self,
        raw: &[u8],
        stored: Option<(&[u8], Codec)>,
    ) -> Result<(), BuildError> {
        let out = &mut *self.sink.out;
        let chunk_idx = to_u32(self.data.chunks.len() as u64)?;
        self.open.get_or_insert(chunk_idx);
        let (bytes, codec) = stored.unwrap_or((raw, Codec::Raw));
        let stored_off = match self.repeats.find(codec, bytes) {
            _ if codec == Codec::Zero => 0,
            Some(off) => off,
            None => {
                let off = to_u32(out.len())?;
                to_u32(out.len() + bytes.len() as u64)?;
                out.append(bytes).map_err(BuildError::Write)?;
                self.repeats.add(codec, bytes, off);
                off
            }
        };
        self.data.chunks.push(Chunk {
            stored_off,
            stored_len: bytes.len() as u32,
            codec,
            block_off: 0,
        });
        self.sink.written += raw.len() as u64;
        Ok(())
    }

    /// Appends a shared block, compressed (`stored`) or raw, and the chunk record of each file in
    /// it.
    fn append_block(&mut self, block: &Block, stored: Option<&[u8]>) -> Result<(), BuildError> {
        let out = &mut *self.sink.out;
        let stored_off = out.len();
        let bytes = stored.unwrap_or(&block.raw);
        to_u32(stored_off + bytes.len() as u64)?;
        out.append(bytes).map_err(BuildError::Write)?;
        for (index, chunk) in block.records(stored_off, bytes.len(), stored.is_some())? {
            self.data.ranges[index] = (to_u32(self.data.chunks.len() as u64)?, 1);
            self.data.chunks.push(chunk);
        }
        self.sink.written += block.raw.len() as u64;
        Ok(())
    }

    /// Closes file `order[index]`: its range of chunk records.
    fn end_file(&mut self, index: usize) -> Result<(), BuildError> {
        let count = to_u32(self.data.chunks.len() as u64)?;
        let first = self.open.take().unwrap_or(count);
        self.data.ranges[index] = (first, count - first);
        Ok(())
    }
}
