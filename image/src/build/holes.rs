//! Where a host file's data lies, its holes skipped (`lseek`'s `SEEK_DATA` and `SEEK_HOLE`): how much of the chunk cache a sparse file needs.

use std::fs::File;

/// Bytes of the `chunk`-byte chunks of `file` (`size` bytes long) that hold any of its data, as
/// its file system reports the data's extents; `size` where it cannot tell (no `SEEK_DATA` on
/// this system or this file system, or an error).
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(super) fn data_chunks_len(file: &File, size: u64, chunk: u64) -> u64 {
    use std::os::fd::AsRawFd;

    let fd = file.as_raw_fd();
    let chunk = chunk.max(1);
    // `pos`: where the next extent is looked for; `counted`: chunks counted up to here.
    let (mut pos, mut counted, mut total) = (0u64, 0u64, 0u64);
    while pos < size {
        let Ok(at) = libc::off_t::try_from(pos) else {
            return size;
        };
        // SAFETY: `fd` is the open descriptor of `file` for the whole call; lseek only moves its
        // offset (nothing reads from it meanwhile: the builder opens the file again to read it).
        let data = unsafe { libc::lseek(fd, at, libc::SEEK_DATA) };
        if data < 0 {
            // ENXIO: no data past `pos`. Anything else (EINVAL: no SEEK_DATA here): unknown.
            let none_left = std::io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO);
            return if none_left { total.min(size) } else { size };
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        let (Ok(data), Ok(hole)) = (u64::try_from(data), u64::try_from(hole)) else {
            return size;
        };
        if hole <= data || data < pos {
            return size;
        }
        let hole = hole.min(size);
        let first = (data / chunk).max(counted);
        counted = hole.div_ceil(chunk);
        total += counted.saturating_sub(first) * chunk;
        pos = hole;
    }
    total.min(size)
}

/// Without `SEEK_DATA`: every chunk may hold data.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
pub(super) fn data_chunks_len(_file: &File, size: u64, _chunk: u64) -> u64 {
    size
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
    fn a_sparse_file_needs_only_the_chunks_its_data_touches() {
        const MIB: u64 = 1 << 20;
        const CHUNK: u64 = 256 << 10;
        let f = sparse(
            64 * MIB,
            &[0, 10 * MIB, 10 * MIB + 8192, 40 * MIB + CHUNK - 2048],
        );
        let got = data_chunks_len(&f, 64 * MIB, CHUNK);
        // Where the file system keeps holes (tmpfs, ext4, xfs, btrfs): the chunk at 0, the one at
        // 10 MiB (both writes), and the two the last write straddles. Elsewhere: all of it.
        if got != 64 * MIB {
            assert_eq!(got, 4 * CHUNK);
        }
        let mut dense = tempfile::tempfile().unwrap();
        dense.write_all(&std::vec![1u8; MIB as usize]).unwrap();
        assert_eq!(
            data_chunks_len(&dense, MIB, CHUNK),
            MIB,
            "no holes: all of it"
        );
        let empty = sparse(8 * MIB, &[]);
        let none = data_chunks_len(&empty, 8 * MIB, CHUNK);
        assert!(none == 0 || none == 8 * MIB, "only holes: {none}");
    }
}
