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
use serde::Deserialize;

use crate::launch::MpiLauncher;
use crate::real::{Dtype, Real};
use crate::train::{BaselineRuntime as Runtime, EpochRecord, Inputs, Mode, TrainConfig, TrainResult, TrainingRun};

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

/// Trains `config` (a baseline mode) by its Python program.
pub fn run(config: &TrainConfig) -> anyhow::Result<TrainingRun> {
    anyhow::ensure!(config.mode.is_baseline(), "{} is not a baseline", config.mode);
    let python = python::interpreter()?;
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
    let limit = timeout()?;
    let status =
        run_with_limit(&mut command, limit).with_context(|| format!("baseline {} ({})", config.mode, script.0))?;
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
    // The baselines run on this host only (DDP meets at 127.0.0.1): a default hostfile in
    // the environment (an emulated cluster sets one, with mapping by node) must not spread
    // their ranks.
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
    for var in HOST_SPREADING_VARS {
        command.env_remove(var);
    }
    Ok(command)
}

/// Open MPI settings that would place a baseline's ranks on other hosts.
const HOST_SPREADING_VARS: [&str; 3] =
    ["OMPI_MCA_orte_default_hostfile", "OMPI_MCA_rmaps_base_mapping_policy", "OMPI_MCA_plm_rsh_agent"];

/// The environment variable limiting a baseline program's run, in seconds.
pub const TIMEOUT_VAR: &str = "DPSTUDY_BASELINE_TIMEOUT";
/// The default limit: the slowest baseline cell of the full profile (PyTorch DDP with one
/// process, 10 x 100 steps at N = 70,000) takes about 7 minutes on the 2-core development
/// machine; an hour leaves room for slower machines and still ends a program that hangs
/// (a DDP rendezvous that never completes waits forever).
pub const DEFAULT_TIMEOUT_S: u64 = 3600;

/// The limit `DPSTUDY_BASELINE_TIMEOUT` sets (seconds, at least 1), else the default.
fn timeout() -> anyhow::Result<std::time::Duration> {
    let seconds = match std::env::var(TIMEOUT_VAR) {
        Err(_) => DEFAULT_TIMEOUT_S,
        Ok(v) => v.trim().parse::<u64>().ok().filter(|s| *s > 0).ok_or_else(|| {
            anyhow::anyhow!("{TIMEOUT_VAR}={v}: give the limit of a baseline's run in whole seconds (at least 1)")
        })?,
    };
    Ok(std::time::Duration::from_secs(seconds))
}

/// Runs `command` in a process group of its own; past `limit`, the whole group (mpirun and
/// its ranks, or Python and its threads) gets SIGTERM, then SIGKILL 5 s later, and this is
/// an error saying so.
fn run_with_limit(command: &mut Command, limit: std::time::Duration) -> anyhow::Result<std::process::ExitStatus> {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    let mut child = command.spawn().with_context(|| format!("cannot start {:?}", command.get_program()))?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if started.elapsed() > limit {
            let group = format!("-{}", child.id());
            let signal = |name: &str| Command::new("kill").args([name, "--", &group]).status();
            let _ = signal("-TERM");
            for _ in 0..50 {
                if child.try_wait()?.is_some() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = signal("-KILL");
            let _ = child.wait();
            anyhow::bail!(
                "ran longer than {} s ({TIMEOUT_VAR}) and was stopped (SIGTERM, then SIGKILL, to its process group)",
                limit.as_secs()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
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
    if !test.is_empty() {
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
        slurm_job: crate::launch::Allocation::current().map(|a| a.job_id),
        data_source: inputs.prepared.source.clone(),
        explained_variance_ratio: inputs.prepared.explained_variance_ratio,
        init_weights: config.init_path(),
        step_costs: p.step_costs,
        epochs: p.epochs,
        total_compute_s,
        total_train_s: p.total_train_s,
        baseline: Some(Runtime { blas_threads, ..p.runtime }),
        ensemble: None,
        kernel: None,
        weights_sha256: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DataConfig, DataKind};

    fn config(mode: Mode, ranks: usize) -> TrainConfig {
        TrainConfig {
            mode,
            sync: None,
            data: DataConfig {
                kind: DataKind::Synthetic,
                dir: ".".into(),
                cache_dir: ".".into(),
                verify: true,
                pool: Default::default(),
            },
            samples: Some(100),
            test_samples: 0,
            hidden: 5,
            epochs: 1,
            iters: 2,
            lr: 0.1,
            dtype: Dtype::F64,
            batch_size: None,
            seed: 1,
            threads: 1,
            ranks,
            init: None,
            reduce: Default::default(),
            ensemble: None,
        }
    }

    /// An emulated cluster's default hostfile would put DDP's second rank on another host,
    /// where the rendezvous at 127.0.0.1 never completes (it hung a test for minutes).
    #[test]
    fn a_baselines_ranks_stay_on_this_host_whatever_the_environment_says() {
        let Ok(command) = program_command(
            &config(Mode::TorchDdp, 2),
            Path::new("/venv/bin/python3"),
            Path::new("/w/torch_train.py"),
            Path::new("/w"),
            Path::new("/w/result.json"),
            None,
        ) else {
            return; // no mpirun on this machine: nothing to start
        };
        let envs: Vec<(String, Option<String>)> = command
            .get_envs()
            .map(|(k, v)| (k.to_string_lossy().into(), v.map(|v| v.to_string_lossy().into())))
            .collect();
        for var in HOST_SPREADING_VARS {
            assert!(envs.contains(&(var.to_string(), None)), "{var} is not removed: {envs:?}");
        }
        assert!(envs.contains(&("MASTER_ADDR".into(), Some("127.0.0.1".into()))), "{envs:?}");
        let args: Vec<String> = command.get_args().map(|a| a.to_string_lossy().into()).collect();
        assert!(args.starts_with(&["-np".into(), "2".into()]), "{args:?}");
        assert!(args.iter().any(|a| a == "--ddp") && !args.iter().any(|a| a.contains("hostfile")), "{args:?}");
    }

    #[test]
    fn one_process_of_the_original_runs_without_mpirun_and_the_fixed_one_pins_blas() {
        let python = Path::new("/venv/bin/python3");
        let (script, dir, out) = (Path::new("/w/original.py"), Path::new("/w"), Path::new("/w/r.json"));
        let alone = program_command(&config(Mode::Original, 1), python, script, dir, out, None).unwrap();
        assert_eq!(alone.get_program(), python);
        assert!(!alone.get_envs().any(|(k, _)| k == "OPENBLAS_NUM_THREADS"));
        let fixed = program_command(&config(Mode::OriginalFixed, 1), python, script, dir, out, Some(1)).unwrap();
        let pinned: Vec<_> = fixed.get_envs().filter(|(_, v)| v.is_some_and(|v| v == "1")).map(|(k, _)| k).collect();
        assert!(pinned.contains(&std::ffi::OsStr::new("OPENBLAS_NUM_THREADS")), "{pinned:?}");
        let args: Vec<String> = fixed.get_args().map(|a| a.to_string_lossy().into()).collect();
        assert!(args.windows(2).any(|w| w == ["--variant", "fixed"]), "{args:?}");
    }
}
