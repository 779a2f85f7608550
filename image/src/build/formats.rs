//! What a file's first bytes say about how it is read: databases a page at a time (SQLite, redb),
//! executables, object files, static libraries and wasm modules whole. `--chunk-size auto` gives
//! the first small chunks and the second large ones, whatever their size.

use super::{BuildError, FileData};
use crate::Access;

/// Formats whose readers read a page (4 KiB by default) at a time, wherever a lookup leads: the
/// name and the bytes every such file starts with.
const PAGED: &[(&str, &[u8])] = &[
    // "SQLite format 3" and a NUL (the file format's documentation, section 1.3).
    ("SQLite 3", b"SQLite format 3\0"),
    // redb's magic number, "redb" and PNG-like line-ending guards (its `MAGICNUMBER`).
    ("redb", b"redb\x1a\x0a\xa9\x0d\x0a"),
];

/// Formats that are loaded, linked or copied whole, not read here and there: the name and the
/// bytes every such file starts with. (A linker reads an archive's members one after another;
/// without `mmap` in WASI, a loader reads an executable through.)
const WHOLE: &[(&str, &[u8])] = &[
    ("ELF", b"\x7fELF"),
    ("ar archive (.a, .lib)", b"!<arch>\n"),
    ("thin ar archive", b"!<thin>\n"),
    ("Mach-O 32-bit", b"\xfe\xed\xfa\xce"),
    ("Mach-O 64-bit", b"\xfe\xed\xfa\xcf"),
    ("Mach-O 32-bit, little-endian", b"\xce\xfa\xed\xfe"),
    ("Mach-O 64-bit, little-endian", b"\xcf\xfa\xed\xfe"),
    ("WebAssembly module", b"\0asm"),
];

/// The longest magic in [`PAGED`] and [`WHOLE`].
const HEAD_LEN: usize = 16;

/// How `data` is read, by its first bytes: [`Access::Paged`] for a format in [`PAGED`],
/// [`Access::Whole`] for one in [`WHOLE`], else [`Access::Unknown`].
pub(super) fn access(data: &FileData) -> Result<Access, BuildError> {
    let mut head = [0u8; HEAD_LEN];
    let n = data.head(&mut head)?;
    let starts = |table: &[(&str, &[u8])]| table.iter().any(|(_, m)| head[..n].starts_with(m));
    Ok(if starts(PAGED) {
        Access::Paged
    } else if starts(WHOLE) {
        Access::Whole
    } else {
        Access::Unknown
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn of(bytes: &[u8]) -> Access {
        access(&FileData::Bytes(bytes.to_vec())).unwrap()
    }

    #[test]
    fn every_magic_fits_the_head_that_is_read() {
        for (name, magic) in PAGED.iter().chain(WHOLE) {
            assert!(magic.len() <= HEAD_LEN, "{name}");
        }
    }

    #[test]
    fn sqlite_and_redb_headers_are_paged_and_other_or_shorter_bytes_are_not() {
        assert_eq!(of(b"SQLite format 3\0\x10\x00\x01\x01"), Access::Paged);
        assert_eq!(
            of(b"redb\x1a\x0a\xa9\x0d\x0a\x01\0\0\0\x10\0\0"),
            Access::Paged
        );
        assert_eq!(of(b"redb\x1a\x0a\xa9\x0d\x0a"), Access::Paged);
        assert_eq!(of(b"redb\x1a\x0a\xa9\x0d"), Access::Unknown);
        assert_eq!(of(b"SQLite format 3"), Access::Unknown);
        assert_eq!(of(b"SQLite format 2\0...."), Access::Unknown);
        assert_eq!(of(&Vec::new()), Access::Unknown);
    }

    #[test]
    fn executables_objects_archives_and_wasm_modules_are_read_whole() {
        assert_eq!(of(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0"), Access::Whole);
        assert_eq!(of(b"!<arch>\n/               "), Access::Whole);
        assert_eq!(of(b"!<thin>\n"), Access::Whole);
        assert_eq!(of(b"\xcf\xfa\xed\xfe\x07\0\0\x01"), Access::Whole);
        assert_eq!(of(b"\0asm\x01\0\0\0"), Access::Whole);
        assert_eq!(of(b"\x7fELL"), Access::Unknown);
        assert_eq!(of(b"!<arch>"), Access::Unknown, "one byte short");
        assert_eq!(of(b"text, not a header\n"), Access::Unknown);
    }
}
