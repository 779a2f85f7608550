//! Host tests that running out of memory is an errno, never a trap (issue 8 item 8): the test
//! binary's allocator can be told to fail every allocation from the n-th on, and each call is run
//! with n = 0, 1, 2, … until it no longer runs out. An allocation the shim does not handle ends in
//! `handle_alloc_error`, which aborts this test binary, so these tests cannot pass with one left.
//! And, on the same writable tree, that what fds only counted is given back (but for the last
//! closed) while every change made through them stays.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use wasifs_image::reader::Image;
use wasifs_image::{BuildOptions, FileData, ImageBuilder, Meta};

use crate::args::*;
use crate::host::TestHost;
use crate::mem::{AppMem, TestMem};
use crate::vfs::{Vfs, R};
use crate::wasi::*;

thread_local! {
    /// Allocations left before every further one fails (`None`: no failures).
    static LEFT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The system allocator, failing on request on the current thread.
struct Failing;

/// Whether this allocation must fail (counting it).
fn fails() -> bool {
    LEFT.with(|l| match l.get() {
        None => false,
        Some(0) => true,
        Some(n) => {
            l.set(Some(n - 1));
            false
        }
    })
}

// SAFETY: forwards to `System`, or returns null (a permitted answer).
unsafe impl GlobalAlloc for Failing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if fails() {
            return std::ptr::null_mut();
        }
        // SAFETY: same contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if fails() {
            return std::ptr::null_mut();
        }
        // SAFETY: same contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Failing = Failing;

/// Runs `f` with every allocation from the `n`-th on failing.
fn starved<T>(n: usize, f: impl FnOnce() -> T) -> T {
    LEFT.with(|l| l.set(Some(n)));
    let r = f();
    LEFT.with(|l| l.set(None));
    r
}

const PATH: u32 = 1000;
const PATH2: u32 = 1200;
const OUT: u32 = 2000;
const IOV: u32 = 3000;
const BUF: u32 = 4096;

type V = Vfs<&'static [u8], TestHost>;

/// A writable image: `/f` (300 KiB, several chunks), `/d/g`, `/l -> f`, an empty `/e` and a
/// directory of 40 entries `/many`.
fn setup() -> (V, TestMem) {
    let meta = Meta {
        mode: 0o644,
        mtime_ns: 1,
        atime_ns: 1,
        ctime_ns: 1,
    };
    let mut b = ImageBuilder::new(BuildOptions {
        level: wasifs_image::Level::DEFAULT,
        chunk_size: wasifs_image::ChunkSize::fixed_log2(16).expect("64 KiB is valid"),
        ..BuildOptions::default()
    });
    let root = b.root();
    b.set_meta(root, meta).unwrap();
    let big: Vec<u8> = (0..300 * 1024u32).map(|i| (i % 251) as u8).collect();
    b.add_file(root, b"f", meta, FileData::Bytes(big)).unwrap();
    let d = b.add_dir(root, b"d", meta).unwrap();
    b.add_file(d, b"g", meta, FileData::Bytes(b"gee".to_vec()))
        .unwrap();
    b.add_symlink(root, b"l", meta, b"f").unwrap();
    b.add_dir(root, b"e", meta).unwrap();
    let many = b.add_dir(root, b"many", meta).unwrap();
    for i in 0..40 {
        let name = format!("entry-{i:02}");
        b.add_file(many, name.as_bytes(), meta, FileData::Bytes(Vec::new()))
            .unwrap();
    }
    b.add_preopen(b"/", root, false).unwrap();
    let bytes: &'static [u8] = Box::leak(b.finish().unwrap().into_boxed_slice());
    let v = Vfs::new(Some(Image::open(bytes).unwrap()), TestHost::default());
    let m = TestMem {
        app: vec![b'x'; 1 << 20],
        image: bytes.to_vec(),
    };
    (v, m)
}

fn put_path(m: &mut TestMem, at: u32, p: &str) -> PathArg {
    m.put(at, p.as_bytes()).unwrap();
    PathArg {
        ptr: at,
        len: p.len() as u32,
    }
}

