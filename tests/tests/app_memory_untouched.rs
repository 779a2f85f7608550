//! The shim leaves the app's memory byte-for-byte as the app left it (issue 8 item 4): the results
//! the shim asks the host for itself (host preopens and their names at start-up, the clock for the
//! timestamps of writes) go to app memory it borrows and gives back, never to an address guessed
//! from a global. The app below has no name section, its first mutable i32 global is a counter
//! (the old guess took it for the stack pointer and wrote below it), and it fills its whole memory
//! with a pattern, makes WASI calls that reach the host, then writes its whole memory to stdout:
//! packed, the dump must equal the unpacked run's.

use std::path::Path;

use wasifs::{HostPreopen, Rewriter};
use wasifs_tests::{assert_same_outcome, pack_specs_with, run, Outcome, RunOptions};

/// Bytes of the app's memory (2 pages), all dumped to stdout.
const MEMORY_BYTES: usize = 2 * 65536;

/// Written with indices only (no `$name`), so the module has no name section.
const APP: &str = r#"(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func (param i32) (result i32)))
  (memory 2)
  (export "memory" (memory 0))
  ;; A counter, the first mutable i32 global: not a stack pointer (its value is an address inside
  ;; the pattern, where the old guess put its scratch bytes).
  (global (mut i32) (i32.const 4096))
  (global (mut i32) (i32.const 0))
  (data (i32.const 3000) "new.txt")
  (export "_start" (func 8))

  ;; fill(from, to): byte i = the top byte of i * 0x9E3779B1.
  (func (param i32 i32)
    (block
      (loop
        (br_if 1 (i32.ge_u (local.get 0) (local.get 1)))
        (i32.store8 (local.get 0)
          (i32.shr_u (i32.mul (local.get 0) (i32.const 0x9E3779B1)) (i32.const 24)))
        (local.set 0 (i32.add (local.get 0) (i32.const 1)))
        (br 0))))

  ;; bump(): the counter + 1.
  (func (global.set 0 (i32.add (global.get 0) (i32.const 1))))

  ;; _start
  (func (local i32 i32)
    (call 6 (i32.const 0) (i32.const 3000))
    (call 6 (i32.const 3007) (i32.const 131072))

    ;; The clock (its reading at 1024 is erased again: it differs between runs).
    (call 7)
    (i32.store (i32.const 2000) (call 0 (i32.const 0) (i64.const 1) (i32.const 1024)))
    (call 6 (i32.const 1024) (i32.const 1032))

    ;; The preopens 3, 4, 5: prestat at 1100 + 8k, name at 1200 + 64k (at most 64 bytes).
    (local.set 0 (i32.const 0))
    (block
      (loop
        (br_if 1 (i32.ge_u (local.get 0) (i32.const 3)))
        (call 7)
        (i32.store (i32.add (i32.const 2004) (i32.mul (local.get 0) (i32.const 4)))
          (call 1 (i32.add (local.get 0) (i32.const 3))
                  (i32.add (i32.const 1100) (i32.mul (local.get 0) (i32.const 8)))))
        (local.set 1 (i32.load (i32.add (i32.const 1104) (i32.mul (local.get 0) (i32.const 8)))))
        (if (i32.gt_u (local.get 1) (i32.const 64)) (then (local.set 1 (i32.const 64))))
        (call 7)
        (i32.store (i32.add (i32.const 2016) (i32.mul (local.get 0) (i32.const 4)))
          (call 2 (i32.add (local.get 0) (i32.const 3))
                  (i32.add (i32.const 1200) (i32.mul (local.get 0) (i32.const 64)))
                  (local.get 1)))
        (local.set 0 (i32.add (local.get 0) (i32.const 1)))
        (br 0)))

    ;; Create /data/new.txt (fd 3), write "new.txt" into it, close it: the shim timestamps the
    ;; change with the host's clock when /data is embedded.
    (call 7)
    (i32.store (i32.const 2028)
      (call 4 (i32.const 3) (i32.const 0) (i32.const 3000) (i32.const 7) (i32.const 9)
              (i64.const 0x1fffffff) (i64.const 0) (i32.const 0) (i32.const 2100)))
    (i32.store (i32.const 2200) (i32.const 3000))
    (i32.store (i32.const 2204) (i32.const 7))
    (call 7)
    (i32.store (i32.const 2032)
      (call 3 (i32.load (i32.const 2100)) (i32.const 2200) (i32.const 1) (i32.const 2208)))
    (call 7)
    (i32.store (i32.const 2036) (call 5 (i32.load (i32.const 2100))))

    ;; The clock once more, erased again.
    (call 7)
    (i32.store (i32.const 2040) (call 0 (i32.const 0) (i64.const 1) (i32.const 1032)))
    (call 6 (i32.const 1032) (i32.const 1040))

    ;; The counter, then the whole memory to stdout.
    (i32.store (i32.const 2400) (global.get 0))
    (i32.store (i32.const 2300) (i32.const 0))
    (i32.store (i32.const 2304) (i32.const 131072))
    (drop (call 3 (i32.const 1) (i32.const 2300) (i32.const 1) (i32.const 2308))))
)"#;

