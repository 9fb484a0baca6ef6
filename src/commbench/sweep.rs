//! Which message sizes a sweep times, and how many times each.

use crate::model::Params;

/// Bytes of one element: the study's gradients are f64 in every profile.
pub const ELEMENT_BYTES: usize = 8;

/// The hidden sizes of the study's grid, whose gradients the sweep always includes.
pub const STUDY_HIDDEN: [usize; 4] = [25, 50, 400, 1600];

/// Bytes of the gradient of H hidden units in f64: what each step of `train --mode mpi`
/// reduces.
pub fn gradient_bytes(hidden: usize) -> usize {
    ELEMENT_BYTES * Params::<f64>::len_for(hidden)
}

/// The sizes of a sweep: every power of two from `min_bytes` to `max_bytes`, and the
/// gradient of each of the study's H within that range, ascending.
pub fn sizes(min_bytes: usize, max_bytes: usize) -> Vec<usize> {
    let mut out: Vec<usize> = std::iter::successors(Some(min_bytes.next_power_of_two()), |s| s.checked_mul(2))
        .take_while(|&s| s <= max_bytes)
        .collect();
    out.extend(STUDY_HIDDEN.iter().map(|&h| gradient_bytes(h)).filter(|&b| (min_bytes..=max_bytes).contains(&b)));
    out.push(min_bytes);
    out.sort_unstable();
    out.dedup();
    out
}

/// Timed iterations of a size whose warm-up iteration took `warm_s` (the slowest rank's):
/// as many as fit in `budget_s`, within `[min_iters, max_iters]`. Every rank computes it
/// from the same allreduced time, so they agree without a message.
pub fn iterations(warm_s: f64, budget_s: f64, min_iters: usize, max_iters: usize) -> usize {
    if warm_s.is_nan() || warm_s <= 0.0 {
        return max_iters;
    }
    let fit = (budget_s / warm_s).floor();
    if fit >= max_iters as f64 { max_iters } else { (fit as usize).max(min_iters) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_double_and_hold_the_study_gradients() {
        let s = sizes(8, 8 << 20);
        assert_eq!(s[0], 8);
        assert_eq!(*s.last().unwrap(), 8 << 20);
        // H = 25 and H = 1600 (657,610 weights of 8 bytes) are timed as they are.
        assert!(s.contains(&(8 * 10_285)) && s.contains(&(8 * 657_610)));
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(s.len(), 21 + 4);
        // A range below every gradient holds only powers of two; a minimum that is not one comes first.
        assert_eq!(sizes(8, 64), vec![8, 16, 32, 64]);
        assert_eq!(sizes(24, 64), vec![24, 32, 64]);
    }

    #[test]
    fn iterations_fill_the_budget_within_their_bounds() {
        assert_eq!(iterations(0.001, 0.1, 5, 1000), 100);
        assert_eq!(iterations(1e-7, 0.1, 5, 1000), 1000);
        assert_eq!(iterations(0.5, 0.1, 5, 1000), 5);
        assert_eq!(iterations(0.0, 0.1, 5, 1000), 1000);
    }
}
