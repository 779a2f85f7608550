//! What a dry run reports: every node the image would hold (guest path, kind, size, host path) and
//! every host entry left out, with the reason.

use std::path::PathBuf;

/// What [`Rewriter::dry_run`](crate::Rewriter::dry_run) found: the image a rewrite would embed,
/// nothing compressed and nothing written.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DryRun {
    /// The nodes, in the order they would be added (mount points first, then each mount's tree in
    /// sorted order).
    pub entries: Vec<Entry>,
    /// Host entries left out, in walk order.
    pub skipped: Vec<Skipped>,
    /// Warnings a rewrite would give (e.g. a pattern that matched nothing).
    pub warnings: Vec<String>,
    /// Regular files (hard links counted once).
    pub files: u64,
    /// Directories, roots included.
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Total uncompressed bytes of file data.
    pub data_len: u64,
}

/// One node the image would hold.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// Where the program sees it (`/etc/app.toml`; a relative mount's path starts with its name).
    pub guest: String,
    /// What it is.
    pub kind: EntryKind,
    /// File length, symlink target length, 0 for a directory.
    pub size: u64,
    /// The host path it comes from.
    pub host: PathBuf,
    /// A file `--random-access` marks: stored in small chunks for reading at random.
    pub random_access: bool,
}

/// The kind of an [`Entry`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// Another name of a file already listed (a hard link).
    HardLink,
    /// A symbolic link to this target.
    Symlink(String),
}

/// A host entry left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Skipped {
    /// The host path.
    pub host: PathBuf,
    /// Why: `--exclude "target/"`, `not matched by --include`, `the input module`, `socket`, ….
    pub reason: String,
}

/// Collects a [`DryRun`] during the walk (only when one was asked for).
#[derive(Debug, Default)]
pub(super) struct Listing {
    pub entries: Vec<Entry>,
    pub skipped: Vec<Skipped>,
}

impl Listing {
    /// Notes a node.
    pub fn entry(&mut self, guest: String, kind: EntryKind, size: u64, host: &std::path::Path) {
        self.entries.push(Entry {
            guest,
            kind,
            size,
            host: host.to_path_buf(),
            random_access: false,
        });
    }

    /// Notes a left-out host entry.
    pub fn skip(&mut self, host: &std::path::Path, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            host: host.to_path_buf(),
            reason: reason.into(),
        });
    }
}

/// The guest path of namespace path `comps` in the namespace `prefix` (`""` for the `/` tree, a
/// relative mount's name otherwise).
pub(super) fn guest_path(prefix: &str, comps: &[Vec<u8>]) -> String {
    let joined: Vec<String> = comps
        .iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    match (prefix, joined.is_empty()) {
        ("", _) => format!("/{}", joined.join("/")),
        (p, true) => p.to_string(),
        (p, false) => format!("{p}/{}", joined.join("/")),
    }
}
