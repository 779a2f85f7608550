//! Lays out the index spaces of app + shim + intrinsics + image and encodes the output module.
// SCAFFOLD: owned by the merge work; replaced with the real implementation.
use crate::Result;
use std::path::Path;

/// The merged module and what happened on the way.
#[derive(Debug, Clone, Default)]
pub struct MergeOutput {
    pub bytes: Vec<u8>,
    pub warnings: Vec<String>,
    pub redirected: Vec<String>,
}

/// Merges the committed shim and the intrinsics into `app` with `image` as the filesystem image.
pub fn rewrite_module(_path: &Path, _app: &[u8], _image: &[u8]) -> Result<MergeOutput> {
    Err(crate::Error::Internal { message: "merge::rewrite_module not implemented yet".into() })
}
