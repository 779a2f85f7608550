//! Deterministic benchmark inputs: trees of mixed files and padded modules (same bytes every run).

use anyhow::{bail, Context, Result};
use std::fs;
use std::path::Path;

/// xorshift64* generator: fast, deterministic, good enough to be incompressible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Incompressible bytes.
fn noise(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&rng.next().to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Source-code-like text: Zipf-ish words from a fixed vocabulary, indented lines (zstd -3: ~3–4×).
struct Text {
    words: Vec<Vec<u8>>,
}

impl Text {
    fn new() -> Text {
        let syll = [
            "ka", "lo", "re", "mi", "tu", "sen", "dar", "ix", "on", "el", "qua", "bri", "st", "ne",
            "po", "fa", "gor", "ul", "te", "vy",
        ];
        let mut rng = Rng(0x5eed_0001);
        let mut words = Vec::new();
        for _ in 0..4000 {
            let n = 1 + rng.below(4);
            let mut w = Vec::new();
            for _ in 0..n {
                w.extend_from_slice(syll[rng.below(syll.len() as u64) as usize].as_bytes());
            }
            words.push(w);
        }
        for kw in [
            "fn", "let", "if", "return", "self", "=", "{", "}", "(", ")", ";", "->", "mut", "&",
        ] {
            words.insert(0, kw.as_bytes().to_vec());
        }
        Text { words }
    }

    fn fill(&self, rng: &mut Rng, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 128);
        while v.len() < len {
            let indent = 4 * rng.below(4) as usize;
            v.extend(std::iter::repeat_n(b' ', indent));
            let n = 3 + rng.below(10);
            for k in 0..n {
                // Zipf-like: the product of two uniforms favours small indices.
                let a = rng.below(self.words.len() as u64);
                let idx = (a * rng.below(self.words.len() as u64)) / self.words.len() as u64;
                if k > 0 {
                    v.push(b' ');
                }
                v.extend_from_slice(&self.words[idx as usize]);
            }
            v.push(b'\n');
        }
        v.truncate(len);
        v
    }
}

fn write(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p)?;
    }
    fs::write(path, data).with_context(|| path.display().to_string())
}

/// The file P3a reads (`small/d000/f00000.txt`): the same 1000 bytes in every tree, so start-up of a
/// large image and of the 1 KB image is compared on the very same read.
fn probe_file(text: &Text) -> Vec<u8> {
    text.fill(&mut Rng(0x0050_0be5), 1000)
}

/// `count` text files as `small/dNNN/fNNNNN.txt`, 100 per directory: the probe file, then 1–4 KiB each.
fn small_files(out: &Path, count: u64, rng: &mut Rng, text: &Text) -> Result<u64> {
    let mut total = 0;
    for i in 0..count {
        let data = if i == 0 {
            probe_file(text)
        } else {
            let len = 1024 + rng.below(3 * 1024 + 1) as usize;
            text.fill(rng, len)
        };
        total += data.len() as u64;
        write(
            &out.join(format!("small/d{:03}/f{:05}.txt", i / 100, i)),
            &data,
        )?;
    }
    Ok(total)
}

/// Writes a tree: `mixed` (10% small files, the rest half noise half text in 64 KiB–4 MiB files),
/// `meta` (BYTES / 2.5 KiB small files only), `tiny` (only the probe file every tree shares, 1000 bytes), `random` (one
/// BYTES-long file `db.bin` of alternating 1–128 KiB text and noise segments), `tinyfiles` (BYTES files
/// of 1–8 bytes), `shared` (BYTES of 1–16 KiB files cut from one 2 MiB text pool). The whole tree is written again from scratch every time.
pub fn tree(kind: &str, bytes: u64, out: &Path) -> Result<()> {
    if out.exists() {
        fs::remove_dir_all(out)?;
    }
    fs::create_dir_all(out)?;
    let mut rng = Rng(0x00c0_ffee ^ bytes);
    let text = Text::new();
    match kind {
        "tiny" => write(&out.join("small/d000/f00000.txt"), &probe_file(&text))?,
        "meta" => {
            small_files(out, bytes / 2560, &mut rng, &text)?;
        }
        "mixed" => {
            let small = small_files(out, bytes / 25_000, &mut rng, &text)?;
            let mut left = bytes.saturating_sub(small);
            let mut i = 0u64;
            while left > 0 {
                let len = (64 * 1024 + rng.below(4 * 1024 * 1024 - 64 * 1024)).min(left);
                left -= len;
                let (dir, data) = if i.is_multiple_of(2) {
                    ("bin", noise(&mut rng, len as usize))
                } else {
                    ("text", text.fill(&mut rng, len as usize))
                };
                write(
                    &out.join(format!("large/{dir}/g{:02}/{i:05}.dat", i % 7)),
                    &data,
                )?;
                i += 1;
            }
        }
        "random" => {
            // One file for random reads: segments of 1–128 KiB, alternately text and noise.
            let mut data = Vec::with_capacity(bytes as usize + 128 * 1024);
            let mut i = 0u64;
            while (data.len() as u64) < bytes {
                let len = 1024 + rng.below(127 * 1024) as usize;
                if i.is_multiple_of(2) {
                    data.extend_from_slice(&text.fill(&mut rng, len));
                } else {
                    data.extend_from_slice(&noise(&mut rng, len));
                }
                i += 1;
            }
            data.truncate(bytes as usize);
            write(&out.join("db.bin"), &data)?;
        }
        "tinyfiles" => {
            // BYTES files of 1–8 bytes, 500 per directory.
            for i in 0..bytes {
                let len = 1 + rng.below(8) as usize;
                let data = text.fill(&mut rng, len);
                write(&out.join(format!("t{:03}/f{i:05}", i / 500)), &data)?;
            }
        }
        "shared" => {
            // Source-tree-like: files of 1–16 KiB cut from one 2 MiB text pool, so content repeats
            // across files but never within one file's frame.
            let pool = text.fill(&mut Rng(0x0007_0001), 2 << 20);
            let mut total = 0u64;
            let mut i = 0u64;
            while total < bytes {
                let len = 1024 + rng.below(15 * 1024) as usize;
                let at = rng.below((pool.len() - len) as u64) as usize;
                write(
                    &out.join(format!("src/m{:02}/s{i:05}.rs", i % 40)),
                    &pool[at..at + len],
                )?;
                total += len as u64;
                i += 1;
            }
        }
        k => bail!("unknown tree kind {k} (mixed, meta, tiny, random, tinyfiles, shared)"),
    }
    Ok(())
}

/// Appends a custom section named `.debug_bench` of `bytes` bytes of text to module `input`.
pub fn pad_module(input: &Path, out: &Path, bytes: usize) -> Result<()> {
    use wasm_encoder::Section;
    let mut m = fs::read(input)?;
    let data = Text::new().fill(&mut Rng(7), bytes);
    wasm_encoder::CustomSection {
        name: ".debug_bench".into(),
        data: data.into(),
    }
    .append_to(&mut m);
    fs::write(out, m)?;
    Ok(())
}
