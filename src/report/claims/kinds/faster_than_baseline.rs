//! `faster-than-baseline`: at the largest N both have with one process, the baseline's time
//! over the mode's is at least `min`.

use crate::report::claims::judge::Judge;
use crate::report::claims::record::Verdict;
use crate::report::study_tables::secs;
use crate::stats::Direction;
use crate::train::Mode;

pub(in crate::report::claims) fn judge(j: &Judge) -> Verdict {
    let (Some(mode), Some(baseline)) = (j.claim.mode, j.claim.baseline) else { return j.not_run("compared") };
    let alone = |m: Mode| j.cells.iter().copied().filter(move |c| c.mode == m && c.p() == 1);
    let pair = alone(baseline)
        .filter_map(|b| alone(mode).find(|c| c.work() == b.work()).map(|c| (c, b)))
        .max_by_key(|(c, _)| (c.n, c.hidden));
    let Some((ours, theirs)) = pair else { return j.not_run(&format!("one-process {mode} and {baseline}")) };
    let Some(ratio) = theirs.time_ratio(ours) else { return j.not_run("paired") };
    let name = format!(
        "at N={}, H={}: {} {} s, {} {} s",
        ours.n,
        ours.hidden,
        ours.label(),
        ours.time.map_or("–".into(), |e| e.text(secs)),
        theirs.label(),
        theirs.time.map_or("–".into(), |e| e.text(secs)),
    );
    j.judged(vec![(name, ratio)], j.bound, Direction::AtLeast, "baseline's time / dpstudy's")
}
