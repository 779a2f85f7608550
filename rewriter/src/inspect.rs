//! `inspect`: what a packed module carries — who wrote it, its mounts and policies, what is in
//! its image, and which WASI imports the shim serves.

use crate::listing::{ImageEntry, ImageEntryKind, Tree};
use crate::packed::{Packed, BYTES_NAME};
use crate::plan::WASI_P1;
use crate::Result;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use wasifs_image::format::{Codec, PACK_BELOW};
use wasmparser::{BinaryReader, ImportSectionReader, TypeRef};

/// How many of the largest files [`Inspection::largest`] lists.
pub const LARGEST: usize = 10;

/// What a packed module carries; see [`inspect`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Inspection {
    /// Size of the packed module in bytes.
    pub module_len: u64,
    /// Layout version of its `wasifs` record.
    pub record_version: u32,
    /// The wasifs version that rewrote it.
    pub wasifs_version: Option<String>,
    /// Hash identifying the merged shim (and intrinsics).
    pub shim_hash: u64,
    /// Whether that shim is one this wasifs merges (plain or traced; else a rewrite replaces only the image if
    /// the hashes match, and refuses otherwise).
    pub shim_current: bool,
    /// Format version of the embedded image.
    pub image_version: u32,
    /// The mounts, in preopen order.
    pub mounts: Vec<Mount>,
    /// What the app sees of the runtime's own preopens.
    pub host_fs: HostFsPolicy,
    /// The WASI policies (environment, arguments, stdio, clocks, randomness, denial, trace).
    pub wasi: crate::Policies,
    /// Most bytes the shim's in-memory layer of written files may take (`--max-write-memory`);
    /// `None`: no limit.
    pub max_write_memory: Option<u64>,
    /// Regular files in the image (hard links counted once).
    pub files: u64,
    /// Directories, mount roots included.
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Uncompressed bytes of file data (hard links counted once).
    pub data_len: u64,
    /// Size of the image (compressed data and tables) in bytes.
    pub image_len: u64,
    /// The largest files, largest first (at most [`LARGEST`]; ties in path order).
    pub largest: Vec<ImageEntry>,
    /// How the image stores file data.
    pub layout: Layout,
    /// WASI imports of the app now served by the shim, in the app's import order.
    pub served: Vec<String>,
    /// WASI functions the packed module still imports from the host (the app's that the shim
    /// does not serve, and those the shim calls on the app's behalf), sorted.
    pub to_host: Vec<String>,
    /// Imports from modules other than WASI preview 1, as `module.name`.
    pub other_imports: Vec<String>,
}

impl Inspection {
    /// `data_len / image_len`: how many times smaller the image is than the data (0 when empty).
    pub fn ratio(&self) -> f64 {
        if self.image_len == 0 {
            0.0
        } else {
            self.data_len as f64 / self.image_len as f64
        }
    }
}

/// How an image stores file data: what `--cache-size`, `--chunk-size` and `--block-size` chose.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Layout {
    /// Bytes of decompressed chunks the shim may keep cached (`--cache-size`).
    pub cache_size: u64,
    /// Non-empty files not packed into shared blocks, by chunk size: (bytes, files), smallest
    /// chunks first.
    pub chunk_sizes: Vec<(u64, u64)>,
    /// Files packed into shared blocks.
    pub packed_files: u64,
    /// Shared blocks they are packed into.
    pub blocks: u64,
    /// Files compressed with similar ones (versions of one file, or a file holding parts of
    /// another), chunk by chunk in shared frames.
    pub grouped_files: u64,
    /// Groups they form, told apart by the frame each one's first chunk is in (a file holding
    /// parts of another may start in another frame than its base: counted apart).
    pub groups: u64,
    /// Block size of the compressed metadata region; `None` when the tables are stored raw.
    pub meta_block_size: Option<u32>,
    /// Files whose chunks are LZ4 blocks against the image's dictionary (read at random).
    pub lz4_files: u64,
    /// Length of that dictionary (0: none).
    pub dict_len: u32,
    /// Decompressed length of the dictionary the shared blocks are compressed against (0: none).
    pub block_dict_len: u32,
    /// Files too large to share a block whose chunks are compressed against that dictionary too,
    /// each chunk a frame of its own (also counted in `chunk_sizes`).
    pub shared_files: u64,
    /// Bytes of file data in chunks of zeros, which store nothing (a sparse file's holes).
    pub zero_bytes: u64,
}

