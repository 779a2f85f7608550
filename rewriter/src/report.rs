//! What a rewrite returns: the module, and the report of what was done (the image's counts, the
//! merge's warnings and redirected imports).

use crate::{merge, mount};

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

/// The report of a rewrite of `app` into `output_len` bytes with `image`, merged as `merged` says.
pub(crate) fn report(
    app: &[u8],
    output_len: u64,
    image: &mount::BuiltImage,
    merged: &merge::MergeOutput<'_>,
) -> Report {
    let mut warnings = image.warnings.clone();
    warnings.extend(merged.warnings.iter().cloned());
    Report {
        warnings,
        input_len: app.len() as u64,
        output_len,
        image_len: image.len,
        files: image.files,
        dirs: image.dirs,
        symlinks: image.symlinks,
        data_len: image.data_len,
        redirected: merged.redirected.clone(),
        image_replaced: merged.image_replaced,
    }
}
