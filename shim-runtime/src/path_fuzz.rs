//! Fuzzing of path resolution (issue 8 item 9c): random trees (directories, files, relative and
//! absolute symlinks, loops, long names), some of them changed through the overlay, and random
//! paths over them (`..`, `.`, `//`, trailing slashes, NUL bytes, names over 255 bytes, paths over
//! PATH_MAX) from random starting directories. `path::resolve` must give the same errno or the same
//! node as a small reference model written here from the rules in `path.rs`'s documentation, and
//! never a node outside the starting directory. Deterministic (splitmix64 from a fixed seed);
//! `WASIFS_FUZZ_CASES` sets the number of paths (default 20,000; `scripts/fuzz.sh` runs more) and
//! `WASIFS_FUZZ_SEED` the seed.

use std::collections::BTreeMap;

use wasifs_image::format::Kind;
use wasifs_image::reader::Image;
use wasifs_image::{BuildOptions, FileData, ImageBuilder, Meta, MetaMode};

use crate::overlay::Fs;
use crate::path::{ancestry, resolve};
use crate::wasi::*;
use wasifs_image::fuzz::{knobs, Rng};

/// A node of the model.
enum MNode {
    /// Entries by name, and the parent (itself for a root).
    Dir(BTreeMap<Vec<u8>, usize>, usize),
    File,
    Link(Vec<u8>),
}

/// The model: nodes, the roots (one per mount), and each node's id in the shim.
struct Model {
    nodes: Vec<MNode>,
    ids: Vec<u32>,
}

impl Model {
    fn entries(&self, d: usize) -> &BTreeMap<Vec<u8>, usize> {
        match &self.nodes[d] {
            MNode::Dir(e, _) => e,
            _ => unreachable!("not a directory"),
        }
    }
    /// Directories on the way from the root down to `d`, `d` included.
    fn path_to(&self, d: usize) -> Vec<usize> {
        let mut chain = vec![d];
        let mut cur = d;
        while let MNode::Dir(_, p) = &self.nodes[cur] {
            if *p == cur {
                break;
            }
            cur = *p;
            chain.push(cur);
        }
        chain.reverse();
        chain
    }
}

/// What a resolution gives: a node (model index) or an errno.
type Answer = Result<usize, Errno>;

/// The reference: `path` resolved from directory `start`, written from the documented rules
/// (see `path.rs`): the walk keeps the directories from the root of the start's tree down to the
/// current one, and the text still to resolve.
fn model_resolve(m: &Model, start: usize, path: &[u8], follow: bool) -> Answer {
    let checks = |p: &[u8]| {
        if p.contains(&0) {
            Err(EINVAL)
        } else if p.len() >= PATH_MAX {
            Err(ENAMETOOLONG)
        } else {
            Ok(())
        }
    };
    checks(path)?;
    match path.first() {
        None => return Err(ENOENT),
        Some(b'/') => return Err(EPERM),
        _ => {}
    }
    let start_chain = m.path_to(start);
    let mut pos = start_chain.clone();
    // Set by an absolute symlink: the walk restarted at the root, `..` stops there, and only
    // where it ends must be beneath the start.
    let mut jumped = false;
    let mut text = path.to_vec();
    let mut links = 0;
    loop {
        let trimmed = text.iter().position(|&c| c != b'/').unwrap_or(text.len());
        text.drain(..trimmed);
        if text.is_empty() {
            break;
        }
        let end = text.iter().position(|&c| c == b'/').unwrap_or(text.len());
        let c = text[..end].to_vec();
        let rest = text[end..].to_vec();
        // The final component: nothing but slashes after it; `bare` when not even a slash.
        let last = rest.iter().all(|&c| c == b'/');
        let bare = rest.is_empty();
        text = rest;
        if c.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        if c == b"." {
            continue;
        }
        if c == b".." {
            let floor = if jumped { 1 } else { start_chain.len() };
            if pos.len() > floor {
                pos.pop();
            } else if !jumped {
                return Err(EPERM);
            }
            continue;
        }
        let dir = *pos.last().unwrap();
        let Some(&n) = m.entries(dir).get(&c) else {
            return Err(ENOENT);
        };
        match &m.nodes[n] {
            MNode::Dir(..) => pos.push(n),
            MNode::File if last && bare => return beneath(&pos, &start_chain, jumped, n),
            MNode::File => return Err(ENOTDIR),
            MNode::Link(_) if last && bare && !follow => {
                return beneath(&pos, &start_chain, jumped, n)
            }
            MNode::Link(t) => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(ELOOP);
                }
                if t.is_empty() {
                    return Err(ENOENT);
                }
                if t[0] == b'/' {
                    jumped = true;
                    pos.truncate(1);
                }
                let mut next = t.clone();
                next.extend_from_slice(&text);
                checks(&next)?;
                text = next;
            }
        }
    }
    beneath(&pos, &start_chain, jumped, *pos.last().unwrap())
}

