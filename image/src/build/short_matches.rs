//! LZ4 blocks re-encoded with their shortest matches spelled out as literals: fewer sequences for
//! the shim's decoder to step through, each of which costs about as much as a dozen bytes copied
//! (`Level::lz4_literal_matches` says how short; BENCHMARKS.md, P9).

use std::vec::Vec;

/// A literal run stays within the decoder's fast path (a token whose literal length is below 15,
/// copied 16 bytes at a time) when it has at most this many bytes.
const FAST_LITERALS: usize = 14;

/// One sequence of a block: its literals (at `pos` in the output, `lit` bytes) and the match after
/// them (`len` bytes at `off` back; `len` 0 for the last sequence, which has none).
#[derive(Clone, Copy)]
struct Seq {
    pos: usize,
    lit: usize,
    off: u16,
    len: usize,
}

/// A length's extension bytes from `src` at `*at` (after a nibble of 15).
fn more_length(src: &[u8], at: &mut usize) -> Option<usize> {
    let mut n = 0usize;
    loop {
        let b = *src.get(*at)?;
        *at += 1;
        n = n.checked_add(usize::from(b))?;
        if b != 255 {
            return Some(n);
        }
    }
}

/// The sequences of LZ4 block `src`, or `None` if it is malformed.
fn parse(src: &[u8]) -> Option<Vec<Seq>> {
    let (mut at, mut pos) = (0usize, 0usize);
    let mut seqs = Vec::new();
    while at < src.len() {
        let token = src[at];
        at += 1;
        let mut lit = usize::from(token >> 4);
        if lit == 15 {
            lit += more_length(src, &mut at)?;
        }
        at = at.checked_add(lit).filter(|&a| a <= src.len())?;
        if at == src.len() {
            seqs.push(Seq {
                pos,
                lit,
                off: 0,
                len: 0,
            });
            return Some(seqs);
        }
        let off = u16::from_le_bytes([*src.get(at)?, *src.get(at + 1)?]);
        at += 2;
        let mut len = usize::from(token & 15);
        if len == 15 {
            len += more_length(src, &mut at)?;
        }
        len += 4;
        seqs.push(Seq { pos, lit, off, len });
        pos += lit + len;
    }
    None
}

/// Appends a length's extension bytes for `n` (the part past a nibble of 15).
fn put_length(out: &mut Vec<u8>, mut n: usize) {
    while n >= 255 {
        out.push(255);
        n -= 255;
    }
    out.push(n as u8);
}

/// Appends one sequence whose literals are `raw[pos..pos + lit]`.
fn put(out: &mut Vec<u8>, raw: &[u8], s: Seq) {
    let lit_nibble = s.lit.min(15);
    let len_nibble = if s.len == 0 { 0 } else { (s.len - 4).min(15) };
    out.push((lit_nibble << 4 | len_nibble) as u8);
    if lit_nibble == 15 {
        put_length(out, s.lit - 15);
    }
    out.extend_from_slice(&raw[s.pos..s.pos + s.lit]);
    if s.len != 0 {
        out.extend_from_slice(&s.off.to_le_bytes());
        if len_nibble == 15 {
            put_length(out, s.len - 19);
        }
    }
}

