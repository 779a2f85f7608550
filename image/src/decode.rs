//! Chunk decompression. In the shim (wasm32) this is zstd's own C reference decoder, decompress-only,
//! compiled by build.rs from `zstd-wasm/` with one static context and no allocator; on other targets
//! (host tests, tools) the same upstream zstd 1.5.7 through `zstd-safe`. Either way the compressed
//! bytes are pulled from a [`Source`] a step (a zstd block) at a time, just before they are decoded,
//! so decoding the start of a frame reads only the start of it.

use crate::format::FormatError;
use crate::reader::Source;
use alloc::vec::Vec;

#[cfg(target_arch = "wasm32")]
extern "C" {
    /// zstd-wasm/glue.c: starts decoding a frame compressed against the raw-content dictionary
    /// `dict[..len]` (none when `len` is 0); 0, or `usize::MAX` on error.
    fn wasifs_zstd_begin_prefix(dict: *const u8, len: usize) -> usize;
    /// zstd-wasm/glue.c: the exact number of compressed bytes the next step takes; 0 at the end.
    fn wasifs_zstd_next() -> usize;
    /// zstd-wasm/glue.c: decodes one step (`src[..len]`) into `dst[..cap]`; the bytes written, or
    /// `usize::MAX` on any error.
    fn wasifs_zstd_continue(dst: *mut u8, cap: usize, src: *const u8, len: usize) -> usize;
    /// zstd-wasm/glue.c: `ZSTD_getFrameContentSize` (its two largest values: none).
    fn wasifs_zstd_content_size(src: *const u8, len: usize) -> u64;
}

/// Compressed bytes the host decoder is first given: a frame header's fixed prefix
/// (`ZSTD_FRAMEHEADERSIZE_PREFIX`); after that it says how many it wants next.
#[cfg(not(target_arch = "wasm32"))]
const FIRST_PULL: usize = 5;

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

/// The first `n` bytes of `buf`, grown (zero-filled) to at least `n` bytes first: a reused buffer
/// is zeroed only where it grows.
fn window(buf: &mut Vec<u8>, n: usize) -> Result<&mut [u8], FormatError> {
    let len = buf.len();
    if len < n {
        buf.try_reserve_exact(n - len)
            .map_err(|_| FormatError::NoMemory)?;
        // SAFETY: `try_reserve_exact` succeeded, so the capacity is at least `n`; bytes `len..n`
        // are zeroed before the length covers them (`Vec::resize` would bring a panic path).
        unsafe {
            core::ptr::write_bytes(buf.as_mut_ptr().add(len), 0, n - len);
            buf.set_len(n);
        }
    }
    buf.get_mut(..n).ok_or(FormatError::Decompress)
}

