//! Training: the configuration every mode shares, the records it produces, and the modes.
//! (This issue: the sequential trainer; MPI and GPU come next.)

pub mod sequential;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::data::{DataConfig, DataSource};
use crate::real::Dtype;

/// How the training is executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One process on the CPU with `--threads` threads (default 1).
    Seq,
}

/// One training run, fully specified; written beside its results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub mode: Mode,
    pub data: DataConfig,
    /// Training samples: the first `samples` rows of the pool.
    pub samples: usize,
    /// Held-out samples: the last `test_samples` rows of the pool (0: none).
    pub test_samples: usize,
    pub hidden: usize,
    pub epochs: usize,
    /// Gradient steps per epoch (the study: 100).
    pub iters: usize,
    pub lr: f64,
    pub dtype: Dtype,
    /// Mini-batch size; `None` is full-batch gradient descent, as in the study.
    pub batch_size: Option<usize>,
    /// Seeds the initial weights, the mini-batch shuffle and synthetic data.
    pub seed: u64,
    pub threads: usize,
    /// Initial weights file; `None`: `<data.cache_dir>/init-h<H>-seed<S>.safetensors`.
    pub init: Option<PathBuf>,
}

/// A configuration value that cannot be trained with, naming the flag.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("{flag} {value}: {reason}")]
    Invalid { flag: &'static str, value: String, reason: &'static str },
}

impl TrainConfig {
    /// Checks the values that need no data to check.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |flag, value: String, reason| Err(ConfigError::Invalid { flag, value, reason });
        if self.hidden == 0 {
            return invalid("--hidden", "0".into(), "the hidden layer needs at least one unit");
        }
        if self.samples == 0 {
            return invalid("--samples", "0".into(), "training needs at least one sample");
        }
        if self.epochs == 0 {
            return invalid("--epochs", "0".into(), "must be at least 1");
        }
        if self.iters == 0 {
            return invalid("--iters", "0".into(), "must be at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return invalid("--lr", self.lr.to_string(), "must be a positive finite number");
        }
        if self.threads == 0 {
            return invalid("--threads", "0".into(), "must be at least 1");
        }
        match self.batch_size {
            Some(0) => return invalid("--batch-size", "0".into(), "must be at least 1"),
            Some(b) if b > self.samples => {
                return invalid("--batch-size", b.to_string(), "is larger than --samples");
            }
            _ => {}
        }
        Ok(())
    }
}

/// What one epoch measured. Times in seconds; the clock starts after data and weights load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    pub iterations: usize,
    /// The epoch's gradient steps: forward, backward and update.
    pub compute_s: f64,
    /// Measuring cost and accuracy after the epoch (not part of training proper).
    pub eval_s: f64,
    /// Everything in the epoch: compute, evaluation and the loop around them.
    pub wall_s: f64,
    /// Full training-set cost after the epoch's last update.
    pub cost: f64,
    /// Share of training samples classified correctly after the epoch.
    pub train_acc: f64,
    pub test_cost: Option<f64>,
    pub test_acc: Option<f64>,
}

/// The result of a training run, as written by `--out`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    pub dpstudy_version: String,
    pub config: TrainConfig,
    pub data_source: DataSource,
    pub explained_variance_ratio: Option<f64>,
    pub init_weights: PathBuf,
    /// Cost of the data each step used, at the weights before that step's update
    /// (full batch: the training cost after `i` updates is `step_costs[i]`).
    pub step_costs: Vec<f64>,
    pub epochs: Vec<EpochRecord>,
    pub total_compute_s: f64,
    pub total_wall_s: f64,
}

impl TrainResult {
    pub fn final_epoch(&self) -> &EpochRecord {
        self.epochs.last().expect("at least one epoch")
    }
}

/// Why training stopped early.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrainError {
    #[error("the cost became {cost} at iteration {iteration}: training diverged (try a smaller --lr)")]
    NonFiniteCost { iteration: usize, cost: f64 },
}
