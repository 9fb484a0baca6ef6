//! `gpu-faster`: at the largest N and H, the GPU's time is below the fastest CPU mode's.

use crate::report::claims::judge::Judge;
use crate::report::claims::record::Verdict;
use crate::report::study_tables::crossover_pairs;
use crate::stats::Direction;

pub(in crate::report::claims) fn judge(j: &Judge) -> Verdict {
    let pairs = crossover_pairs(&j.cells);
    let Some((h, n, cpu, gpu)) = pairs.iter().max_by_key(|(h, n, ..)| (*n, *h)) else {
        return j.not_run("timed");
    };
    let (Some(c), Some(g)) = (cpu, gpu) else { return j.gpu_not_run() };
    // The GPU's runs come from a GPU machine's run (merge): no round pairs them.
    let Some(ratio) = g.unpaired_time_ratio(c) else { return j.not_run("paired") };
    j.judged(
        vec![(format!("at N={n}, H={h}: GPU against the fastest CPU ({} P={})", c.label(), c.p()), ratio)],
        1.0,
        Direction::Below,
        "GPU time / CPU time",
    )
}
