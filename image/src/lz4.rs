//! A small, safe LZ4 *block* decoder with an external dictionary (no_std, no allocation).
//!
//! The block format: sequences of a token (high nibble: literal length, low nibble: match length
//! minus 4; 15 means "more length bytes follow", each added, until one below 255), the literals, a
//! 2-byte little-endian offset and the match length's extension bytes. The last sequence has
//! literals only: the block ends right after them.

use crate::format::FormatError;

/// Decodes the LZ4 block `src` into `dst`, whose length is the block's exact uncompressed length; a
/// match may reach back past `dst[0]` into `dict` (the bytes logically just before the output).
/// Errors (never panics, never reads or writes out of bounds) on any malformed block: truncated
/// input, an offset of 0 or reaching before the dictionary's start, output longer or shorter than
/// `dst`.
pub fn decode_block(src: &[u8], dict: &[u8], dst: &mut [u8]) -> Result<(), FormatError> {
    decode(src, dict, dst).ok_or(FormatError::Decompress)
}

/// [`decode_block`] with `None` for every error.
fn decode(src: &[u8], dict: &[u8], dst: &mut [u8]) -> Option<()> {
    let (mut s, mut d) = (0usize, 0usize); // read position in `src`, write position in `dst`
    loop {
        let token = *src.get(s)?;
        s += 1;
        // Literals.
        let n = read_len(src, &mut s, usize::from(token >> 4))?;
        let (s_end, d_end) = (s.checked_add(n)?, d.checked_add(n)?);
        // Short literals (most of them) as one 16-byte copy when both sides have the room: a
        // variable-length copy is a call to `memory.copy`, costly for a few bytes; the bytes
        // written past `d_end` are overwritten by what follows.
        let wild = n.next_multiple_of(16);
        if s + wild <= src.len() && d + wild <= dst.len() {
            copy_wild(dst, d, src.get(s..)?, n)?;
        } else {
            dst.get_mut(d..d_end)?.copy_from_slice(src.get(s..s_end)?);
        }
        (s, d) = (s_end, d_end);
        if s == src.len() {
            break; // the last sequence: literals only
        }
        // Match: offset, length.
        let off = usize::from(u16::from_le_bytes([*src.get(s)?, *src.get(s + 1)?]));
        s += 2;
        if off == 0 {
            return None;
        }
        let len = read_len(src, &mut s, usize::from(token & 15))?.checked_add(4)?;
        let wild = len.next_multiple_of(16);
        // A match at least 16 bytes back within the output: 16 bytes at a time, each copy's source
        // ending before its destination starts (bytes past the match are overwritten later).
        if off >= 16 && off <= d && d + wild <= dst.len() {
            let mut k = 0;
            while k < len {
                let mut w = [0u8; 16];
                w.copy_from_slice(dst.get(d - off + k..d - off + k + 16)?);
                copy16(dst, d + k, &w)?;
                k += 16;
            }
            d += len;
            continue;
        }
        // A match inside the dictionary (the first bytes of a chunk mostly): 16 bytes at a time
        // when the dictionary holds the rounded-up length from its start.
        if let Some(back) = off.checked_sub(d).filter(|&b| b >= wild) {
            if d + wild <= dst.len() {
                copy_wild(dst, d, dict.get(dict.len().checked_sub(back)?..)?, len)?;
                d += len;
                continue;
            }
        }
        // `head`: the output so far; `tail`: the match's output.
        let (head, tail) = dst.split_at_mut_checked(d)?;
        let tail = tail.get_mut(..len)?;
        // One period (`off` bytes, or fewer if the match is shorter): the bytes just before the
        // match, from the dictionary's end and/or the output so far.
        let from_dict = match off.checked_sub(d) {
            Some(back) => dict.get(dict.len().checked_sub(back)?..)?,
            None => &[],
        };
        let mut k = 0; // bytes of the match written
        for piece in [from_dict, head.get(d.saturating_sub(off)..)?] {
            let n = piece.len().min(len - k);
            tail.get_mut(k..k + n)?.copy_from_slice(piece.get(..n)?);
            k += n;
        }
        // Overlapping match (off < len): repeat the period, doubling the copied span each step (it
        // stays a multiple of `off`, so the pattern continues in phase).
        while k < len {
            let (done, rest) = tail.split_at_mut_checked(k)?;
            let n = k.min(rest.len());
            rest.get_mut(..n)?.copy_from_slice(done.get(..n)?);
            k += n;
        }
        d += len;
    }
    (d == dst.len()).then_some(())
}

/// Writes the 16 bytes of `from` at `dst[d..]` (a fixed-size copy: plain loads and stores).
#[inline(always)]
fn copy16(dst: &mut [u8], d: usize, from: &[u8]) -> Option<()> {
    let from: &[u8; 16] = from.try_into().ok()?;
    dst.get_mut(d..d + 16)?.copy_from_slice(from);
    Some(())
}

