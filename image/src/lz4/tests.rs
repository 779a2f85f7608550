//! The LZ4 block decoder's tests: round trips of blocks lz4_flex encodes (with and without a dictionary), hand-made sequences at the fast paths' edges, and malformed or mutated input.

use super::*;
use crate::fuzz::Rng;
use alloc::vec;
use alloc::vec::Vec;

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
fn an_empty_input_is_one_zero_token_and_an_empty_block_is_an_error() {
    let block = round_trip(&[], &[]);
    assert_eq!(block, [0]);
    assert_eq!(
        decode_block(&[], &[], &mut []),
        Err(FormatError::Decompress)
    );
}

#[test]
fn short_incompressible_inputs_round_trip() {
    for len in [1, 2, 5, 12, 13, 15, 16, 100, 300] {
        round_trip(&random(len, len as u64 + 1), &[]);
    }
}

#[test]
fn runs_and_short_periods_round_trip_through_overlapping_matches() {
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
fn short_blocks_with_matches_near_the_fast_paths_room_decode_exactly() {
    // Outputs shorter than the fast path's room (34 bytes) and just past it, with matches.
    for len in 1..100 {
        let pat: Vec<u8> = b"abcdefghij".iter().copied().cycle().take(len).collect();
        round_trip(&pat, &[]);
        round_trip(&text(len, len as u64), &[]);
        let mut lit_then_match = random(len.min(14), 3);
        lit_then_match.extend_from_slice(&lit_then_match.clone());
        lit_then_match.extend(random(11, 4));
        round_trip(&lit_then_match, &[]);
    }
    // A hand-made 25-byte block: 10 literals, a 4-byte match 10 back, 11 last literals.
    let mut block = vec![0xA0];
    block.extend_from_slice(b"0123456789");
    block.extend_from_slice(&[10, 0, 0xB0]);
    block.extend_from_slice(b"abcdefghijk");
    let mut out = [0; 25];
    decode_block(&block, &[], &mut out).unwrap();
    assert_eq!(&out, b"01234567890123abcdefghijk");
}

#[test]
fn text_round_trips_and_compresses_to_under_half() {
    for (len, seed) in [(50, 1), (1000, 2), (4096, 3), (100_000, 4)] {
        let data = text(len, seed);
        let block = round_trip(&data, &[]);
        if len >= 1000 {
            assert!(block.len() < len / 2);
        }
    }
}

#[test]
fn chunks_of_mixed_content_round_trip() {
    for seed in 1..40 {
        round_trip(&mixed(seed), &[]);
    }
}

#[test]
fn matches_into_the_dictionary_and_across_its_end_decode_exactly() {
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
fn a_prefix_decode_stops_at_the_first_sequence_past_what_is_needed() {
    let dict = text(3000, 5);
    for (i, data) in [
        text(4096, 6),
        mixed(7),
        [&dict[100..2000], &mixed(8)].concat(),
    ]
    .iter()
    .enumerate()
    {
        let block = lz4_flex::block::compress_with_dict(data, &dict);
        for need in [0, 1, 17, 100, 2048, data.len() - 1, data.len(), usize::MAX] {
            let mut out = vec![0; data.len()];
            let got = decode_prefix(&block, &dict, &mut out, need).expect("valid block");
            assert!(
                got >= need.min(data.len()) && got <= data.len(),
                "{i}: {need} -> {got}"
            );
            assert_eq!(out[..got], data[..got], "{i}: {need}");
            if need < data.len() / 2 {
                assert!(got < data.len(), "{i}: stopped early for {need}");
            }
        }
    }
}

/// Appends a length's nibble overflow as LZ4 extension bytes (`n >= 15` after the nibble).
fn push_len(block: &mut Vec<u8>, n: usize) {
    if n >= 15 {
        let mut left = n - 15;
        while left >= 255 {
            block.push(255);
            left -= 255;
        }
        block.push(left as u8);
    }
}

/// Hand-made blocks of sequences (literals, offset, match length) with no parser's habits, and
/// what a byte-at-a-time decoder makes of them.
fn hand_made(seqs: &[(Vec<u8>, usize, usize)], dict: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut block, mut out) = (Vec::new(), Vec::new());
    for (lits, off, mlen) in seqs {
        let nib = |n: usize| n.min(15) as u8;
        block.push(nib(lits.len()) << 4 | nib(mlen - 4));
        push_len(&mut block, lits.len());
        block.extend_from_slice(lits);
        block.extend_from_slice(&(*off as u16).to_le_bytes());
        push_len(&mut block, mlen - 4);
        out.extend_from_slice(lits);
        for _ in 0..*mlen {
            let at = dict.len() + out.len() - off;
            let b = if at < dict.len() {
                dict[at]
            } else {
                out[at - dict.len()]
            };
            out.push(b);
        }
    }
    block.push(0); // the last sequence: no literals
    (block, out)
}

#[test]
fn long_matches_at_every_period_and_distance_from_the_end_decode_like_a_byte_copy() {
    let dict = text(200, 11);
    let mut r = Rng(12);
    for off in 1..=70 {
        for mlen in [19, 20, 31, 32, 33, 47, 100, 300] {
            for tail in 0..20 {
                // Literals to reach back into, the long match, then `tail` bytes of short
                // sequences (a match of 4 after 0-1 literals) before the block ends.
                let head = random(40, off as u64);
                let lits = r.below(16);
                let mut seqs = std::vec![(head, 30 + off.min(10), 4)];
                seqs.push((random(lits, mlen as u64), off, mlen));
                let mut left = tail;
                while left >= 4 {
                    let l = (left - 4).min(1);
                    seqs.push((random(l, left as u64), 1 + r.below(40), 4));
                    left -= 4 + l;
                }
                let (block, want) = hand_made(&seqs, &dict);
                let mut got = vec![0xAA; want.len()];
                decode_block(&block, &dict, &mut got).expect("valid block decodes");
                assert_eq!(got, want, "offset {off}, length {mlen}, tail {tail}");
            }
        }
    }
    // From the dictionary, wholly or reaching into the output.
    for off in [19, 20, 40, 60, 100, 150, 200, 230] {
        let (block, want) = hand_made(&[(random(30, 3), off, 60)], &dict);
        let mut got = vec![0; want.len()];
        decode_block(&block, &dict, &mut got).expect("valid block decodes");
        assert_eq!(got, want, "dictionary offset {off}");
    }
}

#[test]
fn malformed_blocks_are_errors_bad_offsets_truncations_and_wrong_lengths() {
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
fn mutated_blocks_decode_or_fail_without_panicking() {
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
        // Fewer under Miri (`cargo +nightly miri test -p wasifs-image --lib lz4`), which checks
        // the fast path's raw copies for undefined behaviour and runs ~1000× slower.
        for _ in 0..if cfg!(miri) { 6 } else { 200 } {
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
