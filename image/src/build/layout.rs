//! Serialisation of the tables after the file data: node records, dirents, chunk records,
//! preopens, host aliases, the string table and the policy block (raw, or in the logical space of
//! a compressed metadata region, `meta.rs`), then the header that points at them.

use std::collections::BTreeMap;
use std::vec::Vec;

use super::data::Data;
use super::error::to_u32;
use super::meta::{MetaMode, Region};
use super::sink::ImageSink;
use super::tree::{Body, Order, Tree};
use super::{BuildError, NodeRef};
use crate::format::{
    Chunk, Dirent, Header, HostAlias, Kind, Node, Preopen, CHUNK_RECORD_SIZE, DEFAULT_CHUNK_SIZE,
    DIRENT_SIZE, FLAG_HOST_FS_DENY, HOST_ALIAS_SIZE, NODE_SIZE, PREOPEN_SIZE, VERSION,
};
use crate::level::Level;

/// What the image tells the runtime besides the tree.
#[derive(Debug, Default)]
pub(super) struct Extras {
    /// Preopened directories in the order they were added: (name, directory, read-only).
    pub(super) preopens: Vec<(Vec<u8>, NodeRef, bool)>,
    /// Host preopens shown under another name: (guest name, host name).
    pub(super) host_aliases: Vec<(Vec<u8>, Vec<u8>)>,
    /// Hide host preopens that no alias names.
    pub(super) host_fs_deny: bool,
    /// The encoded WASI policy block (empty: default policies), placed after the strings.
    pub(super) policy: Vec<u8>,
    /// `--max-write-memory` in KiB (0: no limit).
    pub(super) max_write_kib: u32,
}

/// Everything the tables are made from.
pub(super) struct Tables<'a> {
    pub(super) tree: &'a Tree,
    pub(super) order: &'a Order,
    pub(super) data: &'a Data,
    pub(super) extras: &'a Extras,
    pub(super) cache_size: u32,
    /// Level and threads of the metadata region's compression.
    pub(super) level: Level,
    pub(super) threads: usize,
    /// Raw, compressed, or as the auto rule says.
    pub(super) meta: MetaMode,
}

/// Deduplicated string table, offsets relative to its start.
#[derive(Default)]
struct Strings {
    bytes: Vec<u8>,
    seen: BTreeMap<Vec<u8>, u32>,
}

impl Strings {
    /// The (offset, length) of `s` in the table, adding it if it is new.
    fn intern(&mut self, s: &[u8]) -> Result<(u32, u32), BuildError> {
        let len = to_u32(s.len() as u64)?;
        if let Some(&off) = self.seen.get(s) {
            return Ok((off, len));
        }
        let off = to_u32(self.bytes.len() as u64)?;
        self.bytes.extend_from_slice(s);
        self.seen.insert(s.to_vec(), off);
        Ok((off, len))
    }
}

/// The records of every table, with string offsets relative to the string table.
struct Records {
    nodes: Vec<Node>,
    dirents: Vec<Dirent>,
    preopens: Vec<Preopen>,
    host_aliases: Vec<HostAlias>,
    strings: Strings,
}

/// Where each table starts (in the image, or in the metadata region), and where the tables end.
struct Offsets {
    nodes: u64,
    dirents: u64,
    chunks: u64,
    preopens: u64,
    host_aliases: u64,
    strings: u64,
    end: u64,
}

/// Where a compressed metadata region is: header fields `meta_block_size`, `meta_len`,
/// `meta_index_off`.
#[derive(Default)]
struct RegionAt {
    block_size: u32,
    len: u32,
    index_off: u32,
}

/// Appends `tail` (the tables) to `out`, writes `header` over its placeholder and returns the
/// image's length, `total_len`.
fn finish(
    out: &mut dyn ImageSink,
    tail: &[u8],
    header: &Header,
    total_len: u32,
) -> Result<u32, BuildError> {
    out.append(tail).map_err(BuildError::Write)?;
    out.write_header(&header.encode())
        .map_err(BuildError::Write)?;
    Ok(total_len)
}