fn open(v: &mut V, m: &mut TestMem, p: &str, oflags: u16) -> R<u32> {
    let path = put_path(m, PATH, p);
    let args = OpenArgs {
        dirflags: LookupFlags(LOOKUPFLAGS_SYMLINK_FOLLOW),
        oflags: OFlags(u32::from(oflags)),
        rights: Rights {
            base: if oflags & OFLAGS_DIRECTORY != 0 {
                RIGHT_FD_READ
            } else {
                RIGHT_FD_READ | RIGHT_FD_WRITE
            },
            inheriting: 0,
        },
        fdflags: FdFlags(0),
    };
    v.path_open(m, 3, path, args, OUT)?;
    Ok(m.get_u32(OUT).unwrap())
}

/// Writes `len` bytes at `off` through `fd` with pwrite.
fn pwrite(v: &mut V, m: &mut TestMem, fd: u32, off: u64, len: u32) -> R<()> {
    m.put(IOV, &BUF.to_le_bytes()).unwrap();
    m.put(IOV + 4, &len.to_le_bytes()).unwrap();
    v.fd_write(m, fd, Iovecs { ptr: IOV, count: 1 }, Some(off), OUT)
}

/// Reads `len` bytes at `off` through `fd` with pread, into `BUF`.
fn pread(v: &mut V, m: &mut TestMem, fd: u32, off: u64, len: u32) -> R<()> {
    m.put(IOV, &BUF.to_le_bytes()).unwrap();
    m.put(IOV + 4, &len.to_le_bytes()).unwrap();
    v.fd_read(m, fd, Iovecs { ptr: IOV, count: 1 }, Some(off), OUT)
}

/// One call (or a short sequence the app would make) on a state prepared by the test.
type Op = fn(&mut V, &mut TestMem) -> R<()>;

/// The calls that allocate, each as an app would make it.
const OPS: &[(&str, Op)] = &[
    ("open", |v, m| open(v, m, "d/g", 0).map(drop)),
    ("open through a symlink", |v, m| {
        open(v, m, "l", 0).map(drop)
    }),
    ("create", |v, m| open(v, m, "new", OFLAGS_CREAT).map(drop)),
    ("write into an image file", |v, m| {
        let fd = open(v, m, "f", 0)?;
        pwrite(v, m, fd, 100_000, 70_000)
    }),
    ("write a new file", |v, m| {
        let fd = open(v, m, "n2", OFLAGS_CREAT)?;
        pwrite(v, m, fd, 0, 5000)
    }),
    ("truncate", |v, m| {
        let fd = open(v, m, "f", 0)?;
        v.fd_filestat_set_size(fd, 70_000)
    }),
    ("read", |v, m| {
        let fd = open(v, m, "f", 0)?;
        pread(v, m, fd, 60_000, 100_000)
    }),
    ("mkdir", |v, m| {
        let p = put_path(m, PATH, "d/sub");
        v.path_create_directory(m, 3, p)
    }),
    ("unlink", |v, m| {
        let p = put_path(m, PATH, "many/entry-07");
        v.path_remove(m, 3, p, false)
    }),
    ("rmdir", |v, m| {
        let p = put_path(m, PATH, "many/../e");
        v.path_remove(m, 3, p, true)
    }),
    ("rename", |v, m| {
        let a = put_path(m, PATH, "many/entry-01");
        let b = put_path(m, PATH2, "d/moved");
        v.path_rename(m, 3, a, 3, b)
    }),
    ("link", |v, m| {
        let a = put_path(m, PATH, "f");
        let b = put_path(m, PATH2, "many/hard");
        v.path_link(m, 3, a, LookupFlags(0), 3, b)
    }),
    ("symlink", |v, m| {
        let a = put_path(m, PATH, "../f");
        let b = put_path(m, PATH2, "d/s");
        v.path_symlink(m, a, 3, b)
    }),
    ("readlink", |v, m| {
        let p = put_path(m, PATH, "l");
        v.path_readlink(m, 3, p, Buf { ptr: BUF, len: 64 }, OUT)
    }),
    ("stat", |v, m| {
        let p = put_path(m, PATH, "d/./g");
        v.path_filestat_get(m, 3, p, LookupFlags(0), OUT)
    }),
    ("set times", |v, m| {
        let p = put_path(m, PATH, "many/entry-03");
        let t = Times {
            atim: 5,
            mtim: 6,
            fst: FSTFLAGS_ATIM | FSTFLAGS_MTIM,
        };
        v.path_filestat_set_times(m, 3, p, LookupFlags(0), t)
    }),
    ("readdir", |v, m| {
        let fd = open(v, m, "many", OFLAGS_DIRECTORY)?;
        v.fd_readdir(
            m,
            fd,
            Buf {
                ptr: BUF,
                len: 4096,
            },
            0,
            OUT,
        )
    }),
    ("prestat name", |v, m| {
        v.fd_prestat_dir_name(m, 3, Buf { ptr: BUF, len: 64 })
    }),
];

