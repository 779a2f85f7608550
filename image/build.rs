//! Builds zstd's C decoder (decompress-only: our `zstd-wasm/` around zstd's own sources in
//! `third_party/zstd/`) when the `decode` feature is compiled for wasm32 (the shim). Needs clang
//! with the WebAssembly backend (Debian bookworm: clang 14; override with CC_wasm32_unknown_unknown
//! / AR_wasm32_unknown_unknown). The bytes it produces depend only on the sources and the clang
//! version: no paths, dates or host flags reach the object code.
fn main() {
    println!("cargo:rerun-if-changed=zstd-wasm");
    println!("cargo:rerun-if-changed=../third_party/zstd");
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "decode")]
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        decoder::build();
    }
}

/// zstd's decoder for the shim (only with the `decode` feature, which brings the `cc` crate).
#[cfg(feature = "decode")]
mod decoder {
    use std::env;
    use std::fs;
    use std::path::{Path, PathBuf};

    /// Start of the split-literals sequence loop in zstd_decompress_block.c (zstd 1.5.7).
    const SPLIT_BODY: &str =
        "FORCE_INLINE_TEMPLATE size_t\nDONT_VECTORIZE\nZSTD_decompressSequences_bodySplitLitBuffer(";
    /// Start of the function after it (the regular sequence loop).
    const NEXT_BODY: &str =
        "FORCE_INLINE_TEMPLATE size_t\nDONT_VECTORIZE\nZSTD_decompressSequences_body(";

    /// The test for literals split between the context's buffer and the output.
    const SPLIT_TEST: &str = "dctx->litBufferLocation == ZSTD_split";

    /// What follows the regular sequence loop.
    const REGULAR_END: &str = "static size_t\nZSTD_decompressSequences_default(";

    /// Out-of-line entry points to the sequence helpers, for the split-literals loop only.
    const WRAPPERS: &str = r#"/* wasifs (image/build.rs): the split-literals loop below calls these out of line. */
static __attribute__((noinline)) seq_t
WZ_decodeSequence(seqState_t* seqState, const ZSTD_longOffset_e longOffsets, const int isLastSeq)
{ return ZSTD_decodeSequence(seqState, longOffsets, isLastSeq); }
static __attribute__((noinline)) size_t
WZ_execSequence(BYTE* op, BYTE* const oend, seq_t sequence, const BYTE** litPtr,
    const BYTE* const litLimit, const BYTE* const prefixStart, const BYTE* const virtualStart,
    const BYTE* const dictEnd)
{ return ZSTD_execSequence(op, oend, sequence, litPtr, litLimit, prefixStart, virtualStart, dictEnd); }
static __attribute__((noinline)) size_t
WZ_execSequenceSplitLitBuffer(BYTE* op, BYTE* const oend, const BYTE* const oend_w, seq_t sequence,
    const BYTE** litPtr, const BYTE* const litLimit, const BYTE* const prefixStart,
    const BYTE* const virtualStart, const BYTE* const dictEnd)
{ return ZSTD_execSequenceSplitLitBuffer(op, oend, oend_w, sequence, litPtr, litLimit, prefixStart,
    virtualStart, dictEnd); }

"#;

    /// zstd_decompress_block.c with its split-literals sequence loop (used only when a block's
    /// literals do not fit the context's buffer nor the output: rare, at the end of a chunk) made an
    /// ordinary function that calls the sequence helpers through `WRAPPERS`, instead of a third
    /// force-inlined copy of them. The regular loop is untouched. Panics if the source is not the
    /// vendored 1.5.7 one (the patterns must each occur exactly once).
    fn rewrite_block_c(src: &str) -> String {
        assert!(
        src.matches(SPLIT_BODY).count() == 1 && src.matches(NEXT_BODY).count() == 1,
        "zstd_decompress_block.c is not the vendored zstd 1.5.7 (third_party/zstd): update image/build.rs"
    );
        let (a, b) = match (src.find(SPLIT_BODY), src.find(NEXT_BODY)) {
            (Some(a), Some(b)) if a < b => (a, b),
            _ => panic!("zstd_decompress_block.c: unexpected function order"),
        };
        let span = src[a..b]
            .replacen(
                SPLIT_BODY,
                "static size_t\nZSTD_decompressSequences_bodySplitLitBuffer(",
                1,
            )
            .replace("ZSTD_decodeSequence(", "WZ_decodeSequence(")
            .replace(
                "ZSTD_execSequenceSplitLitBuffer(",
                "WZ_execSequenceSplitLitBuffer(",
            )
            .replace("ZSTD_execSequence(", "WZ_execSequence(");
        let rest = &src[b..];
        // The regular loop decodes each sequence through the out-of-line WZ_decodeSequence too (one
        // copy of the decoder instead of one per loop); it still inlines ZSTD_execSequence.
        let end = rest
            .find(REGULAR_END)
            .expect("zstd_decompress_block.c: the regular sequence loop ends where expected");
        let (regular, tail) = rest.split_at(end);
        assert!(
            regular.matches("ZSTD_decodeSequence(").count() == 1,
            "zstd_decompress_block.c: one ZSTD_decodeSequence call in the regular loop"
        );
        let regular = regular.replace("ZSTD_decodeSequence(", "WZ_decodeSequence(");
        let text = format!("{}{WRAPPERS}{span}{regular}{tail}", &src[..a]);
        // With a 128 KiB literals buffer in the context (ZSTD_DECODER_INTERNAL_BUFFER below) every
        // block's literals fit it (each path checks litSize <= blockSizeMax <= 128 KiB first), so
        // literals are never split between it and the output: those branches, and the split loop
        // with its helpers, compile away (~2 KiB of the shim).
        assert!(
            text.matches(SPLIT_TEST).count() == 10,
            "zstd_decompress_block.c: ten tests of a split literals buffer"
        );
        text.replace(SPLIT_TEST, "0 /* wasifs: never split */")
    }

