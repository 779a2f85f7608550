//! Files holding parts of another at other offsets (one module built twice, one declaration file holding most of another), found by content-defined anchors: each chunk of such a file (a follower) is compressed right after the chunk of its base it shares the most anchors with, in one shared frame, so it costs about what differs; readers need nothing new.

use std::collections::{HashMap, HashSet};
use std::vec::Vec;

use super::dedup::content_hash;
use super::parallel;
use super::similar::{fingerprints, fingerprints_from, Candidate};
use super::BuildError;
use crate::format::{DEFAULT_CHUNK_LOG2, WHOLE_CHUNK_LOG2};

/// Largest file paired: a group's members are read whole when it is written.
const MAX_FILE: u64 = 4 << 20;
/// Members of a group at most (a base and its followers).
const MAX_MEMBERS: usize = 8;
/// Fewest anchors a chunk must have to be matched (~2 KiB of content).
const MIN_ANCHORS: usize = 8;
/// A follower's chunk joins a base chunk's frame when at least this share (1 / this) of its
/// anchors are in that chunk (the bench's `npm` 1.055× `tar.zst` at a quarter, 1.051× at an
/// eighth, 1.047× at a sixteenth, 1.045× at a 32nd; reading all of it took the same time at
/// each, all of Python's ~10 % longer than with no pairs).
const MIN_SHARE: usize = 16;
/// Anchors in more chunks than this are boilerplate (licence headers, generated preambles), not a
/// sign that two chunks share content.
const MAX_SPREAD: usize = 32;
/// Uncompressed bytes a frame may hold: a base chunk and the followers' chunks after it.
const FRAME_BYTES: u64 = 1 << WHOLE_CHUNK_LOG2;
/// Bytes from a file's start sampled whole.
const HEAD_BYTES: u64 = 64 * 1024;
/// Past its head, a file is sampled [`SAMPLE_BYTES`] every this many bytes to tell whether it
/// shares content with another (a region of 64 KiB held at another offset shares ~16 anchors).
const SAMPLE_EVERY: u64 = 64 * 1024;
/// See [`SAMPLE_EVERY`].
const SAMPLE_BYTES: u64 = 16 * 1024;
/// Sampled anchors two files must share for either to be read whole and anchored.
const MIN_SAMPLED: usize = 4;
/// Bytes of a file's head weighed by [`looks_compressed`] (as 64 KiB were, the same choices on
/// the bench's trees, Python's, Go's and two node_modules, for a quarter of the counting).
const ENTROPY_BYTES: usize = 16 * 1024;
/// Bits of entropy a byte (order 0) from which a file's head looks compressed or random: such
/// files are not looked at (text 4–6 bits, machine code ~6, zstd and deflate output ~8); half of
/// the bench's `m50` and `m200`, whose anchors took 0.1 s on `m200` for no pair.
const COMPRESSED_BITS: f64 = 7.5;

/// A base and its followers: their positions in node order (sorted) and the frames they are
/// written in, in order, each a list of (position, chunk number) covering every chunk of every
/// member once.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Paired {
    pub(super) members: Vec<usize>,
    pub(super) frames: Vec<Vec<(usize, u32)>>,
}

/// What a candidate has become.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Free,
    Base,
    Follower,
    /// The same bytes as an earlier file (as far as a hash tells): stored as its copy.
    Copy,
}

/// One chunk of a candidate: its file (a slot in the candidates taken) and number, its length,
/// and its sorted anchors.
struct Piece {
    slot: usize,
    number: u32,
    len: u64,
    anchors: Vec<u64>,
}

/// The candidates for pairs and the anchors of each of their chunks, taken before the block
/// dictionary is known.
pub(super) struct Anchored<'c, 'a> {
    /// Group candidates no group took, up to [`MAX_FILE`] and not read whole, in node order.
    slots: Vec<&'c Candidate<'a>>,
    /// Their chunks, in slot order.
    pieces: Vec<Piece>,
    /// A hash of each one's bytes (`None`: not read whole).
    hashes: Vec<Option<u64>>,
}

