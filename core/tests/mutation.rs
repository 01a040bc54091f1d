//! The seeded mutation test: 10,000 mutated GGUF files through the whole loader, with a
//! counting allocator proving no allocation outgrows the file. Alone in its test binary so that
//! no other test's allocations are counted.
mod common;
use common::tiny::tiny_llama;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use steerscope::gguf::Gguf;
use steerscope::model::Model;

/// Tracks live heap bytes and the peak since the last reset.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(l.size(), Relaxed) + l.size();
        PEAK.fetch_max(now, Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Relaxed);
        System.dealloc(p, l)
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

/// Seeded mutations of a valid file: flipped bytes, huge counts and lengths, bad offsets,
/// truncations. Every one must load or fail cleanly, and allocate at most a fixed multiple of
/// the file's size (a lying length field must never turn into an allocation).
#[test]
fn ten_thousand_mutated_files_never_panic_or_overallocate() {
    let base = tiny_llama("llama");
    let header_end = {
        let g = Gguf::parse(&base).unwrap();
        g.tensors.iter().map(|t| t.start).min().unwrap()
    };
    let mut rng = steerscope::rng::Rng::new(2026);
    let mut outcomes = [0usize; 2];
    let budget = 64 * base.len() + (1 << 20);
    let mut worst = 0usize;
    for i in 0..10_000 {
        let mut f = base.clone();
        let pos = (rng.next_u64() as usize) % header_end;
        match i % 5 {
            0 => f[pos] ^= 1 << (rng.next_u64() % 8),
            1 => f[pos] = rng.next_u64() as u8,
            2 => {
                let huge =
                    [u64::MAX, 1 << 40, 1 << 32, f.len() as u64 + 1, u32::MAX as u64][(rng.next_u64() % 5) as usize];
                let at = pos.min(f.len() - 8);
                f[at..at + 8].copy_from_slice(&huge.to_le_bytes());
            }
            3 => f.truncate(pos),
            _ => {
                let at = pos & !3;
                f[at..at + 4].copy_from_slice(&(rng.next_u64() as u32).to_le_bytes());
            }
        }
        let before = LIVE.load(Relaxed);
        PEAK.store(before, Relaxed);
        let ok = Model::load(&f).map(drop).is_ok();
        outcomes[ok as usize] += 1;
        let grew = PEAK.load(Relaxed) - before;
        worst = worst.max(grew);
        assert!(grew <= budget, "mutation {i} allocated {grew} bytes for a {}-byte file", f.len());
    }
    println!(
        "10,000 mutations: {} rejected, {} still loadable; worst peak allocation {worst} bytes for a {}-byte file",
        outcomes[0],
        outcomes[1],
        base.len()
    );
    assert!(outcomes[0] > 1000, "the mutations should break most files");
}