    /// Compiles zstd-wasm/ and the zstd sources into the static library `wasifs_zstd`.
    pub fn build() {
        let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
        let dir = manifest.join("zstd-wasm");
        // zstd's own sources (third_party/zstd/README.md). Like zstd-wasm/, their directory is mapped to
        // a fixed name (the one it had before it moved) so that no checkout path could reach the bytes.
        let zstd = manifest
            .parent()
            .expect("the image crate sits in the repository root")
            .join("third_party/zstd");
        let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
        let lib = zstd.join("lib");
        let block = lib.join("decompress/zstd_decompress_block.c");
        let text = fs::read_to_string(&block).expect("read zstd_decompress_block.c");
        let gen = out.join("zstd-wasm-gen");
        fs::create_dir_all(&gen).expect("create OUT_DIR/zstd-wasm-gen");
        write_if_changed(
            &gen.join("zstd_decompress_block_wz.c"),
            &rewrite_block_c(&text),
        );
        cc::Build::new()
            .files(["decoder.c", "glue.c"].map(|f| dir.join(f)))
            // Freestanding: our <string.h>/<stdlib.h> first, then zstd's own directories; the
            // rewritten block decoder's relative includes resolve through lib/decompress.
            .include(dir.join("include"))
            .include(&lib)
            .include(lib.join("common"))
            .include(lib.join("decompress"))
            .include(&gen)
            .opt_level_str("s")
            .debug(false)
            .warnings(false)
            .flag("-ffreestanding")
            .flag("-fno-ident")
            .flag(format!("-ffile-prefix-map={}=/zstd-wasm", dir.display()))
            .flag(format!(
                "-ffile-prefix-map={}=/zstd-wasm/zstd",
                zstd.display()
            ))
            .flag(format!(
                "-ffile-prefix-map={}=/zstd-wasm-gen",
                gen.display()
            ))
            // The wasm features rustc's wasm32-unknown-unknown uses (and build-shim.sh's wasm-opt enables).
            .flag("-mbulk-memory")
            .flag("-msign-ext")
            .flag("-mnontrapping-fptoint")
            .flag("-mmutable-globals")
            // Smallest viable decoder: Huffman X1 only, short-offset sequences only, no legacy formats,
            // no error strings, tracing, intrinsics, asm or runtime CPU dispatch; asserts/debug off.
            .define("HUF_FORCE_DECOMPRESS_X1", "1")
            .define("ZSTD_FORCE_DECOMPRESS_SEQUENCES_SHORT", "1")
            .define("ZSTD_LEGACY_SUPPORT", "0")
            .define("ZSTD_STRIP_ERROR_STRINGS", "1")
            .define("ZSTD_NO_TRACE", "1")
            .define("ZSTD_NO_INTRINSICS", "1")
            .define("ZSTD_DISABLE_ASM", "1")
            .define("DYNAMIC_BMI2", "0")
            .define("ZSTD_HEAPMODE", "0")
            // A literals buffer as large as a block (+64 KiB of shim memory): never split (see
            // rewrite_block_c).
            .define("ZSTD_DECODER_INTERNAL_BUFFER", "131072")
            .define("DEBUGLEVEL", "0")
            .define("NDEBUG", "1")
            .define("ZSTDLIB_VISIBILITY", "")
            .define("ZSTDERRORLIB_VISIBILITY", "")
            .compile("wasifs_zstd");
    }

    /// Writes `text` to `path` unless it already holds exactly that (keeps the mtime for cc's caching).
    fn write_if_changed(path: &Path, text: &str) {
        if fs::read_to_string(path).ok().as_deref() != Some(text) {
            fs::write(path, text).expect("write the rewritten zstd_decompress_block.c");
        }
    }
}
