//! Path resolution inside the image, beneath a starting directory, with wasmtime's errnos.
//!
//! Rules (wasmtime resolves with `openat2(RESOLVE_BENEATH)`): empty path → ENOENT; absolute path
//! → EPERM; `..` above the starting directory → EPERM; a non-directory used as a directory →
//! ENOTDIR; more than 40 symlinks → ELOOP. Intermediate symlinks are always followed, the final one
//! only when asked (or when a trailing slash follows it). Relative link targets resolve from the
//! link's directory; absolute ones from the root of the image tree the link lives in (a documented
//! divergence: wasmtime refuses them), and must end up beneath the starting directory.

use alloc::vec::Vec;

use wasifs_image::format::Kind;
use wasifs_image::reader::{Node, Source};

use crate::fallible::{copy, extend, push};
use crate::overlay::Fs;
use crate::wasi::{
    Errno, EINVAL, ELOOP, ENAMETOOLONG, ENOENT, ENOTDIR, EPERM, MAX_SYMLINKS, NAME_MAX, PATH_MAX,
};

/// Checks that a path argument is UTF-8 (wasmtime reads it as a string first: EILSEQ).
/// A small validator: core's `from_utf8` is several times larger in the shim.
pub fn validate(path: &[u8]) -> Result<(), Errno> {
    let mut i = 0;
    while let Some(&b) = path.get(i) {
        let (n, min) = match b {
            0x00..=0x7f => (0, 0),
            0xc2..=0xdf => (1, 0x80),
            0xe0..=0xef => (2, 0x800),
            0xf0..=0xf4 => (3, 0x1_0000),
            _ => return Err(crate::wasi::EILSEQ),
        };
        let mut c = u32::from(b) & (0x7f >> n);
        for k in 1..=n {
            match path.get(i + k) {
                Some(&x) if x & 0xc0 == 0x80 => c = c << 6 | u32::from(x & 0x3f),
                _ => return Err(crate::wasi::EILSEQ),
            }
        }
        if c < min || c > 0x10_ffff || (0xd800..=0xdfff).contains(&c) {
            return Err(crate::wasi::EILSEQ);
        }
        i += n + 1;
    }
    Ok(())
}

/// Checks what the host OS would refuse before looking anything up: NUL bytes, overlong paths.
fn os_checks(path: &[u8]) -> Result<(), Errno> {
    // A plain scan: `contains` pulls core's word-at-a-time memchr into the shim.
    #[allow(clippy::manual_contains)]
    if path.iter().any(|&c| c == 0) {
        return Err(EINVAL);
    }
    if path.len() >= PATH_MAX {
        return Err(ENAMETOOLONG);
    }
    Ok(())
}

/// Node ids from the image root down to `dir` (inclusive), following dir parent links.
pub fn ancestry<S: Source>(fs: &Fs<S>, dir: &Node) -> Result<Vec<u32>, Errno> {
    let mut chain = Vec::new();
    push(&mut chain, dir.id)?;
    let mut cur = *dir;
    while cur.parent != cur.id && chain.len() < 1 << 24 {
        cur = fs.node(cur.parent)?;
        push(&mut chain, cur.id)?;
    }
    chain.reverse();
    Ok(chain)
}