#[test]
fn every_call_answers_enomem_when_allocations_fail_and_works_once_memory_is_back() {
    for (name, op) in OPS {
        let mut n = 0;
        loop {
            let (mut v, mut m) = setup();
            let r = starved(n, || op(&mut v, &mut m));
            match r {
                Err(ENOMEM) => {
                    // The state is still sound: the same call succeeds with memory back, and
                    // the tree can still be listed.
                    assert_eq!(op(&mut v, &mut m), Ok(()), "{name}: after ENOMEM at {n}");
                    assert_eq!(
                        v.fd_readdir(
                            &mut m,
                            3,
                            Buf {
                                ptr: BUF,
                                len: 4096
                            },
                            0,
                            OUT
                        ),
                        Ok(()),
                        "{name}: listing after ENOMEM at {n}"
                    );
                    n += 1;
                }
                Ok(()) => break,
                Err(e) => panic!("{name}: errno {e} with allocation {n} failing"),
            }
        }
        assert!(n > 0, "{name}: never allocated, so this checks nothing");
    }
}

#[test]
fn after_running_out_while_writing_the_app_can_still_delete_close_and_go_on() {
    let (mut v, mut m) = setup();
    let fd = open(&mut v, &mut m, "out", OFLAGS_CREAT).unwrap();
    // Memory runs out after some chunks were written.
    let mut off = 0u64;
    let r = starved(40, || loop {
        match pwrite(&mut v, &mut m, fd, off, 60_000) {
            Ok(()) => off += 60_000,
            Err(e) => break e,
        }
    });
    assert_eq!(r, ENOMEM);
    assert!(off > 0, "nothing was written before memory ran out");
    // Still starved: every call answers an errno, none traps.
    starved(0, || {
        assert_eq!(pwrite(&mut v, &mut m, fd, off, 60_000), Err(ENOMEM));
        let p = put_path(&mut m, PATH, "other");
        let r = v.path_create_directory(&m, 3, p);
        assert_eq!(r, Err(ENOMEM));
        assert_eq!(v.fd_close(fd), Ok(()));
    });
    let p = put_path(&mut m, PATH, "out");
    assert_eq!(v.path_remove(&m, 3, p, false), Ok(()));
    let fd = open(&mut v, &mut m, "out", OFLAGS_CREAT).unwrap();
    assert_eq!(pwrite(&mut v, &mut m, fd, 0, 60_000), Ok(()));
}

/// The word at `word` of the filestat of `p` (3: nlink, 4: size, 6: mtim).
fn stat_word(v: &mut V, m: &mut TestMem, p: &str, word: u32) -> u64 {
    let path = put_path(m, PATH, p);
    v.path_filestat_get(m, 3, path, LookupFlags(0), OUT)
        .unwrap();
    let b = m.get(OUT + 8 * word, 8).unwrap();
    u64::from_le_bytes(b.try_into().unwrap())
}

