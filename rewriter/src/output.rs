//! Writes the output where `-o` says without ever replacing a node that is not a regular file: a
//! regular file (or a symlink's regular target) atomically, through a temporary file and a rename;
//! a device or FIFO by writing through it; stdout unless it is a terminal.

use crate::{Error, Result};
use std::fs::{self, Metadata};
use std::io::{ErrorKind, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Where a rewrite writes its module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A path: a regular file is replaced atomically (a symlink's target, the link kept); a
    /// character device or FIFO is written through; a directory is refused.
    File(PathBuf),
    /// Standard output (`-o -`), refused when it is a terminal.
    Stdout,
}

impl Output {
    /// The name messages give the output.
    pub fn name(&self) -> String {
        match self {
            Output::File(p) => p.display().to_string(),
            Output::Stdout => "<stdout>".into(),
        }
    }
}

/// Where an output will be written, checked before anything is built.
#[derive(Debug)]
pub(crate) enum Target {
    /// Replace or create this regular file (symlinks resolved) through a temporary file.
    Replace(PathBuf),
    /// Write through this device or FIFO.
    Through(PathBuf),
    /// Standard output (not a terminal).
    Stdout,
}

/// Symlinks followed at most while resolving `-o` (as Linux's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

impl Target {
    /// Checks `output` and decides how to write it: a clear error naming the path and the fix for
    /// a directory, a trailing slash, a missing parent directory, a symlink loop or a terminal.
    pub fn check(output: &Output) -> Result<Target> {
        let path = match output {
            Output::Stdout => {
                if std::io::stdout().is_terminal() {
                    return Err(Error::usage(
                        "-o -: stdout is a terminal, and a module is binary; redirect it \
                         (> app.wasm, | ...) or give -o FILE",
                    ));
                }
                return Ok(Target::Stdout);
            }
            Output::File(p) => p,
        };
        let bad = |why: String| Error::usage(format!("-o {}: {why}", path.display()));
        let text = path.as_os_str().to_string_lossy();
        if text.is_empty() {
            return Err(bad("empty path; name the output file".into()));
        }
        if text.ends_with('/')
            || text.ends_with("/.")
            || text.ends_with("/..")
            || text == "."
            || text == ".."
        {
            return Err(bad(
                "names a directory (it ends with `/`); give a file name, e.g. -o DIR/app.packed.wasm"
                    .into(),
            ));
        }
        // The kernel follows every link, /proc's magic ones (/dev/stdout) included.
        let followed = fs::metadata(path);
        if let Ok(md) = &followed {
            if !md.is_file() {
                return Target::of_existing(path, path.to_path_buf(), md);
            }
        }
        let resolved = resolve_links(path)?;
        match fs::symlink_metadata(&resolved) {
            Ok(md) => Target::of_existing(path, resolved, &md),
            // A link only the kernel can follow (e.g. /proc/self/fd/1 to a deleted file).
            Err(_) if followed.is_ok() => Ok(Target::Through(path.to_path_buf())),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                check_parent(path, &resolved)?;
                Ok(Target::Replace(resolved))
            }
            Err(e) => Err(Error::io(&resolved, e)),
        }
    }

    /// How to write the existing node `resolved` (what `path` leads to).
    fn of_existing(path: &Path, resolved: PathBuf, md: &Metadata) -> Result<Target> {
        let shown = if resolved == path {
            path.display().to_string()
        } else {
            format!("{} (→ {})", path.display(), resolved.display())
        };
        if md.is_dir() {
            return Err(Error::usage(format!(
                "-o {shown}: is a directory; name a file inside it, e.g. -o {}/app.packed.wasm",
                path.display()
            )));
        }
        if md.is_file() {
            return Ok(Target::Replace(resolved));
        }
        if is_socket(md) {
            return Err(Error::usage(format!(
                "-o {shown}: is a socket, which cannot be written as a file; give a file, a FIFO or -o -"
            )));
        }
        Ok(Target::Through(resolved))
    }

    /// Writes `parts`, in order. A regular file is written to a temporary file beside it, given
    /// `mode`, then renamed over it, so readers see the old file or the whole new one, and on an
    /// error nothing is left behind. The parts are written one after the other (the merged module
    /// is a list of slices borrowing the image and the input), never concatenated in memory.
    pub fn write<'p>(
        &self,
        parts: impl IntoIterator<Item = &'p [u8]>,
        mode: Option<u32>,
    ) -> Result<()> {
        match self {
            Target::Replace(path) => replace_file(path, parts, mode),
            Target::Through(path) => {
                let regular = fs::metadata(path).is_ok_and(|md| md.is_file());
                let file = fs::OpenOptions::new()
                    .write(true)
                    .truncate(regular)
                    .open(path)
                    .map_err(|e| Error::io(path, e))?;
                if file.is_terminal() {
                    return Err(Error::usage(format!(
                        "-o {}: is a terminal, and a module is binary; give a file or redirect",
                        path.display()
                    )));
                }
                write_all(file, parts).map_err(|e| Error::io(path, e))
            }
            Target::Stdout => {
                write_all(std::io::stdout().lock(), parts).map_err(|e| Error::io("<stdout>", e))
            }
        }
    }

    /// The regular file that will be replaced, if any (so that it is not embedded).
    pub fn replaced(&self) -> Option<&Path> {
        match self {
            Target::Replace(p) => Some(p),
            _ => None,
        }
    }
}

