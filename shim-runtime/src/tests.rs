//! Host tests of the preview1 calls served from the image (fd table, reads, stats, listings,
//! path_open's errnos on read-only mounts) and the harness they share with `poll.rs`'s tests.

use alloc::boxed::Box;
use alloc::vec::Vec;

use wasifs_image::reader::Image;

use crate::args::*;
use crate::host::TestHost;
use crate::mem::{AppMem, TestMem};
use crate::path::tests::tree;
use crate::vfs::{Vfs, R};
use crate::wasi::*;

/// App scratch addresses used by the tests.
pub(crate) const PATH: u32 = 1000;
pub(crate) const OUT: u32 = 2000;
pub(crate) const IOV: u32 = 3000;
pub(crate) const BUF: u32 = 4096;

pub(crate) struct T {
    pub(crate) v: Vfs<&'static [u8], TestHost>,
    pub(crate) m: TestMem,
}

pub(crate) fn setup(level: i32) -> T {
    let bytes: &'static [u8] = Box::leak(tree(level).into_boxed_slice());
    let img = Image::open(bytes).unwrap();
    assert_eq!(img.header().meta_compressed(), level != 0, "see `tree`");
    let v = Vfs::new(Some(img), TestHost::default());
    T {
        v,
        m: TestMem {
            app: alloc::vec![0; 1 << 20],
            image: bytes.to_vec(),
        },
    }
}

impl T {
    fn path(&mut self, p: &str) -> (u32, u32) {
        self.m.put(PATH, p.as_bytes()).unwrap();
        (PATH, p.len() as u32)
    }
    fn open_with(
        &mut self,
        dir: u32,
        p: &str,
        follow: bool,
        oflags: u16,
        base: u64,
        fdflags: u16,
    ) -> R<u32> {
        let (pp, pl) = self.path(p);
        let df = if follow {
            LOOKUPFLAGS_SYMLINK_FOLLOW
        } else {
            0
        };
        let args = OpenArgs {
            dirflags: LookupFlags(df),
            oflags: OFlags(u32::from(oflags)),
            rights: Rights {
                base,
                inheriting: 0,
            },
            fdflags: FdFlags(u32::from(fdflags)),
        };
        self.v
            .path_open(&mut self.m, dir, path(pp, pl), args, OUT)
            .map(|()| self.m.get_u32(OUT).unwrap())
    }
    pub(crate) fn open(&mut self, p: &str) -> R<u32> {
        self.open_with(3, p, true, 0, RIGHTS_READ_FILE, 0)
    }
    pub(crate) fn read(&mut self, fd: u32, len: u32) -> R<Vec<u8>> {
        self.m.put(IOV, &[0; 8]).unwrap();
        self.m.put(IOV + 8, &BUF.to_le_bytes()).unwrap();
        self.m.put(IOV + 12, &len.to_le_bytes()).unwrap();
        self.v.fd_read(&mut self.m, fd, iovs(IOV, 2), None, OUT)?;
        let n = self.m.get_u32(OUT).unwrap();
        Ok(self.m.get(BUF, n).unwrap())
    }
    fn pread(&mut self, fd: u32, len: u32, off: u64) -> R<Vec<u8>> {
        self.m.put(IOV, &BUF.to_le_bytes()).unwrap();
        self.m.put(IOV + 4, &len.to_le_bytes()).unwrap();
        self.v
            .fd_read(&mut self.m, fd, iovs(IOV, 1), Some(off), OUT)?;
        let n = self.m.get_u32(OUT).unwrap();
        Ok(self.m.get(BUF, n).unwrap())
    }
    fn stat(&mut self, dir: u32, p: &str, follow: bool) -> R<Vec<u8>> {
        let (pp, pl) = self.path(p);
        let f = if follow {
            LOOKUPFLAGS_SYMLINK_FOLLOW
        } else {
            0
        };
        self.v
            .path_filestat_get(&mut self.m, dir, path(pp, pl), LookupFlags(f), OUT)?;
        Ok(self.m.get(OUT, FILESTAT_SIZE as u32).unwrap())
    }
    fn readdir(&mut self, fd: u32, len: u32, cookie: u64) -> R<Vec<u8>> {
        self.v
            .fd_readdir(&mut self.m, fd, buf(BUF, len), cookie, OUT)?;
        let n = self.m.get_u32(OUT).unwrap();
        Ok(self.m.get(BUF, n).unwrap())
    }
}

