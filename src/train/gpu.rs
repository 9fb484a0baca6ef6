//! `--mode gpu`: whether this binary can train on a GPU, and why not when it cannot.
//!
//! The answer matters beyond `train`: `reproduce` asks it once and marks GPU cells
//! "not run" with the reason instead of failing them one by one.

use super::{EpochRecord, TrainConfig, TrainingRun};

/// Why `--mode gpu` cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpuUnavailable {
    #[error(
        "--mode gpu: this dpstudy was built without the `cuda` feature; rebuild with \
         `cargo build --release --features cuda` (see artifact/gpu/build.sh)"
    )]
    NotBuilt,
    #[error("--mode gpu: no GPU found ({0})")]
    NoDevice(String),
}

/// The GPU this process would train on, or why there is none.
pub fn availability() -> Result<String, GpuUnavailable> {
    Err(GpuUnavailable::NotBuilt)
}

/// Trains on the GPU. Without the `cuda` feature there is none to train on.
pub fn run(_config: &TrainConfig, _progress: impl FnMut(&EpochRecord)) -> anyhow::Result<TrainingRun> {
    Err(GpuUnavailable::NotBuilt.into())
}
