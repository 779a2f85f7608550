//! wasifs: give any wasm32-wasip1 core module its files by merging a WASI shim and an embedded,
//! zstd-compressed filesystem image into it.
//!
//! The pipeline runs one way: [`input`] (read + sniff) → [`mount`] (walk the host tree, build the
//! image) → [`plan`] (analyse the app) → [`merge`] (lay out and encode) → [`output`] (atomic write).

pub mod error;
pub mod input;
pub mod merge;
pub mod module;
pub mod mount;
pub mod names;
pub mod output;
pub mod plan;
pub mod record;

use std::path::PathBuf;

pub use error::{Error, Result};
pub use mount::{MountSpec, TreeOptions};

/// The committed build of `shim-runtime` (rebuilt by `scripts/build-shim.sh`).
pub const SHIM_WASM: &[u8] = include_bytes!("../assets/shim.wasm");
/// The hand-written intrinsics through which the shim touches app memory and the image.
pub const INTRINSICS_WAT: &str = include_str!("../../shim-wat/intrinsics.wat");

/// What `wasifs rewrite` was asked to do.
#[derive(Debug, Clone)]
pub struct RewriteOptions {
    /// The core module to rewrite.
    pub input: PathBuf,
    /// Where to write the result (atomically).
    pub output: PathBuf,
    /// `--mount GUEST=HOST[:ro]`, in command-line order (that is the preopen order).
    pub mounts: Vec<MountSpec>,
    /// Globs, symlink policy and compression level for the tree.
    pub tree: TreeOptions,
}

/// What a successful rewrite did, for the CLI to print.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Non-fatal problems (e.g. DWARF dropped).
    pub warnings: Vec<String>,
    /// Size of the input module in bytes.
    pub input_len: u64,
    /// Size of the written module in bytes.
    pub output_len: u64,
    /// Size of the embedded image in bytes.
    pub image_len: u64,
    /// Files, directories and symlinks in the image.
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Total uncompressed bytes of file data.
    pub data_len: u64,
    /// WASI imports now served by the shim.
    pub redirected: Vec<String>,
    /// The input had been rewritten by wasifs before: its image was replaced, no second shim added.
    pub image_replaced: bool,
}

/// Runs the whole rewrite: read, build the image, merge, write. Nothing is written on error.
pub fn rewrite(opts: &RewriteOptions) -> Result<Report> {
    let app = input::read_module(&opts.input)?;
    let image = mount::build_image(&opts.mounts, &opts.tree)?;
    let merged = merge::rewrite_module(&opts.input, &app, &image.bytes)?;
    // The output is a list of parts borrowing `app` and `image.bytes`, written one by one: the
    // image is never held twice.
    let parts = merged.module.parts().map_err(Error::usage)?;
    let output_len = parts.iter().map(|p| p.len() as u64).sum();
    output::write_atomic(&opts.output, parts.iter().map(|p| &p[..]))?;
    drop(parts);
    let mut warnings = image.warnings;
    warnings.extend(merged.warnings);
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
