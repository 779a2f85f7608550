//! Platform metadata of host files: modes and times, inode identity, names as bytes.

use std::ffi::OsStr;
use std::fs::Metadata;
use wasifs_image::Meta;

/// Which modification time the image records (`--mtime`, `SOURCE_DATE_EPOCH`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Mtimes {
    /// The host's.
    #[default]
    Host,
    /// The host's, but none later than this (ns since the epoch), as reproducible builds do.
    Clamp(u64),
    /// This one for every node (ns since the epoch).
    Fixed(u64),
}

impl Mtimes {
    /// `meta` with its times (all equal to the mtime) as the policy says.
    pub fn apply(self, meta: Meta) -> Meta {
        let t = match self {
            Mtimes::Host => return meta,
            Mtimes::Clamp(max) => meta.mtime_ns.min(max),
            Mtimes::Fixed(t) => t,
        };
        Meta {
            mtime_ns: t,
            atime_ns: t,
            ctime_ns: t,
            ..meta
        }
    }
}

/// Host file metadata as image metadata (permission bits, times in ns; pre-1970 clamps to 0).
pub(super) fn meta_of(md: &Metadata) -> Meta {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let ns = |s: i64, n: i64| -> u64 {
            u64::try_from(s).map_or(0, |s| {
                s.saturating_mul(1_000_000_000)
                    .saturating_add(n.max(0) as u64)
            })
        };
        // A snapshot has no meaningful access or change time, and the host's move whenever the tree
        // is read or chmod-ed: record the mtime for all three so the same tree packs to the same bytes.
        let mtime_ns = ns(md.mtime(), md.mtime_nsec());
        Meta {
            mode: (md.mode() & 0o7777) as u16,
            mtime_ns,
            atime_ns: mtime_ns,
            ctime_ns: mtime_ns,
        }
    }
    #[cfg(not(unix))]
    {
        let ns = |t: std::io::Result<std::time::SystemTime>| -> u64 {
            t.ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        };
        let mode = match (md.is_dir(), md.permissions().readonly()) {
            (true, _) => 0o755,
            (false, true) => 0o444,
            (false, false) => 0o644,
        };
        let mtime_ns = ns(md.modified());
        Meta {
            mode,
            mtime_ns,
            atime_ns: mtime_ns,
            ctime_ns: mtime_ns,
        }
    }
}

/// Identity of a host file (device, inode), when the platform has one.
pub(super) fn file_key(md: &Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((md.dev(), md.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = md;
        None
    }
}

/// True when the host file has more than one name (a hard-link candidate).
pub(super) fn has_links(md: &Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        md.nlink() > 1
    }
    #[cfg(not(unix))]
    {
        let _ = md;
        false
    }
}

/// A host name as bytes (exact on Unix, lossy elsewhere).
pub(super) fn name_bytes(name: &OsStr) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        name.as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        name.to_string_lossy().into_owned().into_bytes()
    }
}

/// What kind of special file was skipped, for the warning.
pub(super) fn special_kind(md: &Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = md.file_type();
        if t.is_socket() {
            return "socket";
        }
        if t.is_fifo() {
            return "FIFO";
        }
        if t.is_block_device() || t.is_char_device() {
            return "device";
        }
    }
    let _ = md;
    "special file"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(t: u64) -> Meta {
        Meta {
            mode: 0o644,
            mtime_ns: t,
            atime_ns: t + 1,
            ctime_ns: t + 2,
        }
    }

    #[test]
    fn clamp_lowers_later_times_only_and_fixed_sets_every_time() {
        assert_eq!(Mtimes::Host.apply(meta(50)), meta(50));
        let clamped = Mtimes::Clamp(40).apply(meta(50));
        assert_eq!(
            (clamped.mtime_ns, clamped.atime_ns, clamped.ctime_ns),
            (40, 40, 40)
        );
        assert_eq!(clamped.mode, 0o644);
        assert_eq!(Mtimes::Clamp(60).apply(meta(50)).mtime_ns, 50);
        let fixed = Mtimes::Fixed(70).apply(meta(50));
        assert_eq!(
            (fixed.mtime_ns, fixed.atime_ns, fixed.ctime_ns),
            (70, 70, 70)
        );
    }
}
