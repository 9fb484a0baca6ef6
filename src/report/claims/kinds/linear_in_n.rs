//! `linear-in-n`: in every series of three sizes or more, the time is a line in N (its R²,
//! round by round, is at least `min`).

use super::series::{r_squared, series, series_name};
use crate::report::aggregate::CellStats;
use crate::report::claims::judge::Judge;
use crate::report::claims::record::Verdict;
use crate::stats::{self, Direction, Estimate};
use crate::train::Mode;

pub(in crate::report::claims) fn judge(j: &Judge) -> Verdict {
    // A GPU's time at these sizes is mostly fixed cost (launches, transfers of the result),
    // not work: the claim is about the CPU modes unless it names the GPU.
    let cells: Vec<&CellStats> =
        j.cells.iter().copied().filter(|c| j.claim.mode == Some(Mode::Gpu) || c.mode != Mode::Gpu).collect();
    let fits: Vec<(String, Estimate)> = series(&cells)
        .iter()
        .filter(|(_, s)| s.len() >= 3)
        .filter_map(|(k, s)| {
            let totals: Vec<Vec<(usize, f64)>> = s.iter().map(|c| c.totals()).collect();
            let refs: Vec<&[(usize, f64)]> = totals.iter().map(|t| t.as_slice()).collect();
            let ns: Vec<f64> = s.iter().map(|c| c.n as f64).collect();
            let fit = stats::per_round(&stats::common_rounds(&refs), |times| {
                r_squared(&ns.iter().copied().zip(times.iter().copied()).collect::<Vec<_>>())
            })?;
            Some((series_name(k), fit))
        })
        .collect();
    if fits.is_empty() {
        return j.not_run("three or more sizes of");
    }
    j.judged(fits, j.bound, Direction::AtLeast, "R² of time against N")
}
