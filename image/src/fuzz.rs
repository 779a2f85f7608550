//! What the fuzz targets share (image reader, rewriter input, wasm-smith, shim paths): one seeded
//! generator and the `WASIFS_FUZZ_CASES` / `WASIFS_FUZZ_SEED` knobs that `scripts/fuzz.sh` sets.

/// splitmix64: small, fast, and the same sequence everywhere for a seed.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// `len` bytes of text: words drawn at random from 256 made-up ones, compressible, yet no 64
    /// bytes of it repeat elsewhere in it or in another seed's (test trees of files sharing text).
    pub fn words(&mut self, len: usize) -> std::vec::Vec<u8> {
        let mut v = std::vec::Vec::with_capacity(len + 9);
        while v.len() < len {
            let b = self.next() as u8;
            let letters = 3 + (b % 6) as usize;
            v.extend((0..letters).map(|k| b'a' + (b as usize * 7 + k * 13) as u8 % 26));
            v.push(b' ');
        }
        v.truncate(len);
        v
    }

    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `pct` percent.
    pub fn pct(&mut self, pct: usize) -> bool {
        self.below(100) < pct
    }

    /// One element of `v` (not empty).
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// How many cases to run and from which seed: `WASIFS_FUZZ_CASES` and `WASIFS_FUZZ_SEED` (decimal
/// or `0x` hex) when set, else the target's own defaults (its bounded CI run).
#[cfg(feature = "std")]
pub fn knobs(default_cases: u64, default_seed: u64) -> (u64, u64) {
    (
        env_u64("WASIFS_FUZZ_CASES").unwrap_or(default_cases),
        env_u64("WASIFS_FUZZ_SEED").unwrap_or(default_seed),
    )
}

#[cfg(feature = "std")]
fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}
