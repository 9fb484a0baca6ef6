//! Starting `dpstudy` itself as a child process, alone or under `mpirun`: how the
//! benchmark (and the experiment runner) run each cell as its own process.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::train::TrainConfig;
use crate::train::mpi::{INSTALL_HINT, find_on_path};

/// How to start MPI jobs.
#[derive(Debug, Clone, Default)]
pub struct MpiLauncher {
    /// Extra `mpirun` options (a hostfile, `--mca` settings, ...), passed through verbatim.
    pub extra_args: Vec<String>,
    /// Allow more ranks than this host has cores.
    pub oversubscribe: bool,
}

/// The path of the running `dpstudy` binary, to start copies of it.
pub fn current_binary() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("cannot find the path of the dpstudy binary")
}

/// Cores this process may use.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl MpiLauncher {
    /// Whether the extra options place ranks on other hosts (a hostfile, `--host`), so that
    /// this host's cores do not bound P.
    pub fn spreads_over_hosts(&self) -> bool {
        self.extra_args.iter().any(|a| a.contains("hostfile") || a == "--host" || a == "-H")
    }

    /// `mpirun -np ranks [options] dpstudy <args>`. Fails if mpirun is missing, or if
    /// `ranks` exceeds the cores without `oversubscribe` (unless a hostfile spreads them).
    pub fn command(&self, ranks: usize, args: &[String]) -> anyhow::Result<Command> {
        self.program_command(ranks, &current_binary()?, args)
    }

    /// `mpirun -np ranks [options] program <args>`, with the checks of [`Self::command`]:
    /// how the baselines start their Python ranks.
    pub fn program_command(&self, ranks: usize, program: &Path, args: &[String]) -> anyhow::Result<Command> {
        let mpirun = find_on_path("mpirun").with_context(|| format!("mpirun is not on PATH: {INSTALL_HINT}"))?;
        if ranks > available_cores() && !self.oversubscribe && !self.spreads_over_hosts() {
            anyhow::bail!(
                "{ranks} ranks on a host with {} cores: pass --oversubscribe to allow it (and expect the \
                 timings to show it), or give a hostfile through --mpirun-args",
                available_cores()
            );
        }
        let mut cmd = Command::new(mpirun);
        if running_as_root() {
            // Open MPI refuses root unless told twice; containers (and CI) run as root, and
            // the user who started dpstudy as root has already made that choice.
            cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        }
        cmd.arg("-np").arg(ranks.to_string());
        if self.oversubscribe {
            cmd.args(["--oversubscribe", "--bind-to", "none"]);
        }
        cmd.args(&self.extra_args).arg(program).args(args);
        Ok(cmd)
    }
}

/// Whether this process's effective user is root (Linux: from /proc/self/status).
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
            .unwrap_or(false)
    })
}

/// `dpstudy <args>` as a plain child process.
pub fn local_command(args: &[String]) -> anyhow::Result<Command> {
    let mut cmd = Command::new(current_binary()?);
    cmd.args(args);
    Ok(cmd)
}

/// The arguments of a quiet `dpstudy train` child that runs `config` and writes its result
/// to `out`: the one place a child's command line is built, so that every field of the
/// config reaches the child (`tests/child_args.rs` parses them back into the same config).
pub fn train_args(config: &TrainConfig, out: &Path) -> Vec<String> {
    let data = &config.data;
    let mut args: Vec<String> = vec!["train".into(), "--quiet".into()];
    let mut push = |flag: &str, value: String| args.extend([flag.to_string(), value]);
    push("--mode", config.mode.to_string());
    if let Some(sync) = config.sync {
        push("--sync", sync.to_string());
    }
    push("--data", data.kind.to_string());
    push("--data-dir", data.dir.display().to_string());
    push("--cache-dir", data.cache_dir.display().to_string());
    if let Some(n) = config.samples {
        push("--samples", n.to_string());
    }
    push("--test-samples", config.test_samples.to_string());
    push("--hidden", config.hidden.to_string());
    push("--epochs", config.epochs.to_string());
    push("--iters", config.iters.to_string());
    push("--lr", config.lr.to_string());
    push("--dtype", config.dtype.to_string());
    if let Some(b) = config.batch_size {
        push("--batch-size", b.to_string());
    }
    push("--seed", config.seed.to_string());
    push("--threads", config.threads.to_string());
    if config.ranks != 1 {
        push("--ranks", config.ranks.to_string());
    }
    if let Some(init) = &config.init {
        push("--init", init.display().to_string());
    }
    if let Some(recipe) = &config.ensemble {
        push("--validation-samples", recipe.validation_samples.to_string());
        let list = |values: Vec<String>| values.join(",");
        if !recipe.member_hidden.is_empty() {
            push("--member-hidden", list(recipe.member_hidden.iter().map(usize::to_string).collect()));
        }
        if !recipe.member_lr.is_empty() {
            push("--member-lr", list(recipe.member_lr.iter().map(f64::to_string).collect()));
        }
    }
    push("--out", out.display().to_string());
    // A child that asks for more cores than there are was planned so (reproduce marks such
    // cells, bench says so): it carries the consent the user gave the parent.
    if config.threads * config.ranks > available_cores() {
        args.push("--oversubscribe".into());
    }
    if config.ensemble.as_ref().is_some_and(|r| r.bagging) {
        args.push("--bagging".into());
    }
    if !data.verify {
        args.push("--no-verify".into());
    }
    args
}
