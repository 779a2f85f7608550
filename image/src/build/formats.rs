//! Files whose format says they are read at random, a page at a time (SQLite databases): `--chunk-size auto` gives them small chunks whatever their size.

use super::{BuildError, FileData};

/// The first 16 bytes of every SQLite 3 database file ("SQLite format 3" and a NUL; the file
/// format's documentation, section 1.3). Its readers read it a page (4 KiB by default) at a time,
/// wherever a lookup leads.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Whether `data` is read a page at a time at random: a SQLite database, by its first bytes.
pub(super) fn paged(data: &FileData) -> Result<bool, BuildError> {
    let mut head = [0u8; SQLITE_HEADER.len()];
    Ok(data.head(&mut head)? == head.len() && &head == SQLITE_HEADER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn a_sqlite_header_is_paged_and_other_or_shorter_bytes_are_not() {
        let mut db = SQLITE_HEADER.to_vec();
        db.extend_from_slice(&[0x10, 0x00, 1, 1]);
        assert!(paged(&FileData::Bytes(db)).unwrap());
        assert!(!paged(&FileData::Bytes(b"SQLite format 3".to_vec())).unwrap());
        assert!(!paged(&FileData::Bytes(b"SQLite format 2\0....".to_vec())).unwrap());
        assert!(!paged(&FileData::Bytes(Vec::new())).unwrap());
    }
}
