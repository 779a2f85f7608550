//! Each file's chunk size, and what may compress it with others: small files share blocks,
//! mid-size files are compressed against the block dictionary, files read at random against the
//! LZ4 dictionary, files alike in name and content in groups.

use std::vec::Vec;

use super::group;
use crate::build::block_dict::SmallFile;
use crate::build::dict::RandomFile;
use crate::build::formats;
use crate::build::pack::Packer;
use crate::build::similar::Candidate;
use crate::build::tree::{Body, Order, Tree};
use crate::build::{BuildError, BuildOptions, FileData};
use crate::format::{DEFAULT_CHUNK_LOG2, PACK_BELOW, SMALL_CHUNK_LOG2};
use crate::Access;

/// Largest file whose chunks are compressed against the block dictionary ([`shares`]): up to 1 MiB
/// rather than 256 KiB, regex-syntax's image 1.070 → 1.020× `tar.zst` (a 266 KB table), Perl's
/// 1.034 → 1.029×; up to 8 MiB, this workspace's crates 0.877 → 0.881× (bench/NOTES.md).
const SHARE_UP_TO: u64 = 1 << 20;

/// Whether a file in chunks of `1 << log2` bytes is read at random: chunks of at most 4 KiB (the
/// `auto` rule gives them to files larger than the cache), which become LZ4 blocks against the
/// image's dictionary when compressing.
pub(super) fn read_at_random(opts: &BuildOptions, log2: u8) -> bool {
    log2 <= SMALL_CHUNK_LOG2 && opts.level.zstd().is_some()
}

/// Whether the chunks of a file of `size` bytes in chunks of `1 << log2` are compressed against the
/// block dictionary, when the image has one: too large to share a block, at most [`SHARE_UP_TO`],
/// compressed, and not read at random (each chunk a zstd frame of its own against it,
/// [`Codec::ZstdDict`](crate::format::Codec::ZstdDict); executables and libraries too: this
/// workspace's vendored crates 0.92 → 0.89× `tar.zst`).
pub(super) fn shares(opts: &BuildOptions, log2: u8, size: u64) -> bool {
    opts.block_size.packs()
        && opts.level.zstd().is_some()
        && (PACK_BELOW..=SHARE_UP_TO).contains(&size)
        && log2 > SMALL_CHUNK_LOG2
}

/// log2 of the chunk size of file `data` (`size` bytes): small chunks when it is marked as read
/// at random (`random`) and compressed, else by `--chunk-size`'s rule, which looks at its first
/// bytes only for `auto` and a file too large to share a block, and which of its chunks are zeros
/// only for `auto` and a file larger than the cache.
fn chunk_log2(
    opts: &BuildOptions,
    data: &FileData,
    size: u64,
    random: bool,
) -> Result<u8, BuildError> {
    if random && opts.level.zstd().is_some() {
        return Ok(SMALL_CHUNK_LOG2);
    }
    let access = if opts.chunk_size.is_auto() && size >= PACK_BELOW {
        formats::access(data)?
    } else {
        Access::Unknown
    };
    // A file larger than the cache is read through if it is text; else it may still have all its
    // data fit in the cache (a sparse file, a disk image or database file mostly of zeros): its
    // chunks of zeros are served without caching.
    let cache = u64::from(opts.cache_size.get());
    let (access, cached) = match access {
        Access::Unknown if opts.chunk_size.is_auto() && size > cache => {
            match formats::is_text(data, size)? {
                true => (Access::Text, size),
                false => (
                    access,
                    data.nonzero_chunks_len(size, 1 << DEFAULT_CHUNK_LOG2, cache)?,
                ),
            }
        }
        _ => (access, size),
    };
    Ok(opts.chunk_size.log2_for(cached, opts.cache_size, access))
}

/// The files of a tree by what may compress them with others, and each file's chunk size.
pub(super) struct Classified<'t> {
    /// Each file's chunk size as a log2, by position in node order (0 for other nodes).
    pub(super) log2s: Vec<u8>,
    /// Files read at random, for the LZ4 dictionary.
    pub(super) random: Vec<RandomFile<'t>>,
    /// Files small enough to share blocks, in node order.
    pub(super) small: Vec<SmallFile<'t>>,
    /// Mid-size files compressed against the block dictionary, in node order.
    pub(super) mid: Vec<SmallFile<'t>>,
    /// Files that may join a group of similar files.
    pub(super) alike: Vec<Candidate<'t>>,
}

/// Every file of `tree` in `order`: its chunk size, chosen once, and which of the dictionaries
/// and groups may take it (none when `--dictionaries off`).
pub(super) fn classify<'t>(
    tree: &'t Tree,
    order: &Order,
    opts: &BuildOptions,
) -> Result<Classified<'t>, BuildError> {
    // Files that may form groups of similar files are found by name first.
    let names = tree.names(order);
    let mut c = Classified {
        log2s: std::vec![0u8; order.nodes.len()],
        random: Vec::new(),
        small: Vec::new(),
        mid: Vec::new(),
        alike: Vec::new(),
    };
    for (i, &r) in order.nodes.iter().enumerate() {
        if let Body::File {
            data,
            size,
            random: marked,
        } = &tree.node(r).body
        {
            let log2 = chunk_log2(opts, data, *size, *marked)?;
            c.log2s[i] = log2;
            if Packer::packs(opts.level, opts.block_size, *size, log2) {
                c.small.push(SmallFile {
                    index: i,
                    data,
                    size: *size,
                });
            } else if group::may_join(opts, log2.min(DEFAULT_CHUNK_LOG2), *size) {
                // A file read whole has the largest chunks, unless it joins a group.
                if shares(opts, log2, *size) {
                    c.mid.push(SmallFile {
                        index: i,
                        data,
                        size: *size,
                    });
                }
                c.alike.push(Candidate {
                    index: i,
                    name: names.get(i).copied().unwrap_or_default(),
                    size: *size,
                    data,
                });
            } else if read_at_random(opts, log2) && *size > 0 {
                c.random.push(RandomFile {
                    data,
                    size: *size,
                    chunk: 1 << log2,
                });
            }
        }
    }
    if !opts.dictionaries.allowed() {
        c.random.clear();
        c.small.clear();
        c.mid.clear();
        c.alike.clear();
    }
    Ok(c)
}
