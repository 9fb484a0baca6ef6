//! A cost model of one full-batch step, fitted to the measurements, and what it says beyond
//! them (issue 16, part 3). The model, per step:
//!
//! ```text
//! step(N, P) = a_H + c_H N / P  +  comm(bytes)        comm = alpha + bytes / beta
//! ```
//!
//! - compute: `a_H + c_H N` fitted by least squares to the sequential cells of each H (any
//!   table: every table's step is the same work per sample); a rank's share is N / P.
//! - communication: `alpha + bytes / beta` per (sync, transport, P), fitted to rank 0's
//!   time in the collectives per step over the cells' gradient sizes (bytes = 8 x the
//!   weights of H, f64 as every profile): shared memory from T3/T6, TCP links from T8.
//!
//! Every MPI cell with both fits is then predicted and set beside its measurement. The
//! extrapolation to P ranks uses the standard costs of the two collectives on P ranks (ring
//! allreduce: 2 (P - 1) alpha + 2 (P - 1) / P bytes / beta; gather then broadcast through
//! rank 0: 2 (P - 1) (alpha + bytes / beta)), which the 2-rank fits cannot test: it is a
//! model, labelled as one wherever it is shown.
//!
//! [`fit`] holds the fits and predictions, [`extrapolate`] the collectives' costs on P ranks,
//! [`present`] the tables (M1-M3) and figure, [`command`] `dpstudy model`'s reading of
//! results directories and writing of its outputs.

pub mod command;
pub mod extrapolate;
pub mod fit;
mod present;

pub use command::model_command;
pub use extrapolate::{EXTRAPOLATED_SAMPLES, MAX_RANKS};
pub use fit::{CommFit, ComputeFit, Prediction, Transport};

use crate::report::aggregate::CellStats;
use crate::train::SyncKind;
use fit::{fit_comm, fit_compute, predict};

/// The fits of a set of cells and their predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub compute: Vec<ComputeFit>,
    pub comm: Vec<CommFit>,
    pub predictions: Vec<Prediction>,
}

impl Model {
    pub fn of(cells: &[&CellStats]) -> Self {
        let compute = fit_compute(cells);
        let comm = fit_comm(cells);
        let predictions = predict(cells, &compute, &comm);
        Self { compute, comm, predictions }
    }

    /// The compute fit the extrapolation uses: the study's H = 50 if fitted, else the first.
    fn study_compute(&self) -> Option<&ComputeFit> {
        self.compute.iter().find(|f| f.hidden == 50).or(self.compute.first())
    }

    fn shared_memory(&self) -> Option<&CommFit> {
        self.comm.iter().find(|f| f.transport == Transport::SharedMemory && f.sync == SyncKind::Allreduce)
    }

    /// The largest relative error of any prediction.
    pub fn worst_prediction(&self) -> Option<&Prediction> {
        self.predictions.iter().max_by(|a, b| a.relative_error().abs().total_cmp(&b.relative_error().abs()))
    }
}