/// The app, written to `dir` as app.wasm.
fn app_file(dir: &Path) -> std::path::PathBuf {
    let bytes = wat::parse_str(APP).expect("the test app is valid WAT");
    let has_names = wasmparser::Parser::new(0)
        .parse_all(&bytes)
        .any(|p| matches!(p, Ok(wasmparser::Payload::CustomSection(c)) if c.name() == "name"));
    assert!(!has_names, "the test app must have no name section");
    let path = dir.join("app.wasm");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A directory holding `old.txt`, the tree mounted (or preopened) at `/data`.
fn data_tree(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("old.txt"), b"old\n").unwrap();
    data
}

/// The app's memory dump, checked to be all of it, with the calls' errnos that must be 0.
fn checked_dump(what: &str, out: &Outcome) -> Vec<u8> {
    assert_eq!(out.exit_code, 0, "{what}: stderr {}", out.stderr_str());
    assert_eq!(out.stdout.len(), MEMORY_BYTES, "{what}: the whole memory");
    let word = |at: usize| u32::from_le_bytes(out.stdout[at..at + 4].try_into().unwrap());
    assert_eq!(word(2000), 0, "{what}: clock_time_get");
    assert_eq!(word(2004), 0, "{what}: fd_prestat_get(3)");
    assert_eq!(word(2008), 0, "{what}: fd_prestat_get(4)");
    assert_eq!(word(2028), 0, "{what}: path_open");
    assert_eq!(word(2032), 0, "{what}: fd_write");
    assert_eq!(
        word(2400),
        4096 + 11,
        "{what}: the counter counted every call"
    );
    out.stdout.clone()
}

/// Runs the app unpacked with `/data` and `/host` preopened, and packed with `/data` embedded
/// (writable) and the host directory preopened under `runtime_name`, and compares the dumps.
fn same_memory_packed_and_unpacked(rewriter: Rewriter, runtime_name: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let app = app_file(tmp.path());
    let data = data_tree(tmp.path());
    let (host_a, host_b) = (tmp.path().join("host-a"), tmp.path().join("host-b"));
    std::fs::create_dir(&host_a).unwrap();
    std::fs::create_dir(&host_b).unwrap();
    let unpacked_data = tmp.path().join("data-copy");
    wasifs_tests::copy_tree(&data, &unpacked_data, &[]).unwrap();

    let original = run(
        &std::fs::read(&app).unwrap(),
        &RunOptions {
            preopens: vec![(unpacked_data, "/data".into()), (host_a, "/host".into())],
            ..RunOptions::default()
        },
    )
    .expect("the original runs");
    let expected = checked_dump("original", &original);

    let packed_bytes = pack_specs_with(&app, &[format!("/data={}:rw", data.display())], rewriter);
    let packed = run(
        &packed_bytes,
        &RunOptions::with_preopen(&host_b, runtime_name),
    )
    .expect("the packed module runs");
    let actual = checked_dump("packed", &packed);
    if let Some(at) = (0..MEMORY_BYTES).find(|&i| expected[i] != actual[i]) {
        panic!(
            "the packed app's memory differs from the original's first at byte {at} \
             (original {:#04x}, packed {:#04x})",
            expected[at], actual[at]
        );
    }
    assert_same_outcome("app_memory_untouched", &original, &packed);
    // The pattern really is there (the dump is not, say, all zeroes in both runs).
    let pattern = |i: u32| (i.wrapping_mul(0x9E37_79B1) >> 24) as u8;
    for at in [0u32, 4000, 4080, 4095, 65536, 131_064, 131_071] {
        assert_eq!(actual[at as usize], pattern(at), "pattern at {at}");
    }
}

#[test]
fn the_shim_leaves_app_memory_untouched_with_a_host_dir_and_a_counter_as_first_global() {
    same_memory_packed_and_unpacked(Rewriter::new(), "/host");
}

#[test]
fn the_shim_leaves_app_memory_untouched_when_it_reads_host_preopen_names() {
    // An alias makes the shim read every host preopen's name (fd_prestat_dir_name) at start-up.
    let alias: HostPreopen = "/host=/runtime-name"
        .parse()
        .expect("a well-formed --preopen");
    same_memory_packed_and_unpacked(Rewriter::new().preopen(alias), "/runtime-name");
}

#[test]
fn the_shim_leaves_app_memory_untouched_in_the_single_memory_layout() {
    // The shim's own pages come after the app's two: the app's bytes are still exactly its own.
    let alias: HostPreopen = "/host=/runtime-name"
        .parse()
        .expect("a well-formed --preopen");
    let rewriter = Rewriter::new()
        .preopen(alias)
        .memory_layout(wasifs::MemoryLayout::Single);
    same_memory_packed_and_unpacked(rewriter, "/runtime-name");
}
