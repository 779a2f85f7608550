//! `--mount GUEST=HOST[:ro|:rw]` parsing and the host tree walk that feeds the image builder.

use crate::{Error, Result};
use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};
use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use wasifs_image::format::Kind;
use wasifs_image::{
    BuildError, BuildOptions, CacheSize, FileData, ImageBuilder, Level, Meta, NodeRef,
};

/// The form every `--mount` must have, shown in each parse error.
const MOUNT_FORM: &str =
    "expected GUEST=HOST[:ro|:rw], e.g. --mount /=./assets or --mount /data=./data:ro";

/// Hint appended to errors about a mount source.
const CHECK_PATH: &str = "(check the path given to --mount)";
/// Hint appended to errors about an entry inside a mount source.
const FIX_ENTRY: &str = "(check the path given to --mount and its permissions, or --exclude it)";

/// One `--mount GUEST=HOST[:ro|:rw]`, with GUEST normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Guest path: absolute (`/`, `/usr/lib`) or relative (`.`, `data`), normalised.
    pub guest: String,
    /// Host directory or file.
    pub host: PathBuf,
    /// True for `:ro`: recorded in the preopen flags.
    pub readonly: bool,
}

/// How the host tree is turned into an image.
#[derive(Debug, Clone)]
pub struct TreeOptions {
    /// Globs selecting files and symlinks (all if empty), relative to the mount source.
    pub include: Vec<String>,
    /// Globs of paths to leave out (directories are pruned); wins over `include`.
    pub exclude: Vec<String>,
    /// Store what symlinks point to instead of the links.
    pub follow_symlinks: bool,
    /// zstd level of the file data, or store it uncompressed.
    pub level: Level,
    /// Bytes of decompressed chunks the shim may keep cached.
    pub cache_size: CacheSize,
    /// Compression threads; 0 = one per available core. The image is the same bytes either way.
    pub threads: usize,
    /// Told how far the image build is, if set.
    pub progress: Option<Progress>,
    /// What the app sees of the runtime's own preopens.
    pub host: HostPolicy,
}

/// What the app sees of the host runtime's own preopens (`--host-fs`, `--preopen`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPolicy {
    /// Hide every host preopen that `preopens` does not name (`--host-fs=deny`).
    pub deny: bool,
    /// Host preopens shown to the app under another name, in command-line order.
    pub preopens: Vec<HostPreopen>,
}

/// One `--preopen GUEST=HOSTNAME`: the runtime's preopen HOSTNAME appears to the app as GUEST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPreopen {
    /// The name the app sees (normalised like a mount's GUEST).
    pub guest: String,
    /// The name the runtime gives the preopen, exactly (e.g. `/tmp/out` for `--dir /tmp/out`).
    pub host: String,
}

/// The form of `--preopen`, shown in its errors.
const PREOPEN_FORM: &str =
    "expected GUEST=HOSTNAME, e.g. --preopen /out=/tmp/out for a runtime given --dir /tmp/out";

impl FromStr for HostPreopen {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::usage(format!("--preopen {s:?}: {why}; {PREOPEN_FORM}"));
        if s.contains('\0') {
            return Err(bad("contains a NUL byte"));
        }
        let (guest, host) = s.split_once('=').ok_or_else(|| bad("missing `=`"))?;
        if host.is_empty() {
            return Err(bad("HOSTNAME is empty"));
        }
        Ok(HostPreopen {
            guest: normalise_guest(guest).map_err(bad)?,
            host: host.to_string(),
        })
    }
}

/// Rejects host preopen aliases that collide with a mount or with each other.
fn check_host_policy(placed: &[Placed<'_>], host: &HostPolicy) -> Result<()> {
    for (i, p) in host.preopens.iter().enumerate() {
        if let Some(m) = placed.iter().find(|m| m.preopen_name() == p.guest) {
            return Err(Error::usage(format!(
                "--preopen {}={} and --mount {} both claim the guest path {}; \
                 give the host directory another guest name",
                p.guest, p.host, m.spec, p.guest
            )));
        }
        if let Some(q) = host.preopens[..i]
            .iter()
            .find(|q| q.guest == p.guest || q.host == p.host)
        {
            return Err(Error::usage(format!(
                "--preopen {}={} and --preopen {}={} overlap; name each guest path and host preopen once",
                q.guest, q.host, p.guest, p.host
            )));
        }
    }
    Ok(())
}

/// A callback `(uncompressed bytes written, total bytes to write)`, called as the image is built.
#[derive(Clone)]
pub struct Progress(pub std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress(..)")
    }
}

impl Default for TreeOptions {
    /// No globs, symlinks kept as links, [`Level::DEFAULT`] (the CLI default), all cores, no progress.
    fn default() -> Self {
        TreeOptions {
            include: Vec::new(),
            exclude: Vec::new(),
            follow_symlinks: false,
            level: Level::DEFAULT,
            cache_size: CacheSize::DEFAULT,
            threads: 0,
            progress: None,
            host: HostPolicy::default(),
        }
    }
}

