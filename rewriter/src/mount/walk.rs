//! The walk of a mount source's host tree into the image builder: entries sorted, globs applied,
//! hard links shared, symlinks kept or followed (with loop detection), special files skipped,
//! directories that `--include` leaves empty not created.

use super::build_err;
use super::filter::{Filter, Glob, Seen};
use super::host_meta::{file_key, has_links, meta_of, name_bytes, special_kind, Mtimes};
use super::lister::{self, Lister};
use super::listing::{guest_path, EntryKind, Listing};
use crate::{Error, Result};
use std::collections::{BTreeSet, HashMap};
use std::fs::{self, Metadata};
use std::path::{Path, PathBuf};
use wasifs_image::Meta;
use wasifs_image::{ImageBuilder, NodeRef};

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
    /// `--mtime` / `SOURCE_DATE_EPOCH`.
    mtimes: Mtimes,
    /// Host files never embedded (the input module, the output): (dev, ino) and what they are.
    skip: Vec<((u64, u64), String)>,
}

impl WalkOptions {
    /// Gathers the `include`, `exclude` and `random` (`--random-access`) globs into sets.
    pub fn new(
        include: &[Glob],
        exclude: &[Glob],
        random: &[Glob],
        follow_symlinks: bool,
        mtimes: Mtimes,
    ) -> Result<Self> {
        Ok(WalkOptions {
            filter: Filter::new(include, exclude, random)?,
            follow_symlinks,
            mtimes,
            skip: Vec::new(),
        })
    }

