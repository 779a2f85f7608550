//! Files holding parts of another at other offsets: each chunk of the later one is compressed in
//! the frame of the chunk holding it, read back exactly; a copy is still a copy, and `off` keeps
//! every file apart.

mod common;

use common::{
    assert_reads_back, build_in_dirs, build_in_dirs_on, noise, read_file, resolve, words,
};
use wasifs_image::format::Codec;
use wasifs_image::{Dictionaries, Image};

const C: usize = 256 * 1024;

/// `dom.d.ts`: five chunks of text (over the 1 MiB a block dictionary serves); `worker.d.ts`:
/// its last three chunks, then a little of its own, then its first two (most of each chunk of it
/// at another offset than in `dom.d.ts`); an unrelated file; a copy of `dom.d.ts`.
fn files() -> Vec<(String, Vec<u8>)> {
    let dom = words(5 * C, 80);
    let mut worker = dom[2 * C..].to_vec();
    worker.extend(words(10_000, 81));
    worker.extend_from_slice(&dom[..2 * C]);
    [
        ("lib/dom.d.ts", dom.clone()),
        ("lib/worker.d.ts", worker),
        ("other/alone.bin", noise(300_000, 82)),
        ("x/copy.bin", dom),
    ]
    .map(|(path, body)| (path.to_string(), body))
    .into()
}

#[test]
fn a_file_holding_another_at_other_offsets_is_stored_in_its_frames_and_reads_back_exactly() {
    let files = files();
    let bytes = build_in_dirs(&files, Dictionaries::Auto);
    let img = Image::open(bytes.as_slice()).unwrap();
    assert_reads_back(&img, &files);
    let chunk = |path: &str, i: u32| img.chunk(&resolve(&img, 0, path), i).unwrap();
    // `dom.d.ts`, the first turned to, follows `worker.d.ts`: each chunk of `worker.d.ts` opens a
    // frame, the chunk of `dom.d.ts` it holds most of after it.
    for (dom, worker) in [(2, 0), (3, 1), (4, 2), (0, 3), (1, 4)] {
        let (d, w) = (chunk("lib/dom.d.ts", dom), chunk("lib/worker.d.ts", worker));
        assert_eq!((d.codec, w.codec), (Codec::Packed, Codec::Packed), "{dom}");
        assert_eq!((w.stored_off, w.block_off), (d.stored_off, 0), "{dom}");
        assert_eq!(d.block_off, C as u32, "{dom}");
    }
    for i in 0..5 {
        assert_eq!(chunk("x/copy.bin", i), chunk("lib/dom.d.ts", i));
    }
    let alone = chunk("other/alone.bin", 0);
    assert_eq!(alone.block_off, 0);
    // `worker.d.ts` costs about what it does not share.
    let apart = build_in_dirs(&files, Dictionaries::Off);
    assert!(
        bytes.len() + 150_000 < apart.len(),
        "{} vs {} bytes",
        bytes.len(),
        apart.len()
    );
}

#[test]
fn pairs_pack_to_the_same_bytes_on_any_number_of_threads() {
    // The pair above, and more files sharing chunks with it at other offsets.
    let mut files = files();
    let dom = files[0].1.clone();
    for i in 0..6u64 {
        let mut body = words(20_000 + 3_000 * i as usize, 90 + i);
        let at = (i as usize * 97_000) % (4 * C);
        body.extend_from_slice(&dom[at..at + C / 2]);
        files.push((format!("more/m{i}.d.ts"), body));
    }
    let build = |threads| build_in_dirs_on(&files, Dictionaries::Auto, threads);
    let one = build(1);
    assert_eq!(build(2), one);
    assert_eq!(build(3), one);
    let img = Image::open(one.as_slice()).unwrap();
    for (path, body) in &files {
        assert_eq!(&read_file(&img, &resolve(&img, 0, path)), body, "{path}");
    }
}
