//! zstd compression contexts through zstd's C API: frames whose blocks end at given offsets, and raw-content dictionaries prepared once (their tables built a single time) and referenced by the context of every thread that compresses against them.

use core::ffi::c_void;
use core::ptr::NonNull;
use std::io;
use std::sync::Arc;
use std::vec::Vec;

use zstd::zstd_safe::zstd_sys as sys;
use zstd::zstd_safe::zstd_sys::ZSTD_cParameter as P;

use super::BuildError;
use crate::format::WHOLE_CHUNK_LOG2;

/// Largest hash and chain tables a dictionary's contexts get, as a log2 of their entries
/// (measured on a 2 MiB dictionary: 2^19 within 0.5 % of 2^20–2^21's images, Python's tree packed
/// in 187 ms against 217–244 ms; 2^18: +0.6 % on tokio and libc).
const MAX_TABLE_LOG: u32 = 19;

/// The least window log a dictionary is prepared with ([`Dict::new`]): each input compressed
/// against it then gets hash and chain tables of at least 2^16 and 2^15 entries (384 KiB, within a
/// core's L2 cache beside the dictionary's), level 3's own for a 128 KiB block. Measured on Perl's
/// tree, image against the dictionary's sizes (2^18, 2^17): +0.09 % at level 3, +0.14 % at
/// level 1 (whose own tables for 128 KiB, 2^13, cost +5.4 %); 4–14 % less CPU for the rewrite of a
/// tree given the dictionary (bench/NOTES.md).
const MIN_INPUT_WINDOW_LOG: u32 = 15;

/// The error of a failed zstd call, or the call's result.
fn check(code: usize) -> Result<usize, BuildError> {
    // SAFETY: a pure function of its argument.
    match unsafe { sys::ZSTD_isError(code) } {
        0 => Ok(code),
        _ => Err(BuildError::Compress(io::Error::other(
            zstd::zstd_safe::get_error_name(code),
        ))),
    }
}

/// The error of a zstd allocation that returned null.
fn out_of_memory() -> BuildError {
    BuildError::Compress(io::Error::from(io::ErrorKind::OutOfMemory))
}

/// Compression parameters: a level, and for a dictionary of `dict_len` bytes (when there is one)
/// hash and chain tables of at least as many entries as it has bytes (up to 2^[`MAX_TABLE_LOG`])
/// and a window that holds it and a chunk. At level 3's own sizes (tables of 2^17 and 2^16
/// entries, a 2 MiB window) the end of a large dictionary overwrites most of what the tables hold
/// of its start, and one as long as the window is dropped: `regex-syntax`'s 43 files, all of them
/// the dictionary, cost 128 KB stored against it that way, and 1.2 KB with tables of 2^20 and a
/// 4 MiB window.
struct Params(NonNull<sys::ZSTD_CCtx_params>);

impl Params {
    /// The parameters at `level`, against a dictionary of `dict_len` bytes if any.
    fn new(level: i32, dict_len: Option<usize>) -> Result<Params, BuildError> {
        // SAFETY: allocation; null is handled.
        let p = NonNull::new(unsafe { sys::ZSTD_createCCtxParams() }).ok_or_else(out_of_memory)?;
        let params = Params(p);
        // SAFETY: `p` is a live parameter set (freed by `Drop`).
        check(unsafe { sys::ZSTD_CCtxParams_init(p.as_ptr(), level) })?;
        let Some(len) = dict_len else {
            return Ok(params);
        };
        // SAFETY: a pure function of its arguments (the level's parameters for inputs of unknown
        // size against a dictionary of this length).
        let own = unsafe { sys::ZSTD_getCParams(level, 0, len) };
        let bits = (len.max(2).ilog2() + 1).min(MAX_TABLE_LOG);
        let window = (len + (1 << WHOLE_CHUNK_LOG2)).ilog2() + 1;
        let attach = sys::ZSTD_dictAttachPref_e::ZSTD_dictForceAttach as u32;
        for (param, value) in [
            (P::ZSTD_c_hashLog, own.hashLog.max(bits)),
            (P::ZSTD_c_chainLog, own.chainLog.max(bits)),
            (P::ZSTD_c_windowLog, own.windowLog.max(window)),
            // zstd's `ZSTD_c_forceAttachDict`: each frame references the dictionary's tables
            // in place instead of copying them.
            (P::ZSTD_c_experimentalParam4, attach),
        ] {
            // SAFETY: as above; the values are within zstd's bounds (checked by it).
            check(unsafe { sys::ZSTD_CCtxParams_setParameter(p.as_ptr(), param, value as i32) })?;
        }
        Ok(params)
    }
}

impl Drop for Params {
    fn drop(&mut self) {
        // SAFETY: made by `ZSTD_createCCtxParams`, freed once.
        unsafe { sys::ZSTD_freeCCtxParams(self.0.as_ptr()) };
    }
}