impl Tables<'_> {
    /// Appends the tables to `out` (which holds the header placeholder and the file data), raw or
    /// as a compressed metadata region as [`MetaMode`] decides, and writes the header; returns the
    /// image's length.
    pub(super) fn append_to(&self, out: &mut dyn ImageSink) -> Result<u32, BuildError> {
        let records = self.records()?;
        let data_end = out.len();
        let tables = self.offsets(0, &records).end;
        let mut tail = Vec::new();
        if let Some(bs) = self.meta.block_size_to_try(self.level, data_end, tables) {
            let offs = self.offsets(0, &records);
            let mut logical = Vec::with_capacity(tables as usize);
            let strings_base = to_u32(offs.strings)?;
            append_records(&mut logical, &records, &self.data.chunks, strings_base);
            logical.extend_from_slice(&self.extras.policy);
            let region = Region::compress(&logical, bs, self.level, self.threads)?;
            if self
                .meta
                .keeps(data_end, tables, region.stored_len(&logical))
            {
                let at = RegionAt {
                    block_size: bs,
                    len: to_u32(tables)?,
                    index_off: region.append_to(data_end, &mut tail, &logical)?,
                };
                let total_len = to_u32(data_end + tail.len() as u64)?;
                let header = self.header(&records, &offs, total_len, strings_base, at)?;
                return finish(out, &tail, &header, total_len);
            }
        }
        let offs = self.offsets(data_end, &records);
        let total_len = to_u32(offs.end)?;
        let strings_base = to_u32(offs.strings)?;
        tail.reserve_exact((offs.end - offs.nodes) as usize);
        append_records(&mut tail, &records, &self.data.chunks, strings_base);
        tail.extend_from_slice(&self.extras.policy);
        let header = self.header(
            &records,
            &offs,
            total_len,
            strings_base,
            RegionAt::default(),
        )?;
        finish(out, &tail, &header, total_len)
    }

    /// Every record, strings interned in image order: node names and targets, preopens, aliases.
    fn records(&self) -> Result<Records, BuildError> {
        let mut strings = Strings::default();
        let (nodes, dirents) = self.node_records(&mut strings)?;
        let preopens = self.preopen_records(&mut strings)?;
        let host_aliases = self.host_alias_records(&mut strings)?;
        Ok(Records {
            nodes,
            dirents,
            preopens,
            host_aliases,
            strings,
        })
    }

    /// Node records and dirents, in node-id order.
    fn node_records(&self, strings: &mut Strings) -> Result<(Vec<Node>, Vec<Dirent>), BuildError> {
        let links = self.tree.link_counts();
        let mut dirents = Vec::new();
        let mut nodes = Vec::with_capacity(self.order.nodes.len());
        for (i, &r) in self.order.nodes.iter().enumerate() {
            let n = self.tree.node(r);
            let mut rec = Node {
                id: i as u32,
                kind: Kind::Dir,
                chunk_log2: 0,
                mode: n.meta.mode,
                nlink: links[r.0 as usize],
                size: 0,
                mtime_ns: n.meta.mtime_ns,
                atime_ns: n.meta.atime_ns,
                ctime_ns: n.meta.ctime_ns,
                parent: 0,
                a: 0,
                b: 0,
            };
            match &n.body {
                Body::Dir { parent, children } => {
                    rec.nlink = to_u32(2 + self.tree.subdir_count(children) as u64)?;
                    rec.parent = self.order.id(*parent);
                    rec.a = to_u32(dirents.len() as u64)?;
                    rec.b = to_u32(children.len() as u64)?;
                    for (name, &c) in children {
                        let (name_off, name_len) = strings.intern(name)?;
                        let node = self.order.id(c);
                        dirents.push(Dirent {
                            name_off,
                            name_len,
                            node,
                        });
                    }
                }
                Body::File { size, .. } => {
                    rec.kind = Kind::File;
                    rec.chunk_log2 = self.data.chunk_log2[i];
                    rec.size = *size;
                    (rec.a, rec.b) = self.data.ranges[i];
                }
                Body::Symlink { target } => {
                    let (off, len) = strings.intern(target)?;
                    rec.kind = Kind::Symlink;
                    rec.size = u64::from(len);
                    rec.a = off;
                    rec.b = len;
                }
            }
            nodes.push(rec);
        }
        Ok((nodes, dirents))
    }

    /// Preopen records, in the order they were added.
    fn preopen_records(&self, strings: &mut Strings) -> Result<Vec<Preopen>, BuildError> {
        let mut preopens = Vec::with_capacity(self.extras.preopens.len());
        for (name, node, readonly) in &self.extras.preopens {
            let (off, len) = strings.intern(name)?;
            preopens.push(Preopen {
                name_off: off,
                name_len: len,
                node: self.order.id(*node),
                readonly: *readonly,
            });
        }
        Ok(preopens)
    }

    /// Host alias records, in the order they were added.
    fn host_alias_records(&self, strings: &mut Strings) -> Result<Vec<HostAlias>, BuildError> {
        let mut host_aliases = Vec::with_capacity(self.extras.host_aliases.len());
        for (guest, host) in &self.extras.host_aliases {
            let (guest_off, guest_len) = strings.intern(guest)?;
            let (host_off, host_len) = strings.intern(host)?;
            host_aliases.push(HostAlias {
                guest_off,
                guest_len,
                host_off,
                host_len,
            });
        }
        Ok(host_aliases)
    }

    /// The table offsets when the tables start at `nodes` (the end of the file data, or 0 in a
    /// metadata region).
    fn offsets(&self, nodes: u64, r: &Records) -> Offsets {
        let len = |count: usize, size: u32| count as u64 * u64::from(size);
        let dirents = nodes + len(r.nodes.len(), NODE_SIZE);
        let chunks = dirents + len(r.dirents.len(), DIRENT_SIZE);
        let preopens = chunks + len(self.data.chunks.len(), CHUNK_RECORD_SIZE);
        let host_aliases = preopens + len(r.preopens.len(), PREOPEN_SIZE);
        let strings = host_aliases + len(r.host_aliases.len(), HOST_ALIAS_SIZE);
        Offsets {
            nodes,
            dirents,
            chunks,
            preopens,
            host_aliases,
            strings,
            end: strings + r.strings.bytes.len() as u64 + self.extras.policy.len() as u64,
        }
    }

    /// The header's `chunk_size`: the largest any file uses ([`DEFAULT_CHUNK_SIZE`] without
    /// files), or a group frame's if larger (rounded up to a power of two), so a buffer that long
    /// holds any chunk or frame.
    fn max_chunk_size(&self) -> u32 {
        let frames = self.data.max_group_frame.next_power_of_two();
        self.max_file_chunk_size().max(frames)
    }

    /// The largest chunk size any file uses ([`DEFAULT_CHUNK_SIZE`] without files).
    fn max_file_chunk_size(&self) -> u32 {
        let files = self
            .order
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, &r)| matches!(self.tree.node(r).body, Body::File { .. }));
        files
            .map(|(i, _)| 1u32 << self.data.chunk_log2[i])
            .max()
            .unwrap_or(DEFAULT_CHUNK_SIZE)
    }

    /// The header describing the tables at `offs` (in the region `at`, unless its block size is 0).
    fn header(
        &self,
        r: &Records,
        offs: &Offsets,
        total_len: u32,
        strings_base: u32,
        at: RegionAt,
    ) -> Result<Header, BuildError> {
        Ok(Header {
            version: VERSION,
            total_len,
            node_count: to_u32(r.nodes.len() as u64)?,
            nodes_off: to_u32(offs.nodes)?,
            dirents_off: to_u32(offs.dirents)?,
            dirent_count: to_u32(r.dirents.len() as u64)?,
            strings_off: strings_base,
            strings_len: to_u32(r.strings.bytes.len() as u64)?,
            chunks_off: to_u32(offs.chunks)?,
            chunk_count: to_u32(self.data.chunks.len() as u64)?,
            preopens_off: to_u32(offs.preopens)?,
            preopen_count: to_u32(r.preopens.len() as u64)?,
            chunk_size: self.max_chunk_size(),
            flags: if self.extras.host_fs_deny {
                FLAG_HOST_FS_DENY
            } else {
                0
            },
            host_aliases_off: to_u32(offs.host_aliases)?,
            host_alias_count: to_u32(r.host_aliases.len() as u64)?,
            policy_off: if self.extras.policy.is_empty() {
                0
            } else {
                to_u32(offs.end - self.extras.policy.len() as u64)?
            },
            max_write_kib: self.extras.max_write_kib,
            cache_size: self.cache_size,
            meta_block_size: at.block_size,
            meta_len: at.len,
            meta_index_off: at.index_off,
            dict_off: self.data.dict.0,
            dict_len: self.data.dict.1,
            block_dict_off: self.data.block_dict.0,
            block_dict_len: self.data.block_dict.1,
            block_dict_size: self.data.block_dict.2,
        })
    }
}

/// Appends every table in image order, string offsets moved to `strings_base` (the string table's
/// offset in the image), then the string table.
fn append_records(out: &mut Vec<u8>, r: &Records, chunks: &[Chunk], strings_base: u32) {
    for rec in &r.nodes {
        let rec = match rec.kind {
            Kind::Symlink => Node {
                a: rec.a + strings_base,
                ..*rec
            },
            _ => *rec,
        };
        out.extend_from_slice(&rec.encode());
    }
    for d in &r.dirents {
        let name_off = d.name_off + strings_base;
        out.extend_from_slice(&Dirent { name_off, ..*d }.encode());
    }
    for c in chunks {
        out.extend_from_slice(&c.encode());
    }
    for p in &r.preopens {
        let name_off = p.name_off + strings_base;
        out.extend_from_slice(&Preopen { name_off, ..*p }.encode());
    }
    for a in &r.host_aliases {
        out.extend_from_slice(
            &HostAlias {
                guest_off: a.guest_off + strings_base,
                host_off: a.host_off + strings_base,
                ..*a
            }
            .encode(),
        );
    }
    out.extend_from_slice(&r.strings.bytes);
}
