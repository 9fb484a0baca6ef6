//! `fewer-numbers-wins`: on the slowest link of the table, in every pair of a hidden-split
//! cell and the data-parallel allreduce cell of the same work and P, the one that moves
//! fewer numbers per step (by the byte count: the hidden split below N = 41 H) is faster,
//! by at least `min` (its speedup over the other, round by round).

use crate::report::aggregate::CellStats;
use crate::report::claims::judge::Judge;
use crate::report::claims::record::Verdict;
use crate::report::model_vs_data::pairs;
use crate::stats::{Direction, Estimate};

pub(in crate::report::claims) fn judge(j: &Judge) -> Verdict {
    let Some(slowest) = j.cells.iter().filter_map(|c| c.link).max_by_key(|l| l.fastest_first()) else {
        return j.not_run("link");
    };
    let on_slowest: Vec<&CellStats> = j.cells.iter().copied().filter(|c| c.link == Some(slowest)).collect();
    let figures: Vec<(String, Estimate)> = pairs(&on_slowest)
        .iter()
        .filter_map(|p| {
            let fewer = if p.model_moves_less() { "model" } else { "data" };
            let label =
                format!("on {slowest}, H={} N={} P={} ({fewer} moves fewer)", p.model.hidden, p.model.n, p.model.p());
            Some((label, p.fewer_numbers_speedup()?))
        })
        .collect();
    if figures.is_empty() {
        return j.not_run("paired data- and model-parallel");
    }
    j.judged(figures, j.bound, Direction::AtLeast, "speedup of the split that moves fewer numbers")
}
