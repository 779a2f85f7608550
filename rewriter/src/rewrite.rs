//! The library's entry point: the [`Rewriter`] builder, which checks each stage's options once and
//! runs the pipeline (read → image → merge → write).

use crate::mount::{self, ImageOptions, MountSpec, Progress, WalkOptions};
use crate::policy::{HostFs, HostPolicy, MemoryLayout, MemorySize};
use crate::{input, merge, output, Glob, HostPreopen, Result};
use std::borrow::Cow;
use std::path::Path;
use wasifs_image::Level;

/// The name errors give a module passed as bytes to [`Rewriter::rewrite`].
const BYTES_NAME: &str = "<input module>";

/// Rewrites wasm32-wasip1 core modules so that they carry their files: set the mounts and
/// options, then call [`rewrite`](Rewriter::rewrite), [`rewrite_file`](Rewriter::rewrite_file)
/// or [`write_file`](Rewriter::write_file).
///
/// ```
/// use wasifs::{Level, MountSpec, Rewriter};
///
/// # fn main() -> wasifs::Result<()> {
/// let app = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/bin/wat_cat.wasm"));
/// let tree = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/tree");
/// let packed = Rewriter::new()
///     .mount(MountSpec::new("/", tree)?.read_only())
///     .mount("/etc/app.toml=Cargo.toml:ro".parse()?)
///     .exclude("*.tmp".parse()?)
///     .level(Level::DEFAULT)
///     .rewrite(app)?;
/// assert!(packed.bytes.starts_with(b"\0asm"));
/// assert!(packed.report.files > 0);
/// assert_eq!(packed.report.output_len, packed.bytes.len() as u64);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Rewriter {
    /// The mounts, in preopen order.
    mounts: Vec<MountSpec>,
    /// `--include` globs.
    include: Vec<Glob>,
    /// `--exclude` globs.
    exclude: Vec<Glob>,
    /// `--follow-symlinks`.
    follow_symlinks: bool,
    /// Level, threads and progress of the image build.
    image: ImageOptions,
    /// `--host-fs`.
    host_fs: HostFs,
    /// `--preopen`, checked by [`HostPolicy::new`].
    preopens: Vec<HostPreopen>,
    /// `--max-write-memory`.
    max_write_memory: Option<MemorySize>,
    /// `--memory`: where the shim's state lives.
    memory: MemoryLayout,
}

/// A rewritten module and what was done.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Rewritten {
    /// The rewritten module.
    pub bytes: Vec<u8>,
    /// What the rewrite did.
    pub report: Report,
}

/// What a successful rewrite did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Report {
    /// Non-fatal problems (e.g. DWARF dropped).
    pub warnings: Vec<String>,
    /// Size of the input module in bytes.
    pub input_len: u64,
    /// Size of the written module in bytes.
    pub output_len: u64,
    /// Size of the embedded image in bytes.
    pub image_len: u64,
    /// Regular files in the image (hard links counted once).
    pub files: u64,
    /// Directories in the image, roots included.
    pub dirs: u64,
    /// Symbolic links in the image.
    pub symlinks: u64,
    /// Total uncompressed bytes of file data.
    pub data_len: u64,
    /// WASI imports now served by the shim.
    pub redirected: Vec<String>,
    /// The input had been rewritten by wasifs before: its image was replaced, no second shim added.
    pub image_replaced: bool,
}

impl Rewriter {
    /// No mounts, no globs, symlinks kept as links, [`Level::DEFAULT`], all cores, host preopens
    /// allowed.
    pub fn new() -> Self {
        Rewriter::default()
    }

    /// Embeds a host directory or file at a guest path; mounts are preopened in the order added.
    pub fn mount(mut self, mount: MountSpec) -> Self {
        self.mounts.push(mount);
        self
    }

    /// Embeds only files and symlinks matching `glob` (relative to the mount source); repeatable.
    pub fn include(mut self, glob: Glob) -> Self {
        self.include.push(glob);
        self
    }

    /// Leaves out files and directories matching `glob`; repeatable, wins over [`include`](Self::include).
    pub fn exclude(mut self, glob: Glob) -> Self {
        self.exclude.push(glob);
        self
    }

    /// Copies what symlinks point to instead of keeping them as symlinks.
    pub fn follow_symlinks(mut self, follow: bool) -> Self {
        self.follow_symlinks = follow;
        self
    }

    /// The zstd level of the file data ([`Level::STORE`] keeps it uncompressed).
    pub fn level(mut self, level: Level) -> Self {
        self.image.level = level;
        self
    }

    /// Compression threads; 0 (the default) uses one per available core. The output is the same
    /// bytes either way.
    pub fn threads(mut self, threads: usize) -> Self {
        self.image.threads = threads;
        self
    }

