//! `weak-efficiency`: every cell of P > 1, against the one-process cell of its per-process
//! work, keeps an efficiency of at least `min`.

use crate::report::claims::judge::Judge;
use crate::report::claims::record::Verdict;
use crate::report::study_tables::weak_baseline;
use crate::stats::{Direction, Estimate};

pub(in crate::report::claims) fn judge(j: &Judge) -> Verdict {
    let effs: Vec<(String, Estimate)> = j
        .cells
        .iter()
        .filter(|c| c.p() > 1)
        .filter_map(|c| Some((format!("{} P={}", c.label(), c.p()), weak_baseline(&j.cells, c)?.time_ratio(c)?)))
        .collect();
    if effs.is_empty() {
        return j.not_run("P > 1");
    }
    j.judged(effs, j.bound, Direction::AtLeast, "weak efficiency")
}
