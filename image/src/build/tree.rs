//! The tree being built: nodes, roots and directory entries, and the node order of the image.

use std::collections::{BTreeMap, VecDeque};
use std::vec::Vec;

use super::error::to_u32;
use super::{BuildError, BuildStats, FileData, Meta, NodeRef};
use crate::format::Kind;

/// What a builder node holds.
#[derive(Debug)]
pub(super) enum Body {
    Dir {
        parent: NodeRef,
        children: BTreeMap<Vec<u8>, NodeRef>,
    },
    File {
        data: FileData,
        size: u64,
        /// Marked as read at random ([`super::ImageBuilder::read_at_random`]): small chunks
        /// whatever its size.
        random: bool,
    },
    Symlink {
        target: Vec<u8>,
    },
}

impl Body {
    /// A directory without entries whose parent is `parent` (itself for a root).
    pub(super) fn empty_dir(parent: NodeRef) -> Self {
        Body::Dir {
            parent,
            children: BTreeMap::new(),
        }
    }

    /// A file of `size` bytes from `data`, not marked as read at random.
    pub(super) fn file(data: FileData, size: u64) -> Self {
        Body::File {
            data,
            size,
            random: false,
        }
    }

    fn is_dir(&self) -> bool {
        matches!(self, Body::Dir { .. })
    }
}

/// One node: its metadata and what it holds.
#[derive(Debug)]
pub(super) struct BNode {
    pub(super) meta: Meta,
    pub(super) body: Body,
}

/// Every node added so far, indexed by [`NodeRef`], and the roots in creation order.
#[derive(Debug, Default)]
pub(super) struct Tree {
    nodes: Vec<BNode>,
    roots: Vec<NodeRef>,
    shared_root: Option<NodeRef>,
}

/// The image's node order: node ids are positions in `nodes`.
pub(super) struct Order {
    /// Nodes by id.
    pub(super) nodes: Vec<NodeRef>,
    /// Id of each node, by [`NodeRef`].
    id_of: Vec<u32>,
}

impl Order {
    /// The id of node `r` in the image.
    pub(super) fn id(&self, r: NodeRef) -> u32 {
        self.id_of[r.0 as usize]
    }
}

/// Checks that `name` can be a directory entry.
fn check_name(name: &[u8]) -> Result<(), BuildError> {
    if name.is_empty() || name == b"." || name == b".." || name.iter().any(|&b| b == b'/' || b == 0)
    {
        return Err(BuildError::InvalidName(name.to_vec()));
    }
    Ok(())
}

impl Tree {
    /// The [`NodeRef`] the next node will get.
    fn next_ref(&self) -> Result<NodeRef, BuildError> {
        Ok(NodeRef(to_u32(self.nodes.len() as u64)?))
    }

    fn push(&mut self, meta: Meta, body: Body) -> Result<NodeRef, BuildError> {
        let r = self.next_ref()?;
        self.nodes.push(BNode {
            meta: Meta {
                mode: meta.mode & 0o7777,
                ..meta
            },
            body,
        });
        Ok(r)
    }

    fn get(&self, n: NodeRef) -> Result<&BNode, BuildError> {
        self.nodes.get(n.0 as usize).ok_or(BuildError::UnknownNode)
    }

    /// Node `r` of this tree (as listed by [`Order`]).
    pub(super) fn node(&self, r: NodeRef) -> &BNode {
        &self.nodes[r.0 as usize]
    }

