//! `comm-grows-as-link-slows`: across emulated hosts, the communication share on the slowest
//! link is above the fastest link's, for every H, sync and P.

use super::series::{link_name, link_series};
use crate::report::claims::judge::Judge;
use crate::report::claims::record::Verdict;
use crate::stats::{self, Direction, Estimate};

pub(in crate::report::claims) fn judge(j: &Judge) -> Verdict {
    let growths: Vec<(String, Estimate)> = link_series(&j.cells)
        .iter()
        .filter_map(|((h, sync, p), s)| {
            let (fast, slow) = (s[0], s[s.len() - 1]);
            let name = format!(
                "H={h} {} P={p}: {:.1}% ({}) to {:.1}% ({})",
                sync.map(|s| s.to_string()).unwrap_or_default(),
                100.0 * fast.comm_share,
                link_name(fast),
                100.0 * slow.comm_share,
                link_name(slow)
            );
            Some((name, stats::paired_ratio(&slow.comm_shares(), &fast.comm_shares())?))
        })
        .collect();
    if growths.is_empty() {
        return j.not_run("two or more links of");
    }
    j.judged(growths, 1.0, Direction::Above, "comm share on the slowest link over the fastest")
}
