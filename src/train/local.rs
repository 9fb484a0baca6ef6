//! What every mode does before the clock starts ([`Inputs`]: the data, the resolved
//! configuration, the initial weights) and after it stops ([`TrainingRun`]), and the run in
//! one process (modes `seq` and `threads`, [`run_local`]).

use std::time::Instant;

use super::{EpochRecord, TrainConfig, TrainResult, descent, sync};
use crate::data::cache::Required;
use crate::data::{DataKind, Prepared};
use crate::model::{self, Params};
use crate::real::{Dtype, Real};

/// Why training stopped early.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrainError {
    #[error("the cost became {cost} at iteration {iteration}: training diverged (try a smaller --lr)")]
    NonFiniteCost { iteration: usize, cost: f64 },
}

/// `cost`, or the error saying training diverged at `iteration`.
pub fn finite(cost: f64, iteration: usize) -> Result<f64, TrainError> {
    if cost.is_finite() { Ok(cost) } else { Err(TrainError::NonFiniteCost { iteration, cost }) }
}

/// A finished training run: its record and its final weights.
pub struct TrainingRun {
    pub result: TrainResult,
    pub weights: Params<f64>,
}

/// Everything a run needs before the clock starts: the data, the resolved configuration
/// (`samples` filled in), and the initial weights.
pub struct Inputs {
    pub config: TrainConfig,
    /// The training rows, resolved: `config.samples` is `Some(samples)`.
    pub samples: usize,
    pub prepared: Prepared,
    pub init: Params<f64>,
}

impl Inputs {
    /// Loads the data and the initial weights `config` names, and resolves "all the
    /// samples" (`config.samples == None`) against the data.
    pub fn load(config: &TrainConfig) -> anyhow::Result<Self> {
        let mut config = config.clone();
        // Rows held out at the end of the pool (test) and after the training rows
        // (an ensemble's validation rows): both must fit beside the training rows.
        let test = config.test_samples + config.validation_samples();
        let required = match (config.samples, &config.data.kind) {
            (None, DataKind::Synthetic) => {
                Some(Required::rows(crate::data::DEFAULT_SYNTHETIC_ROWS + test, "--samples"))
            }
            // All of MNIST but the test rows: at least one row must be left to train on.
            (None, DataKind::Mnist) if test == 0 => None,
            (None, DataKind::Mnist) if config.validation_samples() == 0 => Some(Required::test_rows_and_one_more(test)),
            (None, DataKind::Mnist) => Some(Required::rows(test + 1, "--validation-samples + --test-samples")),
            (Some(n), _) => Some(Required::rows(
                n.saturating_add(test),
                match (config.test_samples, config.validation_samples()) {
                    (0, 0) => "--samples",
                    (_, 0) => "--samples + --test-samples",
                    _ => "--samples + --validation-samples + --test-samples",
                },
            )),
        };
        let prepared = config.data.load(required, config.seed)?;
        // `required` above guaranteed at least one row beyond the test rows.
        let samples = config.samples.unwrap_or(prepared.len() - test);
        config.samples = Some(samples);
        config.validate()?;
        let init = model::init::load_or_create(&config.init_path(), config.hidden, config.seed)?;
        Ok(Self { config, samples, prepared, init })
    }

    /// The validation rows (right after the training rows) in element type `T`.
    pub fn validation<T: Real>(&self) -> anyhow::Result<crate::data::Samples<T>> {
        Ok(self.prepared.rows(self.samples..self.samples + self.config.validation_samples())?)
    }

    /// The train and test rows in element type `T`.
    pub fn split<T: Real>(&self) -> anyhow::Result<(crate::data::Samples<T>, crate::data::Samples<T>)> {
        Ok(self.prepared.split(self.samples, self.config.test_samples)?)
    }

    /// The record of a finished run.
    pub fn result<T: Real>(&self, trained: descent::Trained<T>, hosts: Vec<String>, started: Instant) -> TrainingRun {
        let result = TrainResult {
            dpstudy_version: env!("CARGO_PKG_VERSION").to_string(),
            config: self.config.clone(),
            ranks: hosts.len(),
            hosts,
            slurm_job: crate::launch::Allocation::current().map(|a| a.job_id),
            data_source: self.prepared.source.clone(),
            explained_variance_ratio: self.prepared.explained_variance_ratio,
            init_weights: self.config.init_path(),
            total_compute_s: trained.epochs.iter().map(|e| e.root().compute_s).sum(),
            total_train_s: started.elapsed().as_secs_f64(),
            step_costs: trained.step_costs,
            epochs: trained.epochs,
            baseline: None,
            ensemble: None,
            kernel: trained.kernel,
            weights_sha256: None,
        };
        let weights: Params<f64> = trained.params.cast();
        TrainingRun { result: TrainResult { weights_sha256: Some(weights_hash(&weights)), ..result }, weights }
    }
}

/// SHA-256 of weights as f64 little-endian bytes, in `Params` order.
pub fn weights_hash(weights: &Params<f64>) -> String {
    let bytes: Vec<u8> = weights.as_slice().iter().flat_map(|w| w.to_le_bytes()).collect();
    crate::data::checksum::sha256_hex(&bytes)
}

/// This machine's host name (what a single-process run records as its host).
pub fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map_or_else(|_| "unknown".into(), |h| h.trim().to_string())
}

/// Trains in one process (modes `seq` and `threads`).
pub fn run_local(config: &TrainConfig, progress: impl FnMut(&EpochRecord)) -> anyhow::Result<TrainingRun> {
    let inputs = Inputs::load(config)?;
    match inputs.config.dtype {
        Dtype::F32 => run_local_typed::<f32>(&inputs, progress),
        Dtype::F64 => run_local_typed::<f64>(&inputs, progress),
    }
}

fn run_local_typed<T: Real>(inputs: &Inputs, progress: impl FnMut(&EpochRecord)) -> anyhow::Result<TrainingRun> {
    let (train, test) = inputs.split::<T>()?;
    let started = Instant::now();
    let init = inputs.init.cast::<T>();
    let trained =
        descent::train(&inputs.config, &init, descent::Shard::whole(&train), &test, &mut sync::Local, progress)?;
    Ok(inputs.result(trained, vec![this_host()], started))
}
