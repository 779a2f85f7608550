//! Groups of similar files (versions or builds of one file: the same name up to its digits, the same extension from 64 KiB, or the same stem in any extension, sizes within 2×, most of the content of their first 16 KiB in common), whose chunks are compressed side by side so that each later file costs about what differs.

use std::collections::{BTreeMap, HashMap};
use std::vec;
use std::vec::Vec;

use super::{parallel, BuildError, FileData};

/// Bytes at the start of each file its sketch is taken from.
const SKETCH_BYTES: usize = 16 * 1024;
/// A file needs this many anchors in its sketch to be compared (text or code has ~64 in 16 KiB).
const MIN_ANCHORS: usize = 8;
/// Most files in one group: a frame holds one chunk of each, and a reader of the last one decodes
/// them all.
pub(super) const MAX_MEMBERS: usize = 4;
/// Files at least this large are compared with every file of their extension, not only with
/// those named alike: builds of one file for other targets (aws-lc-sys' 20 bindings of ~950 KB,
/// `x86_64_unknown_linux_gnu_crypto.rs` and the like: 1.144 → 1.030× `tar.zst`; Go's `src`
/// 1.042 → 1.025×; `crates` 0.877 → 0.861×). Every candidate compared by extension (from 16 KiB)
/// gained little more and put 27 ms of sketches on the critical path of `crates`' rewrite.
const ANY_NAME_FROM: u64 = 64 * 1024;

/// A file that may join a group: its position in the node order, name, size and contents.
pub(super) struct Candidate<'a> {
    pub(super) index: usize,
    pub(super) name: &'a [u8],
    pub(super) size: u64,
    pub(super) data: &'a FileData,
}

/// Groups of at least two of `files` (each group's positions in node order, its first the one
/// the others were compared with); at most [`MAX_MEMBERS`] a group. The sketches (a read and a
/// hash of each file's start: nearly all the time) are taken on up to `threads` threads.
pub(super) fn groups(
    files: &[Candidate<'_>],
    threads: usize,
) -> Result<Vec<Vec<usize>>, BuildError> {
    let keys: Vec<Vec<u8>> = files.iter().map(|f| name_key(f.name)).collect();
    let mut alike: BTreeMap<&[u8], usize> = BTreeMap::new();
    let mut stems: BTreeMap<&[u8], usize> = BTreeMap::new();
    for k in &keys {
        *alike.entry(k).or_default() += 1;
        *stems.entry(stem(k)).or_default() += 1;
    }
    // Compared: files that share their name key with another, and large ones, with the others of
    // their extension (those named alike share it); then the files left out of those groups with
    // the others of their stem, whatever their extension (one module built as `.js`, `.mjs` and
    // `.cjs`, or as `esquery.js` and `esquery.lite.js`).
    let mut by_ext: BTreeMap<&[u8], Vec<usize>> = BTreeMap::new();
    let mut by_stem: BTreeMap<&[u8], Vec<usize>> = BTreeMap::new();
    for (i, (f, k)) in files.iter().zip(&keys).enumerate() {
        if f.size >= ANY_NAME_FROM || alike.get(&k[..]).is_some_and(|&n| n > 1) {
            by_ext.entry(extension(f.name)).or_default().push(i);
        }
        if stems.get(stem(k)).is_some_and(|&n| n > 1) {
            by_stem.entry(stem(k)).or_default().push(i);
        }
    }
    let buckets: Vec<&Vec<usize>> = by_ext
        .values()
        .chain(by_stem.values())
        .filter(|v| v.len() > 1)
        .collect();
    let mut compared: Vec<usize> = buckets.iter().copied().flatten().copied().collect();
    compared.sort_unstable();
    compared.dedup();
    let sketches = sketches(files, &compared, threads)?;
    let mut grouped = vec![false; files.len()];
    let mut out = Vec::new();
    for same in buckets {
        // The groups of this bucket: (first member's size, members), and which groups' first
        // members have each anchor, so a file is compared only with groups it shares an anchor
        // with (thousands of unrelated files of one name stay linear).
        let mut open: Vec<(u64, Vec<usize>)> = Vec::new();
        let mut by_anchor: HashMap<u64, Vec<usize>> = HashMap::new();
        let mut hits: BTreeMap<usize, usize> = BTreeMap::new();
        for &i in same {
            let (f, s) = (&files[i], &sketches[i]);
            if s.len() < MIN_ANCHORS || grouped[i] {
                continue;
            }
            hits.clear();
            for a in s {
                for &g in by_anchor.get(a).map_or(&[][..], |v| &v[..]) {
                    *hits.entry(g).or_default() += 1;
                }
            }
            let joins = hits.iter().map(|(&g, &n)| (g, n)).find(|&(g, n)| {
                let (size, members) = &open[g];
                members.len() < MAX_MEMBERS
                    && f.size <= size * 2
                    && *size <= f.size * 2
                    && 2 * n >= s.len()
            });
            match joins {
                Some((g, _)) => open[g].1.push(i),
                None => {
                    for &a in s {
                        by_anchor.entry(a).or_default().push(open.len());
                    }
                    open.push((f.size, vec![i]));
                }
            }
        }
        for (_, members) in open.into_iter().filter(|g| g.1.len() > 1) {
            for &i in &members {
                grouped[i] = true;
            }
            out.push(members.iter().map(|&i| files[i].index).collect());
        }
    }
    out.sort();
    Ok(out)
}

/// A file name's extension: from its last `.` (empty without one).
fn extension(name: &[u8]) -> &[u8] {
    let dot = name.iter().rposition(|&b| b == b'.').unwrap_or(name.len());
    name.get(dot..).unwrap_or_default()
}

/// A name key up to its first `.` after the first byte (`index` for `index.d.mts`, `.eslintrc`
/// for `.eslintrc.json`).
fn stem(key: &[u8]) -> &[u8] {
    let dot = key
        .iter()
        .skip(1)
        .position(|&b| b == b'.')
        .map_or(key.len(), |p| p + 1);
    key.get(..dot).unwrap_or_default()
}

/// A file name with every run of ASCII digits replaced by `#` (`libwindows.0.52.0.a` and
/// `libwindows.0.53.0.a` share one).
fn name_key(name: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len());
    for &b in name {
        if !b.is_ascii_digit() {
            key.push(b);
        } else if key.last() != Some(&b'#') {
            key.push(b'#');
        }
    }
    key
}