#[test]
fn files_only_read_keep_no_record_but_the_last_closed_and_changes_made_through_an_fd_stay() {
    let (mut v, mut m) = setup();
    let records = |v: &V| v.fs.nodes.iter().filter(|n| n.is_some()).count();
    for i in 0..40 {
        let fd = open(&mut v, &mut m, &format!("many/entry-{i:02}"), 0).unwrap();
        pread(&mut v, &mut m, fd, 0, 10).unwrap();
        v.fd_close(fd).unwrap();
    }
    assert_eq!(
        records(&v),
        1,
        "40 files read, then closed: the last one's record kept"
    );
    for _ in 0..3 {
        let f = open(&mut v, &mut m, "f", 0).unwrap();
        let again = open(&mut v, &mut m, "f", 0).unwrap();
        let d = open(&mut v, &mut m, "many", OFLAGS_DIRECTORY).unwrap();
        pread(&mut v, &mut m, f, 100_000, 70_000).unwrap();
        let listing = Buf {
            ptr: BUF,
            len: 4096,
        };
        v.fd_readdir(&mut m, d, listing, 0, OUT).unwrap();
        for fd in [f, again, d] {
            v.fd_close(fd).unwrap();
        }
    }
    assert_eq!(records(&v), 1, "read and listed again: still one");
    // Written through an fd (BUF holds the app's bytes), then closed: read back.
    m.put(BUF, b"written").unwrap();
    let f = open(&mut v, &mut m, "f", 0).unwrap();
    pwrite(&mut v, &mut m, f, 123_456, 7).unwrap();
    v.fd_close(f).unwrap();
    let f = open(&mut v, &mut m, "f", 0).unwrap();
    m.put(BUF, &[0; 7]).unwrap();
    pread(&mut v, &mut m, f, 123_456, 7).unwrap();
    assert_eq!(m.get(BUF, 7).unwrap(), b"written");
    v.fd_close(f).unwrap();
    // Truncated, timed through the fd or through a path, linked: all while open, then closed.
    let g = open(&mut v, &mut m, "d/g", 0).unwrap();
    v.fd_filestat_set_size(g, 1).unwrap();
    v.fd_close(g).unwrap();
    assert_eq!(stat_word(&mut v, &mut m, "d/g", 4), 1);
    let mtim = |t| Times {
        atim: 0,
        mtim: t,
        fst: FSTFLAGS_MTIM,
    };
    let e5 = open(&mut v, &mut m, "many/entry-05", 0).unwrap();
    v.fd_filestat_set_times(e5, mtim(77)).unwrap();
    v.fd_close(e5).unwrap();
    assert_eq!(stat_word(&mut v, &mut m, "many/entry-05", 6), 77);
    let e6 = open(&mut v, &mut m, "many/entry-06", 0).unwrap();
    let p = put_path(&mut m, PATH, "many/entry-06");
    v.path_filestat_set_times(&m, 3, p, LookupFlags(0), mtim(78))
        .unwrap();
    v.fd_close(e6).unwrap();
    assert_eq!(stat_word(&mut v, &mut m, "many/entry-06", 6), 78);
    let e7 = open(&mut v, &mut m, "many/entry-07", 0).unwrap();
    let a = put_path(&mut m, PATH, "many/entry-07");
    let b = put_path(&mut m, PATH2, "many/linked");
    v.path_link(&m, 3, a, LookupFlags(0), 3, b).unwrap();
    v.fd_close(e7).unwrap();
    assert_eq!(stat_word(&mut v, &mut m, "many/entry-07", 3), 2);
    // Kept as the last one closed, then changed by path with no fd open, then another file
    // closed after it (which frees a record kept only to count fds): the change stays.
    let e8 = open(&mut v, &mut m, "many/entry-08", 0).unwrap();
    v.fd_close(e8).unwrap();
    let p = put_path(&mut m, PATH, "many/entry-08");
    v.path_filestat_set_times(&m, 3, p, LookupFlags(0), mtim(79))
        .unwrap();
    let e9 = open(&mut v, &mut m, "many/entry-09", 0).unwrap();
    v.fd_close(e9).unwrap();
    assert_eq!(stat_word(&mut v, &mut m, "many/entry-08", 6), 79);
}
