//! An app with as many data segments as engines accept (Go's linker emits up to 100,000, its
//! larger programs exactly that many): packed, its neighbouring segments are joined to make room
//! for the shim's, and it starts with the same memory; stripped, it still does.

use wasifs_tests::{pack_specs_with, run, Entry, RunOptions};

/// Most data segments a module may have (wasmparser's and the JS API's limit).
const MAX_SEGMENTS: usize = 100_000;

/// A reactor with `MAX_SEGMENTS` data segments: one- to three-byte active ones with gaps of zero
/// to five bytes, and at index 10 a passive one that `sum` copies in with `memory.init` before
/// returning an FNV-1a hash of the memory they fill.
fn app() -> Vec<u8> {
    let mut wat = String::from(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 8)
  (func (export "sum") (result i64) (local $i i32) (local $h i64)
    (memory.init 10 (i32.const 0x70000) (i32.const 0) (i32.const 7))
    (data.drop 10)
    (local.set $h (i64.const 0xcbf29ce484222325))
    (loop $next
      (local.set $h (i64.mul
        (i64.xor (local.get $h) (i64.load8_u (local.get $i)))
        (i64.const 0x100000001b3)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (i32.const 0x70010))))
    (local.get $h))
"#,
    );
    let mut at = 16u32;
    for i in 0..MAX_SEGMENTS as u32 {
        if i == 10 {
            wat.push_str("  (data \"passive\")\n");
            continue;
        }
        let len = 1 + i % 3;
        let byte = format!("\\{:02x}", i % 251 + 1);
        wat.push_str(&format!(
            "  (data (i32.const {at}) \"{}\")\n",
            byte.repeat(len as usize)
        ));
        at += len + (i * 7) % 6;
    }
    wat.push_str(")\n");
    wat::parse_str(&wat).expect("the test app compiles")
}

/// How many data segments `module` has.
fn segments(module: &[u8]) -> usize {
    wasmparser::Parser::new(0)
        .parse_all(module)
        .filter_map(|p| match p.expect("parses") {
            wasmparser::Payload::DataSection(r) => Some(r.count() as usize),
            _ => None,
        })
        .sum()
}

#[test]
fn an_app_with_as_many_data_segments_as_engines_accept_is_packed_with_the_same_memory() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.wasm");
    std::fs::write(&app, self::app()).unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("f"), b"file").unwrap();
    let opts = RunOptions {
        entry: Entry::Reactor("sum".into()),
        ..RunOptions::default()
    };
    let original = run(&std::fs::read(&app).unwrap(), &opts).expect("the original runs");
    assert_eq!(original.results.len(), 1);
    let mounts = [format!("/={}", tree.display())];
    for layout in [wasifs::MemoryLayout::Multi, wasifs::MemoryLayout::Single] {
        let rewriter = wasifs::Rewriter::new().memory_layout(layout);
        let packed = pack_specs_with(&app, &mounts, rewriter);
        assert_eq!(
            segments(&packed),
            MAX_SEGMENTS,
            "{layout:?}: joined just enough"
        );
        let actual = run(&packed, &opts).expect("the packed module runs");
        assert_eq!(
            actual.results, original.results,
            "{layout:?}: the same memory"
        );
        let stripped = wasifs::strip(&packed).expect("strips");
        let again = run(&stripped.bytes, &opts).expect("the stripped module runs");
        assert_eq!(
            again.results, original.results,
            "{layout:?}: stripped, the same memory"
        );
    }
}