/// One mount of a packed module.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mount {
    /// Where the app sees it.
    pub guest: String,
    /// Mounted `:ro`.
    pub read_only: bool,
    /// Regular files below it.
    pub files: u64,
    /// Directories below it, itself included.
    pub dirs: u64,
    /// Symlinks below it.
    pub symlinks: u64,
    /// Uncompressed bytes of its files.
    pub data_len: u64,
}

/// What the app sees of the runtime's own preopens (`--host-fs`, `--preopen`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostFsPolicy {
    /// `--host-fs=deny`: only the aliased host preopens are visible.
    pub deny: bool,
    /// `--preopen GUEST=HOSTNAME` aliases, as (guest, host name), in order.
    pub preopens: Vec<(String, String)>,
}

/// Inspects the packed module `bytes`: what [`crate::Rewriter`] put into it.
///
/// ```
/// # fn main() -> wasifs::Result<()> {
/// let app = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/bin/wat_cat.wasm"));
/// let tree = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/tree");
/// let packed = wasifs::Rewriter::new().mount(format!("/data={tree}:ro").parse()?).rewrite(app)?;
/// let inspection = wasifs::inspect(&packed.bytes)?;
/// assert_eq!(inspection.mounts[0].guest, "/data");
/// assert!(inspection.mounts[0].read_only);
/// assert_eq!(inspection.files, packed.report.files);
/// # Ok(())
/// # }
/// ```
pub fn inspect(bytes: &[u8]) -> Result<Inspection> {
    let path = Path::new(BYTES_NAME);
    let packed = Packed::open(path, bytes)?;
    let tree = Tree::new(path, &packed.image);
    let image = &packed.image;

    let mut seen = HashSet::new();
    let mut total = Counts::default();
    let mut chunk_sizes = BTreeMap::new();
    let (mut packed_files, mut blocks, mut lz4_files) = (0, HashSet::new(), 0);
    let (mut grouped_files, mut groups, mut shared_files) = (0, HashSet::new(), 0);
    let mut zero_bytes = 0;
    let mut files: Vec<ImageEntry> = Vec::new();
    let mut mounts = Vec::new();
    for m in tree.mounts()? {
        let mut entries = vec![m.root.clone()];
        tree.children(&m.root, true, &mut entries)?;
        let mut own = Counts::default();
        let mut own_seen = HashSet::new();
        for e in entries {
            if own_seen.insert(e.node) {
                own.add(&e);
            }
            if seen.insert(e.node) {
                total.add(&e);
                if e.kind == ImageEntryKind::File {
                    let node = image.node(e.node).map_err(|x| tree.corrupt(x))?;
                    if node.size > 0 {
                        // Its chunks of zeros, and its first chunk that stores something, which
                        // tells how the file is stored.
                        let mut first = None;
                        for i in 0..node.b {
                            let c = image.chunk(&node, i).map_err(|x| tree.corrupt(x))?;
                            match c.codec {
                                Codec::Zero => {
                                    let len = image.chunk_len(&node, i);
                                    zero_bytes += u64::from(len.map_err(|x| tree.corrupt(x))?);
                                }
                                _ => {
                                    first = first.or(Some(c));
                                }
                            }
                        }
                        let c = match first {
                            Some(c) => c,
                            None => image.chunk(&node, 0).map_err(|x| tree.corrupt(x))?,
                        };
                        if c.codec == Codec::ZstdDict {
                            *chunk_sizes.entry(node.chunk_size()).or_insert(0) += 1;
                            shared_files += 1;
                        } else if c.codec == Codec::Packed && node.size >= PACK_BELOW {
                            grouped_files += 1;
                            groups.insert(c.stored_off);
                        } else if c.codec == Codec::Packed {
                            packed_files += 1;
                            blocks.insert(c.stored_off);
                        } else {
                            *chunk_sizes.entry(node.chunk_size()).or_insert(0) += 1;
                            lz4_files += u64::from(c.codec == Codec::Lz4);
                        }
                    }
                    files.push(e);
                }
            }
        }
        mounts.push(Mount {
            guest: m.root.path.clone(),
            read_only: m.read_only,
            files: own.files,
            dirs: own.dirs,
            symlinks: own.symlinks,
            data_len: own.data_len,
        });
    }
    files.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
    files.truncate(LARGEST);

    let mut preopens = Vec::new();
    for i in 0..image.host_alias_count() {
        let a = image.host_alias(i).map_err(|e| tree.corrupt(e))?;
        let read = |off, len| -> Result<String> {
            let mut buf = vec![0; len as usize];
            image
                .read_str(off, len, &mut buf)
                .map_err(|e| tree.corrupt(e))?;
            Ok(String::from_utf8_lossy(&buf).into_owned())
        };
        preopens.push((
            read(a.guest_off, a.guest_len)?,
            read(a.host_off, a.host_len)?,
        ));
    }

    let served = match &packed.record.strip {
        Some(strip) => served(&strip.imports, &strip.redirects),
        None => Vec::new(),
    };
    let mut to_host: Vec<String> = Vec::new();
    let mut other_imports = Vec::new();
    for i in &packed.info.imports {
        if i.module == WASI_P1 {
            if matches!(i.ty, TypeRef::Func(_) | TypeRef::FuncExact(_)) {
                to_host.push(i.name.to_string());
            }
        } else {
            other_imports.push(format!("{}.{}", i.module, i.name));
        }
    }
    to_host.sort();
    to_host.dedup();

    let intrinsics = crate::merge::intrinsics_wasm().unwrap_or_default();
    Ok(Inspection {
        module_len: bytes.len() as u64,
        record_version: packed.record.header.version,
        wasifs_version: packed.record.writer.clone(),
        shim_hash: packed.record.header.shim_hash,
        shim_current: [crate::SHIM_WASM, crate::SHIM_TRACE_WASM]
            .iter()
            .any(|shim| {
                packed.record.header.shim_hash == crate::merge::shim_hash(shim, &intrinsics)
            }),
        image_version: image.header().version,
        mounts,
        host_fs: HostFsPolicy {
            deny: image.host_fs_denied(),
            preopens,
        },
        max_write_memory: Some(image.max_write_memory()).filter(|&m| m > 0),
        wasi: image.policies().map_err(|e| tree.corrupt(e))?,
        files: total.files,
        dirs: total.dirs,
        symlinks: total.symlinks,
        data_len: total.data_len,
        image_len: u64::from(image.header().total_len),
        largest: files,
        layout: Layout {
            cache_size: u64::from(image.header().cache_size),
            chunk_sizes: chunk_sizes.into_iter().collect(),
            packed_files,
            blocks: blocks.len() as u64,
            grouped_files,
            groups: groups.len() as u64,
            meta_block_size: Some(image.header().meta_block_size).filter(|&b| b != 0),
            lz4_files,
            dict_len: image.dict_range().1,
            block_dict_len: image.block_dict_range().2,
            shared_files,
            zero_bytes,
        },
        served,
        to_host,
        other_imports,
    })
}

