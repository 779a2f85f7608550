//! Where a file's bytes are all zeros: the holes its file system reports (`lseek`'s `SEEK_DATA` and `SEEK_HOLE`), and chunks of zeros.

use std::fs::File;
use std::vec::Vec;

/// Whether every byte of `raw` is zero (eight at a time).
pub(super) fn all_zeros(raw: &[u8]) -> bool {
    let (words, rest) = raw.as_chunks::<8>();
    words.iter().all(|w| u64::from_ne_bytes(*w) == 0) && rest.iter().all(|&b| b == 0)
}

/// The extents `(start, end)` of the data of `file` (`size` bytes long), in order, as its file
/// system reports them (a file without holes is one extent); `None` where it cannot tell (no
/// `SEEK_DATA` on this system or this file system, or an error).
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(super) fn data_extents(file: &File, size: u64) -> Option<Vec<(u64, u64)>> {
    use std::os::fd::AsRawFd;

    let fd = file.as_raw_fd();
    let mut extents = Vec::new();
    let mut pos = 0u64;
    while pos < size {
        let at = libc::off_t::try_from(pos).ok()?;
        // SAFETY: `fd` is the open descriptor of `file` for the whole call; lseek only moves its
        // offset (the caller reads at explicit offsets afterwards).
        let data = unsafe { libc::lseek(fd, at, libc::SEEK_DATA) };
        if data < 0 {
            // ENXIO: no data past `pos`. Anything else (EINVAL: no SEEK_DATA here): unknown.
            let none_left = std::io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO);
            return none_left.then_some(extents);
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        let (data, hole) = (u64::try_from(data).ok()?, u64::try_from(hole).ok()?);
        if hole <= data || data < pos {
            return None;
        }
        let end = hole.min(size);
        if data < end {
            extents.push((data, end));
        }
        pos = hole;
    }
    Some(extents)
}

/// Without `SEEK_DATA`: unknown.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
pub(super) fn data_extents(_file: &File, _size: u64) -> Option<Vec<(u64, u64)>> {
    None
}

#[cfg(all(
    test,
    any(target_os = "linux", target_os = "android", target_os = "freebsd")
))]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    /// A file of `size` bytes with 4 KiB of data written at each of `at` (holes elsewhere).
    fn sparse(size: u64, at: &[u64]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.set_len(size).unwrap();
        for &a in at {
            f.seek(SeekFrom::Start(a)).unwrap();
            f.write_all(&[7u8; 4096]).unwrap();
        }
        f
    }

    #[test]
    fn a_file_s_data_extents_skip_its_holes() {
        const MIB: u64 = 1 << 20;
        let f = sparse(64 * MIB, &[0, 10 * MIB, 10 * MIB + 4096, 40 * MIB]);
        let got = data_extents(&f, 64 * MIB).unwrap();
        // Where the file system keeps holes (tmpfs, ext4, xfs, btrfs): the data written, perhaps
        // rounded out to its blocks. Elsewhere: all of it.
        if got != [(0, 64 * MIB)] {
            assert_eq!(got.len(), 3, "{got:?}");
            for ((start, end), want) in got.iter().zip([0, 10 * MIB, 40 * MIB]) {
                assert!(
                    *start <= want && *end >= want + 4096 && end - start < MIB,
                    "{got:?}"
                );
            }
        }
        let mut dense = tempfile::tempfile().unwrap();
        dense.write_all(&std::vec![1u8; MIB as usize]).unwrap();
        assert_eq!(data_extents(&dense, MIB), Some(std::vec![(0, MIB)]));
        let empty = sparse(8 * MIB, &[]);
        let none = data_extents(&empty, 8 * MIB).unwrap();
        assert!(
            none.is_empty() || none == [(0, 8 * MIB)],
            "only holes: {none:?}"
        );
    }

    #[test]
    fn only_zero_bytes_are_all_zeros() {
        assert!(all_zeros(&[]) && all_zeros(&[0; 13]) && all_zeros(&[0; 4096]));
        for at in [0, 7, 8, 4095] {
            let mut b = std::vec![0u8; 4096];
            b[at] = 1;
            assert!(!all_zeros(&b), "{at}");
        }
        assert!(!all_zeros(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 9]));
    }
}