/// A built image and what it holds.
#[derive(Debug, Clone, Default)]
pub struct BuiltImage {
    /// The encoded image (the passive data segment).
    pub bytes: Vec<u8>,
    /// Regular files (hard links counted once).
    pub files: u64,
    /// Directories, roots included.
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Total uncompressed bytes of file data.
    pub data_len: u64,
    /// Entries that were skipped (sockets, FIFOs, devices), one line each.
    pub warnings: Vec<String>,
}

impl MountSpec {
    /// True when the guest path is absolute (part of the shared `/` tree).
    pub fn is_absolute(&self) -> bool {
        self.guest.starts_with('/')
    }
}

impl std::fmt::Display for MountSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ro = if self.readonly { ":ro" } else { "" };
        write!(f, "{}={}{ro}", self.guest, self.host.display())
    }
}

/// Normalises a guest path: collapses `//`, drops `.` components and a trailing `/`.
fn normalise_guest(guest: &str) -> std::result::Result<String, &'static str> {
    if guest.is_empty() {
        return Err("GUEST is empty");
    }
    let mut parts = Vec::new();
    for part in guest.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("GUEST must not contain `..`"),
            p => parts.push(p),
        }
    }
    Ok(match (guest.starts_with('/'), parts.is_empty()) {
        (true, _) => format!("/{}", parts.join("/")),
        (false, true) => ".".to_string(),
        (false, false) => parts.join("/"),
    })
}

impl FromStr for MountSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::usage(format!("--mount {s:?}: {why}; {MOUNT_FORM}"));
        if s.contains('\0') {
            return Err(bad("contains a NUL byte"));
        }
        let (guest, host) = s.split_once('=').ok_or_else(|| bad("missing `=`"))?;
        let (host, readonly) = if let Some(h) = host.strip_suffix(":ro") {
            (h, true)
        } else if let Some(h) = host.strip_suffix(":rw") {
            (h, false)
        } else {
            (host, false)
        };
        if host.is_empty() {
            return Err(bad("HOST is empty"));
        }
        let guest = normalise_guest(guest).map_err(bad)?;
        Ok(MountSpec {
            guest,
            host: PathBuf::from(host),
            readonly,
        })
    }
}

/// Which root a mount lives under: the shared `/` tree or a separate root named by a relative path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Namespace {
    Absolute,
    Relative(String),
}

/// A mount resolved to its place in the image.
#[derive(Debug)]
struct Placed<'a> {
    spec: &'a MountSpec,
    ns: Namespace,
    /// Path inside the namespace root (empty = the root itself).
    comps: Vec<Vec<u8>>,
    /// Metadata of the mount source (symlinks followed).
    meta: Metadata,
}

impl Placed<'_> {
    fn is_file(&self) -> bool {
        !self.meta.is_dir()
    }

    /// Name of the preopen this mount asks for (a file mount: its parent directory).
    fn preopen_name(&self) -> String {
        match (&self.ns, self.is_file()) {
            (Namespace::Relative(n), _) => n.clone(),
            (Namespace::Absolute, false) => self.spec.guest.clone(),
            (Namespace::Absolute, true) => {
                let parent = &self.comps[..self.comps.len().saturating_sub(1)];
                let parts: Vec<String> = parent
                    .iter()
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect();
                format!("/{}", parts.join("/"))
            }
        }
    }
}