/// Counts of distinct nodes.
#[derive(Default)]
struct Counts {
    files: u64,
    dirs: u64,
    symlinks: u64,
    data_len: u64,
}

impl Counts {
    fn add(&mut self, e: &ImageEntry) {
        match e.kind {
            ImageEntryKind::Dir => self.dirs += 1,
            ImageEntryKind::Symlink => self.symlinks += 1,
            ImageEntryKind::File => {
                self.files += 1;
                self.data_len += e.size;
            }
        }
    }
}

/// The names of the app's function imports (from its import section `imports`) that were
/// redirected, in import order.
fn served(imports: &[u8], redirects: &[(u32, u32, String)]) -> Vec<String> {
    let Ok(reader) = ImportSectionReader::new(BinaryReader::new(imports, 0)) else {
        return Vec::new();
    };
    let redirected: HashSet<u32> = redirects.iter().map(|r| r.0).collect();
    let mut out = Vec::new();
    let mut func = 0u32;
    for import in reader.into_imports().flatten() {
        if matches!(import.ty, TypeRef::Func(_) | TypeRef::FuncExact(_)) {
            if redirected.contains(&func) {
                out.push(import.name.to_string());
            }
            func += 1;
        }
    }
    out
}

/// The versions a wasifs build writes, for `wasifs --version`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Versions {
    /// This wasifs (the crate version).
    pub wasifs: &'static str,
    /// Hash identifying the shim (and intrinsics) it merges, as [`Inspection::shim_hash`].
    pub shim_hash: u64,
    /// The image format version it writes and reads.
    pub image_format: u32,
    /// The `wasifs` record layout version it writes and reads.
    pub record: u32,
}

/// The versions this wasifs writes.
pub fn versions() -> Versions {
    let intrinsics = crate::merge::intrinsics_wasm().unwrap_or_default();
    Versions {
        wasifs: env!("CARGO_PKG_VERSION"),
        shim_hash: crate::merge::shim_hash(crate::SHIM_WASM, &intrinsics),
        image_format: wasifs_image::format::VERSION,
        record: crate::record::WASIFS_RECORD_VERSION,
    }
}
