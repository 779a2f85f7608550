//! The call trace (`--trace`), apart from the FFI: one strace-like line per WASI call, arguments
//! decoded by kind (paths as strings, flags by name, results read back), errno by name.

use alloc::string::String;
use core::fmt::Write;

use crate::mem::AppMem;
use crate::wasi::*;

/// How a traced argument is shown.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// A number, in decimal (fds, counts, sizes, offsets).
    U,
    /// A signed 64-bit number (fd_seek's offset).
    I,
    /// A number in hex (rights, addresses of buffers the call fills or reads).
    X,
    /// The address of a string; the next argument is its length: shown as a quoted string.
    Str,
    /// The length of the preceding [`Kind::Str`]: not shown.
    Len,
    /// lookupflags by name.
    Lookup,
    /// oflags by name.
    OFlags,
    /// fdflags by name.
    FdFlags,
    /// A whence by name.
    Whence,
    /// A clock id by name.
    ClockId,
    /// Where the call writes a u32 result: shown as `&N` after a success, else as an address.
    Out32,
    /// Where the call writes a u64 result: shown as `&N` after a success.
    Out64,
}

/// preview1 errno names, indexed by errno (the witx order).
pub const ERRNO_NAMES: [&str; 77] = [
    "SUCCESS",
    "E2BIG",
    "EACCES",
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "EAFNOSUPPORT",
    "EAGAIN",
    "EALREADY",
    "EBADF",
    "EBADMSG",
    "EBUSY",
    "ECANCELED",
    "ECHILD",
    "ECONNABORTED",
    "ECONNREFUSED",
    "ECONNRESET",
    "EDEADLK",
    "EDESTADDRREQ",
    "EDOM",
    "EDQUOT",
    "EEXIST",
    "EFAULT",
    "EFBIG",
    "EHOSTUNREACH",
    "EIDRM",
    "EILSEQ",
    "EINPROGRESS",
    "EINTR",
    "EINVAL",
    "EIO",
    "EISCONN",
    "EISDIR",
    "ELOOP",
    "EMFILE",
    "EMLINK",
    "EMSGSIZE",
    "EMULTIHOP",
    "ENAMETOOLONG",
    "ENETDOWN",
    "ENETRESET",
    "ENETUNREACH",
    "ENFILE",
    "ENOBUFS",
    "ENODEV",
    "ENOENT",
    "ENOEXEC",
    "ENOLCK",
    "ENOLINK",
    "ENOMEM",
    "ENOMSG",
    "ENOPROTOOPT",
    "ENOSPC",
    "ENOSYS",
    "ENOTCONN",
    "ENOTDIR",
    "ENOTEMPTY",
    "ENOTRECOVERABLE",
    "ENOTSOCK",
    "ENOTSUP",
    "ENOTTY",
    "ENXIO",
    "EOVERFLOW",
    "EOWNERDEAD",
    "EPERM",
    "EPIPE",
    "EPROTO",
    "EPROTONOSUPPORT",
    "EPROTOTYPE",
    "ERANGE",
    "EROFS",
    "ESPIPE",
    "ESRCH",
    "ESTALE",
    "ETIMEDOUT",
    "ETXTBSY",
    "EXDEV",
    "ENOTCAPABLE",
];

/// Longest string argument shown; longer ones end in `...`.
const STR_MAX: u32 = 200;

/// The low `n` hex digits of `v` (by hand, not `write!`: the trace shim's size budget).
fn digits(out: &mut String, v: u64, n: u32) {
    for i in (0..n).rev() {
        out.push(char::from(
            b"0123456789abcdef"[(v >> (4 * i)) as usize & 15],
        ));
    }
}

/// `v` in hex like `{:#x}`: `0x` and its digits, without leading zeros.
fn hex(out: &mut String, v: u64) {
    out.push_str("0x");
    digits(out, v, (16 - v.leading_zeros() / 4).max(1));
}

/// `flags` as `A|B` from `names` (bit, name), unknown bits in hex, `0` when none.
fn flags(out: &mut String, v: u64, names: &[(u64, &str)]) {
    let mut first = true;
    let mut rest = v;
    for &(bit, name) in names {
        if v & bit != 0 {
            if !first {
                out.push('|');
            }
            out.push_str(name);
            first = false;
            rest &= !bit;
        }
    }
    if v == 0 {
        out.push('0');
    } else if rest != 0 {
        if !first {
            out.push('|');
        }
        hex(out, rest);
    }
}

/// A string argument read from app memory, quoted and escaped like strace.
fn string<M: AppMem>(out: &mut String, m: &M, ptr: u64, len: u64) {
    let shown = (len as u32).min(STR_MAX);
    let Ok(bytes) = m.get(ptr as u32, shown) else {
        hex(out, ptr);
        return;
    };
    out.push('"');
    for &b in &bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            b'\n' => out.push_str("\\n"),
            _ => {
                out.push_str("\\x");
                digits(out, u64::from(b), 2);
            }
        }
    }
    out.push('"');
    if shown < len as u32 {
        out.push_str("...");
    }
}

