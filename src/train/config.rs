//! One training run, fully specified ([`TrainConfig`]), and the checks that refuse what
//! cannot be trained with or what this machine ([`Machine`]) cannot hold, before any work.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Mode, SyncKind};
use crate::data::DataConfig;
use crate::model;
use crate::real::Dtype;

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
    /// How the rows' gradient sums are reduced: `float` (the split's own floating-point
    /// order) or `exact` (the same bits for any split; full batch only).
    #[serde(default)]
    pub reduce: super::Reduction,
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
        self.validate_model_parallel()?;
        if self.reduce == super::Reduction::Exact {
            if self.batch_size.is_some() {
                return invalid(
                    "--reduce",
                    "exact".into(),
                    "is for full-batch training: mini-batches have no fixed blocks of rows (leave out --batch-size)",
                );
            }
            if !matches!(self.mode, Mode::Seq | Mode::Threads | Mode::Mpi | Mode::Ensemble) {
                return invalid(
                    "--reduce",
                    "exact".into(),
                    "is for dpstudy's CPU trainers (seq, threads, mpi, ensemble)",
                );
            }
        }
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

    /// What model parallelism does not do: it is the study's full-batch descent on one
    /// thread per rank, with the float reduction.
    fn validate_model_parallel(&self) -> Result<(), ConfigError> {
        if self.mode != Mode::Model {
            return Ok(());
        }
        let invalid = |flag, value: String, reason| Err(ConfigError::Invalid { flag, value, reason });
        if let Some(b) = self.batch_size {
            return invalid(
                "--batch-size",
                b.to_string(),
                "--mode model trains full batches only (leave out --batch-size)",
            );
        }
        if self.reduce == super::Reduction::Exact {
            return invalid(
                "--reduce",
                "exact".into(),
                "--mode model sums the output layer's inputs over the ranks, not gradient blocks of rows; its result \
                 equals the sequential one within rounding (leave out --reduce)",
            );
        }
        if self.threads > 1 {
            return invalid(
                "--threads",
                self.threads.to_string(),
                "--mode model runs one thread per rank: start more ranks instead (mpirun -np P)",
            );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DataKind;

    /// A config of `threads` threads on `samples` synthetic rows.
    fn asking(threads: usize, samples: Option<usize>, hidden: usize) -> TrainConfig {
        TrainConfig {
            mode: Mode::Threads,
            sync: None,
            data: DataConfig {
                kind: DataKind::Synthetic,
                dir: "d".into(),
                cache_dir: "c".into(),
                verify: true,
                pool: Default::default(),
            },
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
            reduce: Default::default(),
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
