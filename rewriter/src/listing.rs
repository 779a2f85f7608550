//! The tree embedded in a packed module, as entries with guest paths: what `ls` shows and what
//! `inspect` and `extract` walk. Every name read from the image is checked to be one plain path
//! component, so no path built here can climb out of where it is put.

use crate::packed::{corrupt, Packed, BYTES_NAME};
use crate::{Error, Result};
use std::path::Path;
use wasifs_image::reader::{Kind, Node};
use wasifs_image::Image;

/// What an [`ImageEntry`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageEntryKind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
}

/// One file, directory or symlink of the embedded tree.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageEntry {
    /// Its absolute guest path, e.g. `/data/a.txt`.
    pub path: String,
    /// What it is.
    pub kind: ImageEntryKind,
    /// Permission bits (e.g. `0o644`).
    pub mode: u32,
    /// File length in bytes; a symlink's target length; 0 for a directory.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: u64,
    /// Link count (a file with hard links appears once per path).
    pub nlink: u32,
    /// A symlink's target, as stored.
    pub target: Option<String>,
    /// The image node (hard links share one).
    pub(crate) node: u32,
}

/// The entries of the packed module `bytes` at `guest_path`, like `ls`: a directory's entries
/// (with `recursive`, every entry below it, depth first), or the entry itself for a file or
/// symlink. With no path, the entries of every mount root. Entries come in name order.
pub fn list(bytes: &[u8], guest_path: Option<&str>, recursive: bool) -> Result<Vec<ImageEntry>> {
    let path = Path::new(BYTES_NAME);
    let packed = Packed::open(path, bytes)?;
    let tree = Tree::new(path, &packed.image);
    let roots = match guest_path {
        Some(p) => vec![tree.resolve(p)?],
        None => tree.mounts()?.into_iter().map(|m| m.root).collect(),
    };
    let mut out = Vec::new();
    for root in roots {
        if root.kind == ImageEntryKind::Dir {
            tree.children(&root, recursive, &mut out)?;
        } else {
            out.push(root);
        }
    }
    Ok(out)
}

/// A mount of the embedded tree: its root entry and whether it is read-only.
#[derive(Debug, Clone)]
pub(crate) struct MountRoot {
    /// The root directory, its path the mount's guest path.
    pub root: ImageEntry,
    /// Mounted `:ro`.
    pub read_only: bool,
}

/// Reads entries out of an image, naming `path` in its errors.
pub(crate) struct Tree<'i, 'a> {
    path: &'i Path,
    image: &'i Image<&'a [u8]>,
}

impl<'i, 'a> Tree<'i, 'a> {
    /// A reader of `image`, found in the module at `path`.
    pub fn new(path: &'i Path, image: &'i Image<&'a [u8]>) -> Self {
        Tree { path, image }
    }

