//! `speedup`: at the largest N and P, the mode's efficiency (speedup / P) is at least `min`.

use crate::report::claims::judge::Judge;
use crate::report::claims::record::Verdict;
use crate::stats::Direction;

pub(in crate::report::claims) fn judge(j: &Judge) -> Verdict {
    let (Some(n), Some(p)) = (j.cells.iter().map(|c| c.n).max(), j.cells.iter().map(|c| c.p()).max()) else {
        return j.not_run("timed");
    };
    let Some(c) = j.cells.iter().find(|c| c.n == n && c.p() == p) else { return j.not_run("largest") };
    let Some(eff) = c.efficiency else { return j.not_run("sequential") };
    let mark = if c.oversubscribed { " (oversubscribed)" } else { "" };
    let speedup = c.speedup.map_or(String::new(), |s| format!(", speedup {}", s.text(|x| format!("{x:.2}"))));
    j.judged(
        vec![(format!("{} P={p}{mark} at N={n}{speedup}", c.label()), eff)],
        j.bound,
        Direction::AtLeast,
        "efficiency (speedup / P)",
    )
}
