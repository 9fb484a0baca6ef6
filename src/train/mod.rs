//! Training: the configuration every mode shares, the records it produces, the loop
//! ([`descent`]) and the ways gradients are combined ([`sync`], [`mpi`]).

pub mod descent;
pub mod ensemble;
pub mod gpu;
pub mod mpi;
pub mod sync;
pub mod watchdog;

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::cache::Required;
use crate::data::{DataConfig, DataKind, DataSource, Prepared};
use crate::model::{self, Params};
use crate::real::{Dtype, Real};
use sync::RankTimes;

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
        matches!(self, Mode::Mpi | Mode::Ensemble | Mode::Original | Mode::OriginalFixed | Mode::TorchDdp)
    }

    /// Whether `dpstudy reproduce` starts the mode's processes with `mpirun -np P` (dpstudy's
    /// own multi-process modes; a baseline starts its own).
    pub fn under_mpirun(self) -> bool {
        matches!(self, Mode::Mpi | Mode::Ensemble)
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

/// One training run, fully specified; written beside its results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub mode: Mode,
    /// The gradient sync of MPI runs (`None` for one process).
    pub sync: Option<SyncKind>,
    pub data: DataConfig,
    /// Training samples: the first `samples` rows of the pool; `None` takes all of the
    /// pool but the test rows (70,000 rows of synthetic data). A finished run records the
    /// count it trained on.
    pub samples: Option<usize>,
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
    /// Compute threads of each process.
    pub threads: usize,
    /// Processes a baseline starts (`original`, `original-fixed`, `torch-ddp`); 1 for the
    /// other modes (dpstudy's MPI mode takes its ranks from mpirun).
    #[serde(default = "one")]
    pub ranks: usize,
    /// Initial weights file; `None`: `<data.cache_dir>/init-h<H>-seed<S>.safetensors`.
    pub init: Option<PathBuf>,
    /// Mode `ensemble`: how the members differ and the validation rows (`None` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<crate::ensemble::EnsembleRecipe>,
}

fn one() -> usize {
    1
}

/// A configuration value that cannot be trained with, naming the flag.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("{flag} {value}: {reason}")]
    Invalid { flag: &'static str, value: String, reason: &'static str },
    /// A request beyond what this machine has (its cores, its memory), said before any
    /// thread is started or any buffer allocated.
    #[error("{flag} {value}: {reason}")]
    Beyond { flag: &'static str, value: String, reason: String },
}

/// What this machine has, against which a run's request is checked.
#[derive(Debug, Clone, Copy)]
pub struct Machine {
    pub cores: usize,
    /// Total memory in bytes (`None`: not known, not checked).
    pub memory_bytes: Option<u64>,
}

impl Machine {
    /// This machine: its usable cores and /proc/meminfo's MemTotal.
    pub fn here() -> Self {
        let memory_bytes = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kb: u64 = line.trim_start_matches("MemTotal:").trim().trim_end_matches("kB").trim().parse().ok()?;
            Some(kb * 1024)
        });
        Self { cores: crate::launch::available_cores(), memory_bytes }
    }
}

impl TrainConfig {
    /// Checks the values that need no data to check.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |flag, value: String, reason| Err(ConfigError::Invalid { flag, value, reason });
        if self.hidden == 0 {
            return invalid("--hidden", "0".into(), "the hidden layer needs at least one unit");
        }
        if self.samples == Some(0) {
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
        if self.ranks == 0 {
            return invalid("--ranks", "0".into(), "must be at least 1");
        }
        if self.ranks > 1 && !(self.mode.is_baseline() && self.mode.has_ranks()) {
            return invalid(
                "--ranks",
                self.ranks.to_string(),
                "only the baselines original, original-fixed and torch-ddp start processes (mpi: mpirun -np P)",
            );
        }
        if let Some(rows) = self.samples.filter(|&n| self.threads > n) {
            return Err(ConfigError::Beyond {
                flag: "--threads",
                value: self.threads.to_string(),
                reason: format!("more threads than the {rows} training rows: each thread needs a row of its own"),
            });
        }
        self.validate_ensemble()?;
        match self.batch_size {
            Some(0) => return invalid("--batch-size", "0".into(), "must be at least 1"),
            Some(b) if self.samples.is_some_and(|n| b > n) => {
                return invalid("--batch-size", b.to_string(), "is larger than --samples");
            }
            _ => {}
        }
        Ok(())
    }

