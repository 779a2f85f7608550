//! Writes the output atomically: a temporary file beside the target, then a rename.

use crate::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `parts`, in order, to `path` so that readers see either the old file or the complete new
/// one; on any error nothing is left behind.
///
/// The parts are written one after the other (the merged module is a list of slices that borrow
/// the image and the input; see `merge::parts`), so the output is never concatenated in memory.
pub fn write_atomic<'p>(path: &Path, parts: impl IntoIterator<Item = &'p [u8]>) -> Result<()> {
    let tmp = temp_path(path);
    let result = write_and_sync(&tmp, parts).and_then(|()| std::fs::rename(&tmp, path));
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// The temporary file: hidden, in the same directory (so the rename cannot cross filesystems).
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp_name = format!(".{name}.wasifs-{}.tmp", std::process::id());
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(tmp_name),
        _ => PathBuf::from(tmp_name),
    }
}

/// Creates `tmp` (failing if it exists), writes everything and flushes it to disk.
fn write_and_sync<'p>(
    tmp: &Path,
    parts: impl IntoIterator<Item = &'p [u8]>,
) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)?;
    // Small parts (section headers, short sections) are gathered; large ones go straight through.
    let mut w = std::io::BufWriter::with_capacity(64 << 10, file);
    for part in parts {
        w.write_all(part)?;
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_existing_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out.wasm");
        std::fs::write(&target, b"old").expect("seed");
        write_atomic(&target, [&b"n"[..], b"", b"ew"]).expect("write");
        assert_eq!(std::fs::read(&target).expect("read"), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("no/such/dir/out.wasm");
        let err = write_atomic(&target, [&b"x"[..]]).expect_err("must fail");
        assert!(err.to_string().contains("out.wasm"));
    }
}
