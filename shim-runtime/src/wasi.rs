//! WASI preview1 constants and byte layouts, defined once (values from the preview1 witx).

/// A preview1 error number.
pub type Errno = u16;

/// No error.
pub const SUCCESS: Errno = 0;
/// Permission denied.
pub const EACCES: Errno = 2;
/// Bad file descriptor.
pub const EBADF: Errno = 8;
/// Device or resource busy (a rename of `.` or `..`).
pub const EBUSY: Errno = 10;
/// File exists.
pub const EEXIST: Errno = 20;
/// Bad address (an app pointer outside the app's memory).
pub const EFAULT: Errno = 21;
/// Illegal byte sequence (a path that is not UTF-8).
pub const EILSEQ: Errno = 25;
/// Invalid argument.
pub const EINVAL: Errno = 28;
/// I/O error (also: a corrupt image).
pub const EIO: Errno = 29;
/// Is a directory.
pub const EISDIR: Errno = 31;
/// Too many levels of symbolic links.
pub const ELOOP: Errno = 32;
/// Filename too long.
pub const ENAMETOOLONG: Errno = 37;
/// No such file or directory.
pub const ENOENT: Errno = 44;
/// Not enough space.
pub const ENOMEM: Errno = 48;
/// Not a directory.
pub const ENOTDIR: Errno = 54;
/// Not a socket.
pub const ENOTSOCK: Errno = 57;
/// Not supported.
pub const ENOTSUP: Errno = 58;
/// Value too large to be stored in data type.
pub const EOVERFLOW: Errno = 61;
/// Operation not permitted (wasmtime's answer for writes under a read-only dir and for escapes).
pub const EPERM: Errno = 63;
/// Directory not empty.
pub const ENOTEMPTY: Errno = 55;
/// Cross-device link (a rename or link between the embedded tree and a host directory).
pub const EXDEV: Errno = 75;
/// Invalid seek.
pub const ESPIPE: Errno = 70;
/// Capabilities insufficient: the answer of a call a WASI policy denies (`--deny=errno`).
pub const ENOTCAPABLE: Errno = 76;

/// File type: unknown.
pub const FILETYPE_UNKNOWN: u8 = 0;
/// File type: directory.
pub const FILETYPE_DIRECTORY: u8 = 3;
/// File type: regular file.
pub const FILETYPE_REGULAR_FILE: u8 = 4;
/// File type: symbolic link.
pub const FILETYPE_SYMBOLIC_LINK: u8 = 7;

/// Right: fd_datasync.
pub const RIGHT_FD_DATASYNC: u64 = 1 << 0;
/// Right: fd_read.
pub const RIGHT_FD_READ: u64 = 1 << 1;
/// Right: fd_seek.
pub const RIGHT_FD_SEEK: u64 = 1 << 2;
/// Right: fd_fdstat_set_flags.
pub const RIGHT_FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
/// Right: fd_sync.
pub const RIGHT_FD_SYNC: u64 = 1 << 4;
/// Right: fd_tell.
pub const RIGHT_FD_TELL: u64 = 1 << 5;
/// Right: fd_write.
pub const RIGHT_FD_WRITE: u64 = 1 << 6;
/// Right: fd_advise.
pub const RIGHT_FD_ADVISE: u64 = 1 << 7;
/// Right: fd_allocate.
pub const RIGHT_FD_ALLOCATE: u64 = 1 << 8;
/// Right: path_create_directory.
pub const RIGHT_PATH_CREATE_DIRECTORY: u64 = 1 << 9;
/// Right: path_open with oflags::creat.
pub const RIGHT_PATH_CREATE_FILE: u64 = 1 << 10;
/// Right: path_link (source).
pub const RIGHT_PATH_LINK_SOURCE: u64 = 1 << 11;
/// Right: path_link (target).
pub const RIGHT_PATH_LINK_TARGET: u64 = 1 << 12;
/// Right: path_open.
pub const RIGHT_PATH_OPEN: u64 = 1 << 13;
/// Right: fd_readdir.
pub const RIGHT_FD_READDIR: u64 = 1 << 14;
/// Right: path_readlink.
pub const RIGHT_PATH_READLINK: u64 = 1 << 15;
/// Right: path_rename (source).
pub const RIGHT_PATH_RENAME_SOURCE: u64 = 1 << 16;
/// Right: path_rename (target).
pub const RIGHT_PATH_RENAME_TARGET: u64 = 1 << 17;
/// Right: path_filestat_get.
pub const RIGHT_PATH_FILESTAT_GET: u64 = 1 << 18;
/// Right: path_filestat_set_size.
pub const RIGHT_PATH_FILESTAT_SET_SIZE: u64 = 1 << 19;
/// Right: path_filestat_set_times.
pub const RIGHT_PATH_FILESTAT_SET_TIMES: u64 = 1 << 20;
/// Right: fd_filestat_get.
pub const RIGHT_FD_FILESTAT_GET: u64 = 1 << 21;
/// Right: fd_filestat_set_size.
pub const RIGHT_FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
/// Right: fd_filestat_set_times.
pub const RIGHT_FD_FILESTAT_SET_TIMES: u64 = 1 << 23;
/// Right: path_symlink.
pub const RIGHT_PATH_SYMLINK: u64 = 1 << 24;
/// Right: path_remove_directory.
pub const RIGHT_PATH_REMOVE_DIRECTORY: u64 = 1 << 25;
/// Right: path_unlink_file.
pub const RIGHT_PATH_UNLINK_FILE: u64 = 1 << 26;
/// Right: poll_oneoff on fd_read/fd_write subscriptions.
pub const RIGHT_POLL_FD_READWRITE: u64 = 1 << 27;
/// Right: sock_shutdown.
pub const RIGHT_SOCK_SHUTDOWN: u64 = 1 << 28;
/// Right: sock_accept.
pub const RIGHT_SOCK_ACCEPT: u64 = 1 << 29;
/// Every right defined by preview1 (wasmtime's `Rights::all()`).
pub const RIGHTS_ALL: u64 = (1 << 30) - 1;

