//! A small LZ4 *block* decoder with an external dictionary (no_std, no allocation, bounds-checked: the fast paths' raw copies follow explicit room checks).
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
    match decode(src, dict, dst, usize::MAX) {
        Some(d) if d == dst.len() => Ok(()),
        _ => Err(FormatError::Decompress),
    }
}

/// [`decode_block`] that stops after the sequence that reaches `need` bytes of output: returns how
/// many bytes of `dst` are decoded (at least `need`, or all of `dst` if `need` is larger). A 4 KiB
/// read at a random offset needs only the head of its second chunk. The bytes of `dst` past the
/// returned length are scratch.
pub fn decode_prefix(
    src: &[u8],
    dict: &[u8],
    dst: &mut [u8],
    need: usize,
) -> Result<usize, FormatError> {
    match decode(src, dict, dst, need) {
        Some(d) if d >= need.min(dst.len()) => Ok(d),
        _ => Err(FormatError::Decompress),
    }
}

/// The decoder: `None` for every error; stops at the first sequence boundary at or past `need`
/// (the whole block ends with `d == dst.len()`, checked by the callers).
#[inline(never)] // one copy, whichever of the two entry points a build uses
fn decode(src: &[u8], dict: &[u8], dst: &mut [u8], need: usize) -> Option<usize> {
    // The fast path's room: a sequence of at most 14 literals and an 18-byte match is read as 18
    // bytes after its token (16 of literals, 2 of offset) and written as 16 + 18 bytes of output
    // (the bytes past the sequence are overwritten by the next ones). One check per sequence, then
    // fixed-size copies: a variable-length copy is a call to `memory.copy` in wasm, costly for a
    // few bytes. `s < src_fast` means `s + 18 <= src.len()` (never true for a shorter input), and
    // likewise for `d`.
    let src_fast = src.len().saturating_sub(17);
    let dst_fast = dst.len().saturating_sub(33);
    let (mut s, mut d) = (0usize, 0usize); // read position in `src`, write position in `dst`
    loop {
        let token = *src.get(s)?;
        s += 1;
        let (lits, mlen) = (usize::from(token >> 4), usize::from(token & 15));
        if lits < 15 && s < src_fast && d < dst_fast {
            // Every access to `dst` below goes through this pointer.
            let out = dst.as_mut_ptr();
            // SAFETY: the room check: `s + 18 <= src.len()` and `d + 34 <= dst.len()`, so the 16
            // literal bytes and the offset (at `s + lits`, `lits <= 14`) are read within `src`
            // and the 16 bytes written within `dst`.
            let off = unsafe {
                let from = src.as_ptr().add(s);
                copy::<16>(from, out.add(d));
                usize::from(u16::from_le(from.add(lits).cast::<u16>().read_unaligned()))
            };
            d += lits;
            s += lits + 2;
            if mlen == 15 {
                // A long match (19 bytes or more; a fifth of the sequences in source code): its
                // length's extension bytes follow. Within the output with a period of 16 or
                // more, or wholly in the dictionary with 15 bytes to spare, 16 bytes at a time
                // up to 15 past its end (rewritten by what follows), each read from bytes already
                // there; else (a short period, from the dictionary into the output, near the
                // block's end) `copy_match`. (`len + 15` below cannot wrap on a 64-bit host; in
                // the 32-bit shim, built without overflow checks, a wrapped sum is followed by
                // the failing `end` check: an error, as the block is. The order of these tests
                // is measured: others were up to 3 % slower.)
                let len = read_len(src, &mut s, mlen)?.checked_add(4)?;
                let end = d.checked_add(len)?;
                if off >= 16 && off <= d && end.checked_add(16)? <= dst.len() {
                    for k in (0..len).step_by(16) {
                        // SAFETY: the read `d - off + k .. + 16` ends at or before `d + k`
                        // (`off >= 16`), where this write starts; writes end at
                        // `d + k + 16 <= end + 15 < dst.len()` (`k < len`).
                        unsafe { copy::<16>(out.add(d - off + k), out.add(d + k)) };
                    }
                    d = end;
                } else if off > d
                    && off - d >= len + 15
                    && off - d <= dict.len()
                    && end.checked_add(16)? <= dst.len()
                {
                    let from = dict.as_ptr_range().end.wrapping_sub(off - d);
                    for k in (0..len).step_by(16) {
                        // SAFETY: reads start `off - d <= dict.len()` before the dictionary's
                        // end and end at or before it (`off - d >= len + 15`, `k < len`).
                        unsafe { copy::<16>(from.wrapping_add(k), out.add(d + k)) };
                    }
                    d = end;
                } else {
                    d = copy_match(dict, dst, d, off, len)?;
                }
                if d >= need {
                    return Some(d);
                }
                continue;
            }
            let len = mlen + 4;
            // The match is `off` back from `d` in the output, or `off - d` back from the
            // dictionary's end. One 18-byte copy when its bytes are all there (in the output: not
            // overlapping the match, `off >= len`; in the dictionary: `off - d >= 18`, and within
            // it). Chosen without a branch on where the match is (`select`s in wasm): that branch
            // goes either way at random in text and cost more than the copy.
            let from_dict = off > d;
            let room = if from_dict { d + 18 } else { len };
            let base = if from_dict {
                dict.as_ptr_range().end
            } else {
                out.cast_const()
            };
            if off >= room && off <= d + dict.len() {
                // SAFETY: the 18 bytes read start at `d - off` in `dst` (`off >= len >= 4`) or
                // `off - d >= 18` before the end of `dict`, at most `dict.len()` before it
                // (wrapping arithmetic: `base + d` alone may lie past the dictionary);
                // `d + 18 <= dst.len()` still (`d` moved by at most 14). Read whole before
                // written: they may overlap.
                unsafe { copy::<18>(base.wrapping_add(d).wrapping_sub(off), out.add(d)) };
                d += len;
            } else if off >= 8 && off <= d {
                // Overlapping its own bytes with a period of 8 or more: 8 bytes at a time, each
                // read after the bytes it repeats were written.
                // SAFETY: each read ends at or before the start of its write (`off >= 8`), so
                // at bytes already written; writes end at `d + 18 <= dst.len()` (as above).
                unsafe {
                    copy::<8>(out.add(d - off), out.add(d));
                    copy::<8>(out.add(d + 8 - off), out.add(d + 8));
                    copy::<2>(out.add(d + 16 - off), out.add(d + 16));
                }
                d += len;
            } else if off != 0 && off <= d {
                // A short period (a run): byte by byte.
                let w = dst.get_mut(d - off..d + len)?;
                for k in off..w.len() {
                    *w.get_mut(k)? = *w.get(k - off)?;
                }
                d += len;
            } else {
                d = copy_match(dict, dst, d, off, len)?;
            }
        } else {
            // Literals of any length.
            let n = read_len(src, &mut s, lits)?;
            let (s_end, d_end) = (s.checked_add(n)?, d.checked_add(n)?);
            if s_end.checked_add(16)? <= src.len() && d_end.checked_add(16)? <= dst.len() {
                // 16 bytes at a time (a variable-length copy is a call in wasm), up to 15 past
                // the run (rewritten by what follows).
                for k in (0..n).step_by(16) {
                    // SAFETY: `k < n`, so `s + k + 16 <= s_end + 15 < src.len()`; likewise in `dst`.
                    unsafe { copy::<16>(src.as_ptr().add(s + k), dst.as_mut_ptr().add(d + k)) };
                }
            } else {
                dst.get_mut(d..d_end)?.copy_from_slice(src.get(s..s_end)?);
            }
            (s, d) = (s_end, d_end);
            if s >= src.len() {
                // The last sequence: literals only, ending the input.
                return (s == src.len() && d <= dst.len()).then_some(d);
            }
            // Match: offset, length.
            let off = usize::from(u16::from_le_bytes([*src.get(s)?, *src.get(s + 1)?]));
            s += 2;
            let len = read_len(src, &mut s, mlen)?.checked_add(4)?;
            d = copy_match(dict, dst, d, off, len)?;
        }
        if d >= need {
            return Some(d);
        }
    }
}

