//! A small allocator for the shim's own memory: power-of-two size classes with free lists,
//! carved from pages obtained with `memory.grow` (memory 1 once merged). Never shrinks.
//!
//! Running out is an answer, not a trap: an allocation that finds no room returns null (the
//! callers turn that into ENOMEM). The heap stops at the image's `--max-write-memory` (default: the
//! 4 GiB address space), and big blocks (file data) leave the last `RESERVE` bytes to small ones,
//! so that once written data has filled the heap, the calls that delete, close or list still
//! find room.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::null_mut;

/// Smallest block handed out (room for the free-list link, 16-byte alignment).
const MIN_BLOCK: usize = 16;
/// Number of size classes (2^4 … 2^31 bytes).
const CLASSES: usize = 32;
/// Bytes per wasm page.
const PAGE: usize = 65536;
/// Heap bytes only blocks under `BIG` may take.
const RESERVE: usize = 64 * 1024;
/// Size from which a block counts as big (file data, not bookkeeping).
const BIG: usize = 4096;

/// Free-list heads per class, the unused tail `[top, end)` of the grown memory, where the heap
/// started, and how many bytes it may span (0: up to the end of the address space).
struct State {
    free: [usize; CLASSES],
    top: usize,
    end: usize,
    base: usize,
    limit: usize,
}

/// The global allocator.
pub struct Heap(UnsafeCell<State>);

// SAFETY: wasm32 without threads; the allocator is never re-entered.
unsafe impl Sync for Heap {}

impl Heap {
    /// An allocator with nothing allocated yet.
    pub const fn new() -> Self {
        Heap(UnsafeCell::new(State {
            free: [0; CLASSES],
            top: 0,
            end: 0,
            base: 0,
            limit: 0,
        }))
    }

    /// Caps the heap at `bytes` (0: no cap but the address space); set once, at start-up.
    pub fn set_limit(&self, bytes: usize) {
        // SAFETY: single-threaded, not re-entrant: the only live reference.
        unsafe { (*self.0.get()).limit = bytes };
    }
}

/// Size class (log2 of the block size) for a layout.
fn class(layout: &Layout) -> usize {
    let size = layout.size().max(layout.align()).max(MIN_BLOCK);
    size.next_power_of_two().trailing_zeros() as usize
}

impl State {
    /// A new block of `size` bytes aligned to `align` from the tail, growing memory within the
    /// limit (less `RESERVE` for a big block).
    fn carve(&mut self, size: usize, align: usize) -> Option<usize> {
        let a = align.max(MIN_BLOCK);
        let start = self.top.checked_add(a - 1)? & !(a - 1);
        let need = start.checked_add(size)?;
        let span = if self.limit == 0 {
            usize::MAX - self.base
        } else {
            self.limit
        };
        let span = if size >= BIG {
            span.saturating_sub(RESERVE)
        } else {
            span
        };
        if need - self.base > span {
            return None;
        }
        if need > self.end {
            let pages = (need - self.end).div_ceil(PAGE);
            if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
                return None;
            }
            self.end += pages * PAGE;
        }
        self.top = need;
        Some(start)
    }
}

unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded, not re-entrant: the only live reference.
        let st = unsafe { &mut *self.0.get() };
        let k = class(&layout);
        let Some(slot) = st.free.get_mut(k) else {
            return null_mut();
        };
        let head = *slot;
        if head != 0 && layout.align() <= MIN_BLOCK {
            // SAFETY: `head` is a free block of this class; its first word links the next one.
            *slot = unsafe { *(head as *const usize) };
            return head as *mut u8;
        }
        let size = 1usize << k;
        if st.end == 0 {
            st.top = core::arch::wasm32::memory_size(0) * PAGE;
            st.end = st.top;
            st.base = st.top;
        }
        st.carve(size, layout.align())
            .map_or(null_mut(), |p| p as *mut u8)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: single-threaded, not re-entrant: the only live reference.
        let st = unsafe { &mut *self.0.get() };
        // A block we handed out always has a class below CLASSES (indexing without a panic path).
        if let Some(slot) = st.free.get_mut(class(&layout)) {
            // SAFETY: `ptr` is a block of this class we handed out; it now holds the list link.
            unsafe { *(ptr as *mut usize) = *slot };
            *slot = ptr as usize;
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees a valid layout for `new_size` with the same alignment.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if class(&new) == class(&layout) {
            return ptr;
        }
        // SAFETY: as for `alloc`; the old block stays valid until freed below.
        let p = unsafe { self.alloc(new) };
        if !p.is_null() {
            // SAFETY: both blocks are live and distinct; copy the smaller size.
            unsafe { core::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size)) };
            // SAFETY: `ptr` was allocated with `layout`.
            unsafe { self.dealloc(ptr, layout) };
        }
        p
    }
}