/// Resolves `path` beneath directory `start`. With `follow`, a final symlink is followed;
/// without, it is returned as is.
pub fn resolve<S: Source>(
    fs: &Fs<S>,
    start: &Node,
    path: &[u8],
    follow: bool,
) -> Result<Node, Errno> {
    os_checks(path)?;
    match path.first() {
        None => return Err(ENOENT),
        Some(b'/') => return Err(EPERM),
        _ => {}
    }
    let mut buf: Vec<u8> = copy(path)?;
    let mut i = 0usize;
    // Directory ids walked through, the start first; `cur` is the last one.
    let mut stack: Vec<u32> = Vec::new();
    push(&mut stack, start.id)?;
    let mut cur = *start;
    // Set once an absolute symlink moved the walk to the tree root: the ancestry of `start`,
    // which the final position must lie beneath.
    let mut chain: Vec<u32> = Vec::new();
    let mut links = 0u32;
    let node = loop {
        while buf.get(i) == Some(&b'/') {
            i += 1;
        }
        if i >= buf.len() {
            break cur;
        }
        let s = i;
        while buf.get(i).is_some_and(|&c| c != b'/') {
            i += 1;
        }
        let comp = buf.get(s..i).unwrap_or(&[]);
        let rest = buf.get(i..).unwrap_or(&[]);
        let is_last = rest.iter().all(|&c| c == b'/');
        if comp.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        if comp == b"." {
            continue;
        }
        if comp == b".." {
            if stack.len() > 1 {
                stack.pop();
                cur = fs.node(stack.last().copied().unwrap_or(start.id))?;
            } else if chain.is_empty() {
                return Err(EPERM);
            }
            continue;
        }
        let node = fs.node(fs.lookup(&cur, comp)?.ok_or(ENOENT)?)?;
        match node.kind {
            Kind::Dir => {
                push(&mut stack, node.id)?;
                cur = node;
            }
            Kind::File if is_last && rest.is_empty() => break node,
            Kind::File => return Err(ENOTDIR),
            Kind::Symlink if is_last && rest.is_empty() && !follow => break node,
            Kind::Symlink => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(ELOOP);
                }
                let mut next = fs.target(&node)?;
                match next.first() {
                    None => return Err(ENOENT),
                    Some(b'/') => {
                        if chain.is_empty() {
                            chain = ancestry(fs, start)?;
                        }
                        let top = chain.first().copied().unwrap_or(start.id);
                        stack.clear();
                        push(&mut stack, top)?;
                        cur = fs.node(top)?;
                    }
                    _ => {}
                }
                extend(&mut next, rest)?;
                os_checks(&next)?;
                buf = next;
                i = 0;
            }
        }
    };
    if !stack.starts_with(&chain) {
        return Err(EPERM);
    }
    Ok(node)
}

/// Splits `path` into its parent directory (resolved beneath `start`, symlinks followed) and its
/// last component, the way cap-std does before a create/remove/rename: trailing slashes are
/// stripped and reported (`true`); a last component `.`/`..` is returned as is.
pub fn split<S: Source>(
    fs: &Fs<S>,
    start: &Node,
    path: &[u8],
) -> Result<(Node, Vec<u8>, bool), Errno> {
    os_checks(path)?;
    match path.first() {
        None => return Err(ENOENT),
        Some(b'/') => return Err(EPERM),
        _ => {}
    }
    let mut end = path.len();
    while end > 1 && path.get(end - 1) == Some(&b'/') {
        end -= 1;
    }
    let trail = end < path.len();
    let p = path.get(..end).unwrap_or(path);
    let (dir, base) = match p.iter().rposition(|&c| c == b'/') {
        Some(i) => {
            let d = resolve(fs, start, p.get(..i + 1).unwrap_or(p), true)?;
            (d, p.get(i + 1..).unwrap_or(&[]))
        }
        None => (*start, p),
    };
    if dir.kind != Kind::Dir {
        return Err(ENOTDIR);
    }
    if base.len() > NAME_MAX {
        return Err(ENAMETOOLONG);
    }
    Ok((dir, copy(base)?, trail))
}

