//! `extract`: writes the embedded tree (or parts of it) back to the host — file bytes, modes,
//! mtimes, symlinks and hard links — never writing outside the destination directory.
//!
//! Names are checked to be single components (see `listing`), every directory on the way is
//! checked to be a real directory (never a symlink) before anything is created in it, and an
//! existing file or symlink in the way is removed, not followed. Symlinks are written as they are
//! stored, wherever they point, and get their own mtime: they are never followed while extracting.

use crate::listing::{ImageEntry, ImageEntryKind, Tree};
use crate::packed::{Packed, BYTES_NAME};
use crate::{Error, Result};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};
use wasifs_image::format::Codec;

/// What [`extract`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Extracted {
    /// Regular files written (hard links included).
    pub files: u64,
    /// Directories created or reused.
    pub dirs: u64,
    /// Symbolic links written.
    pub symlinks: u64,
    /// Bytes of file data written.
    pub bytes: u64,
}

/// Writes the tree embedded in the packed module `bytes` under `dir` (created if missing): every
/// mount, or only `guest_paths` (each with everything below it). The guest path `/a/b` is written
/// to `dir/a/b`. Files get their bytes, mode and mtime; directories their mode and mtime;
/// symlinks their target; hard links stay hard links.
///
/// ```
/// # fn main() -> wasifs::Result<()> {
/// let app = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/bin/wat_cat.wasm"));
/// let tree = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/tree");
/// let packed = wasifs::Rewriter::new().mount(format!("/data={tree}").parse()?).rewrite(app)?;
/// let out = std::env::temp_dir().join(format!("wasifs-doc-extract-{}", std::process::id()));
/// let done = wasifs::extract(&packed.bytes, &out, &[])?;
/// assert_eq!(done.files, packed.report.files);
/// # std::fs::remove_dir_all(&out).ok();
/// # Ok(())
/// # }
/// ```
pub fn extract(bytes: &[u8], dir: impl AsRef<Path>, guest_paths: &[&str]) -> Result<Extracted> {
    let path = Path::new(BYTES_NAME);
    let packed = Packed::open(path, bytes)?;
    let tree = Tree::new(path, &packed.image);
    let dir = dir.as_ref();
    let roots = if guest_paths.is_empty() {
        tree.mounts()?.into_iter().map(|m| m.root).collect()
    } else {
        guest_paths
            .iter()
            .map(|p| tree.resolve(p))
            .collect::<Result<Vec<_>>>()?
    };
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut w = Writer {
        tree: &tree,
        dir,
        done: Extracted::default(),
        linked: HashMap::new(),
        dir_times: Vec::new(),
        written: HashSet::new(),
    };
    for root in roots {
        let mut entries = vec![root.clone()];
        if root.kind == ImageEntryKind::Dir {
            tree.children(&root, true, &mut entries)?;
        }
        for entry in &entries {
            w.write(entry)?;
        }
    }
    // Directory mtimes and modes last, deepest first: writing inside changes them.
    for (path, entry) in w.dir_times.iter().rev() {
        set_meta(path, entry)?;
    }
    Ok(w.done)
}

/// The state of one extraction.
struct Writer<'t, 'i, 'a> {
    tree: &'t Tree<'i, 'a>,
    dir: &'t Path,
    done: Extracted,
    /// Host path of every file node already written with more than one link.
    linked: HashMap<u32, PathBuf>,
    /// Directories written, in creation order, to get their times at the end.
    dir_times: Vec<(PathBuf, ImageEntry)>,
    /// Guest paths already written (a mount inside another, or a path given twice).
    written: HashSet<String>,
}

