//! Files compressed with content from elsewhere in the tree read back through the shim's decoders
//! exactly as from a real directory: small files against the dictionary of shared blocks, mid-size
//! files against it too (frames of their own), versions of one file in a group, a file holding
//! another's content at other offsets in that file's frames, chunks that repeat
//! an earlier chunk's stored bytes, chunks of zeros (written, and a sparse file's holes), and a
//! text file `--random-access` marks (LZ4 blocks against the trained dictionary, short matches
//! spelled out). `rust_stress` on a writable mount of 1,500 files cut from one pool, 40 files of
//! 17–25 KB cut from it, a pair of 1.2 MB files, three versions of a 600 KB file, a 9 MiB file of zeros and a few pages,
//! a 12 MiB file with holes and a 2 MiB text file (its final listing hashes every file), packed in
//! both memory layouts, against the original with a copy of the tree preopened.

use std::path::Path;

use wasifs::{Dictionaries, MemoryLayout, Rewriter};
use wasifs_tests::{
    assert_same_outcome, copy_tree, fixture, pack_specs_with, run, Outcome, RunOptions,
};

/// Writes 1,500 files of 2–10 KiB, cut at pseudo-random places from one 1 MiB pool of
/// pseudo-random bytes, into 15 directories under `dir`, and 40 files of 17–25 KB cut from it
/// into `mid`, two 1.2 MB files each holding the other's halves in `pair`, and three versions of a
/// 600 KB file of
/// such bytes (each with a few bytes changed and some inserted) into `v1`..`v3`, and a 9 MiB file of
/// zeros with a pool page every 1 MiB (marked read at random with `notes/`: 4 KiB LZ4 chunks, most
/// of them chunks of zeros).
fn write_pool_tree(dir: &Path) {
    let mut rng = wasifs_image::fuzz::Rng(0x9e37_79b9_7f4a_7c15);
    let mut next = move || rng.next();
    let pool: Vec<u8> = (0..1 << 20).map(|_| next() as u8).collect();
    for i in 0..1500 {
        let r = next();
        let len = 2048 + (r % 8192) as usize;
        let start = (r >> 24) as usize % (pool.len() - len);
        let sub = dir.join(format!("d{:02}", i / 100));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("f{i:04}")), &pool[start..start + len]).unwrap();
    }
    std::fs::create_dir_all(dir.join("mid")).unwrap();
    // Cut one after another (content the dictionary holds, none of it in two of them: files
    // sharing content elsewhere would be paired instead).
    let mut start = 0;
    for i in 0..40 {
        let r = next();
        let len = 17_000 + (r % 8_000) as usize;
        // Named without digits: versions of one file (named alike up to them) would form groups
        // (cut at random places from the pool, those of 64 KiB or more share too little to).
        let name: String = [i / 26, i % 26]
            .iter()
            .map(|&k| (b'a' + k as u8) as char)
            .collect();
        std::fs::write(
            dir.join(format!("mid/{name}.bin")),
            &pool[start..start + len],
        )
        .unwrap();
        start += len;
    }
    // A file of text holding another's halves the other way round (each over the 1 MiB the
    // dictionary serves): each chunk of the later is compressed in the frame of the chunk
    // holding it.
    let vocabulary = ["let", "x", "=", "f(", ");", "\n", "if", "0", "17", "{", "}"];
    let mut dom = Vec::new();
    while dom.len() < 1_200_000 {
        dom.extend_from_slice(vocabulary[(next() % 11) as usize].as_bytes());
        dom.push(b' ');
    }
    dom.truncate(1_200_000);
    let mut worker = dom[600_000..].to_vec();
    worker.extend_from_slice(&dom[..600_000]);
    std::fs::create_dir_all(dir.join("pair")).unwrap();
    std::fs::write(dir.join("pair/dom.ts"), &dom).unwrap();
    std::fs::write(dir.join("pair/worker.ts"), &worker).unwrap();
    let mut version: Vec<u8> = (0..600_000).map(|_| next() as u8).collect();
    for v in 1..=3 {
        let sub = dir.join(format!("v{v}"));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("lib-1.{v}.a")), &version).unwrap();
        version[100_000 * v] ^= 1;
        let at = 1000 + 50_000 * v;
        version.splice(at..at, (0..500).map(|_| next() as u8));
    }
    let mut sparse = vec![0u8; 9 << 20];
    for at in (0..sparse.len()).step_by(1 << 20) {
        let page = (at >> 20) * 4096;
        // Past the first 4 KiB of each MiB: the file starts with a chunk of zeros.
        sparse[at + 5000..at + 9096].copy_from_slice(&pool[page..page + 4096]);
    }
    std::fs::create_dir_all(dir.join("notes")).unwrap();
    std::fs::write(dir.join("notes/sparse.img"), &sparse).unwrap();
    // And a 12 MiB file with holes (not written zeros) but for a pool page every 3 MiB: its data
    // fits in the cache, so it keeps 256 KiB chunks, its holes chunks of zeros.
    let holes = std::fs::File::create(dir.join("holes.img")).unwrap();
    holes.set_len(12 << 20).unwrap();
    for k in 0..4u64 {
        let page = &pool[k as usize * 4096..(k as usize + 1) * 4096];
        std::os::unix::fs::FileExt::write_all_at(&holes, page, k * (3 << 20) + 7).unwrap();
    }
    let words = [
        "index", "page", "row", "0", "17", "key", "value", "=", "{", "}", "\n",
    ];
    let mut text = Vec::new();
    while text.len() < 2 << 20 {
        text.extend_from_slice(words[(next() % words.len() as u64) as usize].as_bytes());
        text.push(b' ');
    }
    std::fs::create_dir_all(dir.join("notes")).unwrap();
    std::fs::write(dir.join("notes/log.txt"), &text).unwrap();
}