    /// Never embeds the host file `path` (if it exists), `what` the rewrite calls it.
    pub fn skip(&mut self, path: &Path, what: &str) {
        if let Some(key) = fs::metadata(path).ok().as_ref().and_then(file_key) {
            self.skip.push((key, what.to_string()));
        }
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
    /// The directories from the mount point down to the one being walked; one is created only
    /// when something is added to it (or it is included as a whole).
    dirs: Vec<PendingDir>,
    /// The patterns that matched something.
    seen: Seen,
    /// What a dry run reports, when one was asked for.
    pub listing: Option<Listing>,
    /// The guest path of the namespace being filled (`""` for `/`, a relative mount's name).
    pub ns_prefix: String,
    /// Whether directories may be listed ahead on a helper thread (not when the build is asked
    /// for one thread, or the machine has one core).
    pub list_ahead: bool,
    /// Lists the directories of the mount being walked, ahead on a helper thread.
    lister: Option<Lister>,
}

/// An entry's metadata (the target's, for a symlink under `--follow-symlinks`), or the link's own
/// and the error of a dangling or looping link.
type EntryMeta = std::result::Result<Metadata, (Metadata, String)>;

/// A directory on the walk's path, created in the image when first needed.
struct PendingDir {
    /// Its name in its parent.
    name: Vec<u8>,
    /// Its host path.
    path: PathBuf,
    /// Its guest path, when a dry run lists it.
    guest: Option<String>,
    /// Its metadata.
    meta: Meta,
    /// Its node, once created.
    node: Option<NodeRef>,
    /// Whether `--random-access` marks it, and so the files below it (unless a `!` line says
    /// otherwise).
    random: bool,
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
            dirs: Vec::new(),
            seen: Seen::default(),
            listing: None,
            ns_prefix: String::new(),
            list_ahead: true,
            lister: None,
        }
    }

    /// Notes the node at namespace path `comps` for a dry run.
    pub fn note_entry(&mut self, comps: &[Vec<u8>], kind: EntryKind, size: u64, host: &Path) {
        if let Some(l) = &mut self.listing {
            l.entry(guest_path(&self.ns_prefix, comps), kind, size, host);
        }
    }

    /// Notes the file (or hard link) at namespace path `comps` for a dry run; `random` when
    /// `--random-access` marks it.
    pub fn note_file(
        &mut self,
        comps: &[Vec<u8>],
        kind: EntryKind,
        size: u64,
        host: &Path,
        random: bool,
    ) {
        self.note_entry(comps, kind, size, host);
        if let Some(e) = self.listing.as_mut().and_then(|l| l.entries.last_mut()) {
            e.random_access = random;
        }
    }

    /// Notes a left-out host entry for a dry run.
    fn note_skip(&mut self, host: &Path, reason: String) {
        if let Some(l) = &mut self.listing {
            l.skip(host, reason);
        }
    }

    /// The image metadata of a host entry, its times as `--mtime`/`SOURCE_DATE_EPOCH` say.
    pub fn meta(&self, md: &Metadata) -> Meta {
        self.opts.mtimes.apply(meta_of(md))
    }

    /// Ends the walk: a warning for every `--include`/`--exclude`/`--random-access` pattern that
    /// matched nothing.
    pub fn finish_filter(&mut self) {
        let unused = self.opts.filter.unused(&self.seen);
        self.warnings.extend(unused);
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
        self.dirs = vec![PendingDir {
            name: Vec::new(),
            path: host.to_path_buf(),
            guest: None,
            meta: self.meta(meta),
            node: Some(node),
            random: false,
        }];
        let mut comps = comps.to_vec();
        let included = !self.opts.filter.includes();
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        if self.list_ahead && cores > 1 {
            self.lister = Some(Lister::new(self.enters(&comps, shadow)));
        }
        let result = self.walk_dir(host, b"", included, shadow, &mut comps);
        self.lister = None;
        self.ancestors.clear();
        self.dirs.clear();
        result
    }

    /// Whether the walk of the mount at namespace path `comps` enters the directory at `rel` in
    /// its source: not `--exclude`d, not at a deeper mount's path (in `shadow`).
    pub(super) fn enters(
        &self,
        comps: &[Vec<u8>],
        shadow: &Shadow,
    ) -> impl Fn(&[u8]) -> bool + Send + Sync {
        let filter = self.opts.filter.clone();
        let (comps, shadow) = (comps.to_vec(), shadow.clone());
        move |rel: &[u8]| {
            let shadowed = || {
                let mut path = comps.clone();
                path.extend(rel.split(|&b| b == b'/').map(<[u8]>::to_vec));
                shadow.contains(&path)
            };
            filter.excluded(rel, true, &mut Seen::default()).is_none()
                && (shadow.is_empty() || !shadowed())
        }
    }

    /// The node of the directory being walked, created (with its missing parents) if need be.
    fn current_dir(&mut self) -> Result<NodeRef> {
        let first = self
            .dirs
            .iter()
            .rposition(|d| d.node.is_some())
            .ok_or_else(|| Error::Internal {
                message: "walk: mount point missing".into(),
            })?;
        for i in first + 1..self.dirs.len() {
            let parent = self.dirs[i - 1].node.ok_or_else(|| Error::Internal {
                message: "walk: parent directory not created".into(),
            })?;
            let d = &self.dirs[i];
            check_utf8(&d.path, &d.name)?;
            let node = self.b.add_dir(parent, &d.name, d.meta).map_err(build_err)?;
            if let (Some(l), Some(guest)) = (&mut self.listing, &d.guest) {
                l.entry(guest.clone(), EntryKind::Dir, 0, &d.path);
            }
            self.dirs[i].node = Some(node);
        }
        self.dirs
            .last()
            .and_then(|d| d.node)
            .ok_or_else(|| Error::Internal {
                message: "walk: no directory".into(),
            })
    }

    /// Whether the walk has `--random-access` patterns.
    pub fn marks_random(&self) -> bool {
        self.opts.filter.marks_random()
    }

    /// Whether `--random-access` marks a file mounted on its own, matched by its guest name (its
    /// path relative to the mount, as a directory mount's files are).
    pub fn mounted_file_random(&mut self, name: &[u8]) -> bool {
        self.opts
            .filter
            .random_access(name, false, false, &mut self.seen)
    }

    /// Adds host file `path` as `name` under `dir`, as a hard link when its inode was seen already;
    /// says which it added. `random`: stored for reading at random (the node it links to, for a
    /// hard link).
    pub fn add_file(
        &mut self,
        dir: NodeRef,
        name: &[u8],
        path: &Path,
        md: &Metadata,
        random: bool,
    ) -> Result<EntryKind> {
        let key = if has_links(md) { file_key(md) } else { None };
        if let Some(&existing) = key.as_ref().and_then(|k| self.inodes.get(k)) {
            self.b
                .add_hardlink(dir, name, existing)
                .map_err(build_err)?;
            if random {
                self.b.read_at_random(existing).map_err(build_err)?;
            }
            return Ok(EntryKind::HardLink);
        }
        // The walk's metadata gives the length: the builder does not stat the file again.
        let node = self
            .b
            .add_host_file(dir, name, self.meta(md), path.to_path_buf(), md.len())
            .map_err(build_err)?;
        if let Some(k) = key {
            self.inodes.insert(k, node);
        }
        if random {
            self.b.read_at_random(node).map_err(build_err)?;
        }
        Ok(EntryKind::File)
    }

    /// Walks host directory `host`, the top of `self.dirs`; `rel` is its path in the mount source,
    /// `comps` in its namespace; `included` when it is included as a whole.
    fn walk_dir(
        &mut self,
        host: &Path,
        rel: &[u8],
        included: bool,
        shadow: &Shadow,
        comps: &mut Vec<Vec<u8>>,
    ) -> Result<()> {
        let entries = match &self.lister {
            Some(l) => l.entries(host, rel),
            None => lister::list(host),
        };
        let entries = entries
            .map_err(|e| Error::mount(host, format!("cannot list directory: {e} {FIX_ENTRY}")))?;
        for lister::Entry { name, path, lstat } in entries {
            comps.push(name.clone());
            let shadowed = shadow.contains(comps);
            let result = if shadowed {
                Ok(())
            } else {
                self.entry_meta(&path, lstat).and_then(|md| {
                    self.walk_entry((&path, md), rel, &name, included, shadow, comps)
                })
            };
            comps.pop();
            result?;
        }
        Ok(())
    }

    /// The metadata of `path` (the target's, for a symlink under `--follow-symlinks`) from `lstat`,
    /// its own; `Err` holds the link's own metadata and the error of a dangling or looping link.
    fn entry_meta(&self, path: &Path, lstat: std::io::Result<Metadata>) -> Result<EntryMeta> {
        let md = lstat.map_err(|e| Error::mount(path, format!("cannot read: {e} {FIX_ENTRY}")))?;
        if md.file_type().is_symlink() && self.opts.follow_symlinks {
            return Ok(fs::metadata(path).map_err(|e| {
                (
                    md,
                    format!("dangling or looping symlink ({e}); fix it, exclude it, or drop --follow-symlinks"),
                )
            }));
        }
        Ok(Ok(md))
    }

    /// Adds one directory entry, at `path` with the metadata [`Self::entry_meta`] gave (recursing
    /// into directories); `parent_included` when its directory is included as a whole.
    fn walk_entry(
        &mut self,
        (path, md): (&Path, EntryMeta),
        parent_rel: &[u8],
        name: &[u8],
        parent_included: bool,
        shadow: &Shadow,
        comps: &mut Vec<Vec<u8>>,
    ) -> Result<()> {
        let mut rel = parent_rel.to_vec();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name);
        let is_dir = md.as_ref().is_ok_and(|md| md.is_dir());
        let filter = &self.opts.filter;
        if let Some(pattern) = filter.excluded(&rel, is_dir, &mut self.seen) {
            let reason = format!("--exclude {pattern:?}");
            self.note_skip(path, reason);
            return Ok(());
        }
        let included = filter.included(&rel, is_dir, parent_included, &mut self.seen);
        let parent_random = self.dirs.last().is_some_and(|d| d.random);
        let random = filter.random_access(&rel, is_dir, parent_random, &mut self.seen);
        let md = md.map_err(|(_, e)| Error::mount(path, e))?;
        if md.is_dir() {
            let key = file_key(&md);
            if key.is_some_and(|k| self.ancestors.contains(&k)) {
                return Err(Error::mount(
                    path,
                    "symlink loop: it leads back to a directory being copied; exclude it or drop --follow-symlinks",
                ));
            }
            self.dirs.push(PendingDir {
                name: name.to_vec(),
                path: path.to_path_buf(),
                guest: self
                    .listing
                    .as_ref()
                    .map(|_| guest_path(&self.ns_prefix, comps)),
                meta: self.meta(&md),
                node: None,
                random,
            });
            let made = if included {
                self.current_dir().map(drop)
            } else {
                Ok(())
            };
            self.ancestors.extend(key);
            let result = made.and_then(|()| self.walk_dir(path, &rel, included, shadow, comps));
            if key.is_some() {
                self.ancestors.pop();
            }
            self.dirs.pop();
            return result;
        }
        if !included {
            self.note_skip(path, "not matched by --include".into());
            return Ok(());
        }
        if let Some((_, what)) =
            file_key(&md).and_then(|k| self.opts.skip.iter().find(|(s, _)| *s == k))
        {
            self.warnings.push(format!(
                "{}: not embedded: it is the {what} of this rewrite (it would grow on every run)",
                path.display()
            ));
            let reason = format!("the {what}");
            self.note_skip(path, reason);
            return Ok(());
        }
        check_utf8(path, name)?;
        if md.is_file() {
            let dir = self.current_dir()?;
            let kind = self.add_file(dir, name, path, &md, random)?;
            self.note_file(comps, kind, md.len(), path, random);
            return Ok(());
        }
        if md.file_type().is_symlink() {
            let target = fs::read_link(path)
                .map_err(|e| Error::mount(path, format!("cannot read symlink: {e}")))?;
            let dir = self.current_dir()?;
            let target = name_bytes(target.as_os_str());
            self.b
                .add_symlink(dir, name, self.meta(&md), &target)
                .map_err(build_err)?;
            let kind = EntryKind::Symlink(String::from_utf8_lossy(&target).into_owned());
            self.note_entry(comps, kind, target.len() as u64, path);
            return Ok(());
        }
        self.warnings.push(format!(
            "{}: skipped {} (only files, directories and symlinks are stored)",
            path.display(),
            special_kind(&md)
        ));
        self.note_skip(path, special_kind(&md).into());
        Ok(())
    }
}

/// Refuses a name that is not UTF-8: WASI passes names to programs as UTF-8 strings (wasmtime
/// `--dir` fails `fd_readdir` on a directory holding one).
fn check_utf8(path: &Path, name: &[u8]) -> Result<()> {
    if std::str::from_utf8(name).is_ok() {
        return Ok(());
    }
    Err(Error::mount(
        path,
        format!(
            "the name `{}` is not valid UTF-8, which WASI cannot pass to a program \
             (wasmtime --dir fails to list such a directory); rename it, or --exclude it",
            name.escape_ascii()
        ),
    ))
}
