//! Chunk decompression with the pure-Rust, no_std ruzstd decoder.

use crate::format::FormatError;
use ruzstd::decoding::FrameDecoder;

/// Smallest window the decoder accepts, whatever the output size (zstd's minimum is 1 KiB).
const MIN_WINDOW: u64 = 128 * 1024;

/// A reusable zstd decoder: keeps its buffers between chunks.
pub struct Decoder {
    inner: FrameDecoder,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Decoder")
    }
}

impl Decoder {
    /// A decoder that has not allocated anything yet.
    pub fn new() -> Self {
        Decoder {
            inner: FrameDecoder::new(),
        }
    }

    /// Decompresses the zstd frame(s) in `stored` into `out`, returning the number of bytes written.
    /// Fails (never panics) on corrupt input or when `out` is too small.
    pub fn decompress(&mut self, stored: &[u8], out: &mut [u8]) -> Result<usize, FormatError> {
        // A chunk never needs a window larger than itself: bound allocation on corrupt input.
        let window = core::cmp::max(out.len() as u64, MIN_WINDOW);
        self.inner.set_max_window_size(window);
        self.inner
            .decode_all(stored, out)
            .map_err(|_| FormatError::Decompress)
    }
}

/// Decompresses the zstd frame(s) in `stored` into `out`, returning the number of bytes written.
pub fn decompress(stored: &[u8], out: &mut [u8]) -> Result<usize, FormatError> {
    Decoder::new().decompress(stored, out)
}