fn options() -> RunOptions {
    RunOptions {
        args: vec!["rust_stress.wasm".into()],
        ..RunOptions::default()
    }
}

#[test]
fn files_read_through_a_dictionary_or_a_group_match_a_real_directory() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed");
    write_pool_tree(&seed);
    let module = fixture("rust_stress");
    let copy = dir.path().join("copy");
    copy_tree(&seed, &copy, &[]).unwrap();
    let original = std::fs::read(&module).unwrap();
    let expected: Outcome = run(
        &original,
        &RunOptions {
            preopens: vec![(copy, "/data".into())],
            ..options()
        },
    )
    .unwrap();
    assert_eq!(expected.exit_code, 0, "{}", expected.stderr_str());
    assert!(expected.stdout_str().contains("d14/f1499 file size="));
    assert!(expected.stdout_str().contains("v3/lib-1.3.a file size="));
    assert!(expected
        .stdout_str()
        .contains("pair/worker.ts file size=1200000"));
    assert!(expected.stdout_str().contains("sparse.img file size="));
    assert!(expected
        .stdout_str()
        .contains("holes.img file size=12582912"));
    assert!(expected.stdout_str().contains("notes/log.txt file size="));
    for layout in [MemoryLayout::Multi, MemoryLayout::Single] {
        let spec = [format!("/data={}", seed.display())];
        let marked = "notes/".parse().unwrap();
        let packed = pack_specs_with(
            &module,
            &spec,
            Rewriter::new().memory_layout(layout).random_access(marked),
        );
        let layout_of = wasifs::inspect(&packed).unwrap().layout;
        assert!(layout_of.dict_len > 0, "{layout:?}: no LZ4 dictionary");
        assert_eq!(
            layout_of.lz4_files, 2,
            "{layout:?}: the sparse file and the marked one"
        );
        assert!(layout_of.block_dict_len > 0, "{layout:?}: no dictionary");
        assert_eq!(
            layout_of.shared_files, 40,
            "{layout:?}: the mid-size files against the dictionary: {layout_of:?}"
        );
        assert_eq!(
            layout_of.grouped_files, 5,
            "{layout:?}: the versions are one group, the pair another"
        );
        let actual = run(&packed, &options()).unwrap();
        assert_same_outcome(&format!("rust_stress ({layout:?})"), &expected, &actual);
    }
    let plain = pack_specs_with(
        &module,
        &[format!("/data={}", seed.display())],
        Rewriter::new().dictionaries(Dictionaries::Off),
    );
    let plain = wasifs::inspect(&plain).unwrap().layout;
    assert_eq!((plain.block_dict_len, plain.grouped_files), (0, 0));
}