/// Takes the anchors of the chunks of `files` (in node order) not `taken` by another group (by
/// position in `files`), each in chunks of `1 << log2s[position in node order]` bytes, on up to
/// `threads` threads (0: one per core): of those that share content with another, as a sample of
/// their bytes tells (`anchored`). Files read whole (executables, libraries: chunks larger than
/// the default) are left out: in this workspace's crates a third of the bytes to look at, for
/// 0.1 % of what pairs save.
pub(super) fn anchor<'c, 'a>(
    files: &'c [Candidate<'a>],
    taken: &[bool],
    log2s: &[u8],
    threads: usize,
) -> Result<Anchored<'c, 'a>, BuildError> {
    let log2 = |f: &Candidate<'_>| log2s.get(f.index).copied().unwrap_or(DEFAULT_CHUNK_LOG2);
    let slots: Vec<&Candidate<'_>> = files
        .iter()
        .zip(taken)
        .filter(|(f, &t)| !t && f.size <= MAX_FILE && log2(f) <= DEFAULT_CHUNK_LOG2)
        .map(|(f, _)| f)
        .collect();
    let chunk = |f: &Candidate<'_>| 1u64 << log2(f);
    let (pieces, hashes) = anchored(&slots, &chunk, threads)?;
    Ok(Anchored {
        slots,
        pieces,
        hashes,
    })
}

/// The groups of a base and its followers: each file in turn, unless it is a base already or a
/// copy of an earlier one, follows the file (not a follower) whose chunks share the most anchors
/// with its own, anchors `known` to the block dictionary not counted (what it gives every chunk
/// is no reason to pair; files cut from one pool it holds would pair for nothing).
pub(super) fn pairs(a: Anchored<'_, '_>, known: &HashSet<u64>) -> Vec<Paired> {
    let Anchored {
        slots,
        pieces,
        hashes,
    } = a;
    let (shared_from, shared) = shared(&pieces, known);
    let mut first = std::vec![0usize; slots.len() + 1];
    for p in &pieces {
        first[p.slot + 1] += 1;
    }
    for s in 0..slots.len() {
        first[s + 1] += first[s];
    }
    let mut role = std::vec![Role::Free; slots.len()];
    let mut seen = HashSet::new();
    for (s, f) in slots.iter().enumerate() {
        if hashes[s].is_some_and(|h| !seen.insert((f.size, h))) {
            role[s] = Role::Copy;
        }
    }
    // Bytes in each piece's frame so far (its own, then its followers'), and each base's members.
    let mut filled: Vec<u64> = pieces.iter().map(|p| p.len).collect();
    let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
    // Each follower's chunks placed after a base chunk: (follower slot, chunk number, base piece).
    let mut placed: Vec<(usize, u32, usize)> = Vec::new();
    for b in 0..slots.len() {
        if role[b] != Role::Free {
            continue;
        }
        // For each candidate base, the best chunk of it for each of b's chunks, and the anchors
        // those share in all.
        let mut by_base: HashMap<usize, (usize, Vec<(u32, usize)>)> = HashMap::new();
        for k in first[b]..first[b + 1] {
            let p = &pieces[k];
            if p.anchors.len() < MIN_ANCHORS {
                continue;
            }
            let mut best: HashMap<usize, (usize, usize)> = HashMap::new();
            for &(j, n) in &shared[shared_from[k]..shared_from[k + 1]] {
                let (j, n) = (j as usize, n as usize);
                let s = pieces[j].slot;
                if n * MIN_SHARE < p.anchors.len() || !matches!(role[s], Role::Free | Role::Base) {
                    continue;
                }
                let e = best.entry(s).or_insert((0, 0));
                if (n, usize::MAX - j) > (e.0, usize::MAX - e.1) {
                    *e = (n, j);
                }
            }
            for (s, (n, j)) in best {
                let e = by_base.entry(s).or_default();
                e.0 += n;
                e.1.push((p.number, j));
            }
        }
        let Some((a, (_, mut chunks))) = by_base
            .into_iter()
            .filter(|(a, _)| members.get(a).map_or(1, Vec::len) < MAX_MEMBERS)
            .max_by_key(|(a, (n, _))| (*n, usize::MAX - a))
        else {
            continue;
        };
        chunks.sort_unstable();
        let mut any = false;
        for (number, j) in chunks {
            let len = pieces[first[b] + number as usize].len;
            if filled[j] + len <= FRAME_BYTES {
                filled[j] += len;
                placed.push((b, number, j));
                any = true;
            }
        }
        if any {
            role[a] = Role::Base;
            role[b] = Role::Follower;
            members.entry(a).or_insert_with(|| std::vec![a]).push(b);
        }
    }
    groups(&slots, &pieces, &first, members, &placed)
}

