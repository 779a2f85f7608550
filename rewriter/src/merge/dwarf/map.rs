//! The exact map from the input's code-section offsets to the output's, piecewise per body edit.

/// Maps a code-section offset of the input (what DWARF calls an address in wasm: an offset from
/// the start of the code section's payload) to the same instruction's offset in the output.
///
/// Made of breakpoints `(old, new)` with strictly increasing `old` and non-decreasing `new`:
/// between two breakpoints bytes move together (slope one), and a point is never mapped past the
/// next breakpoint's `new` (a point inside a grown LEB stays inside it). Offsets past the input's
/// last app body (DWARF tombstones such as `0xffffffff`) are left as they are.
#[derive(Debug, Clone, Default)]
pub struct AddressMap {
    old: Vec<u32>,
    new: Vec<u32>,
}

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
        let i = self.old.partition_point(|&o| u64::from(o) <= addr);
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
    fn a_point_never_passes_the_next_breakpoint() {
        let mut m = AddressMap::new();
        m.push(0, 0);
        m.push(10, 10);
        m.push(12, 11); // a shrunk region: 10..12 -> 10..11
        assert_eq!(m.map(11), 11);
        assert_eq!(m.map(12), 11);
    }
}