/// Rights wasmtime reports as `fs_rights_base` of a preopened directory (hard-coded there).
pub const RIGHTS_PREOPEN_BASE: u64 = RIGHT_PATH_CREATE_DIRECTORY
    | RIGHT_PATH_CREATE_FILE
    | RIGHT_PATH_LINK_SOURCE
    | RIGHT_PATH_LINK_TARGET
    | RIGHT_PATH_OPEN
    | RIGHT_FD_READDIR
    | RIGHT_PATH_READLINK
    | RIGHT_PATH_RENAME_SOURCE
    | RIGHT_PATH_RENAME_TARGET
    | RIGHT_PATH_SYMLINK
    | RIGHT_PATH_REMOVE_DIRECTORY
    | RIGHT_PATH_UNLINK_FILE
    | RIGHT_PATH_FILESTAT_GET
    | RIGHT_PATH_FILESTAT_SET_TIMES
    | RIGHT_FD_FILESTAT_GET
    | RIGHT_FD_FILESTAT_SET_TIMES;
/// Rights wasmtime reports as `fs_rights_inheriting` of a preopened directory.
pub const RIGHTS_PREOPEN_INHERITING: u64 = RIGHTS_PREOPEN_BASE
    | RIGHT_FD_DATASYNC
    | RIGHT_FD_READ
    | RIGHT_FD_SEEK
    | RIGHT_FD_FDSTAT_SET_FLAGS
    | RIGHT_FD_SYNC
    | RIGHT_FD_TELL
    | RIGHT_FD_WRITE
    | RIGHT_FD_ADVISE
    | RIGHT_FD_ALLOCATE
    | RIGHT_FD_FILESTAT_GET
    | RIGHT_FD_FILESTAT_SET_SIZE
    | RIGHT_FD_FILESTAT_SET_TIMES
    | RIGHT_POLL_FD_READWRITE;
/// Rights wasmtime reports (base = inheriting) for a file opened without write access.
pub const RIGHTS_READ_FILE: u64 = RIGHTS_ALL & !RIGHT_FD_WRITE;
/// Rights wasmtime reports (base = inheriting) for a directory opened with `path_open`.
pub const RIGHTS_OPENED_DIR: u64 = RIGHTS_ALL
    & !(RIGHT_FD_WRITE | RIGHT_FD_SEEK | RIGHT_FD_FILESTAT_SET_SIZE | RIGHT_PATH_FILESTAT_SET_SIZE);

/// oflags: create the file if it does not exist.
pub const OFLAGS_CREAT: u16 = 1 << 0;
/// oflags: fail unless the path is a directory.
pub const OFLAGS_DIRECTORY: u16 = 1 << 1;
/// oflags: with CREAT, fail if the file exists.
pub const OFLAGS_EXCL: u16 = 1 << 2;
/// oflags: truncate the file to size 0.
pub const OFLAGS_TRUNC: u16 = 1 << 3;
/// Every defined oflags bit.
pub const OFLAGS_ALL: u32 = 0xf;