/// Whether a last component names the directory itself or its parent.
pub fn is_dot(base: &[u8]) -> bool {
    base == b"." || base == b".."
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use wasifs_image::{BuildOptions, FileData, ImageBuilder, Meta, MetaMode};

    /// Builds the test tree used across the crate's tests and returns the image bytes.
    ///
    /// ```text
    /// / (preopen "/")            data/ (preopen "/data", second root)
    ///   a.txt  "hello"             d.txt "ddd"
    ///   big.bin 300 KiB (zstd)
    ///   raw.bin 10 bytes (stored raw when level 0)
    ///   sub/ b.txt "bee", deep/ c.txt "sea"
    ///   link_a -> a.txt, link_sub -> sub, link_up -> ../x, loop1 -> loop2, loop2 -> loop1
    ///   abs -> /sub/b.txt, dangling -> nope, empty/
    /// ```
    ///
    /// Its tables are raw at level 0, else a compressed metadata region of 512-byte blocks
    /// (records straddle blocks), so every test over both levels reads both ways.
    pub fn tree(level: i32) -> Vec<u8> {
        tree_with(BuildOptions {
            level: wasifs_image::Level::try_from(level).expect("a test level is 0..=22"),
            chunk_size: wasifs_image::ChunkSize::fixed_log2(16).expect("64 KiB is valid"),
            meta: if level == 0 {
                MetaMode::Raw
            } else {
                MetaMode::Compressed(512)
            },
            ..BuildOptions::default()
        })
    }

    /// [`tree`] built with `opts`.
    pub fn tree_with(opts: BuildOptions) -> Vec<u8> {
        let mut b = ImageBuilder::new(opts);
        let meta = Meta {
            mode: 0o644,
            mtime_ns: 1_000_000_001,
            atime_ns: 2_000_000_002,
            ctime_ns: 3_000_000_003,
        };
        let root = b.root();
        b.set_meta(root, meta).unwrap();
        b.add_file(root, b"a.txt", meta, FileData::Bytes(b"hello".to_vec()))
            .unwrap();
        let big: Vec<u8> = (0..300 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
        b.add_file(root, b"big.bin", meta, FileData::Bytes(big))
            .unwrap();
        b.add_file(
            root,
            b"raw.bin",
            meta,
            FileData::Bytes(b"0123456789".to_vec()),
        )
        .unwrap();
        let sub = b.add_dir(root, b"sub", meta).unwrap();
        b.add_file(sub, b"b.txt", meta, FileData::Bytes(b"bee".to_vec()))
            .unwrap();
        let deep = b.add_dir(sub, b"deep", meta).unwrap();
        b.add_file(deep, b"c.txt", meta, FileData::Bytes(b"sea".to_vec()))
            .unwrap();
        b.add_dir(root, b"empty", meta).unwrap();
        b.add_symlink(root, b"link_a", meta, b"a.txt").unwrap();
        b.add_symlink(root, b"link_sub", meta, b"sub").unwrap();
        b.add_symlink(root, b"link_up", meta, b"../x").unwrap();
        b.add_symlink(root, b"loop1", meta, b"loop2").unwrap();
        b.add_symlink(root, b"loop2", meta, b"loop1").unwrap();
        b.add_symlink(root, b"abs", meta, b"/sub/b.txt").unwrap();
        b.add_symlink(root, b"dangling", meta, b"nope").unwrap();
        b.add_symlink(sub, b"abs_a", meta, b"/a.txt").unwrap();
        b.add_preopen(b"/", root, true).unwrap();
        let data = b.add_root(meta).unwrap();
        b.add_file(data, b"d.txt", meta, FileData::Bytes(b"ddd".to_vec()))
            .unwrap();
        b.add_preopen(b"/data", data, true).unwrap();
        b.finish().unwrap()
    }

    fn open(bytes: &[u8]) -> Fs<&[u8]> {
        Fs::new(Some(wasifs_image::reader::Image::open(bytes).unwrap()))
    }

    fn at(img: &Fs<&[u8]>, start: &Node, p: &str, follow: bool) -> Result<(Kind, u64), Errno> {
        resolve(img, start, p.as_bytes(), follow).map(|n| (n.kind, n.size))
    }

    #[test]
    fn dot_dotdot_double_and_trailing_slashes_resolve() {
        let bytes = tree(3);
        let img = open(&bytes);
        let root = img
            .node(img.img().unwrap().preopen(0).unwrap().node)
            .unwrap();
        assert_eq!(at(&img, &root, "a.txt", true), Ok((Kind::File, 5)));
        assert_eq!(at(&img, &root, "./a.txt", true), Ok((Kind::File, 5)));
        assert_eq!(at(&img, &root, "sub//b.txt", true), Ok((Kind::File, 3)));
        assert_eq!(
            at(&img, &root, "sub/../sub/./deep/c.txt", true),
            Ok((Kind::File, 3))
        );
        assert_eq!(at(&img, &root, "sub/", true).map(|x| x.0), Ok(Kind::Dir));
        assert_eq!(at(&img, &root, ".", true).map(|x| x.0), Ok(Kind::Dir));
        assert_eq!(
            at(&img, &root, "sub/deep/..", true).map(|x| x.0),
            Ok(Kind::Dir)
        );
    }

    #[test]
    fn bad_paths_answer_wasmtimes_errnos() {
        let bytes = tree(3);
        let img = open(&bytes);
        let root = img
            .node(img.img().unwrap().preopen(0).unwrap().node)
            .unwrap();
        assert_eq!(at(&img, &root, "", true), Err(ENOENT));
        assert_eq!(at(&img, &root, "missing", true), Err(ENOENT));
        assert_eq!(at(&img, &root, "a.txt/", true), Err(ENOTDIR));
        assert_eq!(at(&img, &root, "a.txt/x", true), Err(ENOTDIR));
        assert_eq!(at(&img, &root, "..", true), Err(EPERM));
        assert_eq!(at(&img, &root, "sub/../../a.txt", true), Err(EPERM));
        assert_eq!(at(&img, &root, "/a.txt", true), Err(EPERM));
        assert_eq!(at(&img, &root, "link_up", true), Err(EPERM));
        assert_eq!(at(&img, &root, "loop1", true), Err(ELOOP));
        assert_eq!(at(&img, &root, "dangling", true), Err(ENOENT));
        let long = "x".repeat(256);
        assert_eq!(at(&img, &root, &long, true), Err(ENAMETOOLONG));
    }

    #[test]
    fn symlinks_follow_in_the_middle_and_at_the_end_only_when_asked() {
        let bytes = tree(3);
        let img = open(&bytes);
        let root = img
            .node(img.img().unwrap().preopen(0).unwrap().node)
            .unwrap();
        assert_eq!(at(&img, &root, "link_a", true), Ok((Kind::File, 5)));
        assert_eq!(at(&img, &root, "link_a", false), Ok((Kind::Symlink, 5)));
        assert_eq!(
            at(&img, &root, "link_sub/b.txt", false),
            Ok((Kind::File, 3))
        );
        assert_eq!(
            at(&img, &root, "link_sub/", false).map(|x| x.0),
            Ok(Kind::Dir)
        );
        assert_eq!(at(&img, &root, "link_a/", false), Err(ENOTDIR));
        assert_eq!(
            at(&img, &root, "loop1", false).map(|x| x.0),
            Ok(Kind::Symlink)
        );
    }

    #[test]
    fn absolute_symlinks_resolve_from_the_tree_root_but_stay_beneath_the_start() {
        let bytes = tree(3);
        let img = open(&bytes);
        let root = img
            .node(img.img().unwrap().preopen(0).unwrap().node)
            .unwrap();
        assert_eq!(at(&img, &root, "abs", true), Ok((Kind::File, 3)));
        assert_eq!(at(&img, &root, "sub/abs_a", true), Ok((Kind::File, 5)));
        let sub = resolve(&img, &root, b"sub", true).unwrap();
        assert_eq!(at(&img, &sub, "abs_a", true), Err(EPERM));
        assert_eq!(at(&img, &sub, "../a.txt", true), Err(EPERM));
    }

    #[test]
    fn validation_rejects_non_utf8_nul_and_overlong_paths() {
        let bytes = tree(3);
        let img = open(&bytes);
        let root = img
            .node(img.img().unwrap().preopen(0).unwrap().node)
            .unwrap();
        assert_eq!(validate(b"ok/path"), Ok(()));
        assert_eq!(validate(&[0xff, 0xfe]), Err(crate::wasi::EILSEQ));
        for bad in [
            &[0xc0, 0x80][..],
            &[0xe0, 0x80, 0x80],
            &[0xed, 0xa0, 0x80],
            &[0xf4, 0x90, 0x80, 0x80],
            &[0xe2, 0x82],
        ] {
            assert_eq!(validate(bad), Err(crate::wasi::EILSEQ), "{bad:x?}");
        }
        for good in ["é", "日本", "😀", "a/b"] {
            assert_eq!(validate(good.as_bytes()), Ok(()), "{good}");
        }
        assert_eq!(at(&img, &root, "a\0b", true), Err(EINVAL));
        assert_eq!(
            resolve(&img, &root, &[b'a'; 4096], true).err(),
            Some(ENAMETOOLONG)
        );
    }
}
