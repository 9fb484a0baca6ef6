//! `grows-with-n`: in every series, the time rises from each N to the next.

use super::series::{series, series_name};
use crate::report::aggregate::CellStats;
use crate::report::claims::judge::Judge;
use crate::report::claims::record::Verdict;
use crate::stats::{Direction, Estimate};
use crate::train::Mode;

pub(in crate::report::claims) fn judge(j: &Judge) -> Verdict {
    // As for `linear-in-n`: below about N = 10,000 a GPU's step is launch-bound (an H200
    // took 0.073-0.079 s for 40 steps at every N from 2,000 to 8,000).
    let cells: Vec<&CellStats> =
        j.cells.iter().copied().filter(|c| j.claim.mode == Some(Mode::Gpu) || c.mode != Mode::Gpu).collect();
    let steps: Vec<(String, Estimate)> = series(&cells)
        .iter()
        .flat_map(|(key, s)| {
            s.windows(2).filter_map(move |w| {
                let e = w[1].time_ratio(w[0])?;
                Some((format!("{} N={} to {}", series_name(key), w[0].n, w[1].n), e))
            })
        })
        .collect();
    if steps.is_empty() {
        return j.not_run("timed");
    }
    j.judged(steps, 1.0, Direction::Above, "time at the next N over time at N")
}