/// fdflags: append mode.
pub const FDFLAGS_APPEND: u16 = 1 << 0;
/// fdflags: synchronized data writes.
pub const FDFLAGS_DSYNC: u16 = 1 << 1;
/// fdflags: non-blocking mode.
pub const FDFLAGS_NONBLOCK: u16 = 1 << 2;
/// fdflags: synchronized reads.
pub const FDFLAGS_RSYNC: u16 = 1 << 3;
/// fdflags: synchronized writes.
pub const FDFLAGS_SYNC: u16 = 1 << 4;
/// Every defined fdflags bit.
pub const FDFLAGS_ALL: u32 = 0x1f;

/// lookupflags: follow a symbolic link in the final path component.
pub const LOOKUPFLAGS_SYMLINK_FOLLOW: u32 = 1 << 0;
/// Every defined lookupflags bit.
pub const LOOKUPFLAGS_ALL: u32 = 1;

/// fstflags: set the access time to the given value.
pub const FSTFLAGS_ATIM: u32 = 1 << 0;
/// fstflags: set the access time to now.
pub const FSTFLAGS_ATIM_NOW: u32 = 1 << 1;
/// fstflags: set the modification time to the given value.
pub const FSTFLAGS_MTIM: u32 = 1 << 2;
/// fstflags: set the modification time to now.
pub const FSTFLAGS_MTIM_NOW: u32 = 1 << 3;
/// Every defined fstflags bit.
pub const FSTFLAGS_ALL: u32 = 0xf;

/// whence: from the start of the file.
pub const WHENCE_SET: u32 = 0;
/// whence: from the current position.
pub const WHENCE_CUR: u32 = 1;
/// whence: from the end of the file.
pub const WHENCE_END: u32 = 2;

/// Largest valid `advice` value (noreuse).
pub const ADVICE_MAX: u32 = 5;

/// Event/subscription type: a clock.
pub const EVENTTYPE_CLOCK: u8 = 0;
/// Event/subscription type: fd readable.
pub const EVENTTYPE_FD_READ: u8 = 1;
/// Event/subscription type: fd writable.
pub const EVENTTYPE_FD_WRITE: u8 = 2;
/// eventrwflags: the peer hung up (a file read at end of file).
pub const EVENTRWFLAGS_HANGUP: u16 = 1;

/// Prestat tag: a preopened directory.
pub const PREOPENTYPE_DIR: u8 = 0;

/// Size of an iovec/ciovec: buf u32 @0, buf_len u32 @4.
pub const IOVEC_SIZE: u32 = 8;
/// Size of a filestat: dev u64 @0, ino u64 @8, filetype u8 @16, nlink u64 @24, size u64 @32, atim @40, mtim @48, ctim @56.
pub const FILESTAT_SIZE: usize = 64;
/// Size of an fdstat: filetype u8 @0, flags u16 @2, rights_base u64 @8, rights_inheriting u64 @16.
pub const FDSTAT_SIZE: usize = 24;
/// Size of a prestat: tag u8 @0, pr_name_len u32 @4.
pub const PRESTAT_SIZE: usize = 8;
/// Size of a dirent header: d_next u64 @0, d_ino u64 @8, d_namlen u32 @16, d_type u8 @20; the name follows.
pub const DIRENT_SIZE: usize = 24;
/// Size of an event: userdata u64 @0, error u16 @8, type u8 @10, nbytes u64 @16, flags u16 @24.
pub const EVENT_SIZE: usize = 32;
/// Size of a subscription: userdata u64 @0, tag u8 @8, fd u32 @16 (or clock: id @16, timeout @24, ...).
pub const SUBSCRIPTION_SIZE: u32 = 48;
/// Offset of the tag byte within a subscription.
pub const SUBSCRIPTION_TAG_OFF: u32 = 8;
/// Offset of the fd (for fd_read/fd_write subscriptions) within a subscription.
pub const SUBSCRIPTION_FD_OFF: u32 = 16;
/// Offset of a clock subscription's timeout (u64 nanoseconds: a deadline when absolute).
pub const SUBSCRIPTION_TIMEOUT_OFF: u32 = 24;
/// Offset of a clock subscription's flags (u16 `SUBCLOCKFLAGS_*`).
pub const SUBSCRIPTION_CLOCK_FLAGS_OFF: u32 = 40;
/// subclockflags: the timeout is an absolute time on the subscription's clock.
pub const SUBCLOCKFLAGS_ABSTIME: u16 = 1;
/// Offset of an event's errno (u16).
pub const EVENT_ERROR_OFF: u32 = 8;
/// Offset of an event's type byte (`EVENTTYPE_*`).
pub const EVENT_TYPE_OFF: u32 = 10;

