//! `dpstudy bench --scaling P`: the step time of the sequential trainer, the threads
//! baseline (T = P) and MPI with P ranks under both syncs, measured in one run.
//!
//! Each mode runs as its own `dpstudy train` process (MPI ones under `mpirun`), on
//! synthetic data, `epochs` epochs of `iters` steps; the first epoch is warm-up. The modes
//! take turns, round after round, so the machine's drift falls on all of them alike. The
//! step time is rank 0's epoch time without its evaluation, divided by the steps.

use std::process::Stdio;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::Timing;
use crate::data::{DEFAULT_DATA_DIR, DataConfig, DataKind};
use crate::launch::{MpiLauncher, local_command};
use crate::real::Dtype;
use crate::train::child_args::train_args;
use crate::train::{Mode, SyncKind, TrainConfig, TrainResult};

/// One mode of the comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    pub name: String,
    /// Processes (MPI ranks; 1 otherwise).
    pub ranks: usize,
    /// Compute threads of each process.
    pub threads: usize,
    pub mode: Mode,
    pub sync: Option<SyncKind>,
}

/// The measured figures of one case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseResult {
    pub case: Case,
    pub step: Timing,
    /// Sequential median step over this case's median step.
    pub speedup: f64,
    /// Speedup over the cores used (ranks x threads).
    pub efficiency: f64,
    /// Share of rank 0's step time in collectives, and waiting at the barrier.
    pub comm_share: f64,
    pub wait_share: f64,
}

/// What the comparison runs on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScalingSpec {
    /// The process and thread counts P to compare with the sequential step.
    pub parallel: Vec<usize>,
    pub samples: usize,
    pub hidden: usize,
    pub dtype: Dtype,
    pub epochs: usize,
    pub iters: usize,
    pub rounds: usize,
    #[serde(skip)]
    pub launcher: MpiLauncher,
    /// Where the children keep the initial weights they share.
    #[serde(skip)]
    pub cache_dir: std::path::PathBuf,
}

/// The comparison and what it ran on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScalingReport {
    pub spec: ScalingSpec,
    pub results: Vec<CaseResult>,
}

/// The sequential case, then for each P: threads (T = P) and MPI with both syncs.
fn cases(parallel: &[usize]) -> Vec<Case> {
    let case = |name: String, ranks, threads, mode, sync| Case { name, ranks, threads, mode, sync };
    let mut cases = vec![case("seq".into(), 1, 1, Mode::Seq, None)];
    for &p in parallel {
        let mpi = |sync: SyncKind| case(format!("mpi {sync} P={p}"), p, 1, Mode::Mpi, Some(sync));
        cases.extend([
            case(format!("threads T={p}"), 1, p, Mode::Threads, None),
            mpi(SyncKind::Allreduce),
            mpi(SyncKind::GatherBcast),
        ]);
    }
    cases
}

impl ScalingSpec {
    /// What the child of `case` trains: synthetic data, the default learning rate and seed.
    fn train_config(&self, case: &Case) -> TrainConfig {
        TrainConfig {
            mode: case.mode,
            sync: case.sync,
            data: DataConfig {
                kind: DataKind::Synthetic,
                dir: DEFAULT_DATA_DIR.into(),
                cache_dir: self.cache_dir.clone(),
                verify: true,
                pool: Default::default(),
            },
            samples: Some(self.samples),
            test_samples: 0,
            hidden: self.hidden,
            epochs: self.epochs,
            iters: self.iters,
            lr: 0.1,
            dtype: self.dtype,
            batch_size: None,
            seed: 1,
            threads: case.threads,
            ranks: 1,
            init: None,
            reduce: Default::default(),
            ensemble: None,
        }
    }
}

/// Runs one case once; returns rank 0's step times (warm-up epoch dropped) and shares.
fn run_once(spec: &ScalingSpec, case: &Case, out: &std::path::Path) -> anyhow::Result<(Vec<f64>, f64, f64)> {
    let args = train_args(&spec.train_config(case), out);
    let mut cmd =
        if case.mode == Mode::Mpi { spec.launcher.command(case.ranks, &args)? } else { local_command(&args)? };
    let output = cmd.stdin(Stdio::null()).output().with_context(|| format!("cannot start {cmd:?}"))?;
    if !output.status.success() {
        anyhow::bail!("{} failed ({}):\n{}", case.name, output.status, String::from_utf8_lossy(&output.stderr));
    }
    let result: TrainResult = serde_json::from_slice(&std::fs::read(out)?)?;
    let measured = &result.epochs[1..];
    let steps = measured.iter().map(|e| e.step_s()).collect();
    let busy: f64 = measured.iter().map(|e| e.root().wall_s - e.root().eval_s).sum();
    let comm: f64 = measured.iter().map(|e| e.root().comm_s).sum();
    let wait: f64 = measured.iter().map(|e| e.root().wait_s).sum();
    Ok((steps, comm / busy, wait / busy))
}

/// Runs every case `rounds` times, interleaved.
pub fn run(spec: ScalingSpec) -> anyhow::Result<ScalingReport> {
    let spec = &spec;
    anyhow::ensure!(spec.epochs >= 2, "the scaling benchmark needs at least 2 epochs (the first is warm-up)");
    let cases = cases(&spec.parallel);
    let tmp = tempfile_dir()?;
    let mut samples: Vec<(Vec<f64>, f64, f64)> = vec![(vec![], 0.0, 0.0); cases.len()];
    for round in 0..spec.rounds {
        for (i, case) in cases.iter().enumerate() {
            eprintln!("round {}/{}: {}", round + 1, spec.rounds, case.name);
            let (steps, comm, wait) = run_once(spec, case, &tmp.join(format!("case{i}.json")))?;
            samples[i].0.extend(steps);
            samples[i].1 += comm / spec.rounds as f64;
            samples[i].2 += wait / spec.rounds as f64;
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    let seq_median = Timing::of(samples[0].0.clone()).median_s;
    let results = cases
        .into_iter()
        .zip(samples)
        .map(|(case, (steps, comm_share, wait_share))| {
            let step = Timing::of(steps);
            let speedup = seq_median / step.median_s;
            let cores = (case.ranks * case.threads) as f64;
            CaseResult { efficiency: speedup / cores, speedup, comm_share, wait_share, step, case }
        })
        .collect();
    Ok(ScalingReport { spec: spec.clone(), results })
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("dpstudy-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

impl ScalingReport {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let (spec, results) = (&self.spec, &self.results);
        let mut out = format!(
            "scaling: N = {}, H = {}, {}, synthetic data, {} rounds x {} measured epochs x {} steps, medians\n\
         {:<24} {:>11} {:>9} {:>8} {:>11} {:>6} {:>6}\n",
            spec.samples,
            spec.hidden,
            spec.dtype,
            spec.rounds,
            spec.epochs - 1,
            spec.iters,
            "case",
            "step",
            "step/seq",
            "speedup",
            "efficiency",
            "comm",
            "wait"
        );
        let seq = results[0].step.median_s;
        for r in results {
            out += &format!(
                "{:<24} {:>9.1}ms {:>9.3} {:>7.2}x {:>10.0}% {:>5.1}% {:>5.1}%\n",
                r.case.name,
                r.step.median_s * 1e3,
                r.step.median_s / seq,
                r.speedup,
                100.0 * r.efficiency,
                100.0 * r.comm_share,
                100.0 * r.wait_share
            );
        }
        out
    }
}
