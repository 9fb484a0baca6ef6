//! A cost model of one full-batch step, its constants measured apart from the training
//! cells it predicts (issue 32). Per step:
//!
//! ```text
//! step(N, P) = a_H + c_H N / P  +  comm(bytes)        comm = alpha + bytes / beta
//! ```
//!
//! - compute: `a_H + c_H N`, fitted to the sequential cells of each H and the one-rank MPI
//!   cells without their collective (any table: every
//!   table's step is the same work per sample); a rank's share is N / P.
//! - communication: `alpha + bytes / beta` per (pattern, transport, P), fitted to the run's
//!   `commbench` sweeps ([`crate::commbench`]) over the sizes of the study's gradients
//!   (bytes = 8 x the weights of H).
//!
//! Every MPI training cell is then a prediction made without it, set beside its
//! measurement, each with its 95% interval. The extrapolation to P ranks builds each
//! collective from the ping-pong's constants by the textbook algorithms (ring or recursive
//! doubling allreduce, binomial gather and broadcast), which nothing here measures beyond
//! the sweeps' P: it is a model, labelled as one wherever it is shown.
//!
//! [`line`] is the weighted least squares with intervals, [`fit`] the fits and predictions,
//! [`extrapolate`] the collectives' costs on P ranks, [`present`] the tables (M1-M3) and
//! figure, [`command`] `dpstudy model`'s reading of results directories and writing of its
//! outputs.

pub mod command;
pub mod extrapolate;
pub mod fit;
pub mod line;
mod present;

pub use command::model_command;
pub use extrapolate::{EXTRAPOLATED_SAMPLES, MAX_RANKS};
pub use fit::{CommFit, ComputeFit, Prediction, Transport};

use crate::commbench::{CommBenchRecord, CommOp};
use crate::report::aggregate::CellStats;
use fit::{fit_comm, fit_compute, predict};

/// The fits of a set of cells and sweeps, and their predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub compute: Vec<ComputeFit>,
    pub comm: Vec<CommFit>,
    pub predictions: Vec<Prediction>,
}

impl Model {
    pub fn of(cells: &[&CellStats], sweeps: &[CommBenchRecord]) -> Self {
        let compute = fit_compute(cells);
        let comm = fit_comm(sweeps);
        let predictions = predict(cells, &compute, &comm);
        Self { compute, comm, predictions }
    }

    /// The compute fit the extrapolation uses: the study's H = 50 if fitted, else the first.
    fn study_compute(&self) -> Option<&ComputeFit> {
        let rows = || self.compute.iter().filter(|f| f.split == fit::Split::Rows);
        rows().filter(|f| f.hidden == 50).max_by_key(|f| f.line.points).or(rows().next())
    }

    /// The shared-memory ping-pong, whose constants the extrapolation builds on.
    fn shared_memory(&self) -> Option<&CommFit> {
        self.comm.iter().find(|f| f.transport == Transport::SharedMemory && f.op == CommOp::P2p)
    }

    /// The largest relative error of any prediction.
    pub fn worst_prediction(&self) -> Option<&Prediction> {
        self.predictions.iter().max_by(|a, b| a.relative_error().abs().total_cmp(&b.relative_error().abs()))
    }

    /// The predictions claim C12 judges: data-parallel cells with a measured interval (two
    /// runs or more). A cell of one run (the deterministic tables', run once without warm-up
    /// to record a cost or a hash) has a time but no interval, and one run decides nothing.
    /// The hidden split's predictions are shown beside its cells (T12, M2), not judged: the
    /// model divides a rank's compute by P, which splitting the hidden units does not do at
    /// small H (every rank still reads all N rows, through products P times narrower).
    pub fn judgeable(&self) -> impl Iterator<Item = &Prediction> {
        self.predictions.iter().filter(|p| p.measured_interval.is_some() && p.split == fit::Split::Rows)
    }

    /// The judgeable prediction farthest outside its cell's measured interval: what claim
    /// C12 judges.
    pub fn worst_beyond_interval(&self) -> Option<&Prediction> {
        self.judgeable().max_by(|a, b| a.error_beyond_interval().abs().total_cmp(&b.error_beyond_interval().abs()))
    }

    /// Judgeable predictions ([`Self::judgeable`]) whose interval meets the measured one: a
    /// count out of the judged cells, as C12 reports it (counting every prediction gave
    /// "47 of 45").
    pub fn predictions_meeting(&self) -> usize {
        self.judgeable().filter(|p| p.intervals_meet() == Some(true)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prediction(cell: &str, split: fit::Split, measured_interval: Option<(f64, f64)>) -> Prediction {
        Prediction {
            cell: cell.into(),
            split,
            measured_step_s: 1.0,
            measured_interval,
            predicted_step_s: 1.0,
            predicted_interval: (0.9, 1.1),
        }
    }

    #[test]
    fn the_intervals_that_meet_are_counted_among_the_judged_cells_only() {
        let model = Model {
            compute: vec![],
            comm: vec![],
            predictions: vec![
                prediction("judged", fit::Split::Rows, Some((0.95, 1.05))),
                prediction("one run", fit::Split::Rows, None),
                prediction("hidden split", fit::Split::HiddenUnits, Some((0.95, 1.05))),
            ],
        };
        assert_eq!(model.judgeable().count(), 1);
        assert_eq!(model.predictions_meeting(), 1, "all three meet; one is judged");
    }
}
