//! The benchmark guest: `first PATH` (one byte of one file), `readall DIR` (every file, whole),
//! `smallfiles DIR N` (open + stat + read of DIR/small/dNNN/fNNNNN.txt for N files), `walk DIR`
//! (recursive readdir + stat of every entry), `random FILE N pread|seek` (N reads of 4 KiB at
//! deterministic random offsets, with `fd_pread` or `fd_seek` + `fd_read`). Prints one summary line
//! so runs can be compared.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::path::Path;

/// One iovec of preview1.
#[repr(C)]
struct Iovec {
    buf: *mut u8,
    len: usize,
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    /// preview1 `fd_pread` (std has no stable positional read on wasip1).
    fn fd_pread(fd: u32, iovs: *const Iovec, n: usize, offset: u64, nread: *mut usize) -> u16;
}

/// Reads into `buf` at `offset` with one `fd_pread`; returns the count.
fn pread(f: &File, buf: &mut [u8], offset: u64) -> usize {
    let iov = Iovec {
        buf: buf.as_mut_ptr(),
        len: buf.len(),
    };
    let mut n = 0;
    // SAFETY: one valid iovec over `buf`; `n` is a valid out pointer.
    let e = unsafe { fd_pread(f.as_raw_fd() as u32, &iov, 1, offset, &mut n) };
    assert_eq!(e, 0, "fd_pread errno {e}");
    n
}

/// `n` reads of 4 KiB at xorshift-random offsets in `path`: `pread` or `seek` + `read`.
fn random(path: &str, n: u64, how: &str) {
    let mut f = File::open(path).expect("open");
    let size = f.metadata().expect("stat").len();
    let mut buf = [0u8; 4096];
    let (mut state, mut bytes, mut sum) = (0x9e37_79b9_7f4a_7c15u64, 0u64, 0u64);
    for _ in 0..n {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let off = state.wrapping_mul(0x2545_F491_4F6C_DD1D) % size.saturating_sub(4096).max(1);
        let got = match how {
            "pread" => pread(&f, &mut buf, off),
            _ => {
                f.seek(SeekFrom::Start(off)).expect("seek");
                f.read(&mut buf).expect("read")
            }
        };
        bytes += got as u64;
        for w in buf[..got].chunks(512) {
            sum = sum.wrapping_mul(31).wrapping_add(u64::from(w[0]));
        }
    }
    println!("reads {n} bytes {bytes} sum {sum}");
}

fn readall(dir: &Path, buf: &mut [u8], files: &mut u64, bytes: &mut u64, sum: &mut u64) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let t = e.file_type().expect("file_type");
        if t.is_dir() {
            readall(&p, buf, files, bytes, sum);
        } else if t.is_file() {
            let mut f = File::open(&p).expect("open");
            loop {
                let n = f.read(buf).expect("read");
                if n == 0 {
                    break;
                }
                *bytes += n as u64;
                *sum = sum.wrapping_mul(31).wrapping_add(u64::from(buf[n - 1]));
            }
            *files += 1;
        }
    }
}

fn walk(dir: &Path, count: &mut u64, size: &mut u64) {
    for e in fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        let md = fs::symlink_metadata(&p).expect("stat");
        *count += 1;
        *size += md.len() * u64::from(md.is_file());
        if md.is_dir() {
            walk(&p, count, size);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("/");
    match arg(1) {
        "first" => {
            let mut b = [0u8; 1];
            File::open(arg(2))
                .expect("open")
                .read_exact(&mut b)
                .expect("read");
        }
        "readall" => {
            let mut buf = vec![0u8; 256 * 1024];
            let (mut files, mut bytes, mut sum) = (0, 0, 0);
            readall(
                Path::new(arg(2)),
                &mut buf,
                &mut files,
                &mut bytes,
                &mut sum,
            );
            println!("files {files} bytes {bytes} sum {sum}");
        }
        "smallfiles" => {
            let n: u64 = arg(3).parse().expect("N");
            let mut buf = vec![0u8; 8192];
            let (mut bytes, mut sum) = (0u64, 0u64);
            for i in 0..n {
                let p = format!("{}/small/d{:03}/f{:05}.txt", arg(2), i / 100, i);
                let mut f = File::open(&p).expect("open");
                let len = f.metadata().expect("stat").len();
                let mut got = 0;
                loop {
                    let k = f.read(&mut buf).expect("read");
                    if k == 0 {
                        break;
                    }
                    got += k as u64;
                    sum = sum.wrapping_add(u64::from(buf[0]));
                }
                assert_eq!(got, len);
                bytes += got;
            }
            println!("files {n} bytes {bytes} sum {sum}");
        }
        "random" => random(arg(2), arg(3).parse().expect("N"), arg(4)),
        "walk" => {
            let (mut count, mut size) = (0, 0);
            walk(Path::new(arg(2)), &mut count, &mut size);
            println!("entries {count} bytes {size}");
        }
        m => {
            eprintln!("unknown mode {m}");
            std::process::exit(2);
        }
    }
}