impl Writer<'_, '_, '_> {
    /// Writes `entry`, its parent directories first.
    fn write(&mut self, entry: &ImageEntry) -> Result<()> {
        if !self.written.insert(entry.path.clone()) {
            return Ok(());
        }
        let rel: Vec<&str> = entry.path.split('/').filter(|c| !c.is_empty()).collect();
        let mut at = self.dir.to_path_buf();
        let (last, parents) = match rel.split_last() {
            Some((last, parents)) => (Some(*last), parents),
            None => (None, &[][..]),
        };
        for c in parents {
            at.push(checked(c)?);
            ensure_dir(&at)?;
        }
        let Some(last) = last else {
            // A mount at `/`: the destination itself.
            self.note_dir(at, entry);
            return Ok(());
        };
        at.push(checked(last)?);
        match entry.kind {
            ImageEntryKind::Dir => {
                ensure_dir(&at)?;
                self.note_dir(at, entry);
            }
            ImageEntryKind::Symlink => {
                clear(&at)?;
                let target = entry.target.clone().unwrap_or_default();
                symlink(&target, &at)?;
                set_link_mtime(&at, entry.mtime_ns)?;
                self.done.symlinks += 1;
            }
            ImageEntryKind::File => {
                clear(&at)?;
                if let Some(first) = self.linked.get(&entry.node) {
                    fs::hard_link(first, &at).map_err(|e| Error::io(&at, e))?;
                } else {
                    self.write_file(&at, entry)?;
                    set_meta(&at, entry)?;
                    if entry.nlink > 1 {
                        self.linked.insert(entry.node, at.clone());
                    }
                }
                self.done.files += 1;
            }
        }
        Ok(())
    }

    /// Remembers directory `at` for its times and counts it.
    fn note_dir(&mut self, at: PathBuf, entry: &ImageEntry) {
        self.done.dirs += 1;
        self.dir_times.push((at, entry.clone()));
    }

    /// Writes the bytes of file `entry` to the new file `at`, chunk by chunk; its chunks of zeros
    /// are skipped over, so a sparse file comes back with its holes (where the file system keeps
    /// them).
    fn write_file(&mut self, at: &Path, entry: &ImageEntry) -> Result<()> {
        let image = self.tree.image();
        let node = self.tree.node(entry)?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(at)
            .map_err(|e| Error::io(at, e))?;
        let mut buf = vec![0; image.chunk_size() as usize];
        for i in 0..node.b {
            let zero = image
                .chunk(&node, i)
                .map_err(|e| self.tree.corrupt(e))?
                .codec
                == Codec::Zero;
            let n = match zero {
                true => {
                    let n = image
                        .chunk_len(&node, i)
                        .map_err(|e| self.tree.corrupt(e))?;
                    file.seek(SeekFrom::Current(i64::from(n)))
                        .map_err(|e| Error::io(at, e))?;
                    n
                }
                false => {
                    let n = image
                        .read_chunk(&node, i, &mut buf)
                        .map_err(|e| self.tree.corrupt(e))?;
                    file.write_all(&buf[..n as usize])
                        .map_err(|e| Error::io(at, e))?;
                    n
                }
            };
            self.done.bytes += u64::from(n);
        }
        // A file ending in zeros skipped over ends there.
        file.set_len(node.size).map_err(|e| Error::io(at, e))?;
        Ok(())
    }
}

/// `c` as a path component, refused unless it is one plain name.
fn checked(c: &str) -> Result<&Path> {
    let p = Path::new(c);
    let mut comps = p.components();
    match (comps.next(), comps.next()) {
        (Some(Component::Normal(_)), None) if crate::listing::is_plain_name(c) => Ok(p),
        _ => Err(Error::usage(format!(
            "refusing to extract {c:?}: not a plain file name"
        ))),
    }
}

/// Makes `at` a directory: creates it, or checks that what is there is a real directory.
fn ensure_dir(at: &Path) -> Result<()> {
    match fs::symlink_metadata(at) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::usage(format!(
            "{}: exists and is not a directory (a symlink is never followed); extract into an empty directory",
            at.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir(at).map_err(|e| Error::io(at, e))
        }
        Err(e) => Err(Error::io(at, e)),
    }
}

/// Removes a file or symlink at `at` (never what a symlink points to); refuses a directory.
fn clear(at: &Path) -> Result<()> {
    match fs::symlink_metadata(at) {
        Ok(m) if m.is_dir() => Err(Error::usage(format!(
            "{}: exists and is a directory; extract into an empty directory",
            at.display()
        ))),
        Ok(_) => fs::remove_file(at).map_err(|e| Error::io(at, e)),
        Err(_) => Ok(()),
    }
}

/// Gives `at` the mtime, then the mode of `entry` (the mode last: it may forbid reading).
fn set_meta(at: &Path, entry: &ImageEntry) -> Result<()> {
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_nanos(entry.mtime_ns);
    // Opening for reading works for a directory too.
    let file = fs::File::open(at).map_err(|e| Error::io(at, e))?;
    file.set_modified(mtime).map_err(|e| Error::io(at, e))?;
    drop(file);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(at, fs::Permissions::from_mode(entry.mode & 0o7777))
            .map_err(|e| Error::io(at, e))?;
    }
    Ok(())
}

/// Gives the symlink `at` itself (not what it points to) the mtime `ns`.
#[cfg(unix)]
fn set_link_mtime(at: &Path, ns: u64) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(at.as_os_str().as_bytes())
        .map_err(|_| Error::usage(format!("{}: path holds a NUL byte", at.display())))?;
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: (ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (ns % 1_000_000_000) as _,
        },
    ];
    // SAFETY: `c` is a NUL-terminated path and `times` two valid timespecs, as utimensat wants;
    // AT_SYMLINK_NOFOLLOW makes it change the link, never its target.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::io(at, std::io::Error::last_os_error()))
    }
}

/// Symlink mtimes are left as they are where there is no `utimensat`.
#[cfg(not(unix))]
fn set_link_mtime(_at: &Path, _ns: u64) -> Result<()> {
    Ok(())
}

/// Writes a symlink to `target` at `at`.
fn symlink(target: &str, at: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(target, at).map_err(|e| Error::io(at, e))
    }
    #[cfg(not(unix))]
    {
        let _ = target;
        Err(Error::usage(format!(
            "{}: symlinks can only be extracted on Unix",
            at.display()
        )))
    }
}
