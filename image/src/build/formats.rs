//! Files whose format says they are read at random, a page at a time (SQLite and redb databases):
//! `--chunk-size auto` gives them small chunks whatever their size.

use super::{BuildError, FileData};

/// Formats known by their first bytes whose readers read a page (4 KiB by default) at a time,
/// wherever a lookup leads: the name and the bytes every such file starts with.
const PAGED: &[(&str, &[u8])] = &[
    // "SQLite format 3" and a NUL (the file format's documentation, section 1.3).
    ("SQLite 3", b"SQLite format 3\0"),
    // redb's magic number, "redb" and PNG-like line-ending guards (its `MAGICNUMBER`).
    ("redb", b"redb\x1a\x0a\xa9\x0d\x0a"),
];

/// The longest magic in [`PAGED`].
const HEAD_LEN: usize = 16;

/// Whether `data` is read a page at a time at random: a database of a format in [`PAGED`], by its
/// first bytes.
pub(super) fn paged(data: &FileData) -> Result<bool, BuildError> {
    let mut head = [0u8; HEAD_LEN];
    let n = data.head(&mut head)?;
    Ok(PAGED.iter().any(|(_, magic)| head[..n].starts_with(magic)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn every_magic_fits_the_head_that_is_read() {
        for (name, magic) in PAGED {
            assert!(magic.len() <= HEAD_LEN, "{name}");
        }
    }

    #[test]
    fn sqlite_and_redb_headers_are_paged_and_other_or_shorter_bytes_are_not() {
        let mut db = b"SQLite format 3\0".to_vec();
        db.extend_from_slice(&[0x10, 0x00, 1, 1]);
        assert!(paged(&FileData::Bytes(db)).unwrap());
        let mut redb = b"redb\x1a\x0a\xa9\x0d\x0a".to_vec();
        redb.extend_from_slice(&[1, 0, 0, 0, 0x10, 0, 0]);
        assert!(paged(&FileData::Bytes(redb)).unwrap());
        assert!(paged(&FileData::Bytes(b"redb\x1a\x0a\xa9\x0d\x0a".to_vec())).unwrap());
        assert!(!paged(&FileData::Bytes(b"redb\x1a\x0a\xa9\x0d".to_vec())).unwrap());
        assert!(!paged(&FileData::Bytes(b"SQLite format 3".to_vec())).unwrap());
        assert!(!paged(&FileData::Bytes(b"SQLite format 2\0....".to_vec())).unwrap());
        assert!(!paged(&FileData::Bytes(Vec::new())).unwrap());
    }
}