/// `n`, found in the last directory of `pos`, when that lies beneath the start (else EPERM).
fn beneath(pos: &[usize], start_chain: &[usize], jumped: bool, n: usize) -> Answer {
    if jumped && !pos.starts_with(start_chain) {
        return Err(EPERM);
    }
    Ok(n)
}

/// Names the trees and the paths are made of (collisions on purpose).
fn name_pool() -> Vec<Vec<u8>> {
    let mut pool: Vec<Vec<u8>> = ["a", "b", "c", "sub", "x", "é", "日本", "...", ".a", " "]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    pool.push(vec![b'L'; NAME_MAX]);
    pool
}

/// A random path over `pool`: components, `.`, `..`, empty ones (`//`), names too long or with a
/// NUL, a leading or trailing slash, sometimes padded past PATH_MAX.
fn gen_path(r: &mut Rng, pool: &[Vec<u8>], absolute_pct: usize) -> Vec<u8> {
    if r.pct(3) {
        return Vec::new();
    }
    let mut p = Vec::new();
    if r.pct(absolute_pct) {
        p.push(b'/');
    }
    let n = 1 + r.below(6);
    for i in 0..n {
        if i > 0 {
            p.push(b'/');
        }
        let c: Vec<u8> = match r.below(100) {
            0..=44 => r.pick(pool).clone(),
            45..=56 => b".".to_vec(),
            57..=74 => b"..".to_vec(),
            75..=80 => Vec::new(),
            81..=82 => vec![b'L'; NAME_MAX + 1],
            83 => b"a\0b".to_vec(),
            _ => b"nope".to_vec(),
        };
        p.extend_from_slice(&c);
    }
    if r.pct(15) {
        p.push(b'/');
    }
    if r.pct(2) {
        while p.len() < PATH_MAX - 2 + r.below(4) {
            p.extend_from_slice(b"./");
        }
    }
    p
}

/// A random path from model directory `from` that mostly follows existing entries (into
/// directories, through symlinks), with the odd components of [`gen_path`] mixed in.
fn gen_walk(r: &mut Rng, m: &Model, from: usize, pool: &[Vec<u8>]) -> Vec<u8> {
    if r.pct(20) {
        return gen_path(r, pool, 5);
    }
    let mut p = Vec::new();
    let mut at = Some(from);
    for i in 0..1 + r.below(7) {
        if i > 0 {
            p.push(b'/');
        }
        let entries: Vec<(&Vec<u8>, usize)> = match at {
            Some(d) => m.entries(d).iter().map(|(k, &v)| (k, v)).collect(),
            None => Vec::new(),
        };
        match r.below(100) {
            0..=64 if !entries.is_empty() => {
                let (name, n) = *r.pick(&entries);
                p.extend_from_slice(name);
                at = match m.nodes[n] {
                    MNode::Dir(..) => Some(n),
                    _ => None,
                };
            }
            0..=74 => p.push(b'.'),
            75..=86 => {
                p.extend_from_slice(b"..");
                at = match (at, at.map(|d| &m.nodes[d])) {
                    (Some(_), Some(MNode::Dir(_, parent))) => Some(*parent),
                    _ => None,
                };
            }
            87..=90 => {}
            91 => p.extend_from_slice(&[b'L'; NAME_MAX + 1]),
            92 => p.extend_from_slice(b"\0"),
            _ => p.extend_from_slice(r.pick(pool).as_slice()),
        }
    }
    if r.pct(15) {
        p.push(b'/');
    }
    p
}

