//! Exactly as many compute threads as the user asked for.
//!
//! candle sizes its CPU thread pools from `RAYON_NUM_THREADS` / `CANDLE_NUM_THREADS` and
//! otherwise from the number of physical cores, ignoring CPU affinity. Under MPI every rank
//! would then start one thread per core and oversubscribe the node. `configure` pins both
//! variables and rayon's global pool before any candle or rayon code runs.

use std::sync::OnceLock;

static CONFIGURED: OnceLock<usize> = OnceLock::new();

/// Sets the process-wide compute thread count. Call once, at the start of `main`, before
/// other threads exist. A second call with a different count is an error, not a silent
/// no-op, because rayon's global pool cannot be resized.
pub fn configure(threads: usize) -> anyhow::Result<()> {
    anyhow::ensure!(threads >= 1, "--threads must be at least 1 (got {threads})");
    let current = *CONFIGURED.get_or_init(|| {
        // SAFETY (edition 2024 marks set_var unsafe): called from `main` before any other
        // thread is spawned, so no concurrent reader of the environment exists.
        unsafe {
            std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
            std::env::set_var("CANDLE_NUM_THREADS", threads.to_string());
        }
        // Fails only if the global pool was already built, which configure's contract rules out.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
        threads
    });
    anyhow::ensure!(current == threads, "threads already configured to {current}, cannot change to {threads}");
    Ok(())
}
