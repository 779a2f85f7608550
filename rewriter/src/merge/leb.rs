//! Unsigned LEB128 writing, compact and padded to a fixed width.

/// Appends `v` as a minimal-length unsigned LEB128.
pub fn write(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The length of `v` as a minimal-length unsigned LEB128 (1..=5 bytes).
#[inline]
pub fn len(v: u32) -> usize {
    (32 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Whether `v` can be encoded in `width` LEB128 bytes (1..=5).
#[inline]
pub fn fits(v: u32, width: usize) -> bool {
    match width {
        0 => false,
        1..=4 => u64::from(v) < 1u64 << (7 * width),
        _ => true,
    }
}

/// Appends `v` as an unsigned LEB128 of exactly `width` bytes; `v` must fit.
pub fn write_padded(out: &mut Vec<u8>, v: u32, width: usize) {
    let at = out.len();
    out.resize(at + width, 0);
    overwrite_padded(&mut out[at..], v);
}

/// Overwrites `dst` with `v` as an unsigned LEB128 of exactly `dst.len()` bytes; `v` must fit.
#[inline]
pub fn overwrite_padded(dst: &mut [u8], v: u32) {
    let mut v = u64::from(v);
    let last = dst.len().saturating_sub(1);
    for (i, b) in dst.iter_mut().enumerate() {
        let low = (v & 0x7f) as u8;
        v >>= 7;
        *b = if i == last { low } else { low | 0x80 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_leb_reads_back_as_the_same_value() {
        for (v, w) in [
            (0u32, 1usize),
            (5, 5),
            (127, 1),
            (128, 2),
            (300, 5),
            (u32::MAX, 5),
        ] {
            let mut out = Vec::new();
            write_padded(&mut out, v, w);
            assert_eq!(out.len(), w);
            let mut r = wasmparser::BinaryReader::new(&out, 0);
            assert_eq!(r.read_var_u32().ok(), Some(v));
            assert!(r.eof());
        }
    }

    #[test]
    fn len_is_the_length_write_gives() {
        // Every power of two and the value below it: each side of each length boundary.
        for v in (0..32)
            .flat_map(|b| [(1u32 << b) - 1, 1 << b])
            .chain([u32::MAX])
        {
            let mut out = Vec::new();
            write(&mut out, v);
            assert_eq!(len(v), out.len(), "{v}");
        }
    }

    #[test]
    fn fits_matches_leb_capacity() {
        assert!(fits(127, 1) && !fits(128, 1));
        assert!(fits(16383, 2) && !fits(16384, 2));
        assert!(fits(u32::MAX, 5));
        assert!(!fits(0, 0));
    }
}
