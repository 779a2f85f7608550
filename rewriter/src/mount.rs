//! `--mount GUEST=HOST` parsing and the host tree walk that feeds the image builder.
// SCAFFOLD: owned by the image/mount work; replaced with the real implementation.
use crate::Result;
use std::path::PathBuf;

/// One `--mount GUEST=HOST[:ro]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    pub guest: String,
    pub host: PathBuf,
    pub readonly: bool,
}

/// How the host tree is turned into an image.
#[derive(Debug, Clone, Default)]
pub struct TreeOptions {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub follow_symlinks: bool,
    pub level: i32,
}

/// A built image and what it holds.
#[derive(Debug, Clone, Default)]
pub struct BuiltImage {
    pub bytes: Vec<u8>,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub data_len: u64,
}

/// Walks every mount and builds the compressed image.
pub fn build_image(_mounts: &[MountSpec], _opts: &TreeOptions) -> Result<BuiltImage> {
    Err(crate::Error::Internal { message: "mount::build_image not implemented yet".into() })
}