/// Writes the match of `len` bytes at offset `off` (back from `dst[d]`, reaching into `dict`'s
/// end when `off > d`); returns the new write position.
fn copy_match(dict: &[u8], dst: &mut [u8], d: usize, off: usize, len: usize) -> Option<usize> {
    if off == 0 {
        return None;
    }
    let end = d.checked_add(len)?;
    // `head`: the output so far; `tail`: the match's output.
    let (head, tail) = dst.split_at_mut_checked(d)?;
    let tail = tail.get_mut(..len)?;
    // One period (`off` bytes, or fewer if the match is shorter): the bytes just before the match,
    // from the dictionary's end and/or the output so far.
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
    Some(end)
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

/// Copies `N` bytes from `from` to `to`, all read before any is written, as fixed-size loads and
/// stores (a variable-length copy is a call to `memory.copy` in wasm, costly for a few bytes).
///
/// # Safety
/// `N` bytes at `from` must be readable and `N` bytes at `to` writable.
#[inline(always)]
unsafe fn copy<const N: usize>(from: *const u8, to: *mut u8) {
    // SAFETY: the caller's; `[u8; N]` has alignment 1.
    unsafe {
        to.cast::<[u8; N]>()
            .write_unaligned(from.cast::<[u8; N]>().read_unaligned())
    }
}

#[cfg(test)]
mod tests;