/// For each piece, the pieces of other files it shares anchors with and how many (an anchor in
/// more than [`MAX_SPREAD`] pieces, or `known`, counted for none), by piece: entries
/// `from[k]..from[k + 1]`.
fn shared(pieces: &[Piece], known: &HashSet<u64>) -> (Vec<usize>, Vec<(u32, u32)>) {
    let all = pieces
        .iter()
        .enumerate()
        .flat_map(|(id, p)| p.anchors.iter().map(move |&a| (a, id as u32)));
    let counted = co_occurring(
        all,
        |a| known.contains(&a),
        |p, q| pieces[p as usize].slot == pieces[q as usize].slot,
    );
    let mut from = std::vec![0usize; pieces.len() + 1];
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(counted.len());
    for ((p, q), n) in counted {
        from[p as usize + 1] += 1;
        out.push((q, n));
    }
    for k in 0..pieces.len() {
        from[k + 1] += from[k];
    }
    (from, out)
}

/// Every ordered pair of ids seen with one anchor, and with how many anchors, sorted: from
/// `(anchor, id)` items, an anchor `skipped`, or seen with more than [`MAX_SPREAD`] ids, counted
/// for none, and ids that are the `same` (one file) never paired. One sort of the items and one
/// of the pairs, so the work grows with the anchors shared, not with those looked up; each pair
/// is counted once, lower id first, and given both ways once counted (what the sort holds is
/// halved: 32 edits of one text, every anchor in 32 chunks, sort ~15 M pairs otherwise).
fn co_occurring(
    items: impl Iterator<Item = (u64, u32)>,
    skipped: impl Fn(u64) -> bool,
    same: impl Fn(u32, u32) -> bool,
) -> Vec<((u32, u32), u32)> {
    let mut all: Vec<(u64, u32)> = items.collect();
    all.sort_unstable();
    all.dedup();
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    for run in all.chunk_by(|x, y| x.0 == y.0) {
        if run.len() < 2 || run.len() > MAX_SPREAD || skipped(run[0].0) {
            continue;
        }
        // The ids of a run are sorted and distinct: each pair once, the lower first.
        for (k, &(_, p)) in run.iter().enumerate() {
            pairs.extend(
                run.iter()
                    .skip(k + 1)
                    .filter(|&&(_, q)| !same(p, q))
                    .map(|&(_, q)| (p, q)),
            );
        }
    }
    pairs.sort_unstable();
    let mut counted: Vec<((u32, u32), u32)> = Vec::new();
    for run in pairs.chunk_by(|x, y| x == y) {
        let ((p, q), n) = (run[0], run.len() as u32);
        counted.extend([((p, q), n), ((q, p), n)]);
    }
    counted.sort_unstable();
    counted
}