/// A path argument.
fn path(ptr: u32, len: u32) -> PathArg {
    PathArg { ptr, len }
}

/// `count` iovecs at `ptr`.
fn iovs(ptr: u32, count: u32) -> Iovecs {
    Iovecs { ptr, count }
}

/// An output buffer.
fn buf(ptr: u32, len: u32) -> Buf {
    Buf { ptr, len }
}

/// Times 0 with fstflags `fst`.
fn times(fst: u32) -> Times {
    Times {
        atim: 0,
        mtim: 0,
        fst,
    }
}

/// path_open with no flags and no rights.
const OPEN_PLAIN: OpenArgs = OpenArgs {
    dirflags: LookupFlags(0),
    oflags: OFlags(0),
    rights: Rights {
        base: 0,
        inheriting: 0,
    },
    fdflags: FdFlags(0),
};

pub(crate) fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

/// Splits a readdir buffer into (d_next, d_ino, d_type, name) entries.
fn entries(b: &[u8]) -> Vec<(u64, u64, u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + DIRENT_SIZE <= b.len() {
        let namlen = u32::from_le_bytes(b[i + 16..i + 20].try_into().unwrap()) as usize;
        let end = core::cmp::min(b.len(), i + DIRENT_SIZE + namlen);
        out.push((
            u64_at(b, i),
            u64_at(b, i + 8),
            b[i + 20],
            b[i + DIRENT_SIZE..end].to_vec(),
        ));
        i += DIRENT_SIZE + namlen;
    }
    out
}

#[test]
fn image_preopens_follow_stdio_and_report_their_names() {
    let mut t = setup(3);
    assert_eq!(t.v.host_fd(1), Some(1));
    assert_eq!(t.v.host_fd(3), None);
    t.v.fd_prestat_get(&mut t.m, 4, OUT).unwrap();
    assert_eq!(t.m.get(OUT, 8).unwrap(), [0, 0, 0, 0, 5, 0, 0, 0]);
    t.v.fd_prestat_dir_name(&mut t.m, 4, buf(BUF, 5)).unwrap();
    assert_eq!(t.m.get(BUF, 5).unwrap(), b"/data");
    assert_eq!(
        t.v.fd_prestat_dir_name(&mut t.m, 4, buf(BUF, 4)),
        Err(ENAMETOOLONG)
    );
    assert_eq!(t.v.fd_prestat_get(&mut t.m, 5, OUT), Err(EBADF));
    let fd = t.open("a.txt").unwrap();
    assert_eq!(fd, 5);
    assert_eq!(t.v.fd_prestat_get(&mut t.m, fd, OUT), Err(EBADF));
    assert_eq!(
        t.v.fd_prestat_dir_name(&mut t.m, fd, buf(BUF, 9)),
        Err(ENOTDIR)
    );
    assert_eq!(
        t.v.fd_prestat_dir_name(&mut t.m, 99, buf(BUF, 9)),
        Err(EBADF)
    );
}

#[test]
fn reads_advance_the_position_and_fill_only_the_first_nonempty_iovec() {
    for level in [0, 3] {
        let mut t = setup(level);
        let fd = t.open("a.txt").unwrap();
        assert_eq!(t.read(fd, 3).unwrap(), b"hel");
        assert_eq!(t.read(fd, 100).unwrap(), b"lo");
        assert_eq!(t.read(fd, 100).unwrap(), b"");
        t.v.fd_tell(&mut t.m, fd, OUT).unwrap();
        assert_eq!(t.m.get(OUT, 8).unwrap(), 5u64.to_le_bytes());
    }
}

