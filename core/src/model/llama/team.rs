//! The threads of one decode step: a team formed once per token in rayon's pool, which then
//! splits every matrix–vector product between its members without going back to the pool.
//!
//! Why: a decode step runs ~200 small products (tens of microseconds each); handing each one
//! to rayon costs about as much as the product itself. The team's members instead wait for
//! the next product by spinning on one atomic word. Work is split into chunks that whoever is
//! present claims, so the step never waits for a member that has not started — with one thread
//! (and in wasm) the leader simply does every chunk itself, and a team formed inside a busy
//! pool cannot deadlock. Each chunk writes its own output rows, so the result is the same bits
//! whoever computes it.
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// A unit of parallel work: `job(chunk)` for `chunk in 0..chunks`.
type Job<'a> = &'a (dyn Fn(usize) + Sync);

/// The team's shared state.
struct Shared {
    /// `generation << 32 | next chunk << 16 | chunks`: claiming a chunk is one compare-exchange
    /// on this word, which succeeds only for the job currently published.
    state: AtomicU64,
    /// The current job: written by the leader before it publishes a new `state`, and not
    /// touched again until every claimed chunk has finished.
    job: core::cell::UnsafeCell<Option<Job<'static>>>,
    finished: AtomicUsize,
    quit: AtomicBool,
}

// SAFETY: see `job`: a member reads it only after claiming a chunk of the published job (the
// claim's acquire pairs with the publication's release), and the leader rewrites it only after
// all claimed chunks of the previous job have finished.
unsafe impl Sync for Shared {}

fn unpack(state: u64) -> (u64, usize, usize) {
    (state >> 32, (state >> 16) as usize & 0xFFFF, state as usize & 0xFFFF)
}

/// A handle to run jobs on the team (held by the leader).
pub(crate) struct Team<'s> {
    shared: Option<&'s Shared>,
}

impl Team<'_> {
    /// Runs `job(c)` for every `c in 0..chunks` (at most 65535), spread over the team, and
    /// returns when all have finished.
    pub(crate) fn run(&self, chunks: usize, job: &(dyn Fn(usize) + Sync)) {
        let Some(s) = self.shared.filter(|_| chunks > 1) else {
            (0..chunks).for_each(job);
            return;
        };
        assert!(chunks <= 0xFFFF, "too many chunks");
        let (generation, _, _) = unpack(s.state.load(Ordering::Acquire));
        // SAFETY: every chunk of the previous job has finished (the previous `run` waited), so
        // no member reads `job` now; the 'static lifetime is never observed past this call,
        // which waits until every chunk — the only readers of `job` — has finished.
        unsafe { *s.job.get() = Some(core::mem::transmute::<Job<'_>, Job<'static>>(job)) };
        s.finished.store(0, Ordering::Relaxed);
        s.state.store((generation + 1) << 32 | chunks as u64, Ordering::Release);
        claim_all(s);
        let mut spins = 0u32;
        while s.finished.load(Ordering::Acquire) < chunks {
            backoff(&mut spins);
        }
    }
}

/// Claims and runs chunks of the published job until none is left.
fn claim_all(s: &Shared) {
    let mut state = s.state.load(Ordering::Acquire);
    loop {
        let (_, next, chunks) = unpack(state);
        if next >= chunks {
            return;
        }
        match s.state.compare_exchange_weak(state, state + (1 << 16), Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                // SAFETY: our claim pairs with the publication of this job (see `Shared`).
                if let Some(job) = unsafe { *s.job.get() } {
                    job(next);
                }
                s.finished.fetch_add(1, Ordering::Release);
                state = s.state.load(Ordering::Acquire);
            }
            Err(now) => state = now,
        }
    }
}

/// A member: runs chunks of every job it sees until the leader quits.
fn member(s: &Shared) {
    let mut spins = 0u32;
    while !s.quit.load(Ordering::Acquire) {
        let (_, next, chunks) = unpack(s.state.load(Ordering::Acquire));
        if next < chunks {
            claim_all(s);
            spins = 0;
        } else {
            backoff(&mut spins);
        }
    }
}

/// Spin, then yield: on a loaded machine a spinning member must not starve the thread it waits
/// for.
fn backoff(spins: &mut u32) {
    *spins += 1;
    if *spins < 4000 {
        core::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// Runs `body` with a team of `threads` (the caller leads; the others come from rayon's pool).
pub(crate) fn with_team<R>(threads: usize, body: impl FnOnce(&Team) -> R) -> R {
    if threads <= 1 {
        return body(&Team { shared: None });
    }
    let shared = Shared {
        state: AtomicU64::new(0),
        job: core::cell::UnsafeCell::new(None),
        finished: AtomicUsize::new(0),
        quit: AtomicBool::new(false),
    };
    rayon::in_place_scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|_| member(&shared));
        }
        // Members stop even if `body` panics (the scope waits for them before unwinding on).
        let _quit = QuitOnDrop(&shared.quit);
        body(&Team { shared: Some(&shared) })
    })
}

struct QuitOnDrop<'a>(&'a AtomicBool);

impl Drop for QuitOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every chunk runs exactly once per job, with 1–3 threads, over many jobs in a row.
    #[test]
    fn every_chunk_runs_once() {
        for threads in 1..=3 {
            with_team(threads, |team| {
                for chunks in [0, 1, 2, 7, 64] {
                    let hits: alloc::vec::Vec<AtomicUsize> = (0..chunks).map(|_| AtomicUsize::new(0)).collect();
                    for _ in 0..50 {
                        team.run(chunks, &|c| {
                            hits[c].fetch_add(1, Ordering::Relaxed);
                        });
                    }
                    assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 50), "{threads} threads, {chunks} chunks");
                }
            });
        }
    }
}
