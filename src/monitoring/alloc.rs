//! The bytes this library's Rust code holds on the heap.
//!
//! `get_memory_usage()` reports Lua's heap from `collectgarbage("count")`, but
//! Lua cannot see what Rust allocates (manifests, the registry, compiled
//! patterns, watcher queues). So the library's global allocator is the system
//! one with a counter beside it. Native plugin libraries are cdylibs of their
//! own, each with its own allocator, so what they allocate is not counted;
//! neither is what Lua allocates for userdata, which Lua's count already has.
//!
//! The counter is process-wide state, against the rule that state lives in
//! the manager: a global allocator is process-wide by nature, and one counter
//! per allocator is the only place the number can come from.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// [`System`], counting the bytes allocated through it and not yet freed.
struct CountingAllocator {
    live_bytes: AtomicUsize,
}

impl CountingAllocator {
    const fn new() -> Self {
        CountingAllocator {
            live_bytes: AtomicUsize::new(0),
        }
    }

    // Relaxed is enough: each update is one atomic read-modify-write, so no
    // update is lost, and a block is always counted in before another thread
    // can see it to free it (handing it over synchronises). Nothing else is
    // ordered by the counter. The arithmetic wraps rather than panics, and a
    // panic inside the allocator would abort.
    fn add(&self, bytes: usize) {
        self.live_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn sub(&self, bytes: usize) {
        self.live_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    fn live_bytes(&self) -> usize {
        self.live_bytes.load(Ordering::Relaxed)
    }
}

// SAFETY: every method forwards its arguments unchanged to `System`, which
// upholds the `GlobalAlloc` contract, and returns what `System` returned; the
// counting touches only an atomic and never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract (non-zero size), passed on as is
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            self.add(layout.size());
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() {
            self.add(layout.size());
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `block` came from this allocator, which
        // means from `System`, with this `layout`
        unsafe { System.dealloc(block, layout) };
        self.sub(layout.size());
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and the caller guarantees `new_size` is valid for `layout`'s alignment
        let moved = unsafe { System.realloc(block, layout, new_size) };
        // on failure the old block stays allocated at its old size
        if !moved.is_null() {
            let old_size = layout.size();
            if new_size >= old_size {
                self.add(new_size - old_size);
            } else {
                self.sub(old_size - new_size);
            }
        }
        moved
    }
}

#[global_allocator]
static HEAP: CountingAllocator = CountingAllocator::new();

/// Bytes allocated by this library's Rust code and not yet freed.
pub fn heap_bytes() -> usize {
    HEAP.live_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls the allocator directly on a counter of its own, so the counts are
    /// exact whatever other tests allocate meanwhile.
    #[test]
    fn counts_alloc_zeroed_realloc_and_dealloc_exactly() -> Result<(), std::alloc::LayoutError> {
        let counter = CountingAllocator::new();
        let layout = Layout::from_size_align(1000, 8)?;
        let zeroed_layout = Layout::from_size_align(256, 16)?;
        // SAFETY: non-zero sizes; every block is freed with the layout and
        // size it has at that moment
        unsafe {
            let block = counter.alloc(layout);
            assert!(!block.is_null());
            assert_eq!(counter.live_bytes(), 1000);

            let block = counter.realloc(block, layout, 3000);
            assert!(!block.is_null());
            assert_eq!(counter.live_bytes(), 3000);

            let grown = Layout::from_size_align(3000, 8)?;
            let block = counter.realloc(block, grown, 500);
            assert!(!block.is_null());
            assert_eq!(counter.live_bytes(), 500);

            let zeroed = counter.alloc_zeroed(zeroed_layout);
            assert!(!zeroed.is_null());
            assert!(
                std::slice::from_raw_parts(zeroed, 256)
                    .iter()
                    .all(|b| *b == 0)
            );
            assert_eq!(counter.live_bytes(), 756);

            counter.dealloc(zeroed, zeroed_layout);
            assert_eq!(counter.live_bytes(), 500);
            counter.dealloc(block, Layout::from_size_align(500, 8)?);
        }
        assert_eq!(counter.live_bytes(), 0);
        Ok(())
    }

    /// The global counter, through ordinary allocations. Tests run on parallel
    /// threads that allocate too, so the checks leave a margin far above what
    /// they use and far below the block.
    #[test]
    fn a_large_vec_is_counted_while_it_lives() {
        const SIZE: usize = 64 * 1024 * 1024;
        const MARGIN: usize = 16 * 1024 * 1024;

        let before = heap_bytes();
        // vec![0; n] allocates zeroed
        let zeroed = std::hint::black_box(vec![0u8; SIZE]);
        let with_zeroed = heap_bytes();
        assert!(
            with_zeroed + MARGIN >= before + SIZE,
            "{before} -> {with_zeroed}"
        );
        drop(zeroed);
        let after_zeroed = heap_bytes();
        assert!(
            after_zeroed + SIZE <= with_zeroed + MARGIN,
            "{with_zeroed} -> {after_zeroed}"
        );

        // a Vec that grows goes through realloc
        let mut grown: Vec<u8> = std::hint::black_box(Vec::with_capacity(1024));
        let small = heap_bytes();
        grown.reserve_exact(SIZE);
        let large = heap_bytes();
        assert!(large + MARGIN >= small + SIZE, "{small} -> {large}");
        grown.shrink_to(1024);
        let shrunk = heap_bytes();
        assert!(shrunk + SIZE <= large + MARGIN, "{large} -> {shrunk}");
        drop(std::hint::black_box(grown));
    }
}
