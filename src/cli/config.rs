//! From parsed arguments to the plain configs the library runs on (the "high-level
//! arguments" of ripgrep, hyperfine's `Options::from_cli_arguments`): defaults resolved,
//! flags combined, nothing clap-specific left. Values are checked where the library
//! checks them, so a config built any other way (the runner's, a test's) gets the same
//! checks.

use super::args::{BenchArgs, CommbenchArgs, DataDirs, MergeArgs, ReportOptions, ReproduceArgs, TrainArgs};
use crate::bench::BenchConfig;
use crate::bench::scaling::ScalingSpec;
use crate::commbench::{CommBenchConfig, Timing};
use crate::data::{DataConfig, DataKind, default_cache_dir};
use crate::ensemble::EnsembleRecipe;
use crate::experiment::merge::MergeConfig;
use crate::experiment::plan::PlanOptions;
use crate::experiment::{Given, ReproduceConfig};
use crate::launch::MpiLauncher;
use crate::report::ReportConfig;
use crate::train::{ConfigError, Mode, TrainConfig};

impl DataDirs {
    /// The data settings of a command that runs on `kind`.
    pub fn config(&self, kind: DataKind) -> DataConfig {
        DataConfig {
            kind,
            dir: self.data_dir.clone(),
            cache_dir: self.cache_dir.clone().unwrap_or_else(default_cache_dir),
            verify: !self.no_verify,
            pool: self.pool.unwrap_or_default(),
        }
    }
}

/// `--mpirun-args "..."` and `--oversubscribe` as a launcher.
fn launcher(mpirun_args: &str, oversubscribe: bool) -> MpiLauncher {
    MpiLauncher { extra_args: mpirun_args.split_whitespace().map(String::from).collect(), oversubscribe }
}

impl MergeArgs {
    pub fn config(&self) -> MergeConfig {
        MergeConfig { sources: self.dirs.clone(), out: self.out.clone() }
    }
}

impl TrainArgs {
    /// The validated training configuration (`samples: None` is resolved once the data is
    /// known). `--sync` only means something to MPI runs; other modes record none.
    pub fn config(&self) -> Result<TrainConfig, ConfigError> {
        let config = TrainConfig {
            mode: self.mode,
            sync: (self.mode == Mode::Mpi).then_some(self.sync),
            data: self.dirs.config(self.data),
            samples: self.samples,
            test_samples: self.test_samples,
            hidden: self.hidden,
            epochs: self.epochs,
            iters: self.iters,
            lr: self.lr,
            dtype: self.dtype,
            batch_size: self.batch_size,
            seed: self.seed,
            threads: self.threads,
            ranks: self.ranks,
            init: self.init.clone(),
            reduce: self.reduce,
            ensemble: self.ensemble_recipe(),
        };
        config.validate()?;
        config.check_resources(crate::train::Machine::here(), self.oversubscribe)?;
        Ok(config)
    }
}

impl TrainArgs {
    /// The ensemble's recipe: with `--mode ensemble` always (the validation rows default to
    /// 0, which `validate` refuses by name), otherwise only if one of its flags was given
    /// (which `validate` refuses too).
    fn ensemble_recipe(&self) -> Option<EnsembleRecipe> {
        let any = self.validation_samples.is_some()
            || !self.member_hidden.is_empty()
            || !self.member_lr.is_empty()
            || self.bagging;
        (self.mode == Mode::Ensemble || any).then(|| EnsembleRecipe {
            member_hidden: self.member_hidden.clone(),
            member_lr: self.member_lr.clone(),
            bagging: self.bagging,
            validation_samples: self.validation_samples.unwrap_or(0),
        })
    }
}

impl ReportOptions {
    pub fn config(&self) -> ReportConfig {
        ReportConfig {
            claims: self.claims.clone(),
            paper_dir: (!self.no_paper).then(|| self.paper_dir.clone()),
            expected: self.expected.clone(),
        }
    }
}

impl ReproduceArgs {
    pub fn config(&self) -> ReproduceConfig {
        ReproduceConfig {
            plan: PlanOptions {
                profile: self.profile.clone().unwrap_or_else(|| "quick".into()),
                tables: self.tables.clone(),
                max_ranks: self.max_ranks,
                reps: self.reps,
            },
            launcher: launcher(self.mpirun_args.as_deref().unwrap_or_default(), self.oversubscribe),
            data: self.dirs.config(self.data.unwrap_or(DataKind::Mnist)),
            results_dir: self.results_dir.clone(),
            resume: self.resume.clone(),
            experiments: self.experiments.clone(),
            given: Given {
                profile: self.profile.is_some(),
                data: self.data.is_some(),
                mpirun_args: self.mpirun_args.is_some(),
                // The data directory has a default and an environment variable: a value
                // other than the default was asked for, one way or the other.
                data_dir: self.dirs.data_dir != std::path::Path::new(crate::data::DEFAULT_DATA_DIR),
                cache_dir: self.dirs.cache_dir.is_some(),
            },
            experiments_text: None,
        }
    }
}

impl CommbenchArgs {
    pub fn config(&self) -> CommBenchConfig {
        CommBenchConfig {
            ops: self.ops.clone(),
            min_bytes: self.min_bytes,
            max_bytes: self.max_bytes,
            timing: Timing {
                warmup: self.warmup,
                budget_s: self.budget_ms / 1e3,
                min_iters: self.min_iters,
                max_iters: self.max_iters,
            },
            transport: self.transport,
            out: self.out.clone(),
            inject_fault: self.inject_fault,
        }
    }
}

impl BenchArgs {
    pub fn config(&self) -> BenchConfig {
        let scaling = self.scaling.clone().map(|parallel| ScalingSpec {
            parallel,
            samples: self.samples,
            hidden: self.hidden[0],
            dtype: self.dtype[0],
            epochs: self.scaling_epochs,
            iters: self.scaling_iters,
            rounds: self.scaling_rounds,
            launcher: launcher(&self.mpirun_args, self.oversubscribe),
            cache_dir: default_cache_dir(),
        });
        BenchConfig {
            samples: self.samples,
            hidden: self.hidden.clone(),
            batch_size: self.batch_size,
            reps: self.reps,
            warmup: self.warmup,
            threads: self.threads,
            oversubscribe: self.oversubscribe,
            dtypes: self.dtype.clone(),
            reductions: self.reduce.clone(),
            scaling,
        }
    }
}