/// Follows `path` while it is a symlink, to the node it finally names (which may not exist yet).
fn resolve_links(path: &Path) -> Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&p) {
            Ok(md) if md.file_type().is_symlink() => {
                let target = fs::read_link(&p).map_err(|e| Error::io(&p, e))?;
                p = match p.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(Error::usage(format!(
        "-o {}: too many levels of symbolic links (a loop?); fix the link or name another file",
        path.display()
    )))
}

/// Refuses a new output whose directory is missing or is not a directory.
fn check_parent(path: &Path, resolved: &Path) -> Result<()> {
    let dir = match resolved.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => return Ok(()),
    };
    let via = if resolved == path {
        String::new()
    } else {
        format!(" (the symlink {} points there)", path.display())
    };
    match fs::metadata(dir) {
        Ok(md) if md.is_dir() => Ok(()),
        Ok(_) => Err(Error::usage(format!(
            "-o {}: {} is not a directory{via}; name a file in an existing directory",
            resolved.display(),
            dir.display()
        ))),
        Err(_) => Err(Error::usage(format!(
            "-o {}: the directory {} does not exist{via}; create it first (mkdir -p {}) or name another file",
            resolved.display(),
            dir.display(),
            dir.display()
        ))),
    }
}

/// Whether `md` is a Unix socket.
fn is_socket(md: &Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        md.file_type().is_socket()
    }
    #[cfg(not(unix))]
    {
        let _ = md;
        false
    }
}

/// Writes every part to `w` through a buffer and flushes it.
fn write_all<'p>(w: impl Write, parts: impl IntoIterator<Item = &'p [u8]>) -> std::io::Result<()> {
    // Small parts (section headers, short sections) are gathered; large ones go straight through.
    let mut w = std::io::BufWriter::with_capacity(64 << 10, w);
    for part in parts {
        w.write_all(part)?;
    }
    w.flush()
}

/// Writes `parts` to `path` through a temporary file beside it, with permission bits `mode`.
pub(crate) fn replace_file<'p>(
    path: &Path,
    parts: impl IntoIterator<Item = &'p [u8]>,
    mode: Option<u32>,
) -> Result<()> {
    write_atomic_with(path, mode, |out| {
        for part in parts {
            out.write(part).map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    })
}

/// Creates a temporary file beside `path`, lets `fill` write it, gives it permission bits `mode`,
/// flushes it to disk and renames it over `path`; on any error the temporary file is removed and
/// `path` is untouched.
pub(crate) fn write_atomic_with(
    path: &Path,
    mode: Option<u32>,
    fill: impl FnOnce(&mut OutFile) -> Result<()>,
) -> Result<()> {
    let tmp = temp_path(path);
    let result = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::io(path, e))
        .and_then(|file| {
            let mut out = OutFile::new(file);
            fill(&mut out)?;
            out.finish(mode)
                .and_then(|()| fs::rename(&tmp, path))
                .map_err(|e| Error::io(path, e))
        });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The temporary file: hidden, in the same directory (so the rename cannot cross filesystems).
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp_name = format!(".{name}.wasifs-{}.tmp", std::process::id());
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(tmp_name),
        _ => PathBuf::from(tmp_name),
    }
}

/// A new output file written front to back through a buffer, with writeback to disk started every
/// [`WRITEBACK_STEP`] bytes (so the disk works while the rest is written and the final fsync
/// waits for the last step only), and room for small patches of bytes already written (an image's
/// header and lengths, known last).
pub(crate) struct OutFile {
    w: std::io::BufWriter<fs::File>,
    /// Bytes written (the file's length once flushed).
    len: u64,
    /// Where writeback was last started.
    started: u64,
}

