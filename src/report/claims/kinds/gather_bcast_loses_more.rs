//! `gather-bcast-loses-more`: on the slowest link, allreduce's efficiency over
//! gather-broadcast's, for every H and P, is at least `min`.

use crate::report::aggregate::CellStats;
use crate::report::claims::judge::Judge;
use crate::report::claims::record::Verdict;
use crate::stats::{Direction, Estimate};
use crate::train::SyncKind;

pub(in crate::report::claims) fn judge(j: &Judge) -> Verdict {
    let linked: Vec<&CellStats> = j.cells.iter().copied().filter(|c| c.link.is_some()).collect();
    let Some(slowest) = linked.iter().filter_map(|c| c.link).max_by_key(|l| l.fastest_first()) else {
        return j.not_run("link");
    };
    let on_slowest = |c: &&&CellStats, sync: SyncKind| c.link == Some(slowest) && c.sync == Some(sync);
    // Both efficiencies are over the same sequential run of the round: their ratio is
    // gather-broadcast's time over allreduce's.
    let ratios: Vec<(String, Estimate)> = linked
        .iter()
        .filter(|a| on_slowest(a, SyncKind::Allreduce))
        .filter_map(|a| {
            let g = linked
                .iter()
                .find(|g| on_slowest(g, SyncKind::GatherBcast) && g.p() == a.p() && g.hidden == a.hidden)?;
            Some((format!("on {slowest}, H={} P={}", a.hidden, a.p()), g.time_ratio(a)?))
        })
        .collect();
    if ratios.is_empty() {
        return j.not_run("paired sync");
    }
    j.judged(ratios, j.bound, Direction::AtLeast, "allreduce / gather-bcast efficiency")
}
