//! Rewriting a rewritten module replaces only its image; large parts are borrowed, not copied.

use super::*;

#[test]
fn rewriting_a_rewritten_module_replaces_only_the_image() {
    let first = merge(&wasm(APP), IMAGE).expect("merges");
    let image2 = b"WASIFS\0\x01 another image, longer than the first one";
    let second = merge(&first.bytes, image2).expect("re-merges");
    let data = data_segments(&second.bytes);
    assert_eq!(data.len(), 3, "one shim, one image");
    assert_eq!(data[2], (true, image2.to_vec()));
    let names = func_names(&second.bytes);
    assert_eq!(
        names.values().filter(|n| *n == "wasifs::fd_read").count(),
        1
    );
    assert_eq!(imports(&first.bytes), imports(&second.bytes));
    // Everything but the data section is byte-identical.
    let strip = |b: &[u8]| {
        let mut s = Vec::new();
        for p in Parser::new(0).parse_all(b) {
            if let Some((id, range)) = p.expect("payload").as_section() {
                if id != 11 {
                    s.push(b[range.start as usize..range.end as usize].to_vec());
                }
            }
        }
        s
    };
    assert_eq!(strip(&first.bytes), strip(&second.bytes));
    // And once more, back to the first image: identical to the first output.
    let third = merge(&second.bytes, IMAGE).expect("re-merges");
    assert_eq!(third.bytes, first.bytes);
}

#[test]
fn large_image_and_custom_sections_are_borrowed_and_written_whole() {
    // Larger than the borrow threshold, so the output borrows them from the inputs.
    let image: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let image2: Vec<u8> = (0..200_000u32).map(|i| (i * 13 % 241) as u8).collect();
    let dwarf = "\\00".repeat(50_000);
    let app = APP.replace(
        "(module $app",
        &format!("(module $app (@custom \"big\" (after code) \"{dwarf}\")"),
    );
    let app = wasm(&app);
    let first = merge(&app, &image).expect("merges");
    assert_eq!(data_segments(&first.bytes)[2], (true, image.clone()));
    let big = |b: &[u8]| {
        custom_sections(b)
            .into_iter()
            .find(|(n, _)| n == "big")
            .map(|(_, d)| d.len())
    };
    assert_eq!(big(&first.bytes), Some(50_000));
    let second = merge(&first.bytes, &image2).expect("re-merges");
    assert_eq!(data_segments(&second.bytes)[2], (true, image2));
    assert_eq!(big(&second.bytes), Some(50_000));
    assert_eq!(
        merge(&second.bytes, &image).expect("again").bytes,
        first.bytes
    );
}

#[test]
fn rewriting_a_module_rewritten_by_another_shim_is_unsupported() {
    let first = merge(&wasm(APP), IMAGE).expect("merges");
    let other_shim = SHIM.replace("shim data", "other shim data");
    let intrinsics = intrinsics_wasm().expect("intrinsics");
    let err = merge_modules(
        Path::new("app.wasm"),
        &first.bytes,
        &wasm(&other_shim),
        &intrinsics,
        IMAGE,
    )
    .expect_err("refused");
    assert!(unsupported_what(err).contains("rewritten by another wasifs version"));
}
