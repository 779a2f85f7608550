//! Chunk decompression. In the shim (wasm32) this is zstd's own C reference decoder, decompress-only,
//! compiled by build.rs from `zstd-wasm/` with one static context and no allocator; on other targets
//! (host tests, tools) the same upstream zstd 1.5.7 through `zstd-safe`.

use crate::format::FormatError;

/// A reusable zstd decoder (on the host it keeps its context between chunks; in the shim the C
/// decoder's single context is static, so this is free to create).
pub struct Decoder {
    #[cfg(not(target_arch = "wasm32"))]
    inner: Option<zstd_safe::DCtx<'static>>,
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
    pub const fn new() -> Self {
        Decoder {
            #[cfg(not(target_arch = "wasm32"))]
            inner: None,
        }
    }

    /// Decompresses the zstd frame(s) in `stored` into `out`, returning the number of bytes written.
    /// Fails (never panics) on corrupt input or when `out` is too small. Memory use does not depend
    /// on the input: decoding is single-pass straight into `out`, whatever window the frame declares.
    #[cfg(target_arch = "wasm32")]
    pub fn decompress(&mut self, stored: &[u8], out: &mut [u8]) -> Result<usize, FormatError> {
        extern "C" {
            /// zstd-wasm/glue.c: bytes written to `dst`, or `usize::MAX` on any error.
            fn wasifs_zstd_decompress(
                dst: *mut u8,
                cap: usize,
                src: *const u8,
                len: usize,
            ) -> usize;
        }
        // SAFETY: the C decoder reads only `src[..len]`, writes only `dst[..cap]` and keeps no
        // pointer to either; its static context is never used re-entrantly (wasm32 without threads,
        // no callbacks).
        let n = unsafe {
            wasifs_zstd_decompress(out.as_mut_ptr(), out.len(), stored.as_ptr(), stored.len())
        };
        if n == usize::MAX {
            Err(FormatError::Decompress)
        } else {
            Ok(n)
        }
    }

    /// Decompresses the zstd frame(s) in `stored` into `out`, returning the number of bytes written.
    /// Fails (never panics) on corrupt input or when `out` is too small.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn decompress(&mut self, stored: &[u8], out: &mut [u8]) -> Result<usize, FormatError> {
        if self.inner.is_none() {
            self.inner = Some(zstd_safe::DCtx::try_create().ok_or(FormatError::Decompress)?);
        }
        let dctx = self.inner.as_mut().ok_or(FormatError::Decompress)?;
        dctx.decompress(out, stored)
            .map_err(|_| FormatError::Decompress)
    }
}

/// Decompresses the zstd frame(s) in `stored` into `out`, returning the number of bytes written.
pub fn decompress(stored: &[u8], out: &mut [u8]) -> Result<usize, FormatError> {
    Decoder::new().decompress(stored, out)
}
