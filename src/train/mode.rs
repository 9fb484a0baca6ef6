//! What a run is: its mode (how the training is executed) and, for MPI, how the ranks
//! combine their gradients.

use serde::{Deserialize, Serialize};

/// How the training is executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One process on the CPU (with `--threads` threads, default 1).
    Seq,
    /// One process with `--threads T` threads: the shared-memory baseline set beside MPI.
    Threads,
    /// Data-parallel over the MPI processes `mpirun -np P` started.
    Mpi,
    /// Model-parallel over the MPI processes `mpirun -np P` started: the hidden layer's
    /// units split over the ranks, the output layer's inputs summed across them each step
    /// ([`crate::train::model_parallel`]).
    Model,
    /// One NVIDIA GPU through candle's CUDA backend (a binary built with `--features cuda`).
    Gpu,
    /// Baseline: the original study's implementation (Python, numpy, mpi4py), written from
    /// its description: `--ranks P` processes, gradients gathered on rank 0 as Python
    /// objects, weights broadcast back; numpy's BLAS threads left at their default.
    Original,
    /// Baseline: the original with the obvious fixes: one buffer `Allreduce` of the
    /// gradients, numpy's BLAS pinned to one thread per process.
    #[serde(rename = "original-fixed")]
    #[value(name = "original-fixed")]
    OriginalFixed,
    /// Baseline: PyTorch on the CPU, autograd, one process with `--threads` threads.
    Torch,
    /// Baseline: PyTorch DistributedDataParallel (gloo) over `--ranks P` processes.
    #[serde(rename = "torch-ddp")]
    #[value(name = "torch-ddp")]
    TorchDdp,
    /// The original's future work: each of the `mpirun -np P` ranks trains its own model
    /// (a member) with no communication while training; rank 0 combines their predictions
    /// (average, vote, a stacked meta-learner). See [`crate::ensemble`].
    Ensemble,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Seq => "seq",
            Mode::Threads => "threads",
            Mode::Mpi => "mpi",
            Mode::Model => "model",
            Mode::Gpu => "gpu",
            Mode::Original => "original",
            Mode::OriginalFixed => "original-fixed",
            Mode::Torch => "torch",
            Mode::TorchDdp => "torch-ddp",
            Mode::Ensemble => "ensemble",
        }
    }

    /// Whether the mode is one of the baselines dpstudy is compared with (a Python program
    /// it starts, [`crate::baseline`]), not one of dpstudy's own trainers.
    pub fn is_baseline(self) -> bool {
        matches!(self, Mode::Original | Mode::OriginalFixed | Mode::Torch | Mode::TorchDdp)
    }

    /// Whether the mode runs `ranks` processes of its own (dpstudy's MPI takes them from
    /// mpirun; the baselines from `--ranks`).
    pub fn has_ranks(self) -> bool {
        matches!(self, Mode::Mpi | Mode::Model | Mode::Ensemble | Mode::Original | Mode::OriginalFixed | Mode::TorchDdp)
    }

    /// Whether `dpstudy reproduce` starts the mode's processes with `mpirun -np P` (dpstudy's
    /// own multi-process modes; a baseline starts its own).
    pub fn under_mpirun(self) -> bool {
        matches!(self, Mode::Mpi | Mode::Model | Mode::Ensemble)
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How MPI ranks combine their gradients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SyncKind {
    /// One allreduce of the flat gradient buffer (theta1 then theta2); every rank updates.
    Allreduce,
    /// The original study's pattern: gradients gathered on rank 0, rank 0 updates,
    /// weights broadcast back.
    GatherBcast,
}

impl SyncKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncKind::Allreduce => "allreduce",
            SyncKind::GatherBcast => "gather-bcast",
        }
    }
}

impl std::fmt::Display for SyncKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the gradient sums of the rows are reduced to one (see [`crate::model::exact_sum`]).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Reduction {
    /// Floating-point sums in the order the split gives: the same bits for the same split
    /// (mode, P, threads), within rounding (about 1e-13 here) across splits.
    #[default]
    Float,
    /// Global blocks of rows summed exactly as fixed-point integers: the same bits for any
    /// P, sync, thread count or host layout (full batch only).
    Exact,
}

impl Reduction {
    pub fn as_str(self) -> &'static str {
        match self {
            Reduction::Float => "float",
            Reduction::Exact => "exact",
        }
    }
}

impl std::fmt::Display for Reduction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
