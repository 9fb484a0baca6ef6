//! Exactly as many compute threads as the user asked for.
//!
//! candle sizes its CPU thread pools from `RAYON_NUM_THREADS` / `CANDLE_NUM_THREADS` and
//! otherwise from the number of physical cores, ignoring CPU affinity; under MPI every rank
//! would then start one thread per core and oversubscribe the node. Two steps pin it:
//!
//! - [`pin_environment`] sets both variables. Changing the environment is only sound while
//!   no other thread can read it, so it is an `unsafe fn` that `main` calls first, before
//!   anything has started a thread. Children (`train` processes of the runner and the
//!   benchmark, MPI ranks) run their own `main` with their own `--threads`, so the same
//!   call covers them.
//! - [`configure`] sizes rayon's global pool, which is safe at any time before the pool's
//!   first use and an error afterwards if the size would change.

use std::sync::OnceLock;

static CONFIGURED: OnceLock<usize> = OnceLock::new();

/// The variables candle (and rayon, if its pool were built lazily) read for their sizes.
pub const THREAD_VARS: [&str; 2] = ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"];

/// Sets [`THREAD_VARS`] to `threads` in this process's environment.
///
/// # Safety
///
/// No other thread may exist or be reading the environment: the contract of
/// [`std::env::set_var`]. Call it from `main` before anything else runs (argument parsing,
/// which starts no threads, may come first).
pub unsafe fn pin_environment(threads: usize) {
    for var in THREAD_VARS {
        // SAFETY: the caller guarantees this process has no other thread (see above).
        unsafe { std::env::set_var(var, threads.to_string()) };
    }
}

/// Sizes rayon's global pool to `threads`. A second call with a different count is an
/// error, not a silent no-op, because the pool cannot be resized.
pub fn configure(threads: usize) -> anyhow::Result<()> {
    anyhow::ensure!(threads >= 1, "--threads must be at least 1 (got {threads})");
    let current = *CONFIGURED.get_or_init(|| {
        // Fails only if the global pool was already built by an earlier use, in which case
        // the check below reports the size it has.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
        rayon::current_num_threads()
    });
    anyhow::ensure!(current == threads, "threads already configured to {current}, cannot change to {threads}");
    Ok(())
}