/// The sketch of each of `files` at the positions `which` (empty elsewhere), taken on up to
/// `threads` threads (0: one per available core); the first error in `which` order.
fn sketches(
    files: &[Candidate<'_>],
    which: &[usize],
    threads: usize,
) -> Result<Vec<Vec<u64>>, BuildError> {
    let taken = parallel::map(which, threads, |_, &i, _| sketch(&files[i]))?;
    let mut out = vec![Vec::new(); files.len()];
    for (&i, s) in which.iter().zip(taken) {
        out[i] = s;
    }
    Ok(out)
}

/// The sorted fingerprints of the anchors in the first [`SKETCH_BYTES`] of a file.
fn sketch(f: &Candidate<'_>) -> Result<Vec<u64>, BuildError> {
    let mut head = vec![0u8; (f.size as usize).min(SKETCH_BYTES)];
    f.data.read_at(0, &mut head)?;
    let mut out = Vec::new();
    fingerprints(&head, &mut out);
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Appends the fingerprints of the anchors in `bytes` to `out`: a gear hash of the last 64 bytes,
/// kept where 8 of its bits are 0 (every ~256 bytes), so that content shifted by an insertion
/// keeps its anchors.
pub(super) fn fingerprints(bytes: &[u8], out: &mut Vec<u64>) {
    fingerprints_from(bytes, 0, out);
}

/// Appends the fingerprints [`fingerprints`] finds in `bytes` at offsets from `from` on (none if
/// `from` is past the end): the hash is first fed the [`WINDOW`] bytes before `from`, all it
/// depends on, so the anchors of a file's start and of its rest, taken apart, are those of all of
/// it.
pub(super) fn fingerprints_from(bytes: &[u8], from: usize, out: &mut Vec<u64>) {
    let (Some(before), Some(rest)) = (
        bytes.get(from.saturating_sub(WINDOW)..from),
        bytes.get(from..),
    ) else {
        return;
    };
    let mut h = before
        .iter()
        .fold(0u64, |h, &b| (h << 1).wrapping_add(GEAR[b as usize]));
    for &b in rest {
        h = (h << 1).wrapping_add(GEAR[b as usize]);
        if (h >> 40) & 0xff == 0 {
            out.push(h);
        }
    }
}

/// Bytes a fingerprint depends on: each step shifts the hash one bit, so a byte has left the 64-bit
/// hash 64 bytes later.
const WINDOW: usize = 64;

/// 256 pseudo-random words (splitmix64), one per byte value.
const GEAR: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut i = 0;
    while i < 256 {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        t[i] = z ^ (z >> 31);
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::compress::tests::noise;
    use std::format;
    use std::string::String;

    fn cand<'a>(index: usize, name: &'a str, data: &'a FileData) -> Candidate<'a> {
        let size = match data {
            FileData::Bytes(b) => b.len() as u64,
            FileData::Path(_) => 0,
        };
        Candidate {
            index,
            name: name.as_bytes(),
            size,
            data,
        }
    }

    /// `n` builds of `base`, the `i`-th with byte `at + i` flipped.
    fn builds(base: &[u8], at: usize, n: usize) -> Vec<FileData> {
        (0..n)
            .map(|i| {
                let mut b = base.to_vec();
                b[at + i] ^= 0xff;
                FileData::Bytes(b)
            })
            .collect()
    }

    #[test]
    fn anchors_taken_in_parts_are_those_of_the_whole() {
        let bytes = noise(50_000, 9);
        let mut whole = Vec::new();
        fingerprints(&bytes, &mut whole);
        assert!(whole.len() > 100);
        for cut in [0, 1, 63, 64, 65, 4096, 49_999, 50_000] {
            let mut parts = Vec::new();
            fingerprints(&bytes[..cut], &mut parts);
            fingerprints_from(&bytes, cut, &mut parts);
            assert_eq!(parts, whole, "cut at {cut}");
        }
        let mut past = Vec::new();
        fingerprints_from(&bytes, 50_001, &mut past);
        assert!(past.is_empty());
    }

    #[test]
    fn versions_of_one_file_group_and_unrelated_or_differently_named_files_do_not() {
        let v1 = noise(40_000, 1);
        // The next version: 300 bytes inserted near the start, a few bytes changed further on.
        let mut v2 = v1[..5000].to_vec();
        v2.extend(noise(300, 2));
        v2.extend_from_slice(&v1[5000..]);
        v2[20_000] ^= 1;
        let files = [
            FileData::Bytes(v1.clone()),
            FileData::Bytes(v2),
            FileData::Bytes(noise(40_000, 3)),
            FileData::Bytes(v1.clone()),
            FileData::Bytes(v1[..15_000].to_vec()),
        ];
        let c = [
            cand(0, "lib.0.52.a", &files[0]),
            cand(3, "lib.0.53.a", &files[1]),
            cand(5, "lib.0.54.a", &files[2]),
            cand(7, "other.a", &files[3]),
            cand(9, "lib.1.a", &files[4]),
        ];
        // lib.0.54.a shares no content; other.a has another name; lib.1.a is under half the size.
        assert_eq!(groups(&c, 2).unwrap(), vec![vec![0, 3]]);
    }

    #[test]
    fn groups_hold_at_most_four_files_and_files_without_anchors_stay_alone() {
        let base = noise(30_000, 9);
        let files: Vec<FileData> = (0..6)
            .map(|i| {
                let mut b = base.clone();
                b[i * 1000] ^= 0xff;
                FileData::Bytes(b)
            })
            .chain([
                FileData::Bytes(vec![0; 30_000]),
                FileData::Bytes(vec![0; 30_000]),
            ])
            .collect();
        let names: Vec<String> = (0..8).map(|i| format!("part{i}.bin")).collect();
        let c: Vec<Candidate<'_>> = (0..8).map(|i| cand(i, &names[i], &files[i])).collect();
        assert_eq!(groups(&c, 2).unwrap(), vec![vec![0, 1, 2, 3], vec![4, 5]]);
    }

    #[test]
    fn large_builds_of_one_file_named_otherwise_group_by_extension() {
        let base = noise(80_000, 11);
        let mut files = builds(&base, 10_000, 3);
        files.push(FileData::Bytes(base[..40_000].to_vec()));
        let c = [
            cand(0, "x86_64_linux_crypto.rs", &files[0]),
            cand(1, "aarch64_darwin_crypto.rs", &files[1]),
            cand(2, "aarch64_darwin_crypto.c", &files[2]),
            cand(3, "small_crypto.rs", &files[3]),
        ];
        // The `.c` build is compared with the `.rs` one of its stem, already grouped; under 64 KiB
        // and named like no other: not compared.
        assert_eq!(groups(&c, 2).unwrap(), vec![vec![0, 1]]);
    }

    #[test]
    fn builds_of_one_module_with_other_extensions_group_by_stem() {
        let files = builds(&noise(30_000, 13), 1_000, 5);
        let names = [
            "index.cjs",
            "index.d.ts",
            "index.mjs",
            "other.js",
            "parser.esm.js",
        ];
        let c: Vec<Candidate<'_>> = (0..5).map(|i| cand(i, names[i], &files[i])).collect();
        // Under 64 KiB: `other.js` and `parser.esm.js` share their stem with no file.
        assert_eq!(groups(&c, 2).unwrap(), vec![vec![0, 1, 2]]);
    }

    #[test]
    fn a_stem_is_a_name_key_up_to_its_first_dot_after_the_first_byte() {
        assert_eq!(stem(b"index.d.mts"), b"index");
        assert_eq!(stem(b".eslintrc.json"), b".eslintrc");
        assert_eq!(stem(b"Makefile"), b"Makefile");
        assert_eq!(stem(b""), b"");
    }

    #[test]
    fn a_name_key_replaces_each_run_of_digits() {
        assert_eq!(name_key(b"libwindows.0.52.0.a"), b"libwindows.#.#.#.a");
        assert_eq!(name_key(b"x86_64"), b"x#_#");
        assert_eq!(name_key(b"README"), b"README");
    }
}