/// A random tree: 1–2 roots, depth ≤ 4, then symlink targets over the same names.
fn gen_model(r: &mut Rng, pool: &[Vec<u8>]) -> (Model, Vec<usize>) {
    let mut nodes = Vec::new();
    let mut roots = Vec::new();
    for _ in 0..1 + r.below(2) {
        let root = nodes.len();
        nodes.push(MNode::Dir(BTreeMap::new(), root));
        roots.push(root);
        let mut stack = vec![(root, 0)];
        while let Some((d, depth)) = stack.pop() {
            for _ in 0..r.below(if depth < 4 { 6 } else { 1 }) {
                let name = r.pick(pool).clone();
                if let MNode::Dir(e, _) = &nodes[d] {
                    if e.contains_key(&name) {
                        continue;
                    }
                }
                let n = nodes.len();
                let node = match r.below(100) {
                    0..=34 => {
                        stack.push((n, depth + 1));
                        MNode::Dir(BTreeMap::new(), d)
                    }
                    35..=64 => MNode::File,
                    _ => MNode::Link(Vec::new()),
                };
                nodes.push(node);
                if let MNode::Dir(e, _) = &mut nodes[d] {
                    e.insert(name, n);
                }
            }
        }
    }
    for n in &mut nodes {
        if let MNode::Link(t) = n {
            *t = loop {
                let p = gen_path(r, pool, 30);
                if !p.contains(&0) && p.len() < 512 {
                    break p;
                }
            };
        }
    }
    let ids = vec![u32::MAX; nodes.len()];
    (Model { nodes, ids }, roots)
}

/// The image of the model (each root a preopen), and the shim id of every model node.
fn build(m: &mut Model, roots: &[usize]) -> Vec<u8> {
    let meta = Meta {
        mode: 0o755,
        mtime_ns: 0,
        atime_ns: 0,
        ctime_ns: 0,
    };
    let mut b = ImageBuilder::new(BuildOptions {
        level: wasifs_image::Level::STORE,
        chunk_size: wasifs_image::ChunkSize::fixed_log2(16).expect("64 KiB is valid"),
        // The tables in a metadata region of small blocks (stored raw: level STORE), read
        // through the reader's block cache.
        meta: MetaMode::Compressed(512),
        ..BuildOptions::default()
    });
    let mut refs = BTreeMap::new();
    for (i, &root) in roots.iter().enumerate() {
        let r = if i == 0 {
            b.root()
        } else {
            b.add_root(meta).unwrap()
        };
        b.set_meta(r, meta).unwrap();
        refs.insert(root, r);
        let mut stack = vec![root];
        while let Some(d) = stack.pop() {
            for (name, &n) in m.entries(d) {
                let parent = refs[&d];
                let nr = match &m.nodes[n] {
                    MNode::Dir(..) => {
                        stack.push(n);
                        b.add_dir(parent, name, meta).unwrap()
                    }
                    MNode::File => b
                        .add_file(parent, name, meta, FileData::Bytes(vec![b'f'; n]))
                        .unwrap(),
                    MNode::Link(t) => b.add_symlink(parent, name, meta, t).unwrap(),
                };
                refs.insert(n, nr);
            }
        }
        b.add_preopen(format!("/r{i}").as_bytes(), r, false)
            .unwrap();
    }
    b.finish().unwrap()
}

/// Fills in the shim id of every model node, walking the image from each root by name.
fn map_ids(m: &mut Model, fs: &Fs<&[u8]>, roots: &[usize]) {
    let img = fs.img().unwrap();
    for (i, &root) in roots.iter().enumerate() {
        m.ids[root] = img.preopen(i as u32).unwrap().node;
        let mut stack = vec![root];
        while let Some(d) = stack.pop() {
            let dn = fs.node(m.ids[d]).unwrap();
            let kids: Vec<(Vec<u8>, usize)> =
                m.entries(d).iter().map(|(k, &v)| (k.clone(), v)).collect();
            for (name, n) in kids {
                m.ids[n] = fs.lookup(&dn, &name).unwrap().unwrap();
                if let MNode::Dir(..) = m.nodes[n] {
                    stack.push(n);
                }
            }
        }
    }
}

