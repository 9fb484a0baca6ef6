//! The baselines dpstudy is measured against: the original study's implementation (numpy
//! and mpi4py, [`crate::train::Mode::Original`] and its fixed variant) and PyTorch
//! (one process, or DistributedDataParallel). Each is a Python program shipped inside the
//! binary; `dpstudy train --mode <baseline>` loads the data and the initial weights exactly
//! as its own modes do, exports them as `.npy` files, starts the program (under `mpirun`
//! for several processes) and turns the program's per-epoch records into the same
//! [`TrainResult`] as every other mode, so the runner, raw.csv, tables and claims take
//! baselines without special cases.

pub mod npy;
pub mod python;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::launch::MpiLauncher;
use crate::real::{Dtype, Real};
use crate::train::{EpochRecord, Inputs, Mode, TrainConfig, TrainResult, TrainingRun};

/// The original's implementation, rewritten from its description.
pub const ORIGINAL_PY: &str = include_str!("../../artifact/baselines/original.py");
/// The study's training written the usual PyTorch way.
pub const TORCH_PY: &str = include_str!("../../artifact/baselines/torch_train.py");

/// What a baseline program writes: dpstudy's records, plus what ran.
#[derive(Debug, Clone, Deserialize)]
struct ProgramResult {
    ranks: usize,
    hosts: Vec<String>,
    step_costs: Vec<f64>,
    epochs: Vec<EpochRecord>,
    total_train_s: f64,
    runtime: Runtime,
}

/// The baseline's program and package versions, recorded in its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Runtime {
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

/// Trains `config` (a baseline mode) by its Python program.
pub fn run(config: &TrainConfig) -> anyhow::Result<TrainingRun> {
    anyhow::ensure!(config.mode.is_baseline(), "{} is not a baseline", config.mode);
    let python = python::interpreter().map_err(anyhow::Error::msg)?;
    let inputs = Inputs::load(config)?;
    let work = WorkDir::new()?;
    match inputs.config.dtype {
        Dtype::F32 => export::<f32>(&inputs, work.path())?,
        Dtype::F64 => export::<f64>(&inputs, work.path())?,
    }
    let (script, blas_threads) = match config.mode {
        Mode::Original => (("original.py", ORIGINAL_PY), None),
        Mode::OriginalFixed => (("original.py", ORIGINAL_PY), Some(1)),
        _ => (("torch_train.py", TORCH_PY), None),
    };
    let script_path = work.path().join(script.0);
    std::fs::write(&script_path, script.1).with_context(|| format!("cannot write {}", script_path.display()))?;
    let out = work.path().join("result.json");
    let mut command = program_command(config, &python, &script_path, work.path(), &out, blas_threads)?;
    let started = Instant::now();
    let status = command.status().with_context(|| format!("cannot start {:?}", command.get_program()))?;
    anyhow::ensure!(
        status.success(),
        "baseline {} ({}) failed: {status}; its error is above",
        config.mode,
        script_path.file_name().map(|f| f.to_string_lossy()).unwrap_or_default()
    );
    let text = std::fs::read(&out)
        .with_context(|| format!("baseline {} wrote no result at {}", config.mode, out.display()))?;
    let program: ProgramResult = serde_json::from_slice(&text)
        .with_context(|| format!("{}: not a baseline result (from {})", out.display(), script.0))?;
    let wall_s = started.elapsed().as_secs_f64();
    result(&inputs, program, blas_threads, wall_s)
}

/// The command that starts the program: alone for one process, under `mpirun -np P`
/// otherwise (and always for DDP, whose ranks come from mpirun).
fn program_command(
    config: &TrainConfig,
    python: &Path,
    script: &Path,
    inputs: &Path,
    out: &Path,
    blas_threads: Option<usize>,
) -> anyhow::Result<Command> {
    let mut args: Vec<String> = vec![script.display().to_string()];
    let mut push = |flag: &str, value: String| args.extend([flag.to_string(), value]);
    push("--inputs", inputs.display().to_string());
    push("--out", out.display().to_string());
    push("--epochs", config.epochs.to_string());
    push("--iters", config.iters.to_string());
    push("--lr", config.lr.to_string());
    let mut env: Vec<(&str, String)> = Vec::new();
    match config.mode {
        Mode::Original => push("--variant", "original".into()),
        Mode::OriginalFixed => push("--variant", "fixed".into()),
        Mode::Torch => push("--threads", config.threads.to_string()),
        Mode::TorchDdp => {
            push("--threads", "1".into());
            args.push("--ddp".into());
            env.push(("MASTER_ADDR", "127.0.0.1".into()));
            env.push(("MASTER_PORT", free_port()?.to_string()));
            env.push(("GLOO_SOCKET_IFNAME", "lo".into()));
        }
        other => anyhow::bail!("{other} is not a baseline"),
    }
    if let Some(t) = blas_threads {
        for var in ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"] {
            env.push((var, t.to_string()));
        }
    }
    let under_mpirun = config.ranks > 1 || config.mode == Mode::TorchDdp;
    let mut command = if under_mpirun {
        let launcher = MpiLauncher {
            extra_args: env.iter().flat_map(|(k, _)| ["-x".to_string(), k.to_string()]).collect(),
            oversubscribe: config.ranks > crate::launch::available_cores(),
        };
        launcher.program_command(config.ranks, python, &args)?
    } else {
        let mut c = Command::new(python);
        c.args(&args);
        c
    };
    command.envs(env);
    Ok(command)
}

