//! A STREAM-like triad, `a[i] = b[i] + s * c[i]` over f64 arrays far larger than the
//! caches, timed in the same run as the step: the memory bandwidth a step that streams its
//! data could reach, with one thread and with as many as the parallel cases use. Beside the
//! rate at which a step reads its data matrix it says whether the step is bound by the
//! cores or by memory, and at how many cores memory would become the ceiling.
//!
//! Counting follows STREAM's convention: 24 bytes per element (two reads, one write; the
//! write-allocate read is not counted), the best of the repetitions.

use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Elements of each array: 3 x 64 MiB, several times any last-level cache of the machines
/// this runs on (STREAM asks for four times).
pub const TRIAD_ELEMENTS: usize = 1 << 23;
/// Timed repetitions (the best is reported, as STREAM does).
const REPS: usize = 6;
/// Bytes the triad moves per element.
const BYTES_PER_ELEMENT: usize = 3 * std::mem::size_of::<f64>();

/// The triad's bandwidth with some number of threads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TriadResult {
    pub threads: usize,
    /// Best rate over the repetitions, in GB/s (10^9 bytes).
    pub best_gbs: f64,
    /// Median rate, in GB/s.
    pub median_gbs: f64,
}

/// Times the triad with `threads` threads, each working on (and first touching) its own
/// contiguous share of the arrays.
pub fn measure(threads: usize, elements: usize) -> TriadResult {
    let threads = threads.clamp(1, elements.max(1));
    let share = elements.div_ceil(threads);
    let mut a = vec![0.0f64; elements];
    let mut b = vec![0.0f64; elements];
    let mut c = vec![0.0f64; elements];
    let scalar = 3.0;
    let mut rates = vec![];
    // One untimed pass touches every page from the thread that will use it.
    for rep in 0..=REPS {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for ((a, b), c) in a.chunks_mut(share).zip(b.chunks_mut(share)).zip(c.chunks_mut(share)) {
                scope.spawn(move || {
                    if rep == 0 {
                        b.fill(1.0);
                        c.fill(2.0);
                    }
                    triad(a, b, c, scalar);
                });
            }
        });
        let seconds = start.elapsed().as_secs_f64();
        if rep > 0 {
            rates.push((elements * BYTES_PER_ELEMENT) as f64 / seconds / 1e9);
        }
    }
    std::hint::black_box(&a);
    rates.sort_by(f64::total_cmp);
    TriadResult { threads, best_gbs: rates[rates.len() - 1], median_gbs: rates[rates.len() / 2] }
}

fn triad(a: &mut [f64], b: &[f64], c: &[f64], scalar: f64) {
    for ((a, b), c) in a.iter_mut().zip(b).zip(c) {
        *a = b + scalar * c;
    }
}

/// Every thread count in `counts` once, in increasing order.
pub fn measure_all(counts: impl IntoIterator<Item = usize>) -> Vec<TriadResult> {
    let counts: std::collections::BTreeSet<usize> = counts.into_iter().collect();
    counts.into_iter().map(|t| measure(t, TRIAD_ELEMENTS)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_triad_computes_its_formula() {
        let (mut a, b, c) = (vec![0.0; 7], vec![1.0; 7], vec![2.0; 7]);
        triad(&mut a, &b, &c, 3.0);
        assert!(a.iter().all(|&x| x == 7.0));
    }

    #[test]
    fn a_measurement_names_its_threads_and_its_best_rate_tops_the_median() {
        let result = measure(3, 1000);
        assert_eq!(result.threads, 3);
        assert!(result.best_gbs >= result.median_gbs && result.median_gbs > 0.0);
    }
}
