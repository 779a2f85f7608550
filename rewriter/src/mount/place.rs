//! Placing the mounts in the guest tree: their namespaces, grafting each source at its guest path,
//! and the preopen table.

use super::build_err;
use super::listing::EntryKind;
use super::spec::MountSpec;
use super::walk::{Shadow, Walk};
use crate::policy::HostPolicy;
use crate::{Error, Result};
use std::fs::{self, Metadata};
use wasifs_image::format::Kind;
use wasifs_image::{ImageBuilder, Meta, NodeRef};

/// Hint appended to errors about a mount source.
const CHECK_PATH: &str = "(check the path given to --mount)";

/// Which root a mount lives under: the shared `/` tree or a separate root named by a relative path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Namespace {
    Absolute,
    Relative(String),
}

/// A mount resolved to its place in the image.
#[derive(Debug)]
pub(super) struct Placed<'a> {
    pub spec: &'a MountSpec,
    pub ns: Namespace,
    /// Path inside the namespace root (empty = the root itself).
    pub comps: Vec<Vec<u8>>,
    /// Metadata of the mount source (symlinks followed).
    pub meta: Metadata,
}

impl Placed<'_> {
    pub fn is_file(&self) -> bool {
        !self.meta.is_dir()
    }

    /// Name of the preopen this mount asks for (a file mount: its parent directory).
    pub fn preopen_name(&self) -> String {
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

/// Resolves every mount to its namespace and path, reading its source's metadata.
pub(super) fn place(mounts: &[MountSpec]) -> Result<Vec<Placed<'_>>> {
    let mut placed: Vec<Placed<'_>> = Vec::with_capacity(mounts.len());
    for spec in mounts {
        let meta = source_meta(spec)?;
        let (ns, comps) = locate(spec, &meta)?;
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

/// The metadata of a mount source (symlinks followed), which must be a directory or a regular file.
fn source_meta(spec: &MountSpec) -> Result<Metadata> {
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
    Ok(meta)
}

/// The namespace of a mount and its path inside it. A relative file mount lives in the namespace
/// of its parent directory.
fn locate(spec: &MountSpec, meta: &Metadata) -> Result<(Namespace, Vec<Vec<u8>>)> {
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
            spec.host
                .file_name()
                .map_or("file".into(), |n| n.to_string_lossy())
        )));
    }
    Ok(match (spec.is_absolute(), meta.is_file()) {
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
    })
}

/// Rejects host preopen aliases that claim a mount's guest path.
pub(super) fn check_host_policy(placed: &[Placed<'_>], host: &HostPolicy) -> Result<()> {
    for p in host.preopens() {
        if let Some(m) = placed.iter().find(|m| m.preopen_name() == p.guest) {
            return Err(Error::usage(format!(
                "--preopen {}={} and --mount {} both claim the guest path {}; \
                 give the host directory another guest name",
                p.guest, p.host, m.spec, p.guest
            )));
        }
    }
    Ok(())
}

/// Places every mount in `w`'s image and walks its source; returns each mount's node, in `placed`
/// order. Roots come first in command-line order (so node ids follow the preopen order), then the
/// mounts shallow first: a deeper mount point is skipped (shadowed) while walking a shallower one.
pub(super) fn fill(w: &mut Walk<'_>, placed: &[Placed<'_>]) -> Result<Vec<NodeRef>> {
    let roots = add_roots(w, placed)?;
    let mut by_depth: Vec<usize> = (0..placed.len()).collect();
    by_depth.sort_by_key(|&i| placed[i].comps.len());
    let mut nodes: Vec<Option<NodeRef>> = vec![None; placed.len()];
    for &i in &by_depth {
        let p = &placed[i];
        let shadow: Shadow = placed
            .iter()
            .filter(|q| q.ns == p.ns && q.comps.len() > p.comps.len())
            .map(|q| q.comps.clone())
            .collect();
        let root = roots
            .iter()
            .find(|(ns, _)| *ns == p.ns)
            .map(|(_, r)| *r)
            .ok_or_else(|| internal("mount root missing"))?;
        w.ns_prefix = match &p.ns {
            Namespace::Absolute => String::new(),
            Namespace::Relative(name) => name.clone(),
        };
        let node = graft(w, p, root)?;
        if !p.is_file() {
            w.note_entry(&p.comps, EntryKind::Dir, 0, &p.spec.host);
            w.walk_mount(&p.spec.host, &p.meta, node, &p.comps, &shadow)?;
        }
        nodes[i] = Some(node);
    }
    nodes
        .into_iter()
        .map(|n| n.ok_or_else(|| internal("mount not placed")))
        .collect()
}

/// A broken invariant of the placement.
fn internal(message: &str) -> Error {
    Error::Internal {
        message: message.into(),
    }
}

/// Creates one root per namespace, in the order the mounts name them.
fn add_roots(w: &mut Walk<'_>, placed: &[Placed<'_>]) -> Result<Vec<(Namespace, NodeRef)>> {
    let mut roots: Vec<(Namespace, NodeRef)> = Vec::new();
    for p in placed {
        if roots.iter().any(|(ns, _)| *ns == p.ns) {
            continue;
        }
        let meta = Meta {
            mode: 0o755,
            ..w.meta(&p.meta)
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
    Ok(roots)
}

/// Creates the directories leading to mount `p` below `root` and the mount point itself; returns
/// the node to walk into (a file mount: the directory holding the file).
fn graft(w: &mut Walk<'_>, p: &Placed<'_>, root: NodeRef) -> Result<NodeRef> {
    let graft_meta = Meta {
        mode: 0o755,
        ..w.meta(&p.meta)
    };
    let (last, parents) = match p.comps.split_last() {
        Some((last, parents)) => (Some(last), parents),
        None => (None, &[][..]),
    };
    let mut dir = root;
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
    match (last, p.is_file()) {
        (None, _) => {
            w.b.set_meta(dir, w.meta(&p.meta)).map_err(build_err)?;
            Ok(dir)
        }
        (Some(name), false) => w.b.add_dir(dir, name, w.meta(&p.meta)).map_err(build_err),
        (Some(name), true) => {
            let random = w.mounted_file_random(name);
            let kind = w.add_file(dir, name, &p.spec.host, &p.meta, random)?;
            w.note_file(&p.comps, kind, p.meta.len(), &p.spec.host, random);
            Ok(dir)
        }
    }
}

/// One preopen per mount in command-line order; a file mount's parent only when no other has it.
pub(super) fn add_preopens(
    b: &mut ImageBuilder,
    placed: &[Placed<'_>],
    nodes: &[NodeRef],
) -> Result<()> {
    let dir_nodes: Vec<NodeRef> = placed
        .iter()
        .zip(nodes)
        .filter(|(p, _)| !p.is_file())
        .map(|(_, n)| *n)
        .collect();
    let mut done: Vec<NodeRef> = Vec::new();
    for (p, &node) in placed.iter().zip(nodes) {
        if p.is_file() && (dir_nodes.contains(&node) || done.contains(&node)) {
            continue;
        }
        b.add_preopen(p.preopen_name().as_bytes(), node, p.spec.readonly)
            .map_err(build_err)?;
        done.push(node);
    }
    Ok(())
}