/// Copies `len` bytes of `from` to `dst[d..]` 16 at a time; both sides must hold `len` rounded up
/// to 16 (the bytes past `len` are overwritten by what is decoded next).
#[inline(always)]
fn copy_wild(dst: &mut [u8], d: usize, from: &[u8], len: usize) -> Option<()> {
    let mut k = 0;
    while k < len {
        copy16(dst, d + k, from.get(k..k + 16)?)?;
        k += 16;
    }
    Some(())
}

/// Reads a length whose token nibble is `n`: 15 means extension bytes follow, each added, until
/// one below 255.
fn read_len(src: &[u8], s: &mut usize, mut n: usize) -> Option<usize> {
    if n == 15 {
        loop {
            let b = *src.get(*s)?;
            *s += 1;
            n = n.checked_add(usize::from(b))?;
            if b != 255 {
                break;
            }
        }
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// A deterministic xorshift generator.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn random(len: usize, seed: u64) -> Vec<u8> {
        let mut r = Rng(seed);
        (0..len).map(|_| r.next() as u8).collect()
    }

    fn text(len: usize, seed: u64) -> Vec<u8> {
        const WORDS: [&str; 12] = [
            "the ",
            "filesystem ",
            "image ",
            "block ",
            "of ",
            "a ",
            "chunk ",
            "reader\n",
            "compressed ",
            "wasi ",
            "shim ",
            "and ",
        ];
        let mut r = Rng(seed);
        let mut out = Vec::new();
        while out.len() < len {
            out.extend_from_slice(WORDS[r.below(WORDS.len())].as_bytes());
        }
        out.truncate(len);
        out
    }

    /// 4 KiB of mixed content: runs, text, random bytes, short repeated patterns.
    fn mixed(seed: u64) -> Vec<u8> {
        let mut r = Rng(seed);
        let mut out = Vec::new();
        while out.len() < 4096 {
            let n = 1 + r.below(300);
            match r.below(4) {
                0 => out.extend(core::iter::repeat_n(r.next() as u8, n)),
                1 => out.extend(text(n, r.next() | 1)),
                2 => out.extend(random(n, r.next() | 1)),
                _ => {
                    let p = random(1 + r.below(7), r.next() | 1);
                    out.extend(p.iter().cycle().take(n));
                }
            }
        }
        out.truncate(4096);
        out
    }

    fn round_trip(data: &[u8], dict: &[u8]) -> Vec<u8> {
        let block = if dict.is_empty() {
            lz4_flex::block::compress(data)
        } else {
            lz4_flex::block::compress_with_dict(data, dict)
        };
        let mut out = vec![0xAA; data.len()];
        decode_block(&block, dict, &mut out).expect("valid block decodes");
        assert_eq!(out, data);
        // One byte too many or too few of output space: an error.
        let mut long = vec![0; data.len() + 1];
        assert_eq!(
            decode_block(&block, dict, &mut long),
            Err(FormatError::Decompress)
        );
        if !data.is_empty() {
            let mut short = vec![0; data.len() - 1];
            assert_eq!(
                decode_block(&block, dict, &mut short),
                Err(FormatError::Decompress)
            );
        }
        block
    }

    #[test]
    fn lz4_empty() {
        let block = round_trip(&[], &[]);
        assert_eq!(block, [0]);
        assert_eq!(
            decode_block(&[], &[], &mut []),
            Err(FormatError::Decompress)
        );
    }

    #[test]
    fn lz4_short_incompressible() {
        for len in [1, 2, 5, 12, 13, 15, 16, 100, 300] {
            round_trip(&random(len, len as u64 + 1), &[]);
        }
    }

    #[test]
    fn lz4_repetitive() {
        for len in [1, 13, 20, 100, 1000, 70_000] {
            let block = round_trip(&vec![7u8; len], &[]);
            if len >= 100 {
                assert!(block.len() < len / 10 + 12, "offset-1 matches were used");
            }
            for period in [2, 3, 4, 5, 7, 8, 9, 16, 17] {
                let pat = random(period, period as u64);
                let data: Vec<u8> = pat.iter().copied().cycle().take(len).collect();
                round_trip(&data, &[]);
            }
        }
    }

    #[test]
    fn lz4_text() {
        for (len, seed) in [(50, 1), (1000, 2), (4096, 3), (100_000, 4)] {
            let data = text(len, seed);
            let block = round_trip(&data, &[]);
            if len >= 1000 {
                assert!(block.len() < len / 2);
            }
        }
    }

    #[test]
    fn lz4_mixed_4k() {
        for seed in 1..40 {
            round_trip(&mixed(seed), &[]);
        }
    }

    #[test]
    fn lz4_dictionary() {
        // Matches that lie in the dictionary, and matches that start in it and run into the output.
        for (j, dict) in [random(3000, 9), text(3000, 9)].iter().enumerate() {
            for (i, data) in [
                dict[1000..1800].to_vec(),
                [&dict[2900..], &dict[2900..], &dict[..500]].concat(),
                [&dict[2990..], &random(40, 3)[..], &dict[2990..]].concat(),
                mixed(5),
                [&dict[..], &dict[..]].concat(),
            ]
            .iter()
            .enumerate()
            {
                let block = round_trip(data, dict);
                if i == 0 && j == 0 {
                    // Random data: only matches into the dictionary make it this small.
                    assert!(
                        block.len() < 100,
                        "matches in the dictionary: {}",
                        block.len()
                    );
                    // A different dictionary decodes to something else, or fails.
                    let mut out = vec![0; data.len()];
                    let other = vec![0; dict.len()];
                    let r = decode_block(&block, &other, &mut out);
                    assert!(r.is_err() || out != *data);
                }
            }
        }
        // A hand-made block: 2 literals "cd", then a match at offset 4 of length 8 starting two
        // bytes back in the dictionary "xyab": "abcd" repeated -> "cdabcdabcd"; then an empty last
        // sequence.
        let block = [0x24, b'c', b'd', 4, 0, 0x00];
        let mut out = [0; 10];
        decode_block(&block, b"xyab", &mut out).unwrap();
        assert_eq!(&out, b"cdabcdabcd");
        // The same match with a 1-byte period from the dictionary's last byte.
        let block = [0x03, 1, 0, 0x10, b'z'];
        let mut out = [0; 8];
        decode_block(&block, b"xyab", &mut out).unwrap();
        assert_eq!(&out, b"bbbbbbbz");
        // Each dictionary/data pair, also with a dictionary bigger than the window.
        let big = mixed(77).repeat(20);
        round_trip(&mixed(78), &big);
        round_trip(&big[..5000], &big);
    }

    #[test]
    fn lz4_malformed() {
        let err = Err(FormatError::Decompress);
        let mut out = [0; 16];
        // Offset 0.
        assert_eq!(
            decode_block(&[0x10, b'a', 0, 0, 0x10, b'b'], &[], &mut out[..6]),
            err
        );
        // Offset reaching before the output (no dictionary) / before the dictionary.
        assert_eq!(
            decode_block(&[0x10, b'a', 2, 0, 0x10, b'b'], &[], &mut out[..6]),
            err
        );
        assert_eq!(
            decode_block(&[0x10, b'a', 4, 0, 0x10, b'b'], b"xy", &mut out[..6]),
            err
        );
        assert_eq!(
            decode_block(&[0x10, b'a', 3, 0, 0x10, b'b'], b"xy", &mut out[..6]),
            Ok(())
        );
        assert_eq!(&out[..6], b"axyaxb");
        // Literal length past the input's end, also through extension bytes.
        assert_eq!(decode_block(&[0x30, b'a', b'b'], &[], &mut out[..3]), err);
        assert_eq!(decode_block(&[0xF0, 1, b'a'], &[], &mut out), err);
        assert_eq!(decode_block(&[0xF0, 255], &[], &mut out), err);
        // Truncated offset, truncated match length extension.
        assert_eq!(decode_block(&[0x10, b'a', 1], &[], &mut out), err);
        assert_eq!(decode_block(&[0x1F, b'a', 1, 0], &[], &mut out), err);
        // Output too long / too short for `dst`.
        assert_eq!(
            decode_block(&[0x10, b'a', 1, 0, 0x10, b'b'], &[], &mut out[..5]),
            err
        );
        assert_eq!(
            decode_block(&[0x10, b'a', 1, 0, 0x10, b'b'], &[], &mut out[..7]),
            err
        );
        assert_eq!(
            decode_block(&[0x50, 1, 2, 3, 4, 5], &[], &mut out[..4]),
            err
        );
        assert_eq!(decode_block(&[0x30, 1, 2, 3], &[], &mut out[..4]), err);
        // A huge length (extension bytes summing past the output) is an error, not an overflow.
        let mut huge = vec![0x1F, b'a', 1, 0];
        huge.extend(core::iter::repeat_n(255, 10_000));
        huge.push(0);
        assert_eq!(decode_block(&huge, &[], &mut out), err);
    }

    #[test]
    fn lz4_mutations_never_panic() {
        let dict = text(2000, 11);
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        for i in 0..60u64 {
            let data = match i % 3 {
                0 => mixed(i + 100),
                1 => text(500 + 37 * i as usize, i + 1),
                _ => [&dict[..300], &mixed(i)[..1000]].concat(),
            };
            let d: &[u8] = if i % 2 == 0 { &dict } else { &[] };
            let block = lz4_flex::block::compress_with_dict(&data, d);
            let mut out = vec![0; data.len()];
            assert_eq!(decode_block(&block, d, &mut out), Ok(()));
            assert_eq!(out, data);
            for _ in 0..200 {
                let mut m = block.clone();
                match r.below(3) {
                    0 => m.truncate(r.below(block.len())),
                    1 => {
                        for _ in 0..1 + r.below(4) {
                            let at = r.below(m.len());
                            m[at] ^= 1 << r.below(8);
                        }
                    }
                    _ => {
                        let at = r.below(m.len());
                        m[at] = r.next() as u8;
                    }
                }
                // Any outcome but a panic; also with a shorter/longer output and other dictionaries.
                let _ = decode_block(&m, d, &mut out);
                let _ = decode_block(&m, &[], &mut out);
                let _ = decode_block(&m, &dict[..10], &mut out[..data.len() / 2]);
                let mut more = vec![0; data.len() + 64];
                let _ = decode_block(&m, d, &mut more);
            }
        }
    }
}
