//! Helpers shared by the command-line tests: a minimal wasip1 module in a temp dir beside a mount.

// Each test crate that includes this module uses its own subset of it.
#![allow(dead_code)]

use std::path::PathBuf;

/// A minimal valid wasip1 command: exported memory, one WASI import, `_start`.
pub const GOOD_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $__stack_pointer (mut i32) (i32.const 131072))
  (func (export "_start")))"#;

/// A temp dir with `app.wasm` (of [`GOOD_WAT`]) and `assets/hello.txt`.
pub struct Case {
    pub dir: tempfile::TempDir,
}

impl Case {
    pub fn new() -> Self {
        let case = Case {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(case.path("assets")).unwrap();
        std::fs::write(case.path("assets/hello.txt"), "hello\n").unwrap();
        case.write("app.wasm", wat::parse_str(GOOD_WAT).unwrap());
        case
    }

    /// `rel` inside the case's directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `bytes` to `rel` inside the case's directory; its path.
    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

/// Whether `bytes` is a valid wasm module (every feature on).
pub fn is_wasm(bytes: &[u8]) -> bool {
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(bytes)
        .is_ok()
}
