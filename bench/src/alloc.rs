//! A global allocator that counts live heap bytes, so the harness can report
//! what each installed megaflow costs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// What glibc malloc really spends on a request: an 8-byte header, 16-byte
/// granules, 32 bytes at least. Counting this rather than the requested size
/// keeps the per-megaflow figure honest about small allocations.
#[inline]
fn cost(size: usize) -> usize {
    ((size + 8 + 15) & !15).max(32)
}

pub struct CountingAlloc;

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is only bookkeeping beside it.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(cost(layout.size()), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(cost(layout.size()), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(cost(layout.size()), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(cost(layout.size()), Ordering::Relaxed);
            LIVE.fetch_add(cost(new_size), Ordering::Relaxed);
        }
        p
    }
}

/// Heap bytes (as malloc spends them) allocated and not yet freed.
pub fn allocated() -> usize {
    LIVE.load(Ordering::Relaxed)
}
