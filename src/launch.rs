//! Starting processes, alone or under `mpirun`: how the benchmark and the experiment runner
//! run each cell as its own `dpstudy` process, and the baselines their Python ranks; and
//! what launching needs to know about this host (its cores, its programs on `PATH`, root,
//! whether `mpirun` started this process). A leaf: it uses no other module of the crate, so
//! every room that starts or detects a process can use it. (A `dpstudy train` child's
//! arguments are built where its config is defined: `train::child_args`.)

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// The advice for a machine without Open MPI.
pub const INSTALL_HINT: &str = "install Open MPI (Debian/Ubuntu: `apt-get install openmpi-bin libopenmpi-dev`; \
                                Fedora: `dnf install openmpi openmpi-devel`; macOS: `brew install open-mpi`)";

/// `name` on `PATH`, if it is there.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// Whether this process was started by `mpirun` (Open MPI, or a PMI-based launcher).
pub fn launched_by_mpirun() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].iter().any(|v| std::env::var_os(v).is_some())
}

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
