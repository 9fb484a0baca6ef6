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

/// The Slurm allocation this process runs in (`salloc`, `sbatch`): what a cluster user's job
/// looks like from inside, read from the variables Slurm sets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Allocation {
    pub job_id: String,
    /// `SLURM_JOB_NODELIST`, as Slurm writes it (`h[1-3]`).
    pub nodes: String,
    pub node_count: usize,
    /// MPI ranks the allocation holds: `SLURM_NTASKS`, else the sum of
    /// `SLURM_TASKS_PER_NODE` (`2(x3),1`: 7).
    pub tasks: Option<usize>,
}

impl Allocation {
    /// The allocation of this process, if Slurm started it.
    pub fn current() -> Option<Self> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The allocation the variables `var` gives describe (`None`: no job id).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let job_id = var("SLURM_JOB_ID").or_else(|| var("SLURM_JOBID"))?;
        let nodes = var("SLURM_JOB_NODELIST").or_else(|| var("SLURM_NODELIST")).unwrap_or_default();
        let node_count =
            var("SLURM_JOB_NUM_NODES").or_else(|| var("SLURM_NNODES")).and_then(|n| n.parse().ok()).unwrap_or(1);
        let tasks = var("SLURM_NTASKS")
            .or_else(|| var("SLURM_NPROCS"))
            .and_then(|n| n.parse().ok())
            .or_else(|| var("SLURM_TASKS_PER_NODE").and_then(|t| tasks_per_node(&t)));
        Some(Self { job_id, nodes, node_count, tasks })
    }

    /// `job 12 on h[1-3]`.
    pub fn describe(&self) -> String {
        format!(
            "job {} on {} ({} node{})",
            self.job_id,
            self.nodes,
            self.node_count,
            if self.node_count == 1 { "" } else { "s" }
        )
    }
}

/// The sum of Slurm's compressed task counts: `2(x3),1` is 2 + 2 + 2 + 1.
fn tasks_per_node(text: &str) -> Option<usize> {
    text.split(',')
        .map(|part| match part.split_once("(x") {
            Some((n, times)) => Some(n.parse::<usize>().ok()? * times.strip_suffix(')')?.parse::<usize>().ok()?),
            None => part.parse().ok(),
        })
        .sum()
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
    /// Whether the ranks go to other hosts (a hostfile or `--host` in the extra options, or
    /// a Slurm allocation of several nodes), so that this host's cores do not bound P.
    pub fn spreads_over_hosts(&self) -> bool {
        self.extra_args.iter().any(|a| a.contains("hostfile") || a == "--host" || a == "-H")
            || Allocation::current().is_some_and(|a| a.node_count > 1)
    }

    /// Whether mpirun places ranks by the extra options (else, in an allocation of several
    /// nodes, one node after another: P = 2 on two nodes, as across emulated hosts).
    fn maps_ranks(&self) -> bool {
        self.extra_args
            .iter()
            .any(|a| a.starts_with("--map-by") || a.contains("hostfile") || a == "--host" || a == "-H")
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
        if !self.maps_ranks() && Allocation::current().is_some_and(|a| a.node_count > 1) {
            cmd.args(["--map-by", "node"]);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allocation_is_read_from_slurms_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert_eq!(Allocation::from_vars(vars(&[("SLURM_JOB_NODELIST", "h[1-2]")])), None, "no job id: no allocation");
        let a = Allocation::from_vars(vars(&[
            ("SLURM_JOB_ID", "12"),
            ("SLURM_JOB_NODELIST", "h[1-3]"),
            ("SLURM_JOB_NUM_NODES", "3"),
            ("SLURM_NTASKS", "3"),
        ]))
        .unwrap();
        assert_eq!(a, Allocation { job_id: "12".into(), nodes: "h[1-3]".into(), node_count: 3, tasks: Some(3) });
        assert_eq!(a.describe(), "job 12 on h[1-3] (3 nodes)");
        // The older names, and a job that asked for no tasks.
        let old = Allocation::from_vars(vars(&[("SLURM_JOBID", "7"), ("SLURM_NODELIST", "n1"), ("SLURM_NNODES", "1")]));
        assert_eq!(old, Some(Allocation { job_id: "7".into(), nodes: "n1".into(), node_count: 1, tasks: None }));
        // Tasks per node as `salloc -N 3` sets them.
        let per_node = Allocation::from_vars(vars(&[("SLURM_JOB_ID", "1"), ("SLURM_TASKS_PER_NODE", "2(x3),1")]));
        assert_eq!(per_node.unwrap().tasks, Some(7));
        assert_eq!(tasks_per_node("1(x3)"), Some(3));
        assert_eq!(tasks_per_node("2(x"), None);
    }
}