/// The groups of each base with its followers: a frame per base chunk (the followers' chunks
/// placed after it), then a frame for each of a follower's chunks placed nowhere.
fn groups(
    slots: &[&Candidate<'_>],
    pieces: &[Piece],
    first: &[usize],
    members: HashMap<usize, Vec<usize>>,
    placed: &[(usize, u32, usize)],
) -> Vec<Paired> {
    let mut after: HashMap<usize, Vec<(usize, u32)>> = HashMap::new();
    let mut is_placed: HashSet<(usize, u32)> = HashSet::new();
    for &(b, number, j) in placed {
        after.entry(j).or_default().push((slots[b].index, number));
        is_placed.insert((b, number));
    }
    let mut out: Vec<Paired> = members
        .into_iter()
        .map(|(a, group)| {
            let mut frames = Vec::new();
            for (j, p) in pieces.iter().enumerate().take(first[a + 1]).skip(first[a]) {
                let mut frame = std::vec![(slots[a].index, p.number)];
                frame.extend(after.remove(&j).unwrap_or_default());
                frames.push(frame);
            }
            for &b in &group[1..] {
                for p in &pieces[first[b]..first[b + 1]] {
                    if !is_placed.contains(&(b, p.number)) {
                        frames.push(std::vec![(slots[b].index, p.number)]);
                    }
                }
            }
            let mut members: Vec<usize> = group.iter().map(|&s| slots[s].index).collect();
            members.sort_unstable();
            Paired { members, frames }
        })
        .collect();
    out.sort_unstable_by_key(|p| p.members[0]);
    out
}

/// Every chunk of `slots`, with its anchors, in slot order, and a hash of each file's bytes (`None`
/// for a file not read whole); on up to `threads` threads. Only files [`related`] to another are read
/// whole and anchored: a tree of large files sharing nothing (the bench's `m200`, 90 MB of text)
/// costs a sample of their bytes. The sample's anchors of a file's head are those of its first
/// chunk's start, and not taken again (most files of a node_modules are all head).
fn anchored(
    slots: &[&Candidate<'_>],
    chunk: &(dyn Fn(&Candidate<'_>) -> u64 + Sync),
    threads: usize,
) -> Result<(Vec<Piece>, Vec<Option<u64>>), BuildError> {
    let sampled = parallel::map(slots, threads, |_, f, body| sample(f, body))?;
    let related = related(&sampled);
    let whole = parallel::map(slots, threads, |s, &f, body| {
        let Some(Sample { anchors, head }) = sampled[s].as_ref().filter(|_| related[s]) else {
            return Ok((Vec::new(), None));
        };
        body.resize(f.size as usize, 0);
        f.data.read_at(0, body)?;
        let c = chunk(f) as usize;
        let head_bytes = HEAD_BYTES as usize;
        let pieces = body
            .chunks(c)
            .enumerate()
            .map(|(number, bytes)| {
                let mut found = Vec::new();
                match number == 0 && c >= head_bytes {
                    true => {
                        found.extend_from_slice(&anchors[..*head]);
                        fingerprints_from(bytes, head_bytes, &mut found);
                    }
                    false => fingerprints(bytes, &mut found),
                }
                found.sort_unstable();
                found.dedup();
                Piece {
                    slot: s,
                    number: number as u32,
                    len: bytes.len() as u64,
                    anchors: found,
                }
            })
            .collect();
        Ok((pieces, Some(content_hash(body))))
    })?;
    let (mut out, mut hashes) = (Vec::new(), Vec::new());
    for (pieces, hash) in whole {
        out.extend(pieces);
        hashes.push(hash);
    }
    Ok((out, hashes))
}

/// What a file's sample holds: the anchors of its head (its first [`HEAD_BYTES`]), in the order
/// found, then those of the bytes sampled after it.
struct Sample {
    anchors: Vec<u64>,
    /// How many of `anchors` are the head's.
    head: usize,
}

/// The sample of `f` (read through `body`), or `None` if its head looks compressed.
fn sample(f: &Candidate<'_>, body: &mut Vec<u8>) -> Result<Option<Sample>, BuildError> {
    body.resize(f.size.min(HEAD_BYTES) as usize, 0);
    f.data.read_at(0, body)?;
    if looks_compressed(body.get(..ENTROPY_BYTES).unwrap_or(body)) {
        return Ok(None);
    }
    let mut anchors = Vec::new();
    fingerprints(body, &mut anchors);
    let head = anchors.len();
    let mut at = HEAD_BYTES;
    while at < f.size {
        body.resize((f.size - at).min(SAMPLE_BYTES) as usize, 0);
        f.data.read_at(at, body)?;
        fingerprints(body, &mut anchors);
        at += SAMPLE_EVERY;
    }
    Ok(Some(Sample { anchors, head }))
}

/// Whether each file shares at least [`MIN_SAMPLED`] sampled anchors with another (an anchor
/// sampled from more than [`MAX_SPREAD`] files counts for none); `None`: not looked at.
fn related(sampled: &[Option<Sample>]) -> Vec<bool> {
    let all = sampled
        .iter()
        .enumerate()
        .filter_map(|(s, a)| a.as_ref().map(|a| (s, &a.anchors)))
        .flat_map(|(s, a)| a.iter().map(move |&x| (x, s as u32)));
    let mut out = std::vec![false; sampled.len()];
    for ((a, _), n) in co_occurring(all, |_| false, |a, b| a == b) {
        if n as usize >= MIN_SAMPLED {
            out[a as usize] = true;
        }
    }
    out
}

/// Whether `head`, a file's first bytes, looks compressed or random (order-0 entropy of at least
/// [`COMPRESSED_BITS`] a byte): what it holds of another file is unlikely, and finding it costs as
/// much as for any other.
fn looks_compressed(head: &[u8]) -> bool {
    // Four tables, summed after: in one, a run of a byte value makes each count wait for the one
    // before (text counted 1.3–1.5 times faster this way).
    let mut tables = [[0u32; 256]; 4];
    let mut quads = head.chunks_exact(4);
    for q in &mut quads {
        for (t, &b) in tables.iter_mut().zip(q) {
            t[b as usize] += 1;
        }
    }
    for &b in quads.remainder() {
        tables[0][b as usize] += 1;
    }
    let n = head.len() as f64;
    let bits: f64 = (0..256)
        .map(|v| tables.iter().map(|t| t[v]).sum::<u32>())
        .filter(|&c| c > 0)
        .map(|c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    bits >= COMPRESSED_BITS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::compress::tests::{noise, words};
    use crate::build::FileData;

    /// The pairs among `bodies` (each at its position in node order), none taken, in 256 KiB
    /// chunks.
    fn paired(bodies: &[Vec<u8>]) -> Vec<Paired> {
        let data: Vec<FileData> = bodies.iter().map(|b| FileData::Bytes(b.clone())).collect();
        let files: Vec<Candidate<'_>> = data
            .iter()
            .enumerate()
            .map(|(index, d)| Candidate {
                index,
                name: b"f",
                size: bodies[index].len() as u64,
                data: d,
            })
            .collect();
        let log2s = std::vec![DEFAULT_CHUNK_LOG2; bodies.len()];
        let anchored = anchor(&files, &std::vec![false; files.len()], &log2s, 2).unwrap();
        pairs(anchored, &HashSet::new())
    }

    const C: usize = 1 << DEFAULT_CHUNK_LOG2;

    #[test]
    fn chunks_holding_another_files_chunks_elsewhere_follow_them_in_their_frames() {
        // A file of three distinct chunks; a later file holding them in another order, each with
        // a little of its own, then a chunk found nowhere; an unrelated file. The first file
        // turned to finds the other: it follows, its chunks each after the one holding it.
        let base = words(3 * C, 1);
        let mut follower = Vec::new();
        for i in [2, 0, 1] {
            follower.extend_from_slice(&base[i * C..i * C + C - 1000]);
            follower.extend(words(1000, 10 + i as u64));
        }
        follower.extend(words(C / 2, 20));
        let bodies = [words(C, 3), base, follower, words(2 * C, 4)];
        let got = paired(&bodies);
        let want = Paired {
            members: std::vec![1, 2],
            frames: std::vec![
                std::vec![(2, 0), (1, 2)],
                std::vec![(2, 1), (1, 0)],
                std::vec![(2, 2), (1, 1)],
                std::vec![(2, 3)],
            ],
        };
        assert_eq!(got, std::vec![want]);
    }

    #[test]
    fn a_frame_holds_at_most_its_bytes_and_unrelated_or_boilerplate_files_stay_apart() {
        // Five files of one chunk's content, each with its own tail: the first follows the second
        // (the first of the best), whose frame takes three followers' chunks (1 MiB); the fifth
        // file finds no room and stays alone.
        let common = words(C - 4096, 5);
        let bodies: Vec<Vec<u8>> = (0..5)
            .map(|i| {
                let mut b = common.clone();
                b.extend(words(4096, 30 + i));
                b
            })
            .collect();
        let got = paired(&bodies);
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].frames,
            std::vec![std::vec![(1, 0), (0, 0), (2, 0), (3, 0)]]
        );
        assert_eq!(got[0].members, std::vec![0, 1, 2, 3]);
        // Files that share nothing, or only what more than `MAX_SPREAD` chunks share, pair with none.
        let unrelated: Vec<Vec<u8>> = (0..4).map(|i| words(C, 40 + i)).collect();
        assert!(paired(&unrelated).is_empty());
        let header = words(8 * 1024, 6);
        let boiler: Vec<Vec<u8>> = (0..MAX_SPREAD as u64 + 1)
            .map(|i| {
                let mut b = header.clone();
                b.extend(words(24 * 1024, 100 + i));
                b
            })
            .collect();
        assert!(paired(&boiler).is_empty());
    }

    #[test]
    fn shared_anchors_are_counted_for_every_ordered_pair_as_one_by_one_lookups_would() {
        // Ids 0–9 (slots by id / 3), each with anchors drawn from a small range, so that some
        // anchors are in many ids; anchor 7 is skipped, and those in more than MAX_SPREAD ids
        // (anchor 0 is in all 40) count for none.
        let mut rng = crate::fuzz::Rng(0x5eed);
        let mut items: Vec<(u64, u32)> = (0..40u32).map(|id| (0, id)).collect();
        for id in 0..40u32 {
            items.extend((0..30).map(|_| (1 + rng.next() % 60, id)));
        }
        let same = |p: u32, q: u32| p / 3 == q / 3;
        let got = co_occurring(items.iter().copied(), |a| a == 7, same);
        let mut want: std::collections::BTreeMap<(u32, u32), u32> = Default::default();
        for a in 0..61u64 {
            let ids: std::collections::BTreeSet<u32> =
                items.iter().filter(|x| x.0 == a).map(|x| x.1).collect();
            if a == 7 || ids.len() > MAX_SPREAD {
                continue;
            }
            for &p in &ids {
                for &q in ids.iter().filter(|&&q| !same(p, q)) {
                    *want.entry((p, q)).or_default() += 1;
                }
            }
        }
        let want: Vec<((u32, u32), u32)> = want.into_iter().collect();
        assert!(want.len() > 100, "{}", want.len());
        assert_eq!(got, want);
    }

    #[test]
    fn random_bytes_look_compressed_and_text_and_code_do_not() {
        assert!(looks_compressed(&noise(64 * 1024, 7)));
        let text: Vec<u8> = (0..5000u32)
            .flat_map(|i| std::format!("let x{} = f({}, \"{}\");\n", i % 89, i, i * 7).into_bytes())
            .collect();
        assert!(!looks_compressed(&text));
        assert!(!looks_compressed(&[0u8; 4096]));
    }
}
