//! What a file's bytes say about how it is read: by its first bytes, databases a page at a time
//! (SQLite, redb), executables, object files, static libraries and wasm modules whole; by bytes
//! spread over it, text through from the start. `--chunk-size auto` gives the first small chunks
//! and the others large ones.

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

/// Windows spread evenly over a file (the first at its start, the last at its end) that
/// [`is_text`] looks at.
const TEXT_WINDOWS: u64 = 64;
/// Bytes in each of them.
const TEXT_WINDOW: u64 = 1024;
/// A window of text holds at most one control character in this many bytes (tab, line feed,
/// form feed, carriage return and escape, as in coloured logs, are not counted) and no NUL.
const TEXT_CONTROL_RATIO: usize = 64;

/// Whether `data` (`size` bytes) is text (logs, CSV, JSON, XML, HTML, sources), which programs
/// read through from the start: none of [`TEXT_WINDOWS`] windows spread over it holds a NUL byte
/// or more than one control character in [`TEXT_CONTROL_RATIO`] bytes. Databases, indexes,
/// archives, compressed data, model weights and UTF-16 text are not (a window of random bytes
/// holds a NUL 98 % of the time), nor is text with binary parts anywhere a window falls.
pub(super) fn is_text(data: &FileData, size: u64) -> Result<bool, BuildError> {
    let len = TEXT_WINDOW.min(size);
    let mut window = std::vec![0u8; len as usize];
    let span = u128::from(size - len);
    for i in 0..TEXT_WINDOWS {
        let at = span * u128::from(i) / u128::from(TEXT_WINDOWS - 1);
        data.read_at(at as u64, &mut window)?;
        let control = window.iter().filter(|&&b| is_control(b)).count();
        if window.contains(&0) || control * TEXT_CONTROL_RATIO > window.len() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether `b` is a control character text does not hold (all but tab, line feed, form feed,
/// carriage return and escape).
fn is_control(b: u8) -> bool {
    matches!(b, 0..=8 | 0x0b | 0x0e..=0x1a | 0x1c..=0x1f | 0x7f)
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
    fn text_is_what_has_no_nul_and_few_control_characters_wherever_a_window_falls() {
        let is = |bytes: &[u8]| is_text(&FileData::Bytes(bytes.to_vec()), bytes.len() as u64);
        let line = |i: usize| {
            std::format!(
                "2026-12-07T15:{:02}Z\tGET /item/{i}\t200 \x1b[32mok\x1b[0m\r\n",
                i % 60
            )
        };
        let log: Vec<u8> = (0..20_000).flat_map(|i| line(i).into_bytes()).collect();
        assert!(is(&log).unwrap(), "tabs, CRLF and colour escapes");
        assert!(is(b"short").unwrap(), "shorter than a window");
        let mut tail = log.clone();
        tail.extend_from_slice(&[0u8; 8]);
        assert!(!is(&tail).unwrap(), "a NUL in the last window");
        let mut head = log.clone();
        head[10] = 0;
        assert!(!is(&head).unwrap(), "a NUL in the first window");
        let utf16: Vec<u8> = log.iter().flat_map(|&b| [b, 0]).collect();
        assert!(!is(&utf16).unwrap(), "UTF-16");
        let with_bells = |every: usize| {
            let mut v = log.clone();
            v.iter_mut().step_by(every).for_each(|b| *b = 7);
            v
        };
        assert!(
            !is(&with_bells(32)).unwrap(),
            "a control character every 32 bytes"
        );
        assert!(is(&with_bells(128)).unwrap(), "one every 128 bytes");
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
