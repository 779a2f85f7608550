//! The mount stage: turns the `--mount` specs into the filesystem image — place each mount in the
//! guest tree, walk its host source, record the preopens and the host policy, then build.

mod filter;
mod host_meta;
mod lister;
mod listing;
mod place;
mod spec;
#[cfg(all(test, unix))]
mod tests;
mod walk;

use crate::policy::HostPolicy;
use crate::{Error, Result};
use walk::{Walk, FIX_ENTRY};
use wasifs_image::{
    BlockSize, BuildError, BuildOptions, CacheSize, ChunkSize, Dictionaries, ImageBuilder,
    ImageSink, Level,
};

pub use filter::Glob;
pub(crate) use host_meta::Mtimes;
pub use listing::{DryRun, Entry, EntryKind, Skipped};
pub use spec::{HostPreopen, MountSpec};
pub(crate) use walk::WalkOptions;

/// How the image is built: the compression level, the shim's chunk cache, threads and a progress
/// callback.
#[derive(Debug, Clone, Default)]
pub(crate) struct ImageOptions {
    /// zstd level of the file data, or store it uncompressed.
    pub level: Level,
    /// Bytes of decompressed chunks the shim may keep cached (header `cache_size`).
    pub cache_size: CacheSize,
    /// Chunk size of the file data: per file by size (`auto`), or one for every file.
    pub chunk_size: ChunkSize,
    /// Most bytes in one shared block of small files.
    pub block_size: BlockSize,
    /// Whether the image may carry dictionaries.
    pub dictionaries: Dictionaries,
    /// Compression threads; 0 = one per available core; 1 also walks without a listing helper.
    /// The image is the same bytes either way.
    pub threads: usize,
    /// Told how far the image build is, if set.
    pub progress: Option<Progress>,
}

/// A callback `(uncompressed bytes written, total bytes to write)`, called as the image is built.
#[derive(Clone)]
pub(crate) struct Progress(pub std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress(..)")
    }
}

/// A built image and what it holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct BuiltImage {
    /// The encoded image (the passive data segment), unless it was streamed elsewhere.
    pub bytes: Vec<u8>,
    /// Its length in bytes.
    pub len: u64,
    /// Regular files (hard links counted once).
    pub files: u64,
    /// Directories, roots included.
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Total uncompressed bytes of file data.
    pub data_len: u64,
    /// Entries that were skipped (sockets, FIFOs, devices), one line each.
    pub warnings: Vec<String>,
}

/// Maps a builder error to the rewriter's error, naming the host path when there is one.
pub(crate) fn build_err(e: BuildError) -> Error {
    match e {
        BuildError::Io { path, source } => Error::mount(path, format!("cannot read: {source} {FIX_ENTRY}")),
        BuildError::SizeChanged { path, .. } => {
            Error::mount(path, "file changed size while being read; retry when nothing is writing to it")
        }
        BuildError::FileTooLarge { what, size } => Error::mount(
            what,
            format!("file of {size} bytes is too large: the image holds files under 4 GiB; --exclude it"),
        ),
        BuildError::ImageTooLarge => Error::usage(
            "the filesystem image would be 4 GiB or larger; mount less, use --exclude, or raise --level",
        ),
        other => Error::Internal { message: format!("image builder: {other}") },
    }
}

/// Walks every mount as `walk` says, records `host`, and builds the image as `image` says.
#[cfg(test)]
pub(crate) fn build_image(
    mounts: &[MountSpec],
    walk: &WalkOptions,
    image: &ImageOptions,
    host: &HostPolicy,
) -> Result<BuiltImage> {
    walk_image(mounts, walk, image, host)?.build_in_memory(image)
}

/// An image with every mount walked and placed, its files not read yet.
pub(crate) struct WalkedImage<'a>(Walk<'a>);

/// Walks every mount as `walk` says and records `host`, for an image built as `image` says.
pub(crate) fn walk_image<'a>(
    mounts: &[MountSpec],
    walk: &'a WalkOptions,
    image: &ImageOptions,
    host: &HostPolicy,
) -> Result<WalkedImage<'a>> {
    let builder = ImageBuilder::new(BuildOptions {
        level: image.level,
        cache_size: image.cache_size,
        chunk_size: image.chunk_size,
        block_size: image.block_size,
        dictionaries: image.dictionaries,
        ..BuildOptions::default()
    });
    let mut w = Walk::new(builder, walk);
    w.list_ahead = image.threads != 1;
    let mut w = fill_image(w, mounts, host)?;
    if image.level.zstd().is_none() && w.marks_random() {
        w.warnings.push(
            "--random-access changes nothing with --store (or --level 0): every file is stored \
             uncompressed and read straight from the image at any offset"
                .into(),
        );
    }
    Ok(WalkedImage(w))
}

impl WalkedImage<'_> {
    /// Reads, compresses and serialises the image into [`BuiltImage::bytes`], reporting progress
    /// as `opts` says.
    pub(crate) fn build_in_memory(self, opts: &ImageOptions) -> Result<BuiltImage> {
        let mut bytes = Vec::new();
        let built = self.build(opts, &mut bytes).map_err(build_err)?;
        Ok(BuiltImage { bytes, ..built })
    }

    /// Reads, compresses and serialises the image into `out`, reporting progress as `opts` says;
    /// the result's `bytes` are empty (they are in `out`). Errors are the builder's: a failure to
    /// write `out` is [`BuildError::Write`], everything else goes through [`build_err`].
    pub(crate) fn build(
        self,
        opts: &ImageOptions,
        out: &mut dyn ImageSink,
    ) -> std::result::Result<BuiltImage, BuildError> {
        let WalkedImage(mut w) = self;
        let stats = w.b.stats();
        w.b.set_threads(opts.threads);
        let len = w.b.finish_into(out, &mut |done, total| {
            if let Some(p) = &opts.progress {
                (p.0)(done, total);
            }
        })?;
        Ok(BuiltImage {
            bytes: Vec::new(),
            len: u64::from(len),
            files: stats.files,
            dirs: stats.dirs,
            symlinks: stats.symlinks,
            data_len: stats.data_len,
            warnings: w.warnings,
        })
    }
}

/// Walks every mount as `walk` says and lists what the image would hold; nothing is read or
/// compressed.
pub(crate) fn plan_image(
    mounts: &[MountSpec],
    walk: &WalkOptions,
    host: &HostPolicy,
) -> Result<DryRun> {
    let mut w = Walk::new(ImageBuilder::new(BuildOptions::default()), walk);
    w.listing = Some(listing::Listing::default());
    let w = fill_image(w, mounts, host)?;
    let stats = w.b.stats();
    let listing = w.listing.unwrap_or_default();
    Ok(DryRun {
        entries: listing.entries,
        skipped: listing.skipped,
        warnings: w.warnings,
        files: stats.files,
        dirs: stats.dirs,
        symlinks: stats.symlinks,
        data_len: stats.data_len,
    })
}

/// Places and walks every mount into `w`'s builder, then records the preopens and `host`.
fn fill_image<'a>(mut w: Walk<'a>, mounts: &[MountSpec], host: &HostPolicy) -> Result<Walk<'a>> {
    let placed = place::place(mounts)?;
    place::check_host_policy(&placed, host)?;
    let nodes = place::fill(&mut w, &placed)?;
    w.finish_filter();
    place::add_preopens(&mut w.b, &placed, &nodes)?;
    host.record(&mut w.b);
    Ok(w)
}