    /// Each node's name in its directory, by id in `order` (empty for roots).
    pub(super) fn names<'t>(&'t self, order: &Order) -> Vec<&'t [u8]> {
        let mut names: Vec<&[u8]> = std::vec![&[]; order.nodes.len()];
        for &r in &order.nodes {
            if let Body::Dir { children, .. } = &self.node(r).body {
                for (name, &c) in children {
                    if let Some(slot) = names.get_mut(order.id(c) as usize) {
                        *slot = name;
                    }
                }
            }
        }
        names
    }

    /// The shared root `/`, created (mode 0o755, time 0) on first use.
    pub(super) fn shared_root(&mut self) -> NodeRef {
        if let Some(r) = self.shared_root {
            return r;
        }
        let r = NodeRef(self.nodes.len() as u32);
        self.nodes.push(BNode {
            meta: Meta::default(),
            body: Body::empty_dir(r),
        });
        self.roots.push(r);
        self.shared_root = Some(r);
        r
    }

    /// A new separate root directory.
    pub(super) fn add_root(&mut self, meta: Meta) -> Result<NodeRef, BuildError> {
        let r = self.next_ref()?;
        self.push(meta, Body::empty_dir(r))?;
        self.roots.push(r);
        Ok(r)
    }

    /// Replaces a node's permission bits and timestamps.
    pub(super) fn set_meta(&mut self, node: NodeRef, meta: Meta) -> Result<(), BuildError> {
        let n = self
            .nodes
            .get_mut(node.0 as usize)
            .ok_or(BuildError::UnknownNode)?;
        n.meta = Meta {
            mode: meta.mode & 0o7777,
            ..meta
        };
        Ok(())
    }

    /// The kind of a node.
    pub(super) fn kind(&self, node: NodeRef) -> Result<Kind, BuildError> {
        Ok(match self.get(node)?.body {
            Body::Dir { .. } => Kind::Dir,
            Body::File { .. } => Kind::File,
            Body::Symlink { .. } => Kind::Symlink,
        })
    }

    /// Marks file `node` as read at random.
    pub(super) fn mark_random(&mut self, node: NodeRef) -> Result<(), BuildError> {
        let n = self
            .nodes
            .get_mut(node.0 as usize)
            .ok_or(BuildError::UnknownNode)?;
        match &mut n.body {
            Body::File { random, .. } => {
                *random = true;
                Ok(())
            }
            _ => Err(BuildError::NotAFile),
        }
    }

    /// The entry `name` of directory `parent`, if any.
    pub(super) fn lookup_child(&self, parent: NodeRef, name: &[u8]) -> Option<NodeRef> {
        match &self.get(parent).ok()?.body {
            Body::Dir { children, .. } => children.get(name).copied(),
            _ => None,
        }
    }

    /// Checks that `name` can be added to `parent` before a node is created for it.
    pub(super) fn check_new_entry(&self, parent: NodeRef, name: &[u8]) -> Result<(), BuildError> {
        check_name(name)?;
        match &self.get(parent)?.body {
            Body::Dir { children, .. } if children.contains_key(name) => {
                Err(BuildError::Duplicate(name.to_vec()))
            }
            Body::Dir { .. } => Ok(()),
            _ => Err(BuildError::NotADirectory),
        }
    }

    /// Creates a node and links it into `parent` as `name`.
    pub(super) fn insert(
        &mut self,
        parent: NodeRef,
        name: &[u8],
        meta: Meta,
        body: Body,
    ) -> Result<NodeRef, BuildError> {
        let n = self.push(meta, body)?;
        self.link(parent, name, n)?;
        Ok(n)
    }

    /// Links `child` into `parent` as `name`, checking that the name is new.
    pub(super) fn link(
        &mut self,
        parent: NodeRef,
        name: &[u8],
        child: NodeRef,
    ) -> Result<(), BuildError> {
        let p = self
            .nodes
            .get_mut(parent.0 as usize)
            .ok_or(BuildError::UnknownNode)?;
        let Body::Dir { children, .. } = &mut p.body else {
            return Err(BuildError::NotADirectory);
        };
        if children.contains_key(name) {
            return Err(BuildError::Duplicate(name.to_vec()));
        }
        children.insert(name.to_vec(), child);
        Ok(())
    }

    /// Counts files, directories, symlinks and file bytes (each node once).
    pub(super) fn stats(&self) -> BuildStats {
        let mut s = BuildStats::default();
        for n in &self.nodes {
            match &n.body {
                Body::Dir { .. } => s.dirs += 1,
                Body::File { size, .. } => {
                    s.files += 1;
                    s.data_len += size;
                }
                Body::Symlink { .. } => s.symlinks += 1,
            }
        }
        s
    }

    /// Node order of the image: roots in creation order, then breadth-first over names sorted by bytes.
    pub(super) fn walk_order(&self) -> Order {
        let mut id_of = std::vec![u32::MAX; self.nodes.len()];
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut queue = VecDeque::new();
        for &r in &self.roots {
            id_of[r.0 as usize] = order.len() as u32;
            order.push(r);
            queue.push_back(r);
        }
        while let Some(d) = queue.pop_front() {
            if let Body::Dir { children, .. } = &self.node(d).body {
                for &c in children.values() {
                    if id_of[c.0 as usize] == u32::MAX {
                        id_of[c.0 as usize] = order.len() as u32;
                        order.push(c);
                        if self.node(c).body.is_dir() {
                            queue.push_back(c);
                        }
                    }
                }
            }
        }
        Order {
            nodes: order,
            id_of,
        }
    }

    /// Link count of every file and symlink (one per entry naming it), by [`NodeRef`].
    pub(super) fn link_counts(&self) -> Vec<u32> {
        let mut links = std::vec![0u32; self.nodes.len()];
        for n in &self.nodes {
            if let Body::Dir { children, .. } = &n.body {
                for &c in children.values() {
                    links[c.0 as usize] = links[c.0 as usize].saturating_add(1);
                }
            }
        }
        links
    }

    /// How many of directory `children` are directories themselves.
    pub(super) fn subdir_count(&self, children: &BTreeMap<Vec<u8>, NodeRef>) -> usize {
        children
            .values()
            .filter(|c| self.node(**c).body.is_dir())
            .count()
    }
}