    /// The request against `machine`, before anything is started: more processes x threads
    /// than cores only with `oversubscribe` (the consent `--oversubscribe` gives), and no
    /// more memory than the machine has (the data, the activations and the weights, their
    /// gradient and the update's copies, in the training dtype; the pool's features in f64).
    pub fn check_resources(&self, machine: Machine, oversubscribe: bool) -> Result<(), ConfigError> {
        let cores = self.threads * self.ranks;
        if cores > machine.cores && !oversubscribe {
            let (flag, value) = if self.ranks > 1 {
                ("--ranks", self.ranks.to_string())
            } else {
                ("--threads", self.threads.to_string())
            };
            return Err(ConfigError::Beyond {
                flag,
                value,
                reason: format!(
                    "{cores} compute threads in all, more than this machine's {} cores: pass --oversubscribe to run them \
                     time-sharing the cores anyway",
                    machine.cores
                ),
            });
        }
        let Some(memory) = machine.memory_bytes else { return Ok(()) };
        let rows = self.samples.unwrap_or(crate::data::DEFAULT_SYNTHETIC_ROWS) as u128
            + (self.test_samples + self.validation_samples()) as u128;
        let features = crate::data::FEATURES as u128;
        let bytes = |h: u128| {
            let params = h * (features + 1) + 10 * (h + 1);
            (rows * (features + 2 * h + 20) + 4 * params) * self.dtype.bytes() as u128 + rows * features * 8
        };
        let bytes_here = bytes(self.hidden as u128);
        if bytes_here > u128::from(memory) {
            // The hidden layer is at fault if the study's H = 50 would fit these rows.
            let (flag, value) = if bytes(50) <= u128::from(memory) {
                ("--hidden", self.hidden.to_string())
            } else {
                ("--samples", self.samples.map_or("(the default)".into(), |n| n.to_string()))
            };
            return Err(ConfigError::Beyond {
                flag,
                value,
                reason: format!(
                    "the run would need about {:.1} GiB, more than this machine's {:.1} GiB of memory",
                    bytes_here as f64 / (1u64 << 30) as f64,
                    memory as f64 / (1u64 << 30) as f64
                ),
            });
        }
        Ok(())
    }

    /// The ensemble's recipe against the mode: only `ensemble` has one, and it needs
    /// validation and test rows (the combiners are fitted on the one and scored on the
    /// other); each member draws its own initial weights, so `--init` does not apply.
    fn validate_ensemble(&self) -> Result<(), ConfigError> {
        let invalid = |flag, value: String, reason| Err(ConfigError::Invalid { flag, value, reason });
        let recipe = match (&self.ensemble, self.mode == Mode::Ensemble) {
            (None, false) => return Ok(()),
            (Some(_), false) => {
                return invalid(
                    "--mode",
                    self.mode.to_string(),
                    "--validation-samples, --member-hidden, --member-lr and --bagging belong to --mode ensemble",
                );
            }
            (recipe, true) if self.validation_samples() == 0 => {
                let value = recipe.as_ref().map_or(0, |r| r.validation_samples).to_string();
                return invalid(
                    "--validation-samples",
                    value,
                    "--mode ensemble needs validation rows for its stacked meta-learner (e.g. --validation-samples 2000)",
                );
            }
            (Some(recipe), true) => recipe,
            (None, true) => unreachable!("no recipe means no validation rows, refused above"),
        };
        if self.test_samples == 0 {
            return invalid(
                "--test-samples",
                "0".into(),
                "--mode ensemble scores its members and combiners on test rows",
            );
        }
        if let Some(init) = &self.init {
            return invalid(
                "--init",
                init.display().to_string(),
                "each member of an ensemble draws its own initial weights from --seed + its rank",
            );
        }
        if let Some(&h) = recipe.member_hidden.iter().find(|&&h| h == 0) {
            return invalid("--member-hidden", h.to_string(), "the hidden layer needs at least one unit");
        }
        if let Some(&lr) = recipe.member_lr.iter().find(|lr| !(lr.is_finite() && **lr > 0.0)) {
            return invalid("--member-lr", lr.to_string(), "must be a positive finite number");
        }
        Ok(())
    }

