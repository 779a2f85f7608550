//! The exact map from the input's code-section offsets to the output's, piecewise per body edit.

use std::cell::Cell;

/// Maps a code-section offset of the input (what DWARF calls an address in wasm: an offset from
/// the start of the code section's payload) to the same instruction's offset in the output.
///
/// Made of breakpoints `(old, new)` with strictly increasing `old` and non-decreasing `new`:
/// between two breakpoints bytes move together (slope one), and a point is never mapped past the
/// next breakpoint's `new` (a point inside a grown LEB stays inside it). Offsets past the input's
/// last app body (DWARF tombstones such as `0xffffffff`) are left as they are.
///
/// Breakpoints that continue the previous segment (the same shift) are merged into it, so a map
/// whose code moved uniformly has a handful of them. A lookup starts from the previous one's
/// segment: DWARF visits addresses mostly in increasing order (line rows, ranges, functions), so
/// it is mostly a step or two forward instead of a binary search over every breakpoint.
#[derive(Debug, Clone, Default)]
pub struct AddressMap {
    old: Vec<u32>,
    new: Vec<u32>,
    /// The number of breakpoints at or below the previous lookup's address (a hint only).
    hint: Cell<usize>,
}

/// How many breakpoints around the previous lookup's a lookup searches first.
const NEAR: usize = 32;

impl AddressMap {
    /// An empty map; breakpoints are added in increasing `old` order with [`AddressMap::push`].
    pub fn new() -> Self {
        AddressMap::default()
    }

    /// Adds the breakpoint `old -> new`; replaces the last one if `old` repeats it.
    pub fn push(&mut self, old: usize, new: usize) {
        let (old, new) = (old as u32, new as u32);
        if self.old.last() == Some(&old) {
            if let Some(last) = self.new.last_mut() {
                *last = new;
            }
            return;
        }
        debug_assert!(self.old.last().is_none_or(|&o| o < old));
        // The last breakpoint always stays (it ends the map); one before it that continues its
        // predecessor's segment changes no lookup, and is replaced.
        if let [.., o0, o1] = self.old[..] {
            let n = self.new.len();
            let (n0, n1) = (self.new[n - 2], self.new[n - 1]);
            let shift = |o: u32, n: u32| i64::from(n) - i64::from(o);
            if shift(o0, n0) == shift(o1, n1) && shift(o1, n1) == shift(old, new) {
                self.old[n - 1] = old;
                self.new[n - 1] = new;
                return;
            }
        }
        self.old.push(old);
        self.new.push(new);
    }

    /// The output offset of input offset `addr`.
    pub fn map(&self, addr: u64) -> u64 {
        let Some(&end) = self.old.last() else {
            return addr;
        };
        if addr > u64::from(end) {
            return addr;
        }
        let i = self.breakpoints_at_or_below(addr);
        if i == 0 {
            return addr;
        }
        let i = i - 1;
        let moved = u64::from(self.new[i]) + (addr - u64::from(self.old[i]));
        match self.new.get(i + 1) {
            Some(&next) => moved.min(u64::from(next)),
            None => moved,
        }
    }

    /// The number of breakpoints whose `old` is at most `addr`: searched among the [`NEAR`]
    /// breakpoints after (or before) the previous lookup's when it lies there, over all of them
    /// otherwise (a search over a moving far range would miss the cache at every step).
    fn breakpoints_at_or_below(&self, addr: u64) -> usize {
        let old = &self.old;
        let below = |o: &u32| u64::from(*o) <= addr;
        let hint = self.hint.get().min(old.len());
        let i = if hint == 0 || below(&old[hint - 1]) {
            let end = (hint + NEAR).min(old.len());
            if end == old.len() || !below(&old[end]) {
                hint + old[hint..end].partition_point(below)
            } else {
                old.partition_point(below)
            }
        } else {
            let start = hint.saturating_sub(NEAR);
            if start == 0 || below(&old[start - 1]) {
                start + old[start..hint].partition_point(below)
            } else {
                old.partition_point(below)
            }
        };
        self.hint.set(i);
        i
    }

    /// Whether every offset maps to itself.
    pub fn is_identity(&self) -> bool {
        self.old.iter().zip(&self.new).all(|(o, n)| o == n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_move_with_their_segment_and_stay_inside_grown_lebs() {
        let mut m = AddressMap::new();
        m.push(0, 0);
        m.push(1, 2); // count LEB grew by one byte
        m.push(10, 11); // an operand ending at 10 grew by one byte
        m.push(20, 22);
        assert_eq!(m.map(0), 0);
        assert_eq!(m.map(1), 2);
        assert_eq!(m.map(5), 6);
        assert_eq!(m.map(9), 10);
        assert_eq!(m.map(10), 11);
        assert_eq!(m.map(19), 20);
        assert_eq!(m.map(20), 22);
        // Past the last app body: tombstones and the like are left alone.
        assert_eq!(m.map(21), 21);
        assert_eq!(m.map(0xffff_ffff), 0xffff_ffff);
        assert!(!m.is_identity());
    }

    #[test]
    fn breakpoints_that_continue_a_shift_are_merged_without_changing_any_lookup() {
        let mut m = AddressMap::new();
        m.push(0, 0);
        m.push(1, 2); // the count LEB grew by one byte: everything after moves by one
        for body in 1..100 {
            m.push(10 * body, 10 * body + 1);
        }
        assert_eq!(m.old.len(), 3, "{m:?}");
        assert_eq!(m.map(0), 0);
        assert_eq!(m.map(1), 2);
        assert_eq!(m.map(500), 501);
        assert_eq!(m.map(990), 991);
        // Past the last breakpoint (kept): left alone.
        assert_eq!(m.map(991), 991);
    }

    #[test]
    fn lookups_in_any_order_agree_with_a_binary_search_over_every_breakpoint() {
        let mut m = AddressMap::new();
        let mut points: Vec<(u64, u64)> = Vec::new();
        let (mut old, mut new) = (0u64, 0u64);
        for k in 0..3000u64 {
            m.push(old as usize, new as usize);
            points.push((old, new));
            old += 1 + k * 7 % 13;
            // Runs of equal shifts (merged), shifts that grow, and shrunk regions.
            let shift = if k % 10 < 6 { k / 10 } else { k / 10 + k % 3 };
            new = (old + shift).saturating_sub(k % 4).max(new);
        }
        assert!(m.old.len() < points.len(), "some breakpoints merge");
        let expected = |addr: u64| {
            let end = points.last().expect("breakpoints").0;
            if addr > end {
                return addr;
            }
            let i = points.partition_point(|&(o, _)| o <= addr);
            if i == 0 {
                return addr;
            }
            let moved = points[i - 1].1 + (addr - points[i - 1].0);
            points.get(i).map_or(moved, |&(_, n)| moved.min(n))
        };
        let end = points.last().expect("breakpoints").0 + 10;
        let forward = 0..end;
        let jumps = (0..end).map(|a| a * 7919 % end);
        let backward = (0..end).rev().step_by(5);
        for addr in forward.chain(jumps).chain(backward) {
            assert_eq!(m.map(addr), expected(addr), "at {addr}");
        }
    }

    #[test]
    fn a_point_never_passes_the_next_breakpoint() {
        let mut m = AddressMap::new();
        m.push(0, 0);
        m.push(10, 10);
        m.push(12, 11); // a shrunk region: 10..12 -> 10..11
        assert_eq!(m.map(11), 11);
        assert_eq!(m.map(12), 11);
    }
}