/// Device number reported for every node of the image (what wasmtime reports for every file).
pub const IMAGE_DEV: u64 = 1;
/// Longest path accepted (Linux PATH_MAX, terminator included).
pub const PATH_MAX: usize = 4096;
/// Longest path component accepted (Linux NAME_MAX).
pub const NAME_MAX: usize = 255;
/// Most symbolic links followed while resolving one path (Linux MAXSYMLINKS).
pub const MAX_SYMLINKS: u32 = 40;
/// Most bytes one `fd_pread` returns (wasmtime reads through a stream capped at 64 KiB).
pub const PREAD_MAX: u32 = 64 * 1024;

/// A filestat as written to the app (layout: `FILESTAT_SIZE`).
pub struct Filestat {
    /// Device (`IMAGE_DEV` for the tree).
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// One of the `FILETYPE_*` values.
    pub filetype: u8,
    /// Link count.
    pub nlink: u64,
    /// Size in bytes.
    pub size: u64,
    /// Access time, ns.
    pub atim: u64,
    /// Modification time, ns.
    pub mtim: u64,
    /// Status change time, ns.
    pub ctim: u64,
}

impl Filestat {
    /// The little-endian words of the layout.
    #[inline(always)]
    pub fn words(&self) -> [u64; 8] {
        let f = u64::from(self.filetype);
        [
            self.dev, self.ino, f, self.nlink, self.size, self.atim, self.mtim, self.ctim,
        ]
    }
}

/// An fdstat as written to the app (layout: `FDSTAT_SIZE`).
pub struct Fdstat {
    /// One of the `FILETYPE_*` values.
    pub filetype: u8,
    /// `FDFLAGS_*` bits.
    pub flags: u16,
    /// `fs_rights_base`.
    pub base: u64,
    /// `fs_rights_inheriting`.
    pub inheriting: u64,
}

impl Fdstat {
    /// The little-endian words of the layout.
    #[inline(always)]
    pub fn words(&self) -> [u64; 3] {
        let head = u64::from(self.filetype) | u64::from(self.flags) << 16;
        [head, self.base, self.inheriting]
    }
}

/// A dirent header as written by fd_readdir (layout: `DIRENT_SIZE`; the name follows it).
pub struct Dirent {
    /// Cookie of the next entry.
    pub next: u64,
    /// Inode number.
    pub ino: u64,
    /// Length of the name that follows.
    pub namlen: u32,
    /// One of the `FILETYPE_*` values.
    pub filetype: u8,
}

impl Dirent {
    /// The little-endian words of the layout.
    #[inline(always)]
    pub fn words(&self) -> [u64; 3] {
        let tail = u64::from(self.namlen) | u64::from(self.filetype) << 32;
        [self.next, self.ino, tail]
    }
}

/// A successful fd_read/fd_write event as written by poll_oneoff (layout: `EVENT_SIZE`).
pub struct Event {
    /// The subscription's userdata.
    pub userdata: u64,
    /// `EVENTTYPE_FD_READ` or `EVENTTYPE_FD_WRITE`.
    pub ty: u8,
    /// Bytes available.
    pub nbytes: u64,
    /// `EVENTRWFLAGS_*` bits.
    pub flags: u16,
}

impl Event {
    /// The little-endian words of the layout (error 0).
    #[inline(always)]
    pub fn words(&self) -> [u64; 4] {
        [
            self.userdata,
            u64::from(self.ty) << 16,
            self.nbytes,
            u64::from(self.flags),
        ]
    }
}

/// The fields of a subscription the shim reads (layout: `SUBSCRIPTION_SIZE`).
pub struct Subscription {
    /// userdata, copied to the event.
    pub userdata: u64,
    /// One of the `EVENTTYPE_*` values.
    pub tag: u8,
    /// The fd of an fd_read/fd_write subscription (meaningless for a clock).
    pub fd: u32,
}

impl Subscription {
    /// Decodes the fields from the subscription's bytes.
    pub fn decode(s: &[u8; SUBSCRIPTION_SIZE as usize]) -> Self {
        let f = SUBSCRIPTION_FD_OFF as usize;
        Subscription {
            userdata: u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]),
            tag: s[SUBSCRIPTION_TAG_OFF as usize],
            fd: u32::from_le_bytes([s[f], s[f + 1], s[f + 2], s[f + 3]]),
        }
    }
}

/// Offset of a prestat's u32 name length (after the u8 tag and 3 padding bytes).
pub const PRESTAT_NAME_LEN_OFF: u32 = 4;