/// A raw-content dictionary with its match tables built, at one level; read-only once made, so
/// every thread's [`Context`] references the same one.
pub(super) struct Dict {
    cdict: NonNull<sys::ZSTD_CDict>,
    level: i32,
    len: usize,
}

// SAFETY: zstd never writes to a CDict after creating it; contexts only read it, from any thread.
unsafe impl Send for Dict {}
// SAFETY: as above.
unsafe impl Sync for Dict {}

impl Dict {
    /// `raw` (copied) prepared for compression at `level` of inputs up to `input_len` bytes: its
    /// tables are built here.
    ///
    /// Its window log is what sizes the tables of each input compressed against it: zstd gives an
    /// input that references a dictionary's tables (`forceAttachDict`) hash and chain tables of at
    /// most 2^(w+1) and 2^w entries for the dictionary's window log w (not the context's, which
    /// still spans dictionary and input). Left at the dictionary's size, a 128 KiB block got
    /// tables of 2^18 and 2^17 entries, which missed the cache on every position searched; now it
    /// gets what zstd gives an input of `input_len` at this level, and at least
    /// 2^([`MIN_INPUT_WINDOW_LOG`] + 1) and 2^[`MIN_INPUT_WINDOW_LOG`].
    pub(super) fn new(raw: &[u8], level: i32, input_len: usize) -> Result<Arc<Dict>, BuildError> {
        let params = Params::new(level, Some(raw.len()))?;
        // SAFETY: a pure function of its arguments (the level's parameters for an input of this
        // size alone).
        let input = unsafe { sys::ZSTD_getCParams(level, input_len as u64, 0) };
        let window = input
            .chainLog
            .max(input.hashLog.saturating_sub(1))
            .max(MIN_INPUT_WINDOW_LOG);
        // SAFETY: `params` is live; zstd checks the value against its bounds.
        check(unsafe {
            sys::ZSTD_CCtxParams_setParameter(params.0.as_ptr(), P::ZSTD_c_windowLog, window as i32)
        })?;
        let mem = sys::ZSTD_customMem {
            customAlloc: None,
            customFree: None,
            opaque: core::ptr::null_mut(),
        };
        // SAFETY: `raw` is valid for its length during the call (copied), `params` is live.
        let cdict = unsafe {
            sys::ZSTD_createCDict_advanced2(
                raw.as_ptr().cast::<c_void>(),
                raw.len(),
                sys::ZSTD_dictLoadMethod_e::ZSTD_dlm_byCopy,
                sys::ZSTD_dictContentType_e::ZSTD_dct_rawContent,
                params.0.as_ptr(),
                mem,
            )
        };
        let cdict = NonNull::new(cdict).ok_or_else(out_of_memory)?;
        Ok(Arc::new(Dict {
            cdict,
            level,
            len: raw.len(),
        }))
    }
}

impl Drop for Dict {
    fn drop(&mut self) {
        // SAFETY: made by `ZSTD_createCDict_advanced2`, freed once, after every context that
        // references it (they hold an `Arc`).
        unsafe { sys::ZSTD_freeCDict(self.cdict.as_ptr()) };
    }
}

/// One zstd compression context, at a level, alone or against a [`Dict`].
pub(super) struct Context {
    cctx: NonNull<sys::ZSTD_CCtx>,
    /// The zstd level it compresses at.
    level: i32,
    /// The dictionary it references, kept alive meanwhile; none: frames of their own.
    dict: Option<Arc<Dict>>,
}

// SAFETY: a context is used by one thread at a time (`&mut self`); the dictionary is `Sync`.
unsafe impl Send for Context {}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: made by `ZSTD_createCCtx`, freed once.
        unsafe { sys::ZSTD_freeCCtx(self.cctx.as_ptr()) };
    }
}

impl Context {
    /// A context at `level`, alone.
    pub(super) fn new(level: i32) -> Result<Context, BuildError> {
        Context::make(level, None)
    }

    /// A context against `dict`, at the level it was prepared for.
    pub(super) fn against(dict: &Arc<Dict>) -> Result<Context, BuildError> {
        Context::make(dict.level, Some(Arc::clone(dict)))
    }

    /// A context at `level`, against `dict` if given.
    fn make(level: i32, dict: Option<Arc<Dict>>) -> Result<Context, BuildError> {
        // SAFETY: allocation; null is handled.
        let cctx = NonNull::new(unsafe { sys::ZSTD_createCCtx() }).ok_or_else(out_of_memory)?;
        let mut c = Context {
            cctx,
            level,
            dict: None,
        };
        let params = Params::new(level, dict.as_ref().map(|d| d.len))?;
        // SAFETY: both are live; the parameters are copied into the context.
        check(unsafe {
            sys::ZSTD_CCtx_setParametersUsingCCtxParams(cctx.as_ptr(), params.0.as_ptr())
        })?;
        // zstd's `ZSTD_c_stableInBuffer` and `ZSTD_c_stableOutBuffer`: `compress_blocks` hands
        // over the whole input and output at once, so zstd reads and writes them in place
        // instead of copying through a window buffer and a block buffer of its own.
        for param in [P::ZSTD_c_experimentalParam9, P::ZSTD_c_experimentalParam10] {
            // SAFETY: the context is live; 1 is within the parameters' bounds.
            check(unsafe { sys::ZSTD_CCtx_setParameter(cctx.as_ptr(), param, 1) })?;
        }
        let Some(dict) = dict else { return Ok(c) };
        // SAFETY: the dictionary outlives the context (`dict` holds it).
        check(unsafe { sys::ZSTD_CCtx_refCDict(cctx.as_ptr(), dict.cdict.as_ptr()) })?;
        c.dict = Some(dict);
        Ok(c)
    }

