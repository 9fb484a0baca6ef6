//! `scales-better-than-baseline`: at the largest N and P both have, the mode's efficiency
//! over the baseline's, each against its own one-process time, is at least `min`.

use crate::report::aggregate::CellStats;
use crate::report::claims::judge::Judge;
use crate::report::claims::record::Verdict;
use crate::stats::{self, Direction};
use crate::train::Mode;

pub(in crate::report::claims) fn judge(j: &Judge) -> Verdict {
    let (Some(mode), Some(baseline)) = (j.claim.mode, j.claim.baseline) else { return j.not_run("compared") };
    let one = |c: &CellStats| {
        j.cells.iter().copied().find(|b| b.mode == c.mode && b.sync == c.sync && b.p() == 1 && b.work() == c.work())
    };
    let parallel = |m: Mode| j.cells.iter().copied().filter(move |c| c.mode == m && c.p() > 1);
    let pair = parallel(baseline)
        .filter_map(|b| parallel(mode).find(|c| c.work() == b.work() && c.p() == b.p()).map(|c| (c, b)))
        .max_by_key(|(c, _)| (c.n, c.p(), c.hidden));
    let Some((ours, theirs)) = pair else { return j.not_run(&format!("parallel {mode} and {baseline}")) };
    let (Some(ours_1), Some(theirs_1)) = (one(ours), one(theirs)) else {
        return j.not_run(&format!("one-process {mode} and {baseline}"));
    };
    // Each mode's efficiency at P against its own one-process cell of the same work; the two
    // efficiencies' ratio round by round.
    let series = [ours_1.totals(), ours.totals(), theirs_1.totals(), theirs.totals()];
    let refs: Vec<&[(usize, f64)]> = series.iter().map(|t| t.as_slice()).collect();
    let Some(ratio) = stats::per_round(&stats::common_rounds(&refs), |r| (r[0] / r[1]) / (r[2] / r[3])) else {
        return j.not_run("paired");
    };
    let mark = if ours.oversubscribed { " (oversubscribed)" } else { "" };
    let name = format!("P={}{mark}, N={}: {} against {}", ours.p(), ours.n, ours.label(), theirs.label());
    j.judged(vec![(name, ratio)], j.bound, Direction::AtLeast, "efficiency ratio, each over its own P=1")
}
