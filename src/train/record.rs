//! What a run measured: one [`EpochRecord`] per epoch and the [`TrainResult`] that `--out`
//! writes, the schema every consumer (the runner, the report, the baselines) reads.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::TrainConfig;
use super::sync::RankTimes;
use crate::data::DataSource;

/// What one epoch measured. The clock starts after data and weights are loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    pub iterations: usize,
    /// Full training-set cost after the epoch's last update.
    pub cost: f64,
    /// Share of training samples classified correctly after the epoch.
    pub train_acc: f64,
    pub test_cost: Option<f64>,
    pub test_acc: Option<f64>,
    /// Largest minus smallest `compute_s` across ranks (0 for one process).
    pub compute_spread_s: f64,
    /// Every rank's times, indexed by rank (one entry for a single process).
    pub ranks: Vec<RankTimes>,
    /// Mode `ensemble`: every member's own scores, indexed by rank (the fields above are
    /// member 0's). Empty for the other modes, whose ranks train one model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberScores>,
}

/// One ensemble member's cost and accuracies after an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemberScores {
    pub cost: f64,
    pub train_acc: f64,
    pub test_cost: Option<f64>,
    pub test_acc: Option<f64>,
}

impl EpochRecord {
    /// The record of one process's epoch (ranks of an MPI job are filled in afterwards);
    /// `test` is the held-out (cost, accuracy) if there is a test set.
    pub fn one_process(
        epoch: usize,
        iterations: usize,
        (cost, train_acc): (f64, f64),
        test: Option<(f64, f64)>,
        times: RankTimes,
    ) -> Self {
        Self {
            epoch,
            iterations,
            cost,
            train_acc,
            test_cost: test.map(|t| t.0),
            test_acc: test.map(|t| t.1),
            compute_spread_s: 0.0,
            ranks: vec![times],
            members: vec![],
        }
    }

    /// Rank 0's times: the job's clock.
    pub fn root(&self) -> &RankTimes {
        &self.ranks[0]
    }

    /// Mean time of one training step on rank 0 (the epoch without its evaluation).
    pub fn step_s(&self) -> f64 {
        (self.root().wall_s - self.root().eval_s) / self.iterations as f64
    }
}

/// The result of a training run, as written by `--out`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    pub dpstudy_version: String,
    pub config: TrainConfig,
    /// Processes that trained (MPI ranks; 1 otherwise).
    pub ranks: usize,
    /// The host of each process, in rank order: whether a run crossed hosts, and which.
    /// (Absent from results written before it was recorded.)
    #[serde(default)]
    pub hosts: Vec<String>,
    /// The Slurm job the run ran in (rank 0's view), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_job: Option<String>,
    pub data_source: DataSource,
    pub explained_variance_ratio: Option<f64>,
    pub init_weights: PathBuf,
    /// Cost of the data each step used, at the weights before that step's update
    /// (full batch: the training cost after `i` updates is `step_costs[i]`).
    pub step_costs: Vec<f64>,
    pub epochs: Vec<EpochRecord>,
    /// Rank 0's compute time summed over the epochs.
    pub total_compute_s: f64,
    /// From the start of training (after loading) to the end, on rank 0.
    pub total_train_s: f64,
    /// A baseline's program and package versions (absent for dpstudy's own modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineRuntime>,
    /// Mode `ensemble`: every member's and every combiner's scores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<crate::ensemble::EnsembleOutcome>,
    /// The CPU kernel and instruction set that computed the steps (`fused-avx512`,
    /// `fused-avx2`, `gemm`); absent for the GPU, the baselines and older results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<crate::model::kernel::KernelKind>,
    /// SHA-256 of the trained weights (theta1 then theta2, as f64 little-endian bytes: an
    /// f32 run's weights widen exactly), so that runs can be compared bit for bit without
    /// their weight files (`None`: a baseline, which does not hand its weights back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_sha256: Option<String>,
}

/// What ran a baseline (`crate::baseline`): its program and package versions, recorded in
/// its result. Part of the result's schema, so it lives here; the baselines fill it in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineRuntime {
    pub program: String,
    pub python: String,
    pub numpy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mpi4py: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_threads: Option<usize>,
    /// numpy's BLAS threads as dpstudy set them (`None`: left at numpy's default).
    #[serde(default)]
    pub blas_threads: Option<usize>,
}

impl TrainResult {
    pub fn final_epoch(&self) -> &EpochRecord {
        self.epochs.last().expect("at least one epoch")
    }
}
