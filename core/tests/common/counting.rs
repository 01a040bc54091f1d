//! A counting allocator: live heap bytes and their peak since the last reset, process-wide.
//! Only the mutation binary installs it (`#[global_allocator]`), so no other test's allocations
//! are counted; everywhere else these counters stay at zero.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The allocator: `System`, plus two counters.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(l.size(), Relaxed) + l.size();
        PEAK.fetch_max(now, Relaxed);
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(l.size(), Relaxed) + l.size();
        PEAK.fetch_max(now, Relaxed);
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        if new_size >= l.size() {
            let now = LIVE.fetch_add(new_size - l.size(), Relaxed) + new_size - l.size();
            PEAK.fetch_max(now, Relaxed);
        } else {
            LIVE.fetch_sub(l.size() - new_size, Relaxed);
        }
        System.realloc(p, l, new_size)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Relaxed);
        System.dealloc(p, l)
    }
}

/// Starts a measurement: returns the live bytes now, and resets the peak to them.
pub fn start() -> usize {
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    before
}

/// The most the live heap grew above `before` since [`start`] returned it.
pub fn grown_since(before: usize) -> usize {
    PEAK.load(Relaxed).saturating_sub(before)
}

/// Whether this process counts at all (the allocator is installed and has seen allocations).
pub fn active() -> bool {
    LIVE.load(Relaxed) > 0
}