/// A few changes through the overlay, made to the model too: new directories, files and symlinks,
/// and removed files and symlinks (so lookups also go through materialised directories).
fn mutate(r: &mut Rng, m: &mut Model, fs: &mut Fs<&[u8]>, pool: &[Vec<u8>]) {
    let dirs: Vec<usize> = (0..m.nodes.len())
        .filter(|&n| matches!(m.nodes[n], MNode::Dir(..)))
        .collect();
    for _ in 0..r.below(6) {
        let d = *r.pick(&dirs);
        let name = r.pick(pool).clone();
        match m.entries(d).get(&name).copied() {
            Some(n) if !matches!(m.nodes[n], MNode::Dir(..)) => {
                let id = fs.remove_entry(m.ids[d], &name, 1).unwrap();
                assert_eq!(id, m.ids[n]);
                fs.release(id);
                if let MNode::Dir(e, _) = &mut m.nodes[d] {
                    e.remove(&name);
                }
            }
            Some(_) => {}
            None => {
                let (node, kind, target) = match r.below(3) {
                    0 => (MNode::Dir(BTreeMap::new(), d), Kind::Dir, Vec::new()),
                    1 => (MNode::File, Kind::File, Vec::new()),
                    _ => {
                        let t = gen_path(r, pool, 30);
                        (MNode::Link(t.clone()), Kind::Symlink, t)
                    }
                };
                let id = fs.create(m.ids[d], &name, kind, target, 1).unwrap();
                let n = m.nodes.len();
                m.nodes.push(node);
                m.ids.push(id);
                if let MNode::Dir(e, _) = &mut m.nodes[d] {
                    e.insert(name, n);
                }
            }
        }
    }
}

#[test]
fn path_resolution_matches_the_reference_model_and_never_leaves_the_start() {
    let (cases, seed) = knobs(20_000, 0x5eed);
    let mut r = Rng(seed);
    let pool = name_pool();
    let mut done = 0u64;
    let mut tree = 0u64;
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    while done < cases {
        tree += 1;
        let (mut m, roots) = gen_model(&mut r, &pool);
        let bytes = build(&mut m, &roots);
        let mut fs = Fs::new(Some(Image::open(&bytes[..]).unwrap()));
        map_ids(&mut m, &fs, &roots);
        if r.pct(50) {
            mutate(&mut r, &mut m, &mut fs, &pool);
        }
        let dirs: Vec<usize> = (0..m.nodes.len())
            .filter(|&n| matches!(m.nodes[n], MNode::Dir(..)) && m.ids[n] != u32::MAX)
            .filter(|&n| fs.node(m.ids[n]).is_ok_and(|n| n.nlink > 0))
            .collect();
        for _ in 0..100 {
            let start = *r.pick(&dirs);
            let path = gen_walk(&mut r, &m, start, &pool);
            let follow = r.pct(50);
            let sn = fs.node(m.ids[start]).unwrap();
            let want = model_resolve(&m, start, &path, follow).map(|n| m.ids[n]);
            let got = resolve(&fs, &sn, &path, follow).map(|n| n.id);
            let shown = String::from_utf8_lossy(&path);
            assert_eq!(
                got, want,
                "seed {seed} tree {tree}: resolve({shown:?}, follow={follow}) from model dir {start}"
            );
            if let Ok(id) = got {
                let n = fs.node(id).unwrap();
                if n.kind == Kind::Dir {
                    let chain = ancestry(&fs, &n).unwrap();
                    assert!(chain.contains(&sn.id), "{shown:?} left its start");
                }
            }
            let key = match got {
                Ok(_) => "found".to_string(),
                Err(e) => format!("errno {e}"),
            };
            *outcomes.entry(key).or_default() += 1;
            done += 1;
        }
    }
    eprintln!("path fuzz: {done} paths over {tree} trees, seed {seed}: {outcomes:?}");
    // The generator must reach every answer, or it checks less than it claims.
    for e in [
        "found", "errno 44", "errno 54", "errno 63", "errno 28", "errno 37", "errno 32",
    ] {
        assert!(outcomes.contains_key(e), "no case gave {e}: {outcomes:?}");
    }
}
