//! `sync-ratio`: allreduce's step over gather-broadcast's, for every H and P, is at most
//! `max`.

use crate::report::claims::judge::Judge;
use crate::report::claims::record::Verdict;
use crate::stats::{self, Direction, Estimate};
use crate::train::SyncKind;

pub(in crate::report::claims) fn judge(j: &Judge) -> Verdict {
    let ratios: Vec<(String, Estimate)> = j
        .cells
        .iter()
        .filter(|c| c.sync == Some(SyncKind::Allreduce))
        .filter_map(|a| {
            let g = j
                .cells
                .iter()
                .find(|g| g.sync == Some(SyncKind::GatherBcast) && g.p() == a.p() && g.hidden == a.hidden)?;
            Some((format!("H={} P={}", a.hidden, a.p()), stats::paired_ratio(&a.steps(), &g.steps())?))
        })
        .collect();
    if ratios.is_empty() {
        return j.not_run("paired sync");
    }
    j.judged(ratios, j.bound, Direction::AtMost, "allreduce / gather-bcast step")
}