impl OutFile {
    fn new(file: fs::File) -> Self {
        OutFile {
            w: std::io::BufWriter::with_capacity(64 << 10, file),
            len: 0,
            started: 0,
        }
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Appends `bytes`.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        for piece in bytes.chunks(WRITEBACK_STEP) {
            self.w.write_all(piece)?;
            self.len += piece.len() as u64;
            if self.len - self.started >= WRITEBACK_STEP as u64 {
                self.w.flush()?;
                start_writeback(self.w.get_ref(), self.started, self.len - self.started);
                self.started = self.len;
            }
        }
        Ok(())
    }

    /// Overwrites bytes already written at `at` with `bytes`.
    pub(crate) fn patch(&mut self, at: u64, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::{Seek, SeekFrom};
        if at + bytes.len() as u64 > self.len {
            return Err(std::io::Error::other("patch past the end of the output"));
        }
        self.w.flush()?;
        let file = self.w.get_mut();
        file.seek(SeekFrom::Start(at))?;
        file.write_all(bytes)?;
        file.seek(SeekFrom::Start(self.len))?;
        Ok(())
    }

    /// Flushes the buffer, sets permission bits `mode` and flushes the file to disk.
    fn finish(self, mode: Option<u32>) -> std::io::Result<()> {
        let file = self.w.into_inner().map_err(|e| e.into_error())?;
        #[cfg(unix)]
        if let Some(mode) = mode {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(mode & 0o777))?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        file.sync_all()
    }
}

/// Bytes written between two starts of writeback.
const WRITEBACK_STEP: usize = 8 << 20;

/// Starts writing `len` bytes of `file` from `offset` to disk without waiting (a hint: errors
/// show at the fsync).
#[cfg(target_os = "linux")]
fn start_writeback(file: &fs::File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: sync_file_range reads no memory of ours; the descriptor is open for writing.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Starts writing part of a file to disk: nothing to do where there is no sync_file_range.
#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &fs::File, _offset: u64, _len: u64) {}

/// The permission bits an output should get: the input's, else those of the file it replaces.
pub(crate) fn mode_for(input: Option<&Path>, target: &Target) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| {
            fs::metadata(p)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.permissions().mode())
        };
        input
            .and_then(mode)
            .or_else(|| target.replaced().and_then(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (input, target);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(p: &Path) -> Result<Target> {
        Target::check(&Output::File(p.to_path_buf()))
    }

    #[test]
    fn replaces_existing_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out.wasm");
        fs::write(&out, b"old").expect("seed");
        target(&out)
            .unwrap()
            .write([&b"n"[..], b"", b"ew"], None)
            .expect("write");
        assert_eq!(fs::read(&out).expect("read"), b"new");
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 1);
    }

    #[test]
    fn missing_directory_trailing_slash_and_directory_are_refused_naming_the_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let msg = |p: PathBuf| target(&p).expect_err("refused").to_string();
        let m = msg(dir.path().join("no/such/out.wasm"));
        assert!(
            m.contains("does not exist") && m.contains("mkdir -p"),
            "{m}"
        );
        let m = msg(dir.path().join("out.wasm/"));
        assert!(m.contains("ends with `/`"), "{m}");
        let m = msg(dir.path().to_path_buf());
        assert!(
            m.contains("is a directory") && m.contains("app.packed.wasm"),
            "{m}"
        );
        fs::write(dir.path().join("file"), b"").unwrap();
        let m = msg(dir.path().join("file/out.wasm"));
        assert!(m.contains("is not a directory"), "{m}");
    }

    #[cfg(unix)]
    #[test]
    fn symlink_target_is_replaced_and_the_link_kept_even_dangling_and_loops_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("link.wasm");
        std::os::unix::fs::symlink("real.wasm", &link).unwrap();
        let t = target(&link).unwrap();
        t.write([&b"one"[..]], None).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(dir.path().join("real.wasm")).unwrap(), b"one");
        target(&link).unwrap().write([&b"two"[..]], None).unwrap();
        assert_eq!(fs::read(&link).unwrap(), b"two");
        let a = dir.path().join("a");
        std::os::unix::fs::symlink("b", &a).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("b")).unwrap();
        let m = target(&a).expect_err("loop").to_string();
        assert!(m.contains("too many levels"), "{m}");
    }
}
