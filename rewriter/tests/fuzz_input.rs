//! Fuzzing the rewriter on corrupted input modules (issue 8 item 9b): the fixtures of
//! `fixtures/bin` with bits flipped, cut short, or with a section length rewritten, fed to
//! `Rewriter::rewrite`. Every case must give a clear error or an output that validates, never a
//! panic. CI runs a bounded number of cases; `WASIFS_FUZZ_CASES=N` (and `WASIFS_FUZZ_SEED=S`) run
//! more, as `scripts/fuzz.sh` does.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};
use wasifs::{Error, Rewriter};
use wasifs_image::fuzz::{knobs, Rng};

/// Cases run by `cargo test` (a debug build takes a few seconds for these).
const CI_CASES: u64 = 200;
/// Seed when `WASIFS_FUZZ_SEED` is not set.
const DEFAULT_SEED: u64 = 0x5741_5349_4653_0001;

/// The fixtures (sorted by name, so a seed always means the same cases).
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/bin");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("fixtures/bin (rebuilt by scripts/build-fixtures.sh)")
        .map(|e| e.expect("fixture entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read fixture"))
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no fixtures in {}", dir.display());
    out
}

/// (offset of the size field, its length in bytes, payload length) of each top-level section.
fn sections(wasm: &[u8]) -> Vec<(usize, usize, u64)> {
    let mut out = Vec::new();
    let mut pos = 8;
    while pos < wasm.len() {
        let size_at = pos + 1;
        let (mut value, mut shift, mut len) = (0u64, 0, 0);
        loop {
            let Some(&b) = wasm.get(size_at + len) else {
                return out;
            };
            value |= u64::from(b & 0x7f) << shift;
            len += 1;
            shift += 7;
            if b & 0x80 == 0 || len == 5 {
                break;
            }
        }
        out.push((size_at, len, value));
        pos = size_at + len + value as usize;
    }
    out
}

/// `value` as an unsigned LEB128 padded to `len` bytes (1–5), as the size fields are written.
fn leb_padded(mut value: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        let mut b = (value & 0x7f) as u8;
        value >>= 7;
        if i + 1 < len {
            b |= 0x80;
        }
        out.push(b);
    }
    out
}

/// One corruption of `wasm`, and its name for the report.
fn mutate(rng: &mut Rng, wasm: &[u8]) -> (&'static str, Vec<u8>) {
    let mut m = wasm.to_vec();
    match rng.below(5) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(m.len());
                m[i] ^= 1 << rng.below(8);
            }
            ("bit flips", m)
        }
        1 => {
            m.truncate(rng.below(m.len()));
            ("truncation", m)
        }
        2 => {
            let secs = sections(wasm);
            if secs.is_empty() {
                m.truncate(8);
                return ("truncation", m);
            }
            let (at, len, size) = secs[rng.below(secs.len())];
            let new = match rng.below(4) {
                0 => size.saturating_add(1 + rng.below(16) as u64),
                1 => size.saturating_sub(1 + rng.below(16) as u64),
                2 => rng.next() % (1 << (7 * len.min(4))),
                _ => 0,
            };
            m.splice(at..at + len, leb_padded(new, len));
            ("section length", m)
        }
        3 => {
            // A section length written in another number of bytes: everything after shifts.
            let secs = sections(wasm);
            let Some(&(at, len, size)) = secs.get(rng.below(secs.len().max(1))) else {
                return ("truncation", m[..8.min(m.len())].to_vec());
            };
            let new_len = 1 + rng.below(5);
            let value = size.min((1u64 << (7 * new_len)) - 1);
            m.splice(at..at + len, leb_padded(value, new_len));
            ("section length width", m)
        }
        _ => {
            // A run of random bytes over a random place.
            let i = rng.below(m.len());
            let n = (1 + rng.below(32)).min(m.len() - i);
            for b in &mut m[i..i + n] {
                *b = rng.next() as u8;
            }
            ("random bytes", m)
        }
    }
}

#[derive(Default)]
struct Tally {
    valid_outputs: u64,
    errors: BTreeMap<&'static str, u64>,
    by_mutation: BTreeMap<&'static str, u64>,
    slowest: Duration,
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::Io { .. } => "io",
        Error::NotWasm { .. } => "not wasm",
        Error::Unsupported { .. } => "unsupported",
        Error::Invalid { .. } => "invalid",
        Error::Usage { .. } => "usage",
        Error::Mount { .. } => "mount",
        Error::Internal { .. } => "internal",
        _ => "other",
    }
}

#[test]
fn corrupted_input_modules_give_a_clear_error_or_a_valid_output_never_a_panic() {
    let (cases, seed) = knobs(CI_CASES, DEFAULT_SEED);
    let fixtures = fixtures();
    let rewriter = Rewriter::new().clamp_mtime(None);
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    let mut findings: Vec<String> = Vec::new();
    for case in 0..cases {
        let (name, wasm) = &fixtures[rng.below(fixtures.len())];
        let (mutation, bytes) = mutate(&mut rng, wasm);
        *tally.by_mutation.entry(mutation).or_default() += 1;
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| rewriter.rewrite(&bytes)));
        tally.slowest = tally.slowest.max(started.elapsed());
        let what = format!("case {case} (seed {seed:#x}): {name} with {mutation}");
        match result {
            Err(_) => findings.push(format!("{what}: panicked")),
            Ok(Ok(out)) => {
                let valid =
                    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
                        .validate_all(&out.bytes);
                match valid {
                    Ok(_) => tally.valid_outputs += 1,
                    Err(e) => findings.push(format!("{what}: output does not validate: {e}")),
                }
            }
            Ok(Err(e)) => {
                *tally.errors.entry(kind(&e)).or_default() += 1;
                let msg = e.to_string();
                if matches!(e, Error::Internal { .. }) {
                    findings.push(format!("{what}: internal error: {msg}"));
                } else if !msg.contains("<input module>") {
                    findings.push(format!("{what}: error does not name the input: {msg}"));
                }
            }
        }
    }
    eprintln!(
        "fuzz_input: {cases} cases (seed {seed:#x}) over {} fixtures; mutations {:?}; \
         {} valid outputs; errors {:?}; slowest case {:?}; {} findings",
        fixtures.len(),
        tally.by_mutation,
        tally.valid_outputs,
        tally.errors,
        tally.slowest,
        findings.len()
    );
    assert!(findings.is_empty(), "findings:\n{}", findings.join("\n"));
}
