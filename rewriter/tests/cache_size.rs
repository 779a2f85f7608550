//! `wasifs rewrite --cache-size` and `--chunk-size` land in the embedded image's header
//! (`cache_size`, format 4; `chunk_size`, the largest any file uses, format 5); without them the
//! header holds the defaults, and a malformed size is refused before anything is written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wasifs_image::format::{Header, HEADER_SIZE, MAGIC, VERSION};
use wasifs_image::CacheSize;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(rel)
}

fn rewrite(out: &Path, extra: &[&str]) -> Output {
    let tree = format!("/={}", fixture("tree").display());
    Command::new(env!("CARGO_BIN_EXE_wasifs"))
        .arg("rewrite")
        .arg("-q")
        .arg(fixture("bin/rust_read.wasm"))
        .args(["--mount", &tree, "-o"])
        .arg(out)
        .args(extra)
        .output()
        .expect("running wasifs")
}

/// The header of the one image in `module`: the only place the magic is followed by a header of
/// this format version whose `total_len` fits in what follows.
fn image_header(module: &[u8]) -> Header {
    let found: Vec<Header> = (0..module.len().saturating_sub(HEADER_SIZE as usize))
        .filter(|&i| module[i..].starts_with(&MAGIC))
        .filter_map(|i| {
            let raw: &[u8; HEADER_SIZE as usize] =
                module[i..i + HEADER_SIZE as usize].try_into().ok()?;
            let h = Header::decode(raw).ok()?;
            (h.version == VERSION && i + h.total_len as usize <= module.len()).then_some(h)
        })
        .collect();
    assert_eq!(found.len(), 1, "exactly one embedded image header");
    found[0]
}

#[test]
fn cache_size_flag_is_recorded_in_the_image_header_and_defaults_to_one_mib() {
    let dir = tempfile::tempdir().expect("tempdir");
    let set = dir.path().join("set.wasm");
    let out = rewrite(&set, &["--cache-size", "4M"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let h = image_header(&std::fs::read(&set).expect("packed module"));
    assert_eq!(h.cache_size, 4 << 20);

    let default = dir.path().join("default.wasm");
    let out = rewrite(&default, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let h = image_header(&std::fs::read(&default).expect("packed module"));
    assert_eq!(h.cache_size, CacheSize::DEFAULT.get());
    assert_eq!(h.cache_size, 8 << 20);
}

#[test]
fn malformed_cache_size_is_refused_naming_the_flag_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("out.wasm");
    let out = rewrite(&out_path, &["--cache-size", "2G"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--cache-size"), "names the flag: {err}");
    assert!(!out_path.exists(), "nothing written");
}

#[test]
fn chunk_size_flag_sets_every_file_s_chunks_and_auto_keeps_small_files_at_256k() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Stored raw, so no small file is packed into a shared block (whose size a packed file
    // records as its chunk size).
    for (flag, want) in [
        (None, 256 << 10),
        (Some("8K"), 8 << 10),
        (Some("auto"), 256 << 10),
    ] {
        let out_path = dir.path().join("out.wasm");
        let mut extra = vec!["--store"];
        extra.extend(flag.map(|f| ["--chunk-size", f]).into_iter().flatten());
        let out = rewrite(&out_path, &extra);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let h = image_header(&std::fs::read(&out_path).expect("packed module"));
        assert_eq!(h.chunk_size, want, "--chunk-size {flag:?}");
    }
}

#[test]
fn a_chunk_size_not_a_power_of_two_up_to_1m_is_refused_naming_the_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("out.wasm");
    for bad in ["3K", "2M", "0"] {
        let out = rewrite(&out_path, &["--chunk-size", bad]);
        assert!(!out.status.success(), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--chunk-size"), "names the flag: {err}");
        assert!(err.contains("power of two"), "says what is valid: {err}");
        assert!(!out_path.exists(), "nothing written");
    }
}

#[test]
fn block_size_flag_is_the_chunk_size_packed_small_files_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (flag, want) in [
        (None, 256 << 10),
        (Some("1M"), 1 << 20),
        (Some("16K"), 256 << 10),
    ] {
        let out_path = dir.path().join("out.wasm");
        let extra: Vec<&str> = flag
            .map(|f| ["--block-size", f])
            .into_iter()
            .flatten()
            .collect();
        let out = rewrite(&out_path, &extra);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The fixture's files are small, so packed: the header's largest chunk size is the
        // block's, or the 256 KiB of unpacked chunks when blocks are smaller.
        let h = image_header(&std::fs::read(&out_path).expect("packed module"));
        assert_eq!(h.chunk_size, want, "--block-size {flag:?}");
    }
    let out = rewrite(&dir.path().join("bad.wasm"), &["--block-size", "8K"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--block-size") && err.contains("16K to 1M"),
        "{err}"
    );
}