    /// The image.
    pub fn image(&self) -> &Image<&'a [u8]> {
        self.image
    }

    /// A corrupt-image error.
    pub fn corrupt(&self, e: impl std::fmt::Display) -> Error {
        corrupt(self.path, e)
    }

    /// The string `[off, off + len)` of the string table.
    fn string(&self, off: u32, len: u32) -> Result<String> {
        let mut buf = vec![0; len as usize];
        self.image
            .read_str(off, len, &mut buf)
            .map_err(|e| self.corrupt(e))?;
        String::from_utf8(buf).map_err(|_| self.corrupt("a name is not UTF-8"))
    }

    /// The mounts, in preopen order.
    pub fn mounts(&self) -> Result<Vec<MountRoot>> {
        let mut out = Vec::new();
        for i in 0..self.image.preopen_count() {
            let p = self.image.preopen(i).map_err(|e| self.corrupt(e))?;
            let name = self.string(p.name_off, p.name_len)?;
            let path = normalize(&name).ok_or_else(|| {
                self.corrupt(format!("mount path {name:?} is not a plain guest path"))
            })?;
            out.push(MountRoot {
                root: self.entry(p.node, path)?,
                read_only: p.readonly,
            });
        }
        Ok(out)
    }

    /// The entry for node `id` at `path`.
    pub fn entry(&self, id: u32, path: String) -> Result<ImageEntry> {
        let n = self.image.node(id).map_err(|e| self.corrupt(e))?;
        Ok(ImageEntry {
            path,
            kind: match n.kind {
                Kind::Dir => ImageEntryKind::Dir,
                Kind::File => ImageEntryKind::File,
                Kind::Symlink => ImageEntryKind::Symlink,
            },
            mode: u32::from(n.mode),
            size: if n.is_dir() { 0 } else { n.size },
            mtime_ns: n.mtime_ns,
            nlink: n.nlink,
            target: if n.is_symlink() {
                Some(self.string(n.a, n.b)?)
            } else {
                None
            },
            node: id,
        })
    }

    /// The image node of `entry`.
    pub fn node(&self, entry: &ImageEntry) -> Result<Node> {
        self.image.node(entry.node).map_err(|e| self.corrupt(e))
    }

    /// Appends the entries of directory `dir` (all below it with `recursive`), depth first.
    pub fn children(
        &self,
        dir: &ImageEntry,
        recursive: bool,
        out: &mut Vec<ImageEntry>,
    ) -> Result<()> {
        let node = self.node(dir)?;
        for i in 0..node.b {
            let d = self.image.dirent(&node, i).map_err(|e| self.corrupt(e))?;
            let name = self.string(d.name_off, d.name_len)?;
            if !is_plain_name(&name) {
                return Err(self.corrupt(format!(
                    "entry {name:?} in {} is not a plain file name",
                    dir.path
                )));
            }
            let entry = self.entry(d.node, join(&dir.path, &name))?;
            let descend = recursive && entry.kind == ImageEntryKind::Dir && d.node != dir.node;
            out.push(entry);
            if descend {
                let entry = out.last().cloned().ok_or_else(|| self.corrupt("empty"))?;
                self.children(&entry, true, out)?;
            }
        }
        Ok(())
    }

    /// The entry at guest path `guest`: the mount with the longest matching path, then each
    /// component looked up in turn (symlinks are not followed).
    pub fn resolve(&self, guest: &str) -> Result<ImageEntry> {
        let not_found = || {
            Error::usage(format!(
                "{guest}: no such file or directory in the embedded tree; `wasifs ls` shows what is there"
            ))
        };
        let wanted = normalize(guest).ok_or_else(|| {
            Error::usage(format!(
                "{guest}: give an absolute guest path without `..` (e.g. /data/file.txt)"
            ))
        })?;
        let mounts = self.mounts()?;
        let mount = mounts
            .iter()
            .filter(|m| rest_of(&wanted, &m.root.path).is_some())
            .max_by_key(|m| m.root.path.len())
            .ok_or_else(not_found)?;
        let rest = rest_of(&wanted, &mount.root.path).unwrap_or_default();
        let mut entry = mount.root.clone();
        for name in rest.split('/').filter(|c| !c.is_empty()) {
            let node = self.node(&entry)?;
            if !node.is_dir() {
                return Err(not_found());
            }
            let id = self
                .image
                .lookup(&node, name.as_bytes())
                .map_err(|e| self.corrupt(e))?
                .ok_or_else(not_found)?;
            entry = self.entry(id, join(&entry.path, name))?;
        }
        Ok(entry)
    }
}

/// `guest` as `/a/b` (absolute, no `.`, empty or trailing components), `None` if it has `..`.
/// A relative path is taken from `/`.
fn normalize(guest: &str) -> Option<String> {
    let mut out = String::new();
    for c in guest.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c if c.contains('\0') => return None,
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Some(out)
}

/// What `path` has after the mount path `mount`, if it is `mount` or below it.
fn rest_of<'p>(path: &'p str, mount: &str) -> Option<&'p str> {
    if mount == "/" {
        return Some(path);
    }
    let rest = path.strip_prefix(mount)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// `dir/name`.
fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Whether `name` is one plain path component: not empty, `.` or `..`, no `/` or NUL.
pub(crate) fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_paths_are_normalized_and_dot_dot_refused() {
        assert_eq!(normalize("/a//b/./c/").as_deref(), Some("/a/b/c"));
        assert_eq!(normalize(".").as_deref(), Some("/"));
        assert_eq!(normalize("a").as_deref(), Some("/a"));
        assert_eq!(normalize("/a/../b"), None);
        assert_eq!(rest_of("/data/x", "/data"), Some("/x"));
        assert_eq!(rest_of("/database", "/data"), None);
        assert_eq!(rest_of("/x", "/"), Some("/x"));
    }

    #[test]
    fn only_single_components_are_plain_names() {
        for bad in ["", ".", "..", "a/b", "/", "a\0"] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
        assert!(is_plain_name("..."));
        assert!(is_plain_name(".hidden"));
    }
}