/// The line for call `name` with arguments `vals` shown as `kinds`, which answered `errno`:
/// `name(arg, ...) = 0` or `= -1 ENAME (errno N)`, results read back from app memory.
pub fn line<M: AppMem>(m: &M, name: &str, kinds: &[Kind], vals: &[u64], errno: u32) -> String {
    let mut out = String::with_capacity(96);
    out.push_str(name);
    out.push('(');
    let mut first = true;
    for (i, (&k, &v)) in kinds.iter().zip(vals).enumerate() {
        if k == Kind::Len {
            continue;
        }
        if !first {
            out.push_str(", ");
        }
        first = false;
        match k {
            Kind::U | Kind::Len => {
                let _ = write!(out, "{v}");
            }
            Kind::I => {
                let _ = write!(out, "{}", v as i64);
            }
            Kind::X => {
                hex(&mut out, v);
            }
            Kind::Str => string(&mut out, m, v, vals.get(i + 1).copied().unwrap_or(0)),
            Kind::Lookup => flags(
                &mut out,
                v,
                &[(u64::from(LOOKUPFLAGS_SYMLINK_FOLLOW), "SYMLINK_FOLLOW")],
            ),
            Kind::OFlags => flags(
                &mut out,
                v,
                &[
                    (u64::from(OFLAGS_CREAT), "CREAT"),
                    (u64::from(OFLAGS_DIRECTORY), "DIRECTORY"),
                    (u64::from(OFLAGS_EXCL), "EXCL"),
                    (u64::from(OFLAGS_TRUNC), "TRUNC"),
                ],
            ),
            Kind::FdFlags => flags(
                &mut out,
                v,
                &[
                    (u64::from(FDFLAGS_APPEND), "APPEND"),
                    (u64::from(FDFLAGS_DSYNC), "DSYNC"),
                    (u64::from(FDFLAGS_NONBLOCK), "NONBLOCK"),
                    (u64::from(FDFLAGS_RSYNC), "RSYNC"),
                    (u64::from(FDFLAGS_SYNC), "SYNC"),
                ],
            ),
            Kind::Whence => {
                let n = ["SET", "CUR", "END"];
                match n.get(v as usize) {
                    Some(n) => out.push_str(n),
                    None => {
                        let _ = write!(out, "{v}");
                    }
                }
            }
            Kind::ClockId => {
                let n = [
                    "REALTIME",
                    "MONOTONIC",
                    "PROCESS_CPUTIME_ID",
                    "THREAD_CPUTIME_ID",
                ];
                match n.get(v as usize) {
                    Some(n) => out.push_str(n),
                    None => {
                        let _ = write!(out, "{v}");
                    }
                }
            }
            Kind::Out32 | Kind::Out64 => {
                let read = if errno != 0 {
                    None
                } else if k == Kind::Out32 {
                    m.get_u32(v as u32).ok().map(u64::from)
                } else {
                    m.get(v as u32, 8).ok().map(|b| {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(&b);
                        u64::from_le_bytes(a)
                    })
                };
                match read {
                    Some(r) => {
                        let _ = write!(out, "&{r}");
                    }
                    None => hex(&mut out, v),
                }
            }
        }
    }
    out.push_str(") = ");
    if errno == 0 {
        out.push('0');
    } else {
        let name = ERRNO_NAMES.get(errno as usize).copied().unwrap_or("E?");
        let _ = write!(out, "-1 {name} (errno {errno})");
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::TestMem;
    use Kind::*;

    #[test]
    fn errno_names_sit_at_their_witx_numbers() {
        let at = |e: Errno| ERRNO_NAMES[e as usize];
        assert_eq!(at(EBADF), "EBADF");
        assert_eq!(at(EINVAL), "EINVAL");
        assert_eq!(at(ENOENT), "ENOENT");
        assert_eq!(at(ENOMEM), "ENOMEM");
        assert_eq!(at(ENOTEMPTY), "ENOTEMPTY");
        assert_eq!(at(EPERM), "EPERM");
        assert_eq!(at(ESPIPE), "ESPIPE");
        assert_eq!(at(EXDEV), "EXDEV");
        assert_eq!(at(ENOTCAPABLE), "ENOTCAPABLE");
    }

    #[test]
    fn a_path_open_line_shows_the_path_flags_by_name_and_the_new_fd() {
        let mut m = TestMem {
            app: alloc::vec![0; 256],
            image: alloc::vec::Vec::new(),
        };
        m.app[16..25].copy_from_slice(b"a\"b/c.txt");
        m.app[64..68].copy_from_slice(&5u32.to_le_bytes());
        let kinds = [U, Lookup, Str, Len, OFlags, X, X, FdFlags, Out32];
        let vals = [3, 1, 16, 9, 9, 0x1f, 0, 1, 64];
        assert_eq!(
            line(&m, "path_open", &kinds, &vals, 0),
            "path_open(3, SYMLINK_FOLLOW, \"a\\\"b/c.txt\", CREAT|TRUNC, 0x1f, 0x0, APPEND, &5) = 0\n"
        );
        assert_eq!(
            line(&m, "path_open", &kinds, &vals, u32::from(ENOENT)),
            "path_open(3, SYMLINK_FOLLOW, \"a\\\"b/c.txt\", CREAT|TRUNC, 0x1f, 0x0, APPEND, 0x40) = -1 ENOENT (errno 44)\n"
        );
        assert_eq!(
            line(
                &m,
                "fd_seek",
                &[U, I, Whence, Out64],
                &[4, (-2i64) as u64, 2, 64],
                0
            ),
            "fd_seek(4, -2, END, &5) = 0\n"
        );
    }
}
