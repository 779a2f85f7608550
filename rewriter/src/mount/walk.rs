//! The walk of a mount source's host tree into the image builder: entries sorted, globs applied,
//! hard links shared, symlinks kept or followed (with loop detection), special files skipped.

use super::build_err;
use super::filter::{Filter, Glob};
use super::host_meta::{file_key, has_links, meta_of, name_bytes, special_kind};
use crate::{Error, Result};
use std::collections::{BTreeSet, HashMap};
use std::fs::{self, Metadata};
use std::path::Path;
use wasifs_image::{FileData, ImageBuilder, NodeRef};

/// Hint appended to errors about an entry inside a mount source.
pub(super) const FIX_ENTRY: &str =
    "(check the path given to --mount and its permissions, or --exclude it)";

/// Guest paths (components inside one namespace) of deeper mounts, skipped while walking a shallower one.
pub(super) type Shadow = BTreeSet<Vec<Vec<u8>>>;

/// How the walk selects and copies entries; made only by [`WalkOptions::new`], before anything is
/// read.
#[derive(Debug, Clone, Default)]
pub(crate) struct WalkOptions {
    /// `--include`/`--exclude`.
    filter: Filter,
    /// `--follow-symlinks`: store what symlinks point to instead of the links.
    follow_symlinks: bool,
}

impl WalkOptions {
    /// Gathers the `include` and `exclude` globs into sets.
    pub fn new(include: &[Glob], exclude: &[Glob], follow_symlinks: bool) -> Result<Self> {
        Ok(WalkOptions {
            filter: Filter::new(include, exclude)?,
            follow_symlinks,
        })
    }
}

/// The walk over every mount, feeding one builder.
pub(super) struct Walk<'a> {
    /// The image being built.
    pub b: ImageBuilder,
    /// Which entries to keep, whether to follow symlinks.
    opts: &'a WalkOptions,
    /// Skipped entries (sockets, FIFOs, devices), one line each.
    pub warnings: Vec<String>,
    /// Host (dev, ino) of files with several names → their node.
    inodes: HashMap<(u64, u64), NodeRef>,
    /// Host (dev, ino) of the directories being walked, to catch symlink loops.
    ancestors: Vec<(u64, u64)>,
}

impl<'a> Walk<'a> {
    /// A walk feeding `b` as `opts` say.
    pub fn new(b: ImageBuilder, opts: &'a WalkOptions) -> Self {
        Walk {
            b,
            opts,
            warnings: Vec::new(),
            inodes: HashMap::new(),
            ancestors: Vec::new(),
        }
    }

    /// Walks the directory mount source `host` (metadata `meta`) into image directory `node`,
    /// whose path in its namespace is `comps`; paths in `shadow` belong to deeper mounts.
    pub fn walk_mount(
        &mut self,
        host: &Path,
        meta: &Metadata,
        node: NodeRef,
        comps: &[Vec<u8>],
        shadow: &Shadow,
    ) -> Result<()> {
        self.ancestors.extend(file_key(meta));
        let mut comps = comps.to_vec();
        let result = self.walk_dir(host, b"", node, shadow, &mut comps);
        self.ancestors.clear();
        result
    }

    /// Adds host file `path` as `name` under `dir`, as a hard link when its inode was seen already.
    pub fn add_file(
        &mut self,
        dir: NodeRef,
        name: &[u8],
        path: &Path,
        md: &Metadata,
    ) -> Result<()> {
        let key = if has_links(md) { file_key(md) } else { None };
        if let Some(&existing) = key.as_ref().and_then(|k| self.inodes.get(k)) {
            return self.b.add_hardlink(dir, name, existing).map_err(build_err);
        }
        let node = self
            .b
            .add_file(dir, name, meta_of(md), FileData::Path(path.to_path_buf()))
            .map_err(build_err)?;
        if let Some(k) = key {
            self.inodes.insert(k, node);
        }
        Ok(())
    }

    /// Walks host directory `host` into image directory `dir`; `comps` is `dir`'s path in its namespace.
    fn walk_dir(
        &mut self,
        host: &Path,
        rel: &[u8],
        dir: NodeRef,
        shadow: &Shadow,
        comps: &mut Vec<Vec<u8>>,
    ) -> Result<()> {
        let read = fs::read_dir(host)
            .map_err(|e| Error::mount(host, format!("cannot list directory: {e} {FIX_ENTRY}")))?;
        let mut entries = Vec::new();
        for entry in read {
            let entry = entry.map_err(|e| {
                Error::mount(host, format!("cannot list directory: {e} {FIX_ENTRY}"))
            })?;
            entries.push((name_bytes(&entry.file_name()), entry.path()));
        }
        entries.sort();
        for (name, path) in entries {
            comps.push(name.clone());
            let shadowed = shadow.contains(comps);
            let result = if shadowed {
                Ok(())
            } else {
                self.walk_entry(&path, rel, &name, dir, shadow, comps)
            };
            comps.pop();
            result?;
        }
        Ok(())
    }

    /// Adds one directory entry (recursing into directories).
    fn walk_entry(
        &mut self,
        path: &Path,
        parent_rel: &[u8],
        name: &[u8],
        dir: NodeRef,
        shadow: &Shadow,
        comps: &mut Vec<Vec<u8>>,
    ) -> Result<()> {
        let mut rel = parent_rel.to_vec();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name);
        if self.opts.filter.excluded(&rel) {
            return Ok(());
        }
        let mut md = fs::symlink_metadata(path)
            .map_err(|e| Error::mount(path, format!("cannot read: {e} {FIX_ENTRY}")))?;
        if md.file_type().is_symlink() && self.opts.follow_symlinks {
            md = fs::metadata(path).map_err(|e| {
                Error::mount(
                    path,
                    format!("dangling or looping symlink ({e}); fix it, exclude it, or drop --follow-symlinks"),
                )
            })?;
        }
        if md.is_dir() {
            let key = file_key(&md);
            if key.is_some_and(|k| self.ancestors.contains(&k)) {
                return Err(Error::mount(
                    path,
                    "symlink loop: it leads back to a directory being copied; exclude it or drop --follow-symlinks",
                ));
            }
            let node = self.b.add_dir(dir, name, meta_of(&md)).map_err(build_err)?;
            self.ancestors.extend(key);
            let result = self.walk_dir(path, &rel, node, shadow, comps);
            if key.is_some() {
                self.ancestors.pop();
            }
            return result;
        }
        if !self.opts.filter.included(&rel) {
            return Ok(());
        }
        if md.is_file() {
            return self.add_file(dir, name, path, &md);
        }
        if md.file_type().is_symlink() {
            let target = fs::read_link(path)
                .map_err(|e| Error::mount(path, format!("cannot read symlink: {e}")))?;
            return self
                .b
                .add_symlink(dir, name, meta_of(&md), &name_bytes(target.as_os_str()))
                .map(drop)
                .map_err(build_err);
        }
        self.warnings.push(format!(
            "{}: skipped {} (only files, directories and symlinks are stored)",
            path.display(),
            special_kind(&md)
        ));
        Ok(())
    }
}