/// Reads `n` bytes of the frame at `off` in `src` (of `len` bytes), from its byte `pos`, into
/// `scratch`: fails when the frame has fewer left.
fn pull<'a, S: Source + ?Sized>(
    src: &S,
    (off, len, pos): (u32, u32, u32),
    scratch: &'a mut Vec<u8>,
    n: usize,
) -> Result<&'a mut [u8], FormatError> {
    if n > (len - pos) as usize {
        return Err(FormatError::Decompress);
    }
    let at = off.checked_add(pos).ok_or(FormatError::Decompress)?;
    let buf = window(scratch, n)?;
    src.read_at(at, buf);
    Ok(buf)
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
    /// Fails (never panics) on corrupt input or when `out` is too small.
    pub fn decompress(&mut self, stored: &[u8], out: &mut [u8]) -> Result<usize, FormatError> {
        self.decompress_prefix(stored, out, usize::MAX)
    }

    /// Like [`Self::decompress`], but may stop once at least `want` bytes are out (after the zstd
    /// block holding byte `want - 1`; a shared block's frame has one every few KiB).
    pub fn decompress_prefix(
        &mut self,
        stored: &[u8],
        out: &mut [u8],
        want: usize,
    ) -> Result<usize, FormatError> {
        let len = u32::try_from(stored.len()).map_err(|_| FormatError::Decompress)?;
        self.decompress_from(&stored, 0, len, &mut Vec::new(), out, want)
    }

    /// Like [`Self::decompress_prefix`] for the frame of `len` bytes at `off` in `src`, which is
    /// read a zstd block at a time into `scratch` (reused; it grows to the largest block) just
    /// before that block is decoded: reading one small file reads only the start of its block.
    pub fn decompress_from<S: Source + ?Sized>(
        &mut self,
        src: &S,
        off: u32,
        len: u32,
        scratch: &mut Vec<u8>,
        out: &mut [u8],
        want: usize,
    ) -> Result<usize, FormatError> {
        // SAFETY: `out` is a live, writable slice of `out.len()` bytes.
        unsafe {
            self.run(
                src,
                (off, len),
                &[],
                scratch,
                out.as_mut_ptr(),
                out.len(),
                want,
            )
        }
    }

    /// Like [`Self::decompress_from`], into `out`'s spare capacity (`out` is cleared first; its
    /// length becomes the bytes written): in the shim, memory past them is never touched, so the
    /// pages of a large buffer are not faulted in for a short prefix. `dict` is the raw-content
    /// dictionary the frame was compressed against (empty: none).
    pub fn decompress_into<S: Source + ?Sized>(
        &mut self,
        src: &S,
        (off, len): (u32, u32),
        dict: &[u8],
        scratch: &mut Vec<u8>,
        out: &mut Vec<u8>,
        want: usize,
    ) -> Result<usize, FormatError> {
        out.clear();
        #[cfg(not(target_arch = "wasm32"))]
        out.resize(out.capacity(), 0);
        // SAFETY: the decoder writes only `dst[..cap]`, within `out`'s allocation (its spare
        // capacity; on the host, its zeroed length).
        let n = unsafe {
            self.run(
                src,
                (off, len),
                dict,
                scratch,
                out.as_mut_ptr(),
                out.capacity(),
                want,
            )
        };
        #[cfg(not(target_arch = "wasm32"))]
        out.clear();
        // SAFETY: the decoder wrote (initialised) bytes `0..n`, and `run` never reports more than
        // the capacity it was given.
        unsafe { out.set_len(n?) };
        Ok(out.len())
    }

    /// The uncompressed size the zstd frame in `stored` declares, if it declares one.
    #[cfg(target_arch = "wasm32")]
    pub fn content_size(stored: &[u8]) -> Option<u64> {
        // SAFETY: the C function reads only `src[..len]` and keeps no pointer to it.
        let n = unsafe { wasifs_zstd_content_size(stored.as_ptr(), stored.len()) };
        (n < u64::MAX - 1).then_some(n)
    }

    /// The uncompressed size the zstd frame in `stored` declares, if it declares one.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn content_size(stored: &[u8]) -> Option<u64> {
        zstd_safe::get_frame_content_size(stored).ok().flatten()
    }

    /// Decodes the frame at `off..off + len` in `src` into `dst[..cap]` a zstd block at a time,
    /// stopping once at least `want` bytes are out or at the end of the frame; each step's input is
    /// read into `scratch` just before it is decoded. Every step consumes input, so a corrupt
    /// frame ends in an error, never a loop.
    ///
    /// # Safety
    /// `dst[..cap]` must be writable memory.
    #[cfg(target_arch = "wasm32")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn run<S: Source + ?Sized>(
        &mut self,
        src: &S,
        (off, len): (u32, u32),
        dict: &[u8],
        scratch: &mut Vec<u8>,
        dst: *mut u8,
        cap: usize,
        want: usize,
    ) -> Result<usize, FormatError> {
        // SAFETY (all calls): the C decoder reads only `src[..len]`, writes only `dst[..cap]` and
        // keeps no pointer to either; its static context is never used re-entrantly (wasm32
        // without threads, no callbacks).
        if wasifs_zstd_begin_prefix(dict.as_ptr(), dict.len()) != 0 {
            return Err(FormatError::Decompress);
        }
        let (mut pos, mut out) = (0u32, 0usize);
        while out < want {
            let n = wasifs_zstd_next();
            if n == 0 {
                break;
            }
            let buf = pull(src, (off, len, pos), scratch, n)?;
            let r = wasifs_zstd_continue(dst.add(out), cap - out, buf.as_ptr(), n);
            if r > cap - out {
                // `usize::MAX`: an error.
                return Err(FormatError::Decompress);
            }
            pos += n as u32;
            out += r;
        }
        Ok(out)
    }

    /// Host twin of the shim's `run` (zstd's streaming decoder, fed what it asks for next): the
    /// same result, the same input pulled on demand, and it may stop exactly at `want`.
    ///
    /// # Safety
    /// `dst[..cap]` must be writable, initialised memory.
    #[cfg(not(target_arch = "wasm32"))]
    #[allow(clippy::too_many_arguments)]
    unsafe fn run<S: Source + ?Sized>(
        &mut self,
        src: &S,
        (off, len): (u32, u32),
        dict: &[u8],
        scratch: &mut Vec<u8>,
        dst: *mut u8,
        cap: usize,
        want: usize,
    ) -> Result<usize, FormatError> {
        let err = |_| FormatError::Decompress;
        // SAFETY: the caller's contract.
        let out = core::slice::from_raw_parts_mut(dst, core::cmp::min(want, cap));
        if dict.is_empty() {
            if self.inner.is_none() {
                self.inner = Some(zstd_safe::DCtx::try_create().ok_or(FormatError::Decompress)?);
            }
            let dctx = self.inner.as_mut().ok_or(FormatError::Decompress)?;
            dctx.reset(zstd_safe::ResetDirective::SessionOnly)
                .map_err(err)?;
            stream(dctx, src, (off, len), scratch, out, want < cap)
        } else {
            // A dictionary is referenced for one frame by a context that lives no longer than it.
            let mut dctx = zstd_safe::DCtx::try_create().ok_or(FormatError::Decompress)?;
            dctx.ref_prefix(dict).map_err(err)?;
            stream(&mut dctx, src, (off, len), scratch, out, want < cap)
        }
    }
}