/// A TCP port nobody listens on now, for DDP's rendezvous on this host.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port for DDP")?;
    Ok(listener.local_addr()?.port())
}

/// Writes the training and test rows and the initial weights as `.npy` files, in the
/// run's element type.
fn export<T: Real + npy::NpyElement>(inputs: &Inputs, dir: &Path) -> anyhow::Result<()> {
    let (train, test) = inputs.split::<T>()?;
    npy::write(&dir.join("x_train.npy"), &train.features, &[train.len(), train.dim])?;
    npy::write(&dir.join("y_train.npy"), &train.labels, &[train.len()])?;
    if test.len() > 0 {
        npy::write(&dir.join("x_test.npy"), &test.features, &[test.len(), test.dim])?;
        npy::write(&dir.join("y_test.npy"), &test.labels, &[test.len()])?;
    }
    let init = inputs.init.cast::<T>();
    let h = init.hidden();
    npy::write(&dir.join("theta1.npy"), init.theta1(), &[h, crate::model::THETA1_COLS])?;
    npy::write(&dir.join("theta2.npy"), init.theta2(), &[crate::model::OUTPUTS, h + 1])?;
    Ok(())
}

/// The program's records as a [`TrainResult`], after checking that they are whole.
fn result(inputs: &Inputs, p: ProgramResult, blas_threads: Option<usize>, wall_s: f64) -> anyhow::Result<TrainingRun> {
    let config = &inputs.config;
    let steps = config.epochs * config.iters;
    anyhow::ensure!(
        p.epochs.len() == config.epochs && p.step_costs.len() == steps,
        "baseline {}: {} epochs and {} step costs in its result, expected {} and {steps}",
        config.mode,
        p.epochs.len(),
        p.step_costs.len(),
        config.epochs
    );
    anyhow::ensure!(
        p.ranks == config.ranks.max(1) && p.hosts.len() == p.ranks && p.epochs.iter().all(|e| e.ranks.len() == p.ranks),
        "baseline {}: its result has {} ranks ({} hosts), expected {}",
        config.mode,
        p.ranks,
        p.hosts.len(),
        config.ranks
    );
    for (i, cost) in p.step_costs.iter().enumerate() {
        crate::train::finite(*cost, i + 1)?;
    }
    let total_compute_s = p.epochs.iter().map(|e| e.root().compute_s).sum();
    anyhow::ensure!(
        p.total_train_s <= wall_s,
        "baseline {}: it reports {:.3} s of training in a process that ran {wall_s:.3} s",
        config.mode,
        p.total_train_s
    );
    let result = TrainResult {
        dpstudy_version: env!("CARGO_PKG_VERSION").to_string(),
        config: config.clone(),
        ranks: p.ranks,
        hosts: p.hosts,
        data_source: inputs.prepared.source.clone(),
        explained_variance_ratio: inputs.prepared.explained_variance_ratio,
        init_weights: config.init_path(),
        step_costs: p.step_costs,
        epochs: p.epochs,
        total_compute_s,
        total_train_s: p.total_train_s,
        baseline: Some(Runtime { blas_threads, ..p.runtime }),
    };
    // The programs do not hand back their weights; the initial ones stand in, and
    // `--save-weights` refuses baselines.
    Ok(TrainingRun { result, weights: inputs.init.clone() })
}

/// A scratch directory for the exported inputs, removed when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> anyhow::Result<Self> {
        let base = std::env::temp_dir();
        for attempt in 0..100u32 {
            let path = base.join(format!("dpstudy-baseline-{}-{attempt}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Self(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
            }
        }
        anyhow::bail!("cannot create a scratch directory in {}", base.display())
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