/// Host file metadata as image metadata (permission bits, times in ns; pre-1970 clamps to 0).
fn meta_of(md: &Metadata) -> Meta {
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
fn file_key(md: &Metadata) -> Option<(u64, u64)> {
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
fn has_links(md: &Metadata) -> bool {
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
fn name_bytes(name: &OsStr) -> Vec<u8> {
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
fn special_kind(md: &Metadata) -> &'static str {
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

/// Compiles `--include`/`--exclude` globs: a pattern without `/` matches at any depth, a trailing
/// `/**` also matches the directory itself, a leading `/` anchors at the mount source.
fn glob_set(flag: &str, patterns: &[String]) -> Result<GlobSet> {
    let mut set = GlobSetBuilder::new();
    for pat in patterns {
        let trimmed = pat.trim_start_matches('/');
        let mut forms = Vec::new();
        if trimmed.is_empty() {
            return Err(Error::usage(format!(
                "{flag} {pat:?}: empty pattern; give a glob such as **/*.py or docs/**"
            )));
        }
        if pat.starts_with('/') || trimmed.contains('/') {
            forms.push(trimmed.to_string());
        } else {
            forms.push(format!("**/{trimmed}"));
        }
        if let Some(dir) = trimmed.strip_suffix("/**") {
            forms.push(dir.to_string());
        }
        for form in forms {
            let glob = GlobBuilder::new(&form)
                .literal_separator(true)
                .build()
                .map_err(|e| {
                    Error::usage(format!(
                        "{flag} {pat:?}: {e}; give a glob such as **/*.py or docs/**"
                    ))
                })?;
            set.add(glob);
        }
    }
    set.build()
        .map_err(|e| Error::usage(format!("{flag}: {e}")))
}

/// Maps a builder error to the rewriter's error, naming the host path when there is one.
fn build_err(e: BuildError) -> Error {
    match e {
        BuildError::Io { path, source } => Error::mount(path, format!("cannot read: {source} {FIX_ENTRY}")),
        BuildError::SizeChanged { path, .. } => {
            Error::mount(path, "file changed size while being read; retry when nothing is writing to it")
        }
        BuildError::FileTooLarge { what, size } => Error::mount(
            what,
            format!("file of {size} bytes is too large: the image holds files under 4 GiB; --exclude it"),
        ),
        BuildError::ImageTooLarge => Error::usage(
            "the filesystem image would be 4 GiB or larger; mount less, use --exclude, or raise --level",
        ),
        BuildError::InvalidOptions(m) => Error::usage(m),
        other => Error::Internal { message: format!("image builder: {other}") },
    }
}

/// The walk over every mount, feeding one builder.
struct Walk<'a> {
    b: ImageBuilder,
    opts: &'a TreeOptions,
    include: Option<GlobSet>,
    exclude: GlobSet,
    warnings: Vec<String>,
    /// Host (dev, ino) of files with several names → their node.
    inodes: HashMap<(u64, u64), NodeRef>,
    /// Host (dev, ino) of the directories being walked, to catch symlink loops.
    ancestors: Vec<(u64, u64)>,
}

impl Walk<'_> {
    fn excluded(&self, rel: &[u8]) -> bool {
        self.exclude.is_match_candidate(&Candidate::from_bytes(rel))
    }

    fn included(&self, rel: &[u8]) -> bool {
        self.include
            .as_ref()
            .is_none_or(|inc| inc.is_match_candidate(&Candidate::from_bytes(rel)))
    }

    /// Adds host file `path` as `name` under `dir`, as a hard link when its inode was seen already.
    fn add_file(&mut self, dir: NodeRef, name: &[u8], path: &Path, md: &Metadata) -> Result<()> {
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
        shadow: &BTreeSet<Vec<Vec<u8>>>,
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
        shadow: &BTreeSet<Vec<Vec<u8>>>,
        comps: &mut Vec<Vec<u8>>,
    ) -> Result<()> {
        let mut rel = parent_rel.to_vec();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name);
        if self.excluded(&rel) {
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
        if !self.included(&rel) {
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

/// Resolves every mount to its namespace and path, reading its source's metadata.
fn place(mounts: &[MountSpec]) -> Result<Vec<Placed<'_>>> {
    let mut placed: Vec<Placed<'_>> = Vec::with_capacity(mounts.len());
    for spec in mounts {
        let meta = fs::metadata(&spec.host).map_err(|e| {
            Error::mount(
                &spec.host,
                format!("cannot read mount source: {e} {CHECK_PATH}"),
            )
        })?;
        if !meta.is_dir() && !meta.is_file() {
            return Err(Error::mount(
                &spec.host,
                format!("not a directory or regular file {CHECK_PATH}"),
            ));
        }
        let parts: Vec<Vec<u8>> = spec
            .guest
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .map(|p| p.as_bytes().to_vec())
            .collect();
        if meta.is_file() && parts.is_empty() {
            return Err(Error::usage(format!(
                "--mount {spec}: {} is a file, so GUEST must name a file (e.g. {}/{}), not a directory",
                spec.host.display(),
                if spec.is_absolute() { "" } else { "." },
                spec.host.file_name().map_or("file".into(), |n| n.to_string_lossy())
            )));
        }
        let (ns, comps) = match (spec.is_absolute(), meta.is_file()) {
            (true, _) => (Namespace::Absolute, parts),
            (false, false) => (Namespace::Relative(spec.guest.clone()), Vec::new()),
            (false, true) => {
                let (last, parent) = parts
                    .split_last()
                    .map(|(l, p)| (l.clone(), p))
                    .unwrap_or_default();
                let parent: Vec<String> = parent
                    .iter()
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect();
                let name = if parent.is_empty() {
                    ".".to_string()
                } else {
                    parent.join("/")
                };
                (Namespace::Relative(name), vec![last])
            }
        };
        if let Some(other) = placed.iter().find(|p| p.ns == ns && p.comps == comps) {
            return Err(Error::usage(format!(
                "--mount {spec} and --mount {} both mount at {}; give each guest path once",
                other.spec, spec.guest
            )));
        }
        placed.push(Placed {
            spec,
            ns,
            comps,
            meta,
        });
    }
    Ok(placed)
}

/// Walks every mount and builds the compressed image.
pub fn build_image(mounts: &[MountSpec], opts: &TreeOptions) -> Result<BuiltImage> {
    let include = if opts.include.is_empty() {
        None
    } else {
        Some(glob_set("--include", &opts.include)?)
    };
    let exclude = glob_set("--exclude", &opts.exclude)?;
    let placed = place(mounts)?;
    check_host_policy(&placed, &opts.host)?;
    let mut w = Walk {
        b: ImageBuilder::new(BuildOptions {
            level: opts.level,
            cache_size: opts.cache_size,
            ..BuildOptions::default()
        }),
        opts,
        include,
        exclude,
        warnings: Vec::new(),
        inodes: HashMap::new(),
        ancestors: Vec::new(),
    };

    // Roots in command-line order, so node ids follow the preopen order.
    let mut roots: Vec<(Namespace, NodeRef)> = Vec::new();
    for p in &placed {
        if roots.iter().any(|(ns, _)| *ns == p.ns) {
            continue;
        }
        let meta = Meta {
            mode: 0o755,
            ..meta_of(&p.meta)
        };
        let root = match p.ns {
            Namespace::Absolute => {
                let r = w.b.root();
                w.b.set_meta(r, meta).map_err(build_err)?;
                r
            }
            Namespace::Relative(_) => w.b.add_root(meta).map_err(build_err)?,
        };
        roots.push((p.ns.clone(), root));
    }
    let root_of = |ns: &Namespace| roots.iter().find(|(n, _)| n == ns).map(|(_, r)| *r);

    // Shallow mounts first: a deeper mount point is skipped (shadowed) while walking a shallower one.
    let mut by_depth: Vec<usize> = (0..placed.len()).collect();
    by_depth.sort_by_key(|&i| placed[i].comps.len());
    let mut nodes: Vec<Option<NodeRef>> = vec![None; placed.len()];
    for &i in &by_depth {
        let p = &placed[i];
        let shadow: BTreeSet<Vec<Vec<u8>>> = placed
            .iter()
            .filter(|q| q.ns == p.ns && q.comps.len() > p.comps.len())
            .map(|q| q.comps.clone())
            .collect();
        let mut dir = root_of(&p.ns).ok_or_else(|| Error::Internal {
            message: "mount root missing".into(),
        })?;
        let graft_meta = Meta {
            mode: 0o755,
            ..meta_of(&p.meta)
        };
        let (last, parents) = match p.comps.split_last() {
            Some((last, parents)) => (Some(last), parents),
            None => (None, &[][..]),
        };
        for (depth, comp) in parents.iter().enumerate() {
            dir = match w.b.lookup_child(dir, comp) {
                Some(n) if w.b.kind(n).map_err(build_err)? == Kind::Dir => n,
                Some(_) => {
                    let at: Vec<String> = p.comps[..=depth]
                        .iter()
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect();
                    return Err(Error::usage(format!(
                        "--mount {}: /{} is not a directory in another mount, so nothing can be mounted below it",
                        p.spec,
                        at.join("/")
                    )));
                }
                None => w.b.add_dir(dir, comp, graft_meta).map_err(build_err)?,
            };
        }
        let node = match (last, p.is_file()) {
            (None, _) => {
                w.b.set_meta(dir, meta_of(&p.meta)).map_err(build_err)?;
                dir
            }
            (Some(name), false) => {
                w.b.add_dir(dir, name, meta_of(&p.meta))
                    .map_err(build_err)?
            }
            (Some(name), true) => {
                w.add_file(dir, name, &p.spec.host, &p.meta)?;
                dir
            }
        };
        if !p.is_file() {
            w.ancestors.extend(file_key(&p.meta));
            let mut comps = p.comps.clone();
            let result = w.walk_dir(&p.spec.host, b"", node, &shadow, &mut comps);
            w.ancestors.clear();
            result?;
        }
        nodes[i] = Some(node);
    }

    // One preopen per mount in command-line order; a file mount's parent only when no other has it.
    let dir_nodes: Vec<NodeRef> = placed
        .iter()
        .zip(&nodes)
        .filter(|(p, _)| !p.is_file())
        .filter_map(|(_, n)| *n)
        .collect();
    let mut done: Vec<NodeRef> = Vec::new();
    for (p, node) in placed.iter().zip(&nodes) {
        let node = node.ok_or_else(|| Error::Internal {
            message: "mount not placed".into(),
        })?;
        if p.is_file() && (dir_nodes.contains(&node) || done.contains(&node)) {
            continue;
        }
        w.b.add_preopen(p.preopen_name().as_bytes(), node, p.spec.readonly)
            .map_err(build_err)?;
        done.push(node);
    }

    for p in &opts.host.preopens {
        w.b.add_host_alias(p.guest.as_bytes(), p.host.as_bytes());
    }
    if opts.host.deny {
        w.b.deny_host_fs();
    }

    let stats = w.b.stats();
    w.b.set_threads(opts.threads);
    let bytes =
        w.b.finish_with_progress(&mut |done, total| {
            if let Some(p) = &opts.progress {
                (p.0)(done, total);
            }
        })
        .map_err(build_err)?;
    Ok(BuiltImage {
        bytes,
        files: stats.files,
        dirs: stats.dirs,
        symlinks: stats.symlinks,
        data_len: stats.data_len,
        warnings: w.warnings,
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use wasifs_image::format::{Codec, Node};
    use wasifs_image::Image;

    fn spec(s: &str) -> MountSpec {
        s.parse()
            .unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn opts() -> TreeOptions {
        TreeOptions::default()
    }

    fn build(mounts: &[String], opts: &TreeOptions) -> Result<BuiltImage> {
        let specs: Vec<MountSpec> = mounts.iter().map(|m| spec(m)).collect();
        build_image(&specs, opts)
    }

    fn open(b: &BuiltImage) -> Image<&[u8]> {
        Image::open(b.bytes.as_slice()).expect("built image opens")
    }

    fn string(img: &Image<&[u8]>, off: u32, len: u32) -> Vec<u8> {
        let mut v = vec![0u8; len as usize];
        img.read_str(off, len, &mut v).expect("string");
        v
    }

    /// (name, node, readonly) of every preopen.
    fn preopens(img: &Image<&[u8]>) -> Vec<(String, u32, bool)> {
        (0..img.preopen_count())
            .map(|i| img.preopen(i).expect("preopen"))
            .map(|p| {
                (
                    String::from_utf8_lossy(&string(img, p.name_off, p.name_len)).into_owned(),
                    p.node,
                    p.readonly,
                )
            })
            .collect()
    }

    /// Resolves a path (bytes, `/`-separated) from `start` without following symlinks.
    fn resolve(img: &Image<&[u8]>, start: u32, path: &[u8]) -> Option<Node> {
        let mut node = img.node(start).expect("node");
        for part in path.split(|&b| b == b'/').filter(|p| !p.is_empty()) {
            node = img
                .node(img.lookup(&node, part).expect("lookup")?)
                .expect("node");
        }
        Some(node)
    }

    fn names(img: &Image<&[u8]>, dir: &Node) -> Vec<String> {
        (0..dir.b)
            .map(|i| img.dirent(dir, i).expect("dirent"))
            .map(|d| String::from_utf8_lossy(&string(img, d.name_off, d.name_len)).into_owned())
            .collect()
    }

    fn contents(img: &Image<&[u8]>, f: &Node) -> Vec<u8> {
        let mut out = vec![0u8; f.size as usize];
        let cs = img.chunk_size() as usize;
        for i in 0..f.b {
            let start = i as usize * cs;
            let end = (start + cs).min(out.len());
            img.read_chunk(f, i, &mut out[start..end]).expect("chunk");
        }
        out
    }

    fn mount_arg(guest: &str, host: &Path) -> String {
        format!("{guest}={}", host.display())
    }

    /// tree/: a.txt, sub/b.txt, sub/deep/c.txt (mode 0o600), docs/readme.md, link -> sub/b.txt
    fn sample_tree() -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        fs::create_dir_all(p.join("sub/deep")).unwrap();
        fs::create_dir_all(p.join("docs")).unwrap();
        fs::write(p.join("a.txt"), b"alpha").unwrap();
        fs::write(p.join("sub/b.txt"), b"bravo").unwrap();
        fs::write(p.join("sub/deep/c.txt"), b"charlie").unwrap();
        fs::set_permissions(p.join("sub/deep/c.txt"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(p.join("docs/readme.md"), b"# docs").unwrap();
        std::os::unix::fs::symlink("sub/b.txt", p.join("link")).unwrap();
        t
    }

    #[test]
    fn parse_normalises_guest_and_reads_flags() {
        let cases = [
            ("/=./assets", "/", "./assets", false),
            ("//usr//lib/=x:ro", "/usr/lib", "x", true),
            ("/a/./b=h:rw", "/a/b", "h", false),
            ("./data/=d", "data", "d", false),
            (".=d", ".", "d", false),
            ("./=d:ro", ".", "d", true),
            ("/etc=a=b", "/etc", "a=b", false),
        ];
        for (s, guest, host, ro) in cases {
            let m = spec(s);
            assert_eq!(
                (m.guest.as_str(), m.host.as_path(), m.readonly),
                (guest, Path::new(host), ro),
                "{s}"
            );
        }
    }

    #[test]
    fn parse_rejects_malformed_specs_showing_the_expected_form() {
        for bad in [
            "",
            "assets",
            "=x",
            "/=",
            "/=:ro",
            "/a/../b=x",
            "../x=y",
            "/a=x\0y",
        ] {
            let err = bad.parse::<MountSpec>().expect_err(bad).to_string();
            assert!(err.contains("GUEST=HOST"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn tree_with_subdirs_keeps_bytes_modes_mtimes_and_relative_symlink() {
        let t = sample_tree();
        let built = build(&[mount_arg("/", t.path())], &opts()).unwrap();
        let img = open(&built);
        assert_eq!(preopens(&img), vec![("/".to_string(), 0, false)]);
        let root = img.node(0).unwrap();
        assert_eq!(names(&img, &root), ["a.txt", "docs", "link", "sub"]);
        let c = resolve(&img, 0, b"sub/deep/c.txt").unwrap();
        assert_eq!(contents(&img, &c), b"charlie");
        assert_eq!(c.mode, 0o600);
        let host_mtime = meta_of(&fs::metadata(t.path().join("sub/deep/c.txt")).unwrap()).mtime_ns;
        assert!(host_mtime > 0);
        assert_eq!(c.mtime_ns, host_mtime);
        let link = resolve(&img, 0, b"link").unwrap();
        assert!(link.is_symlink());
        assert_eq!(string(&img, link.a, link.b), b"sub/b.txt");
        assert_eq!(
            (built.files, built.dirs, built.symlinks, built.data_len),
            (4, 4, 1, 5 + 5 + 7 + 6)
        );
        assert_eq!(resolve(&img, 0, b"sub").unwrap().nlink, 3);
    }

    #[test]
    fn hardlinks_inside_the_tree_share_one_node() {
        let t = sample_tree();
        fs::hard_link(t.path().join("a.txt"), t.path().join("sub/a-again.txt")).unwrap();
        let built = build(&[mount_arg("/", t.path())], &opts()).unwrap();
        let img = open(&built);
        let a = resolve(&img, 0, b"a.txt").unwrap();
        let again = resolve(&img, 0, b"sub/a-again.txt").unwrap();
        assert_eq!(a.id, again.id);
        assert_eq!(a.nlink, 2);
        assert_eq!(built.files, 4, "the hard link is stored once");
    }

    #[test]
    fn excluded_dir_is_pruned_and_include_filters_files_only() {
        let t = sample_tree();
        let o = TreeOptions {
            exclude: vec!["docs/**".into()],
            include: vec!["*.txt".into()],
            ..opts()
        };
        let built = build(&[mount_arg("/", t.path())], &o).unwrap();
        let img = open(&built);
        assert_eq!(
            names(&img, &img.node(0).unwrap()),
            ["a.txt", "sub"],
            "docs pruned, link not included"
        );
        assert!(
            resolve(&img, 0, b"sub/deep/c.txt").is_some(),
            "a bare pattern matches at any depth"
        );

        let o = TreeOptions {
            exclude: vec!["sub/deep".into(), "/a.txt".into()],
            ..opts()
        };
        let img_built = build(&[mount_arg("/", t.path())], &o).unwrap();
        let img = open(&img_built);
        assert_eq!(names(&img, &img.node(0).unwrap()), ["docs", "link", "sub"]);
        assert_eq!(names(&img, &resolve(&img, 0, b"sub").unwrap()), ["b.txt"]);
    }

    #[test]
    fn bad_glob_is_a_usage_error() {
        let t = sample_tree();
        let o = TreeOptions {
            exclude: vec!["a[".into()],
            ..opts()
        };
        let err = build(&[mount_arg("/", t.path())], &o).unwrap_err();
        assert!(matches!(err, Error::Usage { .. }), "{err}");
        assert!(err.to_string().contains("--exclude"), "{err}");
    }

    #[test]
    fn file_mount_is_grafted_under_etc_app_with_its_parent_as_preopen() {
        let t = sample_tree();
        let cfg = tempfile::tempdir().unwrap();
        let file = cfg.path().join("config.toml");
        fs::write(&file, b"key = 1").unwrap();
        let mounts = [
            mount_arg("/etc/app/config.toml", &file),
            format!("{}:ro", mount_arg("/", t.path())),
        ];
        let built = build(&mounts, &opts()).unwrap();
        let img = open(&built);
        let app = resolve(&img, 0, b"etc/app").unwrap();
        assert!(app.is_dir());
        assert_eq!(app.mode, 0o755);
        let conf = resolve(&img, 0, b"etc/app/config.toml").unwrap();
        assert_eq!(contents(&img, &conf), b"key = 1");
        assert_eq!(
            preopens(&img),
            vec![
                ("/etc/app".to_string(), app.id, false),
                ("/".to_string(), 0, true)
            ]
        );
        assert!(
            resolve(&img, 0, b"sub/b.txt").is_some(),
            "the / mount is still there"
        );

        // A file mount whose parent is already a preopen adds no second preopen.
        let mounts = [mount_arg("/", t.path()), mount_arg("/extra.toml", &file)];
        let img_built = build(&mounts, &opts()).unwrap();
        let img = open(&img_built);
        assert_eq!(preopens(&img), vec![("/".to_string(), 0, false)]);
        assert!(resolve(&img, 0, b"extra.toml").is_some());
    }

    #[test]
    fn deeper_mount_shadows_the_same_path_in_a_shallower_one() {
        let outer = sample_tree();
        let inner = tempfile::tempdir().unwrap();
        fs::write(inner.path().join("only-inner"), b"i").unwrap();
        let mounts = [
            mount_arg("/sub", inner.path()),
            mount_arg("/", outer.path()),
        ];
        let built = build(&mounts, &opts()).unwrap();
        let img = open(&built);
        let sub = resolve(&img, 0, b"sub").unwrap();
        assert_eq!(names(&img, &sub), ["only-inner"]);
        assert_eq!(
            preopens(&img),
            vec![
                ("/sub".to_string(), sub.id, false),
                ("/".to_string(), 0, false)
            ]
        );
    }

    #[test]
    fn relative_mounts_get_separate_roots() {
        let t = sample_tree();
        let mounts = [
            mount_arg("/", t.path()),
            mount_arg("./data", &t.path().join("sub")),
        ];
        let built = build(&mounts, &opts()).unwrap();
        let img = open(&built);
        let ps = preopens(&img);
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[1].0, "data");
        let data = img.node(ps[1].1).unwrap();
        assert_eq!(data.parent, data.id, "a separate root is its own parent");
        assert_ne!(data.id, 0);
        assert_eq!(names(&img, &data), ["b.txt", "deep"]);
    }

    #[test]
    fn two_mounts_at_the_same_guest_path_are_rejected_naming_both() {
        let t = sample_tree();
        let mounts = [
            mount_arg("/x", &t.path().join("sub")),
            mount_arg("/x/", &t.path().join("docs")),
        ];
        let err = build(&mounts, &opts()).unwrap_err().to_string();
        assert!(err.contains("/sub") && err.contains("/docs"), "{err}");
        let mounts = [
            mount_arg("/x", &t.path().join("sub")),
            mount_arg("/x", &t.path().join("a.txt")),
        ];
        assert!(
            build(&mounts, &opts()).is_err(),
            "a file and a dir at one path collide"
        );
    }

    #[test]
    fn mount_below_a_file_is_rejected() {
        let t = sample_tree();
        let mounts = [
            mount_arg("/", t.path()),
            mount_arg("/a.txt/x", &t.path().join("sub")),
        ];
        let err = build(&mounts, &opts()).unwrap_err().to_string();
        assert!(err.contains("/a.txt"), "{err}");
    }

    #[test]
    fn missing_source_is_rejected_with_a_hint() {
        let t = tempfile::tempdir().unwrap();
        let missing = t.path().join("nope");
        let err = build(&[mount_arg("/", &missing)], &opts()).unwrap_err();
        assert!(
            matches!(&err, Error::Mount { path, .. } if *path == missing),
            "{err}"
        );
        assert!(
            err.to_string().contains("check the path given to --mount"),
            "{err}"
        );
    }

    #[test]
    fn file_source_at_a_directory_guest_is_rejected() {
        let t = sample_tree();
        let err = build(&[mount_arg("/", &t.path().join("a.txt"))], &opts()).unwrap_err();
        assert!(matches!(err, Error::Usage { .. }), "{err}");
    }

    #[test]
    fn follow_symlinks_copies_targets_and_rejects_dangling_and_loops() {
        let t = sample_tree();
        let o = TreeOptions {
            follow_symlinks: true,
            ..opts()
        };
        let built = build(&[mount_arg("/", t.path())], &o).unwrap();
        let img = open(&built);
        let link = resolve(&img, 0, b"link").unwrap();
        assert!(link.is_file());
        assert_eq!(contents(&img, &link), b"bravo");

        std::os::unix::fs::symlink("missing", t.path().join("dangling")).unwrap();
        let err = build(&[mount_arg("/", t.path())], &o)
            .unwrap_err()
            .to_string();
        assert!(err.contains("dangling"), "{err}");
        fs::remove_file(t.path().join("dangling")).unwrap();

        std::os::unix::fs::symlink("..", t.path().join("sub/up")).unwrap();
        let err = build(&[mount_arg("/", t.path())], &o)
            .unwrap_err()
            .to_string();
        assert!(err.contains("up") && err.contains("loop"), "{err}");
        let kept = build(&[mount_arg("/", t.path())], &opts()).unwrap();
        assert!(
            resolve(&open(&kept), 0, b"sub/up").unwrap().is_symlink(),
            "without following, a loop is just a link"
        );
    }

    #[test]
    fn sockets_are_skipped_with_a_warning() {
        let t = sample_tree();
        let _sock = std::os::unix::net::UnixListener::bind(t.path().join("sock")).unwrap();
        let built = build(&[mount_arg("/", t.path())], &opts()).unwrap();
        assert!(resolve(&open(&built), 0, b"sock").is_none());
        assert_eq!(built.warnings.len(), 1);
        assert!(built.warnings[0].contains("socket"), "{:?}", built.warnings);
    }

    #[test]
    fn non_utf8_names_are_kept_as_bytes() {
        let t = tempfile::tempdir().unwrap();
        let name = OsStr::from_bytes(b"caf\xe9");
        fs::write(t.path().join(name), b"x").unwrap();
        let built = build(&[mount_arg("/", t.path())], &opts()).unwrap();
        assert!(resolve(&open(&built), 0, b"caf\xe9").is_some());
    }

    #[test]
    fn store_level_keeps_chunks_raw_and_default_level_compresses() {
        let t = sample_tree();
        fs::write(t.path().join("big.txt"), "abc".repeat(10_000)).unwrap();
        let raw = build(
            &[mount_arg("/", t.path())],
            &TreeOptions {
                level: Level::STORE,
                ..opts()
            },
        )
        .unwrap();
        let img = open(&raw);
        let big = resolve(&img, 0, b"big.txt").unwrap();
        assert_eq!(img.chunk(&big, 0).unwrap().codec, Codec::Raw);
        let packed = build(&[mount_arg("/", t.path())], &opts()).unwrap();
        let img = open(&packed);
        assert_eq!(
            img.chunk(&resolve(&img, 0, b"big.txt").unwrap(), 0)
                .unwrap()
                .codec,
            Codec::Zstd
        );
    }

    #[test]
    fn same_tree_builds_identical_bytes_even_after_it_was_read() {
        let t = sample_tree();
        fs::hard_link(t.path().join("a.txt"), t.path().join("z.txt")).unwrap();
        let a = build(&[mount_arg("/", t.path())], &opts()).unwrap();
        // Reading and chmod-ing move the host's atime and ctime; the image must not change.
        let _ = fs::read(t.path().join("a.txt")).unwrap();
        let perms = fs::metadata(t.path().join("a.txt")).unwrap().permissions();
        fs::set_permissions(t.path().join("a.txt"), perms).unwrap();
        let b = build(&[mount_arg("/", t.path())], &opts()).unwrap();
        assert_eq!(a.bytes, b.bytes);
    }

    /// Writes the same tree (names, bytes, modes, mtimes) creating entries in `names` order.
    fn tree_in_order(root: &Path, names: &[String]) {
        use std::os::unix::fs::PermissionsExt;
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        for n in names {
            let p = root.join(n);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            let body = format!("{n} ").repeat(n.len() * 50);
            fs::write(&p, body).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
            fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        fs::write(root.join("same_1"), "dup".repeat(1000)).unwrap();
        fs::write(root.join("same_2"), "dup".repeat(1000)).unwrap();
        let mut dirs: Vec<PathBuf> = vec![root.to_path_buf()];
        for n in names {
            let mut p = root.join(n);
            while p.pop() && p != root {
                dirs.push(p.clone());
            }
        }
        for p in ["same_1", "same_2"] {
            let f = fs::File::options().write(true).open(root.join(p)).unwrap();
            f.set_modified(when).unwrap();
        }
        for d in dirs {
            fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
            fs::File::open(&d).unwrap().set_modified(when).unwrap();
        }
    }

    #[test]
    fn same_tree_created_in_another_order_or_packed_on_other_thread_counts_gives_identical_bytes() {
        let mut names: Vec<String> = (0..60)
            .map(|i| format!("d{}/e{}/f{i:02}.txt", i % 5, i % 3))
            .collect();
        let (t1, t2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        tree_in_order(t1.path(), &names);
        names.reverse();
        names.rotate_left(17);
        tree_in_order(t2.path(), &names);
        let build_with = |root: &Path, threads: usize| {
            let o = TreeOptions { threads, ..opts() };
            build(&[mount_arg("/", root)], &o).unwrap().bytes
        };
        let reference = build_with(t1.path(), 1);
        assert!(
            build_with(t2.path(), 1) == reference,
            "creation order changed the image"
        );
        for threads in [2, 4, 0] {
            assert!(
                build_with(t1.path(), threads) == reference,
                "{threads} threads"
            );
            assert!(
                build_with(t2.path(), threads) == reference,
                "{threads} threads, other order"
            );
        }
    }

    #[test]
    fn host_preopen_parses_and_normalises_its_guest_name() {
        let p: HostPreopen = "/out//=/tmp/out".parse().unwrap();
        assert_eq!((p.guest.as_str(), p.host.as_str()), ("/out", "/tmp/out"));
        for bad in ["/out", "/out=", "/a/../b=x", "=x"] {
            assert!(
                bad.parse::<HostPreopen>().is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn host_preopen_at_a_mounted_guest_path_is_refused() {
        let t = sample_tree();
        let o = TreeOptions {
            host: HostPolicy {
                deny: false,
                preopens: vec!["/data=/tmp/x".parse().unwrap()],
            },
            ..opts()
        };
        let err = build(&[mount_arg("/data", t.path())], &o).unwrap_err();
        assert!(
            err.to_string().contains("both claim the guest path /data"),
            "{err}"
        );
    }

    #[test]
    fn host_policy_is_recorded_in_the_image() {
        let t = sample_tree();
        let o = TreeOptions {
            host: HostPolicy {
                deny: true,
                preopens: vec!["/out=/tmp/out".parse().unwrap()],
            },
            ..opts()
        };
        let built = build(&[mount_arg("/", t.path())], &o).unwrap();
        let img = open(&built);
        assert!(img.host_fs_denied());
        assert_eq!(img.host_alias_count(), 1);
        let twice = TreeOptions {
            host: HostPolicy {
                deny: false,
                preopens: vec![
                    "/a=/tmp/out".parse().unwrap(),
                    "/b=/tmp/out".parse().unwrap(),
                ],
            },
            ..opts()
        };
        assert!(build(&[mount_arg("/", t.path())], &twice).is_err());
    }
}
