//! Which host preopens the app sees: renamed by an image alias, hidden by `--host-fs=deny`, or
//! hidden because an embedded mount has the same guest path (the embedded one wins).
//!
//! Why hide rather than reorder: wasi-libc (C, Rust std, Zig) resolves a path against the longest
//! matching preopen name and, on a tie, the one registered last; Go's `syscall` takes the longest
//! and, on a tie, the first, and uses the first preopen as its working directory. No order makes
//! both pick the embedded mount when a host preopen has the same name (wasmer preopens `/` and `.`
//! by itself; wasmtime users often pass `--dir X::/`), so such a host preopen is not shown at all.

use wasifs_image::reader::Source;

use crate::fdtable::Desc;
use crate::host::Host;
use crate::vfs::Vfs;

/// A preopen name as wasi-libc compares it: leading `/` and `./` dropped, a lone `.` empty, and
/// (as its prefix match ignores them) trailing `/` dropped. `/`, `.` and `./` all become empty:
/// wasi-libc lets each of them match every path.
pub fn guest_key(name: &[u8]) -> &[u8] {
    let mut s = name;
    loop {
        s = match s {
            [b'/', rest @ ..] | [b'.', b'/', rest @ ..] => rest,
            [b'.'] => &[],
            _ => break,
        };
    }
    while let [rest @ .., b'/'] = s {
        s = rest;
    }
    s
}

impl<S: Source, H: Host> Vfs<S, H> {
    /// The image alias whose host name is `name`, if any.
    fn alias_named(&self, name: &[u8]) -> Option<u32> {
        let img = self.fs.img().ok()?;
        (0..img.host_alias_count()).find(|&i| {
            img.host_alias(i).is_ok_and(|a| {
                a.host_len as usize == name.len()
                    && self.fs.image_str(a.host_off, a.host_len).as_deref() == Ok(name)
            })
        })
    }

    /// Whether an embedded mount has the guest path `name` names (compared as [`guest_key`]).
    fn embedded_at(&self, name: &[u8]) -> bool {
        let Ok(img) = self.fs.img() else {
            return false;
        };
        let key = guest_key(name);
        (0..img.preopen_count()).any(|i| {
            img.preopen(i).is_ok_and(|p| {
                self.fs
                    .image_str(p.name_off, p.name_len)
                    .is_ok_and(|g| guest_key(&g) == key)
            })
        })
    }

    /// What the app sees of host preopen `h`, named `name` by the host (`None`: the name could not
    /// be read): an alias when the image renames it, nothing when an embedded mount has the same
    /// guest path or `--host-fs=deny` hides it, else the host preopen as it is.
    pub fn host_preopen(&self, h: u32, name: Option<&[u8]>) -> Option<Desc> {
        if let Some(name) = name {
            if let Some(alias) = self.alias_named(name) {
                return Some(Desc::Alias { host: h, alias });
            }
            if self.embedded_at(name) {
                return None;
            }
        }
        let deny = self.fs.img().is_ok_and(|i| i.host_fs_denied());
        (!deny).then_some(Desc::Host(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::TestHost;
    use crate::path::tests::tree;
    use wasifs_image::reader::Image;
    use wasifs_image::{BuildOptions, ImageBuilder, Meta};

    #[test]
    fn guest_keys_compare_names_the_way_wasi_libc_matches_them() {
        for root in ["/", ".", "./", "//", "./.", ""] {
            assert_eq!(guest_key(root.as_bytes()), b"", "{root}");
        }
        for data in ["/data", "data", "./data", "/data/", "//data//", "././data"] {
            assert_eq!(guest_key(data.as_bytes()), b"data", "{data}");
        }
        assert_eq!(guest_key(b"/data/sub"), b"data/sub");
        assert_eq!(guest_key(b".data"), b".data");
        assert_eq!(guest_key(b".."), b"..");
    }

    #[test]
    fn a_host_preopen_at_an_embedded_mounts_guest_path_is_hidden() {
        // The test tree embeds `/` and `/data`.
        let bytes: &'static [u8] = Box::leak(tree(3).into_boxed_slice());
        let v = Vfs::new(Some(Image::open(bytes).unwrap()), TestHost::default());
        for shadowed in ["/", ".", "./", "/data", "data", "./data/"] {
            assert_eq!(
                v.host_preopen(9, Some(shadowed.as_bytes())),
                None,
                "{shadowed}"
            );
        }
        for kept in ["/data/sub", "/tmp", "out"] {
            assert_eq!(
                v.host_preopen(9, Some(kept.as_bytes())),
                Some(Desc::Host(9)),
                "{kept}"
            );
        }
        assert_eq!(v.host_preopen(9, None), Some(Desc::Host(9)), "unnamed");
    }

    #[test]
    fn an_alias_wins_over_hiding_and_deny_hides_the_rest() {
        let meta = Meta {
            mode: 0o755,
            mtime_ns: 0,
            atime_ns: 0,
            ctime_ns: 0,
        };
        let mut b = ImageBuilder::new(BuildOptions {
            level: wasifs_image::Level::DEFAULT,
            chunk_size: wasifs_image::ChunkSize::fixed_log2(16).expect("64 KiB is valid"),
            ..BuildOptions::default()
        });
        let root = b.root();
        b.set_meta(root, meta).unwrap();
        b.add_preopen(b"/", root, true).unwrap();
        b.add_host_alias(b"/out", b"/");
        b.deny_host_fs();
        let bytes: &'static [u8] = Box::leak(b.finish().unwrap().into_boxed_slice());
        let v = Vfs::new(Some(Image::open(bytes).unwrap()), TestHost::default());
        assert_eq!(
            v.host_preopen(7, Some(b"/")),
            Some(Desc::Alias { host: 7, alias: 0 })
        );
        assert_eq!(v.host_preopen(8, Some(b".")), None);
        assert_eq!(v.host_preopen(8, Some(b"/tmp")), None);
        assert_eq!(v.host_preopen(8, None), None);
    }
}