#[test]
fn reads_across_chunks_match_the_file_for_raw_and_zstd_images() {
    let expect: Vec<u8> = (0..300 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    for level in [0, 3] {
        let mut t = setup(level);
        let fd = t.open("big.bin").unwrap();
        let mut got = Vec::new();
        loop {
            let part = t.read(fd, 50_000).unwrap();
            if part.is_empty() {
                break;
            }
            got.extend_from_slice(&part);
        }
        assert_eq!(got, expect, "level {level}");
        let part = t.pread(fd, 10, 65_530).unwrap();
        assert_eq!(part, &expect[65_530..65_540]);
    }
}

#[test]
fn sequential_reads_decompress_each_chunk_once() {
    let mut t = setup(3);
    let fd = t.open("big.bin").unwrap();
    t.read(fd, 100).unwrap();
    t.v.fs.stored.clear();
    t.read(fd, 100).unwrap();
    assert!(t.v.fs.stored.is_empty(), "chunk 0 was decoded again");
}

#[test]
fn random_reads_revisit_cached_chunks_and_closing_the_file_frees_them() {
    let mut t = setup(3);
    let fd = t.open("big.bin").unwrap();
    let expect: Vec<u8> = (0..300 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    for off in [200_000u64, 10, 140_000] {
        t.pread(fd, 100, off).unwrap();
    }
    assert!(t.v.fs.cache.bytes() >= 3 * 64 * 1024);
    for off in [10u64, 200_000, 140_000] {
        t.v.fs.stored.clear();
        let got = t.pread(fd, 100, off).unwrap();
        assert_eq!(got, &expect[off as usize..off as usize + 100]);
        assert!(t.v.fs.stored.is_empty(), "offset {off} was decoded again");
    }
    t.v.fd_close(fd).unwrap();
    assert_eq!(
        t.v.fs.cache.bytes(),
        0,
        "the closed file's chunks stay cached"
    );
}

#[test]
fn pread_is_capped_at_64k_and_leaves_the_position() {
    let mut t = setup(3);
    let fd = t.open("big.bin").unwrap();
    assert_eq!(t.pread(fd, 100_000, 0).unwrap().len(), 65_536);
    assert_eq!(t.pread(fd, 10, 400_000).unwrap().len(), 0);
    t.v.fd_tell(&mut t.m, fd, OUT).unwrap();
    assert_eq!(t.m.get(OUT, 8).unwrap(), 0u64.to_le_bytes());
}

#[test]
fn seek_handles_set_cur_end_and_rejects_negative_positions() {
    let mut t = setup(3);
    let fd = t.open("a.txt").unwrap();
    t.v.fd_seek(&mut t.m, fd, -2, WHENCE_END, OUT).unwrap();
    assert_eq!(t.read(fd, 10).unwrap(), b"lo");
    t.v.fd_seek(&mut t.m, fd, -4, WHENCE_CUR, OUT).unwrap();
    assert_eq!(t.m.get(OUT, 8).unwrap(), 1u64.to_le_bytes());
    assert_eq!(t.v.fd_seek(&mut t.m, fd, -1, WHENCE_SET, OUT), Err(EINVAL));
    assert_eq!(t.v.fd_seek(&mut t.m, fd, -9, WHENCE_CUR, OUT), Err(EINVAL));
    assert_eq!(t.v.fd_seek(&mut t.m, fd, 0, 3, OUT), Err(EINVAL));
    assert_eq!(t.v.fd_seek(&mut t.m, 3, 0, WHENCE_SET, OUT), Err(EBADF));
    t.v.fd_seek(&mut t.m, fd, 100, WHENCE_SET, OUT).unwrap();
    assert_eq!(t.read(fd, 10).unwrap(), b"");
}

#[test]
fn path_open_answers_wasmtimes_read_only_errnos() {
    let mut t = setup(3);
    assert_eq!(
        t.open_with(3, "a.txt", true, OFLAGS_CREAT, 0, 0),
        Err(EPERM)
    );
    assert_eq!(
        t.open_with(3, "new.txt", true, OFLAGS_CREAT, 0, 0),
        Err(EPERM)
    );
    assert_eq!(
        t.open_with(3, "a.txt", true, OFLAGS_TRUNC, 0, 0),
        Err(EPERM)
    );
    assert_eq!(
        t.open_with(3, "a.txt", true, 0, RIGHT_FD_WRITE, 0),
        Err(EPERM)
    );
    assert_eq!(
        t.open_with(3, "a.txt", true, OFLAGS_CREAT | OFLAGS_EXCL, 0, 0),
        Err(EPERM)
    );
    assert_eq!(
        t.open_with(3, "no.txt", true, OFLAGS_CREAT | OFLAGS_EXCL, 0, 0),
        Err(EPERM)
    );
    assert_eq!(
        t.open_with(3, "a.txt", true, OFLAGS_DIRECTORY, 0, 0),
        Err(ENOTDIR)
    );
    assert_eq!(
        t.open_with(3, "sub", true, OFLAGS_DIRECTORY | OFLAGS_TRUNC, 0, 0),
        Err(EINVAL)
    );
    assert_eq!(
        t.open_with(3, "a.txt", true, 0, 0, FDFLAGS_SYNC),
        Err(ENOTSUP)
    );
    assert_eq!(t.open_with(3, "link_a", false, 0, 0, 0), Err(ELOOP));
    assert_eq!(t.open_with(3, "a.txt", true, 0x10, 0, 0), Err(EINVAL));
    assert_eq!(t.open_with(3, "missing", true, 0, 0, 0), Err(ENOENT));
    assert_eq!(t.open_with(3, "..", true, 0, 0, 0), Err(EPERM));
    assert_eq!(t.open_with(3, "/a.txt", true, 0, 0, 0), Err(EPERM));
    assert_eq!(t.open_with(99, "a.txt", true, 0, 0, 0), Err(EBADF));
    let f = t
        .open_with(3, "link_a", true, 0, 0, FDFLAGS_APPEND)
        .unwrap();
    assert_eq!(t.open_with(f, "x", true, 0, 0, 0), Err(ENOTDIR));
    let (pp, _) = t.path("a.txt");
    assert_eq!(
        t.v.path_open(&mut t.m, 3, path(pp, 5), OPEN_PLAIN, u32::MAX),
        Err(EFAULT)
    );
    t.m.put(PATH, &[0xff]).unwrap();
    assert_eq!(
        t.v.path_open(&mut t.m, 3, path(PATH, 1), OPEN_PLAIN, OUT),
        Err(EILSEQ)
    );
}

#[test]
fn fdstat_reports_wasmtimes_rights_for_preopens_dirs_and_files() {
    let mut t = setup(3);
    t.v.fd_fdstat_get(&mut t.m, 3, OUT).unwrap();
    let b = t.m.get(OUT, 24).unwrap();
    assert_eq!(b[0], FILETYPE_DIRECTORY);
    assert_eq!(
        (u64_at(&b, 8), u64_at(&b, 16)),
        (RIGHTS_PREOPEN_BASE, RIGHTS_PREOPEN_INHERITING)
    );
    assert_eq!(RIGHTS_PREOPEN_BASE, 0x07b7_fe00);
    let d = t.open_with(3, "sub", true, OFLAGS_DIRECTORY, 0, 0).unwrap();
    t.v.fd_fdstat_get(&mut t.m, d, OUT).unwrap();
    let b = t.m.get(OUT, 24).unwrap();
    assert_eq!(
        (b[0], u64_at(&b, 8), u64_at(&b, 16)),
        (FILETYPE_DIRECTORY, RIGHTS_OPENED_DIR, RIGHTS_OPENED_DIR)
    );
    let f = t
        .open_with(
            3,
            "a.txt",
            true,
            0,
            RIGHTS_READ_FILE,
            FDFLAGS_APPEND | FDFLAGS_NONBLOCK,
        )
        .unwrap();
    t.v.fd_fdstat_get(&mut t.m, f, OUT).unwrap();
    let b = t.m.get(OUT, 24).unwrap();
    assert_eq!(b[0], FILETYPE_REGULAR_FILE);
    assert_eq!(
        u16::from_le_bytes([b[2], b[3]]),
        FDFLAGS_APPEND | FDFLAGS_NONBLOCK
    );
    assert_eq!(u64_at(&b, 8), RIGHTS_ALL & !RIGHT_FD_WRITE);
    t.v.fd_fdstat_set_flags(f, FdFlags(0)).unwrap();
    t.v.fd_fdstat_get(&mut t.m, f, OUT).unwrap();
    assert_eq!(t.m.get(OUT, 4).unwrap()[2], 0);
    assert_eq!(
        t.v.fd_fdstat_set_flags(f, FdFlags(u32::from(FDFLAGS_SYNC))),
        Err(EINVAL)
    );
    assert_eq!(t.v.fd_fdstat_set_flags(3, FdFlags(0)), Err(EBADF));
    assert_eq!(t.v.fd_fdstat_get(&mut t.m, 77, OUT), Err(EBADF));
}

#[test]
fn filestat_reports_node_metadata_with_and_without_following() {
    let mut t = setup(3);
    let b = t.stat(3, "link_a", true).unwrap();
    assert_eq!(u64_at(&b, 0), IMAGE_DEV);
    assert_ne!(u64_at(&b, 8), 0);
    assert_eq!(b[16], FILETYPE_REGULAR_FILE);
    assert_eq!(u64_at(&b, 24), 1);
    assert_eq!(u64_at(&b, 32), 5);
    assert_eq!(
        (u64_at(&b, 40), u64_at(&b, 48), u64_at(&b, 56)),
        (2_000_000_002, 1_000_000_001, 3_000_000_003)
    );
    let l = t.stat(3, "link_a", false).unwrap();
    assert_eq!((l[16], u64_at(&l, 32)), (FILETYPE_SYMBOLIC_LINK, 5));
    assert_ne!(u64_at(&l, 8), u64_at(&b, 8));
    assert_eq!(t.stat(3, "a.txt/", false), Err(ENOTDIR));
    assert_eq!(t.stat(3, "a.txt/", true), Err(ENOTDIR));
    assert_eq!(t.stat(3, "nope", true), Err(ENOENT));
    let f = t.open("a.txt").unwrap();
    assert_eq!(t.stat(f, "x", true), Err(EBADF));
    t.v.fd_filestat_get(&mut t.m, f, OUT).unwrap();
    assert_eq!(t.m.get(OUT, 64).unwrap(), b);
}

#[test]
fn readdir_lists_dot_dotdot_then_sorted_entries_with_stable_cookies() {
    let mut t = setup(3);
    let d = t.open_with(3, "sub", true, OFLAGS_DIRECTORY, 0, 0).unwrap();
    let all = entries(&t.readdir(d, 4096, 0).unwrap());
    let names: Vec<&[u8]> = all.iter().map(|e| &e.3[..]).collect();
    assert_eq!(names, [&b"."[..], b"..", b"abs_a", b"b.txt", b"deep"]);
    assert_eq!(all.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert!(all.iter().all(|e| e.1 != 0));
    assert_eq!(all[0].1, all[1].1);
    assert_eq!(
        (all[2].2, all[3].2, all[4].2),
        (
            FILETYPE_SYMBOLIC_LINK,
            FILETYPE_REGULAR_FILE,
            FILETYPE_DIRECTORY
        )
    );
    let rest = entries(&t.readdir(d, 4096, 3).unwrap());
    assert_eq!(rest[0].3, b"b.txt");
    assert!(t.readdir(d, 4096, 5).unwrap().is_empty());
}

#[test]
fn readdir_truncates_the_entry_that_does_not_fit_like_wasmtime() {
    let mut t = setup(3);
    let full = t.readdir(3, 4096, 0).unwrap();
    for len in [0u32, 10, 24, 25, 30, 51] {
        let part = t.readdir(3, len, 0).unwrap();
        assert_eq!(part.len(), len as usize);
        assert_eq!(&part[..], &full[..len as usize]);
    }
    assert_eq!(
        t.v.fd_readdir(&mut t.m, 5, buf(BUF, 10), 0, OUT),
        Err(EBADF)
    );
    let f = t.open("a.txt").unwrap();
    assert_eq!(
        t.v.fd_readdir(&mut t.m, f, buf(BUF, 10), 0, OUT),
        Err(EBADF)
    );
    assert_eq!(
        t.v.fd_readdir(&mut t.m, 3, buf(u32::MAX - 4, 10), 0, OUT),
        Err(EFAULT)
    );
}

#[test]
fn readlink_truncates_to_the_buffer_and_rejects_non_links() {
    let mut t = setup(3);
    let (pp, pl) = t.path("sub/abs_a");
    t.v.path_readlink(&mut t.m, 3, path(pp, pl), buf(BUF, 100), OUT)
        .unwrap();
    assert_eq!(t.m.get_u32(OUT), Ok(6));
    assert_eq!(t.m.get(BUF, 6).unwrap(), b"/a.txt");
    t.v.path_readlink(&mut t.m, 3, path(pp, pl), buf(BUF, 3), OUT)
        .unwrap();
    assert_eq!(t.m.get_u32(OUT), Ok(3));
    let (pp, pl) = t.path("a.txt");
    assert_eq!(
        t.v.path_readlink(&mut t.m, 3, path(pp, pl), buf(BUF, 100), OUT),
        Err(EINVAL)
    );
}

#[test]
fn write_side_calls_answer_the_read_only_errnos() {
    let mut t = setup(3);
    let f = t.open("a.txt").unwrap();
    let (pp, pl) = t.path("x");
    t.m.put(IOV, &[0; 8]).unwrap();
    assert_eq!(
        t.v.fd_write(&mut t.m, f, iovs(IOV, 1), None, OUT),
        Err(EBADF)
    );
    assert_eq!(
        t.v.fd_write(&mut t.m, f, iovs(u32::MAX, 1), None, OUT),
        Err(EFAULT)
    );
    assert_eq!(t.v.fd_allocate(f), Err(ENOTSUP));
    assert_eq!(t.v.fd_allocate(3), Err(EBADF));
    assert_eq!(t.v.fd_filestat_set_size(f, 0), Err(EPERM));
    assert_eq!(
        t.v.fd_filestat_set_times(f, times(FSTFLAGS_MTIM_NOW)),
        Err(EPERM)
    );
    assert_eq!(
        t.v.fd_filestat_set_times(f, times(FSTFLAGS_MTIM | FSTFLAGS_MTIM_NOW)),
        Err(EINVAL)
    );
    assert_eq!(t.v.fd_sync(f), Ok(()));
    assert_eq!(t.v.fd_sync(3), Err(EBADF));
    assert_eq!(t.v.fd_advise(f, 9), Err(EINVAL));
    assert_eq!(t.v.fd_advise(f, 1), Ok(()));
    assert_eq!(
        t.v.fd_fdstat_set_rights(
            f,
            Rights {
                base: 0,
                inheriting: 0
            }
        ),
        Err(ENOTSUP)
    );
    assert_eq!(t.v.path_create_directory(&t.m, 3, path(pp, pl)), Err(EPERM));
    assert_eq!(t.v.path_remove(&t.m, 3, path(pp, pl), true), Err(EPERM));
    assert_eq!(t.v.path_remove(&t.m, f, path(pp, pl), false), Err(EBADF));
    assert_eq!(
        t.v.path_symlink(&t.m, path(pp, pl), 3, path(pp, pl)),
        Err(EPERM)
    );
    assert_eq!(
        t.v.path_filestat_set_times(&t.m, 3, path(pp, pl), LookupFlags(0), times(FSTFLAGS_ATIM)),
        Err(EPERM)
    );
    assert_eq!(
        t.v.path_rename(&t.m, 3, path(pp, pl), 4, path(pp, pl)),
        Err(EPERM)
    );
    assert_eq!(
        t.v.path_link(&t.m, 1, path(pp, pl), LookupFlags(0), 3, path(pp, pl)),
        Err(EPERM)
    );
    assert_eq!(
        t.v.path_rename(&t.m, 3, path(pp, pl), f, path(pp, pl)),
        Err(EBADF)
    );
    assert_eq!(t.v.sock(f), Err(ENOTSOCK));
    assert_eq!(t.v.sock(50), Err(EBADF));
}

#[test]
fn close_and_renumber_manage_the_table_like_wasmtime() {
    let mut t = setup(3);
    let f = t.open("a.txt").unwrap();
    t.v.fd_renumber(f, 1).unwrap();
    assert_eq!(t.v.host.closed, [1]);
    assert_eq!(t.read(1, 5).unwrap(), b"hello");
    assert_eq!(t.v.fd_renumber(f, 1), Err(EBADF));
    assert_eq!(t.v.fd_renumber(1, 1), Ok(()));
    t.v.fd_close(3).unwrap();
    assert_eq!(t.v.fd_close(3), Err(EBADF));
    assert_eq!(t.open_with(3, "a.txt", true, 0, 0, 0), Err(EBADF));
    assert_eq!(t.open_with(4, "d.txt", true, 0, 0, 0), Ok(5));
}
