//! Allocation that answers ENOMEM instead of trapping: the shim grows memory only through these
//! helpers (or `try_reserve*`), never through `Vec::push`, `to_vec`, `Box::new` and the like, whose
//! failure would end in `handle_alloc_error`, a panic, and `unreachable` in the app.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::overlay::R;
use crate::wasi::ENOMEM;

/// Room for `n` more elements in `v`, or ENOMEM.
pub fn reserve<T>(v: &mut Vec<T>, n: usize) -> R<()> {
    v.try_reserve(n).map_err(|_| ENOMEM)
}

/// `v.push(x)`, or ENOMEM (then `x` is dropped and `v` unchanged).
pub fn push<T>(v: &mut Vec<T>, x: T) -> R<()> {
    reserve(v, 1)?;
    let len = v.len();
    // SAFETY: `try_reserve` succeeded, so the capacity is at least `len + 1`: the slot past the
    // length is written, then the length covers it.
    unsafe {
        v.as_mut_ptr().add(len).write(x);
        v.set_len(len + 1);
    }
    Ok(())
}

/// Appends the bytes of `s` to `v`, or ENOMEM (then `v` is unchanged).
pub fn extend(v: &mut Vec<u8>, s: &[u8]) -> R<()> {
    reserve(v, s.len())?;
    let len = v.len();
    // SAFETY: `try_reserve` succeeded, so there is room for `s.len()` more bytes past the length,
    // and `s` cannot overlap the vector's spare capacity.
    unsafe {
        core::ptr::copy_nonoverlapping(s.as_ptr(), v.as_mut_ptr().add(len), s.len());
        v.set_len(len + s.len());
    }
    Ok(())
}

/// A new vector holding the bytes of `s` (exactly as long), or ENOMEM.
pub fn copy(s: &[u8]) -> R<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(s.len()).map_err(|_| ENOMEM)?;
    extend(&mut v, s)?;
    Ok(v)
}

/// Sets the length of `v` to `n`: zeros are appended when it grows; ENOMEM when there is no room.
pub fn resize(v: &mut Vec<u8>, n: usize) -> R<()> {
    let len = v.len();
    if n <= len {
        v.truncate(n);
        return Ok(());
    }
    v.try_reserve_exact(n - len).map_err(|_| ENOMEM)?;
    // SAFETY: `try_reserve_exact` succeeded, so the capacity is at least `n`; bytes `len..n` are
    // zeroed before the length covers them.
    unsafe {
        core::ptr::write_bytes(v.as_mut_ptr().add(len), 0, n - len);
        v.set_len(n);
    }
    Ok(())
}

/// Sets the length of `v` to at least `n`, appending `None`s (one store each, not a `push`
/// each), or ENOMEM (then `v` is unchanged).
pub fn grow_with_none<T>(v: &mut Vec<Option<T>>, n: usize) -> R<()> {
    let len = v.len();
    if n <= len {
        return Ok(());
    }
    reserve(v, n - len)?;
    // SAFETY: `try_reserve` succeeded, so the capacity is at least `n`; elements `len..n` are
    // written before the length covers them.
    unsafe {
        for k in len..n {
            v.as_mut_ptr().add(k).write(None);
        }
        v.set_len(n);
    }
    Ok(())
}

/// `Box::new(x)`, or ENOMEM. `T` must not be zero-sized (no box of one is ever needed here).
pub fn boxed<T>(x: T) -> R<Box<T>> {
    let layout = core::alloc::Layout::new::<T>();
    if layout.size() == 0 {
        return Err(ENOMEM);
    }
    // SAFETY: the layout has a non-zero size (checked above).
    let p = unsafe { alloc::alloc::alloc(layout) }.cast::<T>();
    if p.is_null() {
        return Err(ENOMEM);
    }
    // SAFETY: `p` is a fresh allocation with `T`'s layout: it is written once, then owned by the
    // box, which frees it with the same layout.
    unsafe {
        p.write(x);
        Ok(Box::from_raw(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helpers_do_what_their_infallible_twins_do() {
        let mut v = copy(b"ab").unwrap();
        extend(&mut v, b"cd").unwrap();
        push(&mut v, b'e').unwrap();
        assert_eq!(v, b"abcde");
        resize(&mut v, 7).unwrap();
        assert_eq!(v, b"abcde\0\0");
        resize(&mut v, 2).unwrap();
        assert_eq!(v, b"ab");
        assert_eq!(*boxed(41u64).unwrap() + 1, 42);
        assert_eq!(copy(b"").unwrap(), b"");
        let mut o = alloc::vec![Some(1u32)];
        grow_with_none(&mut o, 3).unwrap();
        assert_eq!(o, [Some(1), None, None]);
        grow_with_none(&mut o, 2).unwrap();
        assert_eq!(o, [Some(1), None, None], "never shrinks");
    }

    #[test]
    fn an_impossible_size_is_enomem() {
        let mut v = alloc::vec![0u8; 4];
        assert_eq!(reserve(&mut v, usize::MAX), Err(ENOMEM));
        assert_eq!(resize(&mut v, usize::MAX), Err(ENOMEM));
        assert_eq!(v.len(), 4);
        let mut o = alloc::vec![Some(1u8)];
        assert_eq!(grow_with_none(&mut o, usize::MAX), Err(ENOMEM));
        assert_eq!(o, [Some(1)]);
    }
}
