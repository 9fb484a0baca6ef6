//! `gpu-crossover`: once the GPU is ahead of the fastest CPU mode at some N, it stays ahead
//! at every larger N, for every H.

use crate::report::claims::judge::{Judge, pass};
use crate::report::claims::record::Verdict;
use crate::report::study_tables::crossover_pairs;

pub(in crate::report::claims) fn judge(j: &Judge) -> Verdict {
    let points: Vec<(usize, usize, f64, f64)> = crossover_pairs(&j.cells)
        .into_iter()
        .filter_map(|(h, n, cpu, gpu)| Some((h, n, cpu?.median_s, gpu?.median_s)))
        .collect();
    if points.is_empty() {
        return j.gpu_not_run();
    }
    let by_h = crossovers(&points);
    let stays_ahead = by_h.iter().all(|c| c.reversal.is_none());
    let measured = by_h.iter().map(Crossover::describe).collect::<Vec<_>>().join("; ");
    let at_largest_h = by_h.last().and_then(|c| c.from_n).map_or(f64::NAN, |n| n as f64);
    j.valued(
        pass(stays_ahead),
        measured,
        "once ahead, the GPU stays ahead at every larger N".into(),
        Some(at_largest_h),
    )
}

/// Where the GPU overtakes the fastest CPU mode, for one H (best-of-runs times).
#[derive(Debug, Clone, PartialEq)]
struct Crossover {
    hidden: usize,
    /// The smallest N from which the GPU is faster at every measured N (None: never).
    from_n: Option<usize>,
    /// An N where the GPU was faster, and a larger one where it was slower again.
    reversal: Option<(usize, usize)>,
}

impl Crossover {
    fn describe(&self) -> String {
        let h = self.hidden;
        match (self.reversal, self.from_n) {
            (Some((ahead, behind)), _) => format!("H={h}: GPU faster at N={ahead}, slower again at N={behind}"),
            (None, Some(n)) => format!("H={h}: GPU faster from N={n}"),
            (None, None) => format!("H={h}: CPU faster at every N"),
        }
    }
}

/// The crossover of every H, in increasing H, from `(H, N, fastest CPU s, GPU s)` points.
fn crossovers(points: &[(usize, usize, f64, f64)]) -> Vec<Crossover> {
    let mut hs: Vec<usize> = points.iter().map(|p| p.0).collect();
    hs.sort_unstable();
    hs.dedup();
    hs.into_iter()
        .map(|h| {
            let mut wins: Vec<(usize, bool)> =
                points.iter().filter(|p| p.0 == h).map(|&(_, n, cpu, gpu)| (n, gpu < cpu)).collect();
            wins.sort_by_key(|w| w.0);
            let reversal = wins
                .iter()
                .position(|w| w.1)
                .and_then(|first| wins[first..].iter().find(|w| !w.1).map(|behind| (wins[first].0, behind.0)));
            // The N after the last loss, if the GPU led there (the first N if it never lost).
            let from_n = match wins.iter().rposition(|w| !w.1) {
                None => Some(wins[0].0),
                Some(last_loss) => wins.get(last_loss + 1).map(|w| w.0),
            };
            Crossover { hidden: h, from_n, reversal }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crossover_is_the_n_from_which_the_gpu_stays_faster() {
        let found = crossovers(&[
            (400, 8000, 2.0, 0.4),
            (50, 2000, 0.1, 0.3),
            (50, 8000, 0.4, 0.1),
            (50, 4000, 0.2, 0.1),
            (400, 2000, 0.5, 0.3),
        ]);
        assert_eq!(found[0], Crossover { hidden: 50, from_n: Some(4000), reversal: None });
        assert_eq!(found[1], Crossover { hidden: 400, from_n: Some(2000), reversal: None });
        assert_eq!(found[0].describe(), "H=50: GPU faster from N=4000");
    }

    #[test]
    fn a_gpu_that_falls_behind_again_or_never_leads_is_reported() {
        let reversal = crossovers(&[(50, 2000, 0.1, 0.05), (50, 4000, 0.2, 0.3), (50, 8000, 0.4, 0.5)]);
        assert_eq!(reversal[0], Crossover { hidden: 50, from_n: None, reversal: Some((2000, 4000)) });
        assert_eq!(reversal[0].describe(), "H=50: GPU faster at N=2000, slower again at N=4000");
        let never = crossovers(&[(50, 2000, 0.1, 0.3), (50, 4000, 0.2, 0.3)]);
        assert_eq!(never[0], Crossover { hidden: 50, from_n: None, reversal: None });
        assert_eq!(never[0].describe(), "H=50: CPU faster at every N");
    }
}