    /// Validation rows (the ensemble's; 0 for the other modes).
    pub fn validation_samples(&self) -> usize {
        self.ensemble.as_ref().map_or(0, |r| r.validation_samples)
    }

    /// The initial-weights file this run uses.
    pub fn init_path(&self) -> PathBuf {
        self.init.clone().unwrap_or_else(|| model::init::default_path(&self.data.cache_dir, self.hidden, self.seed))
    }
}

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
            data_source: self.prepared.source.clone(),
            explained_variance_ratio: self.prepared.explained_variance_ratio,
            init_weights: self.config.init_path(),
            total_compute_s: trained.epochs.iter().map(|e| e.root().compute_s).sum(),
            total_train_s: started.elapsed().as_secs_f64(),
            step_costs: trained.step_costs,
            epochs: trained.epochs,
            baseline: None,
            ensemble: None,
        };
        TrainingRun { result, weights: trained.params.cast() }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A config of `threads` threads on `samples` synthetic rows.
    fn asking(threads: usize, samples: Option<usize>, hidden: usize) -> TrainConfig {
        TrainConfig {
            mode: Mode::Threads,
            sync: None,
            data: DataConfig { kind: DataKind::Synthetic, dir: "d".into(), cache_dir: "c".into(), verify: true },
            samples,
            test_samples: 0,
            hidden,
            epochs: 1,
            iters: 1,
            lr: 0.1,
            dtype: Dtype::F64,
            batch_size: None,
            seed: 1,
            threads,
            ranks: 1,
            init: None,
            ensemble: None,
        }
    }

    const TWO_CORES_8_GIB: Machine = Machine { cores: 2, memory_bytes: Some(8 << 30) };

    fn message(result: Result<(), ConfigError>) -> String {
        result.expect_err("refused").to_string()
    }

    #[test]
    fn threads_beyond_the_cores_need_consent_and_beyond_the_rows_are_refused() {
        let runaway = asking(100_000, Some(10_000), 50);
        assert_eq!(
            message(runaway.check_resources(TWO_CORES_8_GIB, false)),
            "--threads 100000: 100000 compute threads in all, more than this machine's 2 cores: pass --oversubscribe \
             to run them time-sharing the cores anyway"
        );
        assert_eq!(
            message(runaway.validate()),
            "--threads 100000: more threads than the 10000 training rows: each thread needs a row of its own"
        );
        let four = asking(4, Some(10_000), 50);
        assert!(four.check_resources(TWO_CORES_8_GIB, false).is_err());
        assert!(four.check_resources(TWO_CORES_8_GIB, true).is_ok() && four.validate().is_ok());
        let ddp = TrainConfig { mode: Mode::TorchDdp, ranks: 3, threads: 1, ..four };
        assert!(message(ddp.check_resources(TWO_CORES_8_GIB, false)).starts_with("--ranks 3: 3 compute threads"));
    }

    #[test]
    fn a_run_larger_than_the_memory_is_refused_naming_what_makes_it_large() {
        let wide = asking(1, Some(1000), 100_000_000);
        let text = message(wide.check_resources(TWO_CORES_8_GIB, false));
        assert!(
            text.starts_with("--hidden 100000000: the run would need about ") && text.ends_with("8.0 GiB of memory")
        );
        let tall = asking(1, Some(2_000_000_000), 50);
        assert!(message(tall.check_resources(TWO_CORES_8_GIB, false)).starts_with("--samples 2000000000: the run"));
        // The study's largest run fits: 70,000 rows, H = 1,600, f64.
        assert!(asking(1, Some(70_000), 1600).check_resources(TWO_CORES_8_GIB, false).is_ok());
        let unknown = Machine { cores: 2, memory_bytes: None };
        assert!(wide.check_resources(unknown, false).is_ok(), "no memory figure, no memory check");
    }
}