    /// Compresses `src` into `dst` as one frame; returns its length.
    pub(super) fn compress(&mut self, src: &[u8], dst: &mut [u8]) -> Result<usize, BuildError> {
        self.set_window(src.len())?;
        // SAFETY: both slices are valid for their lengths; the context is live.
        check(unsafe {
            sys::ZSTD_compress2(
                self.cctx.as_ptr(),
                dst.as_mut_ptr().cast::<c_void>(),
                dst.len(),
                src.as_ptr().cast::<c_void>(),
                src.len(),
            )
        })
    }

    /// Sets the window of the next frame, of `len` bytes, when it has no dictionary: one that
    /// holds all of it when the level's own window for that size would not (a 4 MiB chunk of text
    /// at level 3 got 2 MiB, which lost repeats 2–4 MiB apart: `realtext` 1.043 → 1.025×
    /// `tar.zst`), else the level's own (0). The decoder decodes a chunk into a buffer of its
    /// whole size either way, so a larger window costs it no memory.
    fn set_window(&mut self, len: usize) -> Result<(), BuildError> {
        if self.dict.is_some() {
            return Ok(());
        }
        // SAFETY: a pure function of its arguments.
        let own = unsafe { sys::ZSTD_getCParams(self.level, len as u64, 0) }.windowLog;
        let whole = len.max(2).next_power_of_two().ilog2();
        let log = if whole > own { whole as i32 } else { 0 };
        // SAFETY: the context is live, between frames; zstd checks the value.
        check(unsafe { sys::ZSTD_CCtx_setParameter(self.cctx.as_ptr(), P::ZSTD_c_windowLog, log) })
            .map(drop)
    }

    /// The length of `src` compressed as one frame (`scratch` holds the frame meanwhile).
    pub(super) fn compressed_len(
        &mut self,
        src: &[u8],
        scratch: &mut Vec<u8>,
    ) -> Result<usize, BuildError> {
        scratch.resize(bound(src.len()), 0);
        self.compress(src, scratch)
    }

    /// Compresses `src` into `dst` as one frame (its size in the header) whose zstd blocks end at
    /// `ends` (each a flush; the last is `src.len()`); returns the frame's length.
    pub(super) fn compress_blocks(
        &mut self,
        src: &[u8],
        ends: &[u32],
        dst: &mut [u8],
    ) -> Result<usize, BuildError> {
        let cctx = self.cctx.as_ptr();
        // SAFETY: the context is live.
        check(unsafe {
            sys::ZSTD_CCtx_reset(cctx, sys::ZSTD_ResetDirective::ZSTD_reset_session_only)
        })?;
        // SAFETY: as above.
        check(unsafe { sys::ZSTD_CCtx_setPledgedSrcSize(cctx, src.len() as u64) })?;
        self.set_window(src.len())?;
        let (mut out, mut start) = (0, 0);
        for (k, &end) in ends.iter().enumerate() {
            let end = (end as usize).clamp(start, src.len());
            let directive = match k + 1 == ends.len() {
                true => sys::ZSTD_EndDirective::ZSTD_e_end,
                false => sys::ZSTD_EndDirective::ZSTD_e_flush,
            };
            // The input is all of `src` so far (a stable buffer: the same start, its position
            // only growing), up to this block's end.
            let mut pos = start;
            loop {
                let before = out;
                // SAFETY: `dst` and `src` are valid for their lengths (`end <= src.len()`), the
                // positions within them.
                let left = check(unsafe {
                    sys::ZSTD_compressStream2_simpleArgs(
                        cctx,
                        dst.as_mut_ptr().cast::<c_void>(),
                        dst.len(),
                        &mut out,
                        src.as_ptr().cast::<c_void>(),
                        end,
                        &mut pos,
                        directive,
                    )
                })?;
                if left == 0 && pos == end {
                    break;
                }
                if out == before && out == dst.len() {
                    return Err(BuildError::Compress(io::Error::other(
                        "block frame too large",
                    )));
                }
            }
            start = end;
        }
        Ok(out)
    }
}

/// The largest frame `len` bytes can compress to.
pub(super) fn bound(len: usize) -> usize {
    // SAFETY: a pure function of its argument.
    unsafe { sys::ZSTD_compressBound(len) }
}