    /// Calls `progress(done, total)` (uncompressed bytes) as the image is built.
    pub fn progress(mut self, progress: impl Fn(u64, u64) + Send + Sync + 'static) -> Self {
        self.image.progress = Some(Progress(std::sync::Arc::new(progress)));
        self
    }

    /// Whether the runtime's own preopens stay visible after the embedded ones.
    pub fn host_fs(mut self, host_fs: HostFs) -> Self {
        self.host_fs = host_fs;
        self
    }

    /// Shows the runtime's preopen `preopen.host` to the app as `preopen.guest`; repeatable.
    pub fn preopen(mut self, preopen: HostPreopen) -> Self {
        self.preopens.push(preopen);
        self
    }

    /// Caps the memory the module's writes may take at run time (the shim's in-memory layer);
    /// past it, writes answer ENOMEM and the program goes on. Without it, the 4 GiB address space.
    pub fn max_write_memory(mut self, size: MemorySize) -> Self {
        self.max_write_memory = Some(size);
        self
    }

    /// Where the shim's state lives (`--memory`; default: its own memory).
    pub fn memory_layout(mut self, memory: MemoryLayout) -> Self {
        self.memory = memory;
        self
    }

    /// Rewrites the core module `bytes`.
    pub fn rewrite(&self, bytes: &[u8]) -> Result<Rewritten> {
        let path = Path::new(BYTES_NAME);
        input::check_core_module(path, bytes)?;
        self.rewrite_bytes(path, bytes)
    }

    /// Reads the core module at `path` and rewrites it; errors name `path`.
    pub fn rewrite_file(&self, path: impl AsRef<Path>) -> Result<Rewritten> {
        let path = path.as_ref();
        let app = input::read_module(path)?;
        self.rewrite_bytes(path, &app)
    }

    /// Rewrites the core module at `input` into `output`, atomically: on error nothing is written.
    /// The output is streamed, never held in memory as a whole.
    pub fn write_file(&self, input: impl AsRef<Path>, output: impl AsRef<Path>) -> Result<Report> {
        let input = input.as_ref();
        let app = input::read_module(input)?;
        self.run(input, &app, |parts| {
            output::write_atomic(output.as_ref(), parts.iter().map(|p| &p[..]))
        })
    }

    /// Rewrites `app` (read from `path`) into a byte vector.
    fn rewrite_bytes(&self, path: &Path, app: &[u8]) -> Result<Rewritten> {
        let mut bytes = Vec::new();
        let report = self.run(path, app, |parts| {
            bytes = parts.concat();
            Ok(())
        })?;
        Ok(Rewritten { bytes, report })
    }

    /// Runs the pipeline on `app` (read from `path`), handing the output's parts to `sink`.
    fn run(
        &self,
        path: &Path,
        app: &[u8],
        sink: impl FnOnce(&[Cow<'_, [u8]>]) -> Result<()>,
    ) -> Result<Report> {
        let walk = WalkOptions::new(&self.include, &self.exclude, self.follow_symlinks)?;
        let host = HostPolicy::new(self.host_fs, self.preopens.clone())?
            .max_write_memory(self.max_write_memory);
        let image = mount::build_image(&self.mounts, &walk, &self.image, &host)?;
        let single = match self.memory {
            MemoryLayout::Multi => false,
            MemoryLayout::Single => {
                merge::single_memory::refuse_unsafe_runtime(path, app)?;
                true
            }
            MemoryLayout::Auto => merge::single_memory::suits(app),
        };
        let merged = merge::rewrite_module(path, app, &image.bytes)?;
        // The output is a list of parts borrowing `app` and `image.bytes`, written one by one: the
        // image is never held twice (except by the single-memory layout, which re-encodes it).
        let mut parts = merged.module.parts().map_err(|e| e.into_error(path))?;
        let mut fold_warning = None;
        // A packed module rewritten again keeps its layout (only its image is replaced).
        let single = single && !(merged.image_replaced && merge::single_memory::is_single(app));
        if single {
            if merged.image_replaced {
                return Err(crate::Error::unsupported(
                    path,
                    "was packed with the multi-memory layout: the single-memory layout is made from the original",
                    "rewrite the original module with --memory=single",
                ));
            }
            let (folded, warning) = merge::single_memory::fold(path, app, &parts.concat())?;
            parts = vec![Cow::Owned(folded)];
            fold_warning = warning;
        }
        let output_len = parts.iter().map(|p| p.len() as u64).sum();
        sink(&parts)?;
        drop(parts);
        let mut warnings = image.warnings;
        warnings.extend(merged.warnings);
        warnings.extend(fold_warning);
        Ok(Report {
            warnings,
            input_len: app.len() as u64,
            output_len,
            image_len: image.bytes.len() as u64,
            files: image.files,
            dirs: image.dirs,
            symlinks: image.symlinks,
            data_len: image.data_len,
            redirected: merged.redirected,
            image_replaced: merged.image_replaced,
        })
    }
}
