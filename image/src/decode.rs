//! Chunk decompression. In the shim (wasm32) this is zstd's own C reference decoder, decompress-only,
//! compiled by build.rs from `zstd-wasm/` with one static context and no allocator; on other targets
//! (host tests, tools) the same upstream zstd 1.5.7 through `zstd-safe`.

use crate::format::FormatError;

#[cfg(target_arch = "wasm32")]
extern "C" {
    /// zstd-wasm/glue.c: decodes the frame at `src[..len]` into `dst[..cap]` a zstd block at a
    /// time until at least `want` bytes are out or the frame ends; the bytes written, or
    /// `usize::MAX` on any error.
    fn wasifs_zstd_decompress(
        dst: *mut u8,
        cap: usize,
        src: *const u8,
        len: usize,
        want: usize,
    ) -> usize;
    /// zstd-wasm/glue.c: `ZSTD_getFrameContentSize` (its two largest values: none).
    fn wasifs_zstd_content_size(src: *const u8, len: usize) -> u64;
}

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

    /// Decompresses the zstd frame in `stored` into `out`, returning the number of bytes written.
    /// Fails (never panics) on corrupt input or when `out` is too small. Memory use does not depend
    /// on the input: decoding is single-pass straight into `out`, whatever window the frame declares.
    pub fn decompress(&mut self, stored: &[u8], out: &mut [u8]) -> Result<usize, FormatError> {
        self.decompress_prefix(stored, out, usize::MAX)
    }

    /// Like [`Self::decompress`], but may stop once at least `want` bytes are out (after the zstd
    /// block holding byte `want - 1`; a shared block's frame has one every few KiB): reading one
    /// small file decodes its block only up to that file.
    #[cfg(target_arch = "wasm32")]
    pub fn decompress_prefix(
        &mut self,
        stored: &[u8],
        out: &mut [u8],
        want: usize,
    ) -> Result<usize, FormatError> {
        // SAFETY: the C decoder reads only `src[..len]`, writes only `dst[..cap]` and keeps no
        // pointer to either; its static context is never used re-entrantly (wasm32 without threads,
        // no callbacks).
        let n = unsafe {
            let (dst, cap) = (out.as_mut_ptr(), out.len());
            wasifs_zstd_decompress(dst, cap, stored.as_ptr(), stored.len(), want)
        };
        if n == usize::MAX {
            Err(FormatError::Decompress)
        } else {
            Ok(n)
        }
    }

    /// Like [`Self::decompress_prefix`], into `out`'s spare capacity (`out` is cleared first; its
    /// length becomes the bytes written): memory past them is never touched, so the pages of a
    /// large buffer are not faulted in for a short prefix.
    #[cfg(target_arch = "wasm32")]
    pub fn decompress_into(
        &mut self,
        stored: &[u8],
        out: &mut alloc::vec::Vec<u8>,
        want: usize,
    ) -> Result<usize, FormatError> {
        out.clear();
        // SAFETY: no slice over the spare capacity is made: the C decoder gets the pointer and
        // the capacity and writes only `dst[..cap]` (see `decompress_prefix`).
        let n = unsafe {
            let (dst, cap) = (out.as_mut_ptr(), out.capacity());
            wasifs_zstd_decompress(dst, cap, stored.as_ptr(), stored.len(), want)
        };
        if n > out.capacity() {
            return Err(FormatError::Decompress);
        }
        // SAFETY: the decoder wrote (initialised) bytes `0..n`, and `n` is within the capacity.
        unsafe { out.set_len(n) };
        Ok(n)
    }

    /// The uncompressed size the zstd frame in `stored` declares, if it declares one.
    #[cfg(target_arch = "wasm32")]
    pub fn content_size(stored: &[u8]) -> Option<u64> {
        // SAFETY: the C function reads only `src[..len]` and keeps no pointer to it.
        let n = unsafe { wasifs_zstd_content_size(stored.as_ptr(), stored.len()) };
        (n < u64::MAX - 1).then_some(n)
    }

    /// Like [`Self::decompress`], but may stop once at least `want` bytes are out (on the host:
    /// exactly at `want`, through zstd's streaming decoder).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn decompress_prefix(
        &mut self,
        stored: &[u8],
        out: &mut [u8],
        want: usize,
    ) -> Result<usize, FormatError> {
        if self.inner.is_none() {
            self.inner = Some(zstd_safe::DCtx::try_create().ok_or(FormatError::Decompress)?);
        }
        let dctx = self.inner.as_mut().ok_or(FormatError::Decompress)?;
        if want >= out.len() {
            return dctx
                .decompress(out, stored)
                .map_err(|_| FormatError::Decompress);
        }
        dctx.reset(zstd_safe::ResetDirective::SessionOnly)
            .map_err(|_| FormatError::Decompress)?;
        let mut output = zstd_safe::OutBuffer::around(&mut out[..want]);
        let mut input = zstd_safe::InBuffer::around(stored);
        loop {
            let before = (input.pos(), output.pos());
            let hint = dctx
                .decompress_stream(&mut output, &mut input)
                .map_err(|_| FormatError::Decompress)?;
            if hint == 0 || output.pos() == want {
                return Ok(output.pos());
            }
            if (input.pos(), output.pos()) == before {
                return Err(FormatError::Decompress);
            }
        }
    }

    /// Like [`Self::decompress_prefix`], into `out`'s capacity (`out` is cleared first; its length
    /// becomes the bytes written).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn decompress_into(
        &mut self,
        stored: &[u8],
        out: &mut alloc::vec::Vec<u8>,
        want: usize,
    ) -> Result<usize, FormatError> {
        out.clear();
        out.resize(out.capacity(), 0);
        let n = self.decompress_prefix(stored, out, want)?;
        out.truncate(n);
        Ok(n)
    }

    /// The uncompressed size the zstd frame in `stored` declares, if it declares one.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn content_size(stored: &[u8]) -> Option<u64> {
        zstd_safe::get_frame_content_size(stored).ok().flatten()
    }
}

/// Decompresses the zstd frame in `stored` into `out`, returning the number of bytes written.
pub fn decompress(stored: &[u8], out: &mut [u8]) -> Result<usize, FormatError> {
    Decoder::new().decompress(stored, out)
}