/// LZ4 block `block` (which decodes to `raw`) with each match of at most `up_to` bytes turned
/// into literals where the literal run it joins stays within the fast path; `None` when nothing
/// changes or the block does not parse.
pub(super) fn merged(block: &[u8], raw: &[u8], up_to: usize) -> Option<Vec<u8>> {
    if up_to < 4 {
        return None;
    }
    let seqs = parse(block)?;
    let end = seqs.last().map(|s| s.pos + s.lit)?;
    if end != raw.len() {
        return None;
    }
    let mut out = Vec::with_capacity(block.len() + 64);
    let mut pending: Option<Seq> = None;
    let mut changed = false;
    for (i, s) in seqs.iter().enumerate() {
        // This sequence's literals, with the short matches merged into them so far.
        let mut cur = match pending.take() {
            Some(p) => Seq {
                pos: p.pos,
                lit: p.lit + s.lit,
                ..*s
            },
            None => *s,
        };
        let next_lit = seqs.get(i + 1).map_or(usize::MAX, |n| n.lit);
        if cur.len != 0
            && cur.len <= up_to
            && (cur.lit + cur.len).saturating_add(next_lit) <= FAST_LITERALS
        {
            cur.lit += cur.len;
            cur.len = 0;
            pending = Some(cur);
            changed = true;
            continue;
        }
        put(&mut out, raw, cur);
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::super::dict::{compress_lz4, Lz4Dict};
    use super::*;
    use crate::lz4::decode_block;

    /// Text with short repeats (words from a small vocabulary, numbers) and long ones (lines).
    fn text(n: usize, seed: u64) -> Vec<u8> {
        let words = [
            "let", "mut", "self", "fn", "x", "return", "value", "0", "1", "+=", "if",
        ];
        let mut x = seed;
        let mut out = Vec::new();
        while out.len() < n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.extend_from_slice(words[(x % words.len() as u64) as usize].as_bytes());
            out.push(if x.is_multiple_of(9) { b'\n' } else { b' ' });
        }
        out.truncate(n);
        out
    }

    #[test]
    fn a_hand_made_block_keeps_its_bytes_with_its_4_byte_match_as_literals() {
        // "abcdabcd" + "efgh0123456789": literals "abcd", a match of 4 at offset 4, then the
        // literals of the last sequence.
        let raw = b"abcdabcdefgh0123456789";
        let mut block = std::vec![0x40, b'a', b'b', b'c', b'd', 4, 0, 0xe0];
        block.extend_from_slice(b"efgh0123456789");
        let mut out = std::vec![0u8; raw.len()];
        decode_block(&block, &[], &mut out).unwrap();
        assert_eq!(&out, raw);
        // 4 + 4 + 14 literals would leave the fast path: kept.
        assert_eq!(merged(&block, raw, 6), None);
        let shorter = b"abcdabcdefgh";
        let mut block = std::vec![0x40, b'a', b'b', b'c', b'd', 4, 0, 0x40];
        block.extend_from_slice(b"efgh");
        let m = merged(&block, shorter, 6).expect("merged");
        assert_eq!(m[0], 0xc0, "one sequence of 12 literals");
        assert_eq!(&m[1..], shorter);
        assert_eq!(merged(&block, shorter, 0), None, "nothing to spell out");
        assert_eq!(merged(&block[..5], shorter, 6), None, "a truncated block");
    }

    #[test]
    fn blocks_with_short_matches_spelled_out_decode_to_the_same_bytes_in_fewer_sequences() {
        let dict_text = text(60 * 1024, 7);
        for up_to in [0, 4, 5, 6, 8] {
            let dict = Lz4Dict::new(&dict_text, 6, up_to).unwrap();
            let plain = Lz4Dict::new(&dict_text, 6, 0).unwrap();
            let (mut fewer, mut more_bytes) = (0, 0);
            for seed in 1..40u64 {
                let len = [4096, 4096, 1000, 17, 0][(seed % 5) as usize];
                let mut raw = text(len, seed);
                if seed.is_multiple_of(3) {
                    // Noise in the middle, a run of one byte at the end.
                    let mut x = seed;
                    for b in raw.iter_mut().skip(len / 3).take(len / 4) {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                        *b = (x >> 33) as u8;
                    }
                    for b in raw.iter_mut().rev().take(len / 8) {
                        *b = b'=';
                    }
                }
                let mut dst = std::vec![0u8; len + len / 255 + 16];
                let n = compress_lz4(&raw, &dict, &mut dst).unwrap();
                let mut out = std::vec![0u8; len];
                decode_block(
                    &dst[..n],
                    &dict_text[dict_text.len() - 60 * 1024..],
                    &mut out,
                )
                .unwrap();
                assert_eq!(out, raw, "up to {up_to}, seed {seed}");
                let mut base = std::vec![0u8; dst.len()];
                let b = compress_lz4(&raw, &plain, &mut base).unwrap();
                let count = |blk: &[u8]| parse(blk).map(|s| s.len());
                assert!(
                    count(&dst[..n]) <= count(&base[..b]),
                    "up to {up_to}, seed {seed}"
                );
                fewer += usize::from(count(&dst[..n]) < count(&base[..b]));
                more_bytes += n - b;
                if up_to < 4 {
                    assert_eq!(&dst[..n], &base[..b]);
                }
            }
            if up_to >= 4 {
                assert!(
                    fewer >= 10 && more_bytes > 0,
                    "up to {up_to}: {fewer} blocks shorter"
                );
            }
        }
    }
}
