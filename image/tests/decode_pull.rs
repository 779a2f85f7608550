//! The decoder pulls a frame's compressed bytes from the image a zstd block at a time: decoding
//! the start of a multi-block frame reads only the start of it, and truncated or corrupt frames
//! are errors.

use std::cell::Cell;

use wasifs_image::decode::Decoder;
use wasifs_image::reader::Source;
use zstd::zstd_safe::{self, CCtx, InBuffer, OutBuffer};

/// An in-memory image that remembers the furthest byte read.
struct Counting<'a> {
    bytes: &'a [u8],
    end: Cell<u32>,
}

impl Source for Counting<'_> {
    fn len(&self) -> u32 {
        self.bytes.len() as u32
    }

    fn read_at(&self, offset: u32, dst: &mut [u8]) {
        let end = offset + dst.len() as u32;
        self.end.set(self.end.get().max(end));
        dst.copy_from_slice(&self.bytes[offset as usize..end as usize]);
    }
}

/// `raw` as one frame with a zstd block ending at every `every` bytes (like a shared block).
fn frame(raw: &[u8], every: usize) -> Vec<u8> {
    let mut cctx = CCtx::create();
    cctx.set_pledged_src_size(Some(raw.len() as u64)).unwrap();
    let mut dst = vec![0u8; raw.len() + 1024];
    let mut output = OutBuffer::around(&mut dst[..]);
    for (k, piece) in raw.chunks(every).enumerate() {
        let last = (k + 1) * every >= raw.len();
        let directive = if last {
            zstd_safe::zstd_sys::ZSTD_EndDirective::ZSTD_e_end
        } else {
            zstd_safe::zstd_sys::ZSTD_EndDirective::ZSTD_e_flush
        };
        let mut input = InBuffer::around(piece);
        while cctx
            .compress_stream2(&mut output, &mut input, directive)
            .unwrap()
            != 0
            || input.pos() < piece.len()
        {}
    }
    let n = output.pos();
    dst.truncate(n);
    dst
}

/// Text-like bytes that compress, but not to nothing.
fn raw(n: usize) -> Vec<u8> {
    let mut x = 1u32;
    (0..n)
        .map(|i| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            if i % 7 == 0 {
                b' '
            } else {
                b'a' + (x >> 16) as u8 % 8
            }
        })
        .collect()
}

#[test]
fn decoding_the_start_of_a_frame_reads_only_the_blocks_it_needs() {
    let raw = raw(80_000);
    let stored = frame(&raw, 10_000);
    // The frame sits at an offset in the image, after other bytes.
    let mut image = vec![9u8; 100];
    image.extend_from_slice(&stored);
    let src = Counting {
        bytes: &image,
        end: Cell::new(0),
    };
    let mut scratch = Vec::new();
    let mut out = Vec::with_capacity(raw.len());
    let got = Decoder::new()
        .decompress_into(
            &src,
            (100, stored.len() as u32),
            &[],
            &mut scratch,
            &mut out,
            5_000,
        )
        .unwrap();
    assert!(
        (5_000..=10_000).contains(&got),
        "stopped after the first block: {got}"
    );
    assert_eq!(out[..], raw[..got]);
    let read = src.end.get() - 100;
    assert!(
        (read as usize) < stored.len() / 4,
        "read {read} of {} compressed bytes",
        stored.len()
    );
    assert!(
        scratch.len() < stored.len() / 4,
        "the buffer holds one block"
    );

    // All of it, with the same buffers.
    let got = Decoder::new()
        .decompress_into(
            &src,
            (100, stored.len() as u32),
            &[],
            &mut scratch,
            &mut out,
            usize::MAX,
        )
        .unwrap();
    assert_eq!(got, raw.len());
    assert_eq!(out, raw);
    assert_eq!(src.end.get() as usize, image.len());
}

#[test]
fn a_truncated_or_corrupt_frame_or_too_small_a_buffer_is_an_error() {
    let raw = raw(30_000);
    let stored = frame(&raw, 10_000);
    let mut d = Decoder::new();
    let mut out = vec![0u8; raw.len()];
    for cut in [0, 3, 5, 20, stored.len() / 2, stored.len() - 1] {
        assert!(
            d.decompress(&stored[..cut], &mut out).is_err(),
            "cut at {cut}"
        );
    }
    assert!(d.decompress(&stored, &mut out[..raw.len() - 1]).is_err());
    let mut bad = stored.clone();
    for b in &mut bad[20..] {
        *b ^= 0x5a;
    }
    assert!(d.decompress(&bad, &mut out).is_err());
    assert_eq!(d.decompress(&stored, &mut out), Ok(raw.len()));
}
