//! `model-predicts`: the cost model fitted to the run's cells predicts every MPI cell it
//! covers within a relative `max`.

use crate::report::aggregate::CellStats;
use crate::report::claims::judge::{Judge, pass};
use crate::report::claims::record::Verdict;
use crate::report::cost_model::Model;

pub(in crate::report::claims) fn judge(j: &Judge) -> Verdict {
    // The model reads every cell of the run: compute from the sequential cells, the
    // collectives from the MPI cells of T3, T6 and T8, whichever ran.
    let all: Vec<&CellStats> = j.agg.cells.iter().collect();
    let model = Model::of(&all);
    let Some(worst) = model.worst_prediction() else {
        return j.not_run("MPI cells that the model covers (sequential cells at two sizes, MPI cells at two H) in");
    };
    let error = worst.relative_error();
    j.valued(
        pass(error.abs() <= j.bound),
        format!(
            "{} MPI cells predicted; largest error {:+.1}% ({}; a fit to the cells' medians, without an interval)",
            model.predictions.len(),
            100.0 * error,
            worst.cell
        ),
        format!("≤ {:.0}%", 100.0 * j.bound),
        Some(error.abs()),
    )
}