/// Decodes the frame at `off..off + len` in `src` with `dctx` into `out`, pulling input as the
/// decoder asks for it; returns once `out` is full when `early`, else at the end of the frame.
#[cfg(not(target_arch = "wasm32"))]
fn stream<S: Source + ?Sized>(
    dctx: &mut zstd_safe::DCtx<'_>,
    src: &S,
    (off, len): (u32, u32),
    scratch: &mut Vec<u8>,
    out: &mut [u8],
    early: bool,
) -> Result<usize, FormatError> {
    let want = out.len();
    let mut output = zstd_safe::OutBuffer::around(out);
    let (mut pos, mut n) = (0u32, FIRST_PULL);
    loop {
        let n_now = core::cmp::min(n, (len - pos) as usize);
        if n_now == 0 {
            return Err(FormatError::Decompress);
        }
        let buf = pull(src, (off, len, pos), scratch, n_now)?;
        let mut input = zstd_safe::InBuffer::around(buf);
        loop {
            let before = (input.pos(), output.pos());
            n = dctx
                .decompress_stream(&mut output, &mut input)
                .map_err(|_| FormatError::Decompress)?;
            if n == 0 || (early && output.pos() == want) {
                return Ok(output.pos());
            }
            if input.pos() == n_now {
                break;
            }
            if (input.pos(), output.pos()) == before {
                return Err(FormatError::Decompress);
            }
        }
        pos += n_now as u32;
    }
}

/// Decompresses the zstd frame in `stored` into `out`, returning the number of bytes written.
pub fn decompress(stored: &[u8], out: &mut [u8]) -> Result<usize, FormatError> {
    Decoder::new().decompress(stored, out)
}
