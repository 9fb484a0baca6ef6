//! `model-predicts`: the cost model, its compute fitted to the sequential cells and its
//! communication to the run's commbench sweeps, predicts every MPI training cell (none of
//! which it was fitted to) within a relative `max` of the cell's measured interval: the
//! distance from the prediction to the interval's nearer end over the measured step, so
//! that a cell's own noise (its runs' spread) is not counted against the model.

use crate::report::aggregate::CellStats;
use crate::report::claims::judge::{Judge, pass};
use crate::report::claims::record::{Outcome, Verdict};
use crate::report::cost_model::Model;

pub(in crate::report::claims) fn judge(j: &Judge) -> Verdict {
    // A sweep that failed (a wrong element, a crash) is a failed measurement of the run.
    if !j.agg.commbench_failures.is_empty() {
        let why = format!("commbench failed: {}", j.agg.commbench_failures.join("; "));
        return j.verdict(Outcome::Fail, why, "every sweep right".into());
    }
    let all: Vec<&CellStats> = j.agg.cells.iter().collect();
    let model = Model::of(&all, &j.agg.commbench);
    let Some(worst) = model.worst_beyond_interval() else {
        return j.not_run(
            "MPI cells that the model covers (sequential or one-rank cells of their H, a commbench sweep of their \
             transport and P) in",
        );
    };
    let beyond = worst.error_beyond_interval();
    let judged: Vec<_> = model.judgeable().collect();
    let largest = judged.iter().map(|p| p.relative_error()).max_by(|a, b| a.abs().total_cmp(&b.abs())).unwrap_or(0.0);
    let split = model.predictions.iter().filter(|p| p.split == crate::report::cost_model::fit::Split::HiddenUnits);
    let hidden_split = split.count();
    let single = model.predictions.len() - judged.len() - hidden_split;
    j.valued(
        pass(beyond.abs() <= j.bound),
        format!(
            "{} MPI cells predicted out of sample, {} of them data-parallel with a measured interval (judged){}; \
             farthest outside \
             its measured interval {:+.1}% ({}); largest error against the median {:+.1}%; {} of {} predicted \
             intervals meet the measured ones",
            model.predictions.len(),
            judged.len(),
            [(single, "of one run"), (hidden_split, "of the hidden split")]
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!(", {n} {what} (shown in M2, not judged)"))
                .collect::<String>(),
            100.0 * beyond,
            worst.cell,
            100.0 * largest,
            model.predictions_meeting(),
            judged.len()
        ),
        format!("≤ {:.0}%", 100.0 * j.bound),
        Some(beyond.abs()),
    )
}
