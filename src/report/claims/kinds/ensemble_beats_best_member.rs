//! `ensemble-beats-best-member`: every ensemble of P > 1 members trained on all the rows
//! (not bagging) averages to a test accuracy at least `min` above its best member's.

use crate::report::aggregate::CellStats;
use crate::report::claims::judge::{Judge, pass};
use crate::report::claims::record::Verdict;
use crate::train::Mode;

pub(in crate::report::claims) fn judge(j: &Judge) -> Verdict {
    let margins: Vec<(&CellStats, f64)> = j
        .cells
        .iter()
        .copied()
        .filter(|c| c.mode == Mode::Ensemble && !c.bagging && c.p() > 1)
        .filter_map(|c| Some((c, c.average_test_acc? - c.best_member_test_acc?)))
        .collect();
    let Some(&(worst, margin)) = margins.iter().min_by(|a, b| a.1.total_cmp(&b.1)) else {
        return j.not_run("ensemble (P > 1)");
    };
    j.valued(
        pass(margins.iter().all(|(_, m)| *m >= j.bound)),
        format!(
            "smallest margin at P={}: average {:.4} against the best member's {:.4} ({:+.4}; {} ensembles)",
            worst.p(),
            worst.average_test_acc.unwrap_or(f64::NAN),
            worst.best_member_test_acc.unwrap_or(f64::NAN),
            margin,
            margins.len()
        ),
        format!("average − best member ≥ {}", j.bound),
        Some(margin),
    )
}
