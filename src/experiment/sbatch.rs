//! `reproduce --emit-sbatch FILE`: the batch script a cluster user submits with `sbatch`
//! to run the same `reproduce` in an allocation: one node per rank of the plan's widest MPI
//! cell (so that its ranks cross nodes, as T8's cross emulated hosts), each node with the
//! cores of the widest threads cell, and a time limit from the dry run's estimate.

use std::path::Path;

/// What the script asks Slurm for, and what it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchJob {
    pub profile: String,
    /// Nodes, one MPI rank on each.
    pub nodes: usize,
    pub cpus_per_node: usize,
    /// The dry run's estimate of the run, seconds (on the machine that wrote the script).
    pub estimate_s: f64,
    /// Where Slurm writes the job's output (the results folder, made before submitting).
    pub results_dir: String,
    /// The directory the command runs in (relative paths in it stay right).
    pub workdir: String,
    /// The `dpstudy reproduce ...` command line, program first.
    pub command: Vec<String>,
}

/// The time limit: twice the estimate and 10 minutes, in whole minutes (what `--time`
/// takes): the estimate is this machine's, a cluster's node may be slower, and a job past
/// its limit is killed (`--resume` finishes it in a new one).
pub fn time_limit_minutes(estimate_s: f64) -> u64 {
    ((2.0 * estimate_s.max(0.0) / 60.0).ceil() as u64) + 10
}

/// `word` quoted for a POSIX shell where it needs it.
fn quoted(word: &str) -> String {
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain { word.to_string() } else { format!("'{}'", word.replace('\'', "'\\''")) }
}

/// The arguments of this process without `--emit-sbatch FILE` (or `--emit-sbatch=FILE`).
pub fn without_emit(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
        } else if a == "--emit-sbatch" {
            skip = true;
        } else if !a.starts_with("--emit-sbatch=") {
            out.push(a.clone());
        }
    }
    out
}

impl BatchJob {
    /// The script's text. dpstudy runs as the script's child so that the script outlives
    /// it: Slurm ends a job (its time limit passed, a node failed, `scancel`) with SIGTERM
    /// to every process of the step, and SIGKILL KillWait seconds later; in between the
    /// script says the command that finishes the run in a new allocation (first, since it
    /// asks nothing of Slurm), then why (the job's state and reason, the nodes that are
    /// down), which asks slurmctld and may not finish before SIGKILL on a busy controller.
    pub fn script(&self) -> String {
        let minutes = time_limit_minutes(self.estimate_s);
        let command: Vec<String> = self.command.iter().map(|w| quoted(w)).collect();
        let results = self.results_dir.trim_end_matches('/');
        format!(
            "#!/bin/bash\n\
             # Written by `dpstudy reproduce --emit-sbatch` ({version}) for profile `{profile}`: the run was\n\
             # estimated at {estimate:.0} s on the machine that wrote this; the limit is twice that and\n\
             # 10 minutes. Submit with `sbatch FILE`; a job past its limit ends, and `dpstudy reproduce\n\
             # --resume DIR` in a new allocation finishes the rest (the job's output says which DIR).\n\
             #SBATCH --job-name=dpstudy-{profile}\n\
             #SBATCH --nodes={nodes}\n\
             #SBATCH --ntasks-per-node=1\n\
             #SBATCH --cpus-per-task={cpus}\n\
             #SBATCH --time={minutes}\n\
             #SBATCH --output={output}\n\
             # Not requeued after a node failure: a requeued job would start a new run; resume this one.\n\
             #SBATCH --no-requeue\n\
             set -uo pipefail\n\
             cd {workdir} || {{ printf 'dpstudy: cannot enter %s: submit from where it is\\n' {workdir} >&2; exit 1; }}\n\
             stopped() {{\n\
             \x20 trap - TERM\n\
             \x20 echo \"dpstudy: job $SLURM_JOB_ID was ended by Slurm (SIGTERM) at $(date -u +%FT%TZ)\" >&2\n\
             \x20 run=\"$(ls -td {results_q}/*/ 2>/dev/null | head -n 1)\"\n\
             \x20 [ -z \"$run\" ] || printf 'dpstudy: the run in %s is incomplete; finish it in a new allocation: %s %s reproduce --resume %s\\n' \\\n\
             \x20   \"$run\" 'salloc -N {nodes} --ntasks-per-node=1 --cpus-per-task={cpus} --time={minutes}' {program} \"$run\" >&2\n\
             \x20 echo \"dpstudy: job $SLURM_JOB_ID:\" \\\n\
             \x20   $(scontrol show job \"$SLURM_JOB_ID\" 2>/dev/null | grep -oE '(JobState|Reason|TimeLimit|RunTime)=[^ ]+') >&2\n\
             \x20 sinfo -h -N -t down,drain,fail -o 'dpstudy: node %N is %T: %E' 2>/dev/null | sort -u >&2\n\
             \x20 kill -TERM \"$child\" 2>/dev/null\n\
             \x20 wait \"$child\"\n\
             \x20 exit 143\n\
             }}\n\
             trap stopped TERM\n\
             newest() {{ ls -td {results_q}/*/ 2>/dev/null | head -n 1; }}\n\
             old=\"$(newest)\"\n\
             {command} &\n\
             child=$!\n\
             # Said at the start, so that a job Slurm kills outright still says how to finish.\n\
             for _ in $(seq 1 300); do\n\
             \x20 run=\"$(newest)\"\n\
             \x20 [ -n \"$run\" ] && [ \"$run\" != \"$old\" ] && break\n\
             \x20 run=\"\"\n\
             \x20 kill -0 \"$child\" 2>/dev/null || break\n\
             \x20 sleep 0.2\n\
             done\n\
             [ -z \"$run\" ] || printf 'dpstudy: this job runs %s; should it end before the run does, finish the run in a new allocation: %s %s reproduce --resume %s\\n' \\\n\
             \x20 \"$run\" 'salloc -N {nodes} --ntasks-per-node=1 --cpus-per-task={cpus} --time={minutes}' {program} \"$run\" >&2\n\
             wait \"$child\"\n",
            version = crate::util::build_info::VERSION,
            profile = self.profile,
            estimate = self.estimate_s,
            nodes = self.nodes,
            cpus = self.cpus_per_node,
            output = quoted(&format!("{results}/slurm-%j.out")),
            results_q = quoted(results),
            workdir = quoted(&self.workdir),
            program = quoted(&self.command[0]),
            command = command.join(" "),
        )
    }

    /// Writes the script, executable, and makes the folder Slurm writes the output into.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&self.results_dir)
            .map_err(|e| anyhow::anyhow!("--results-dir {}: cannot create it: {e}", self.results_dir))?;
        crate::util::files::write_atomic(path, self.script().as_bytes())?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| anyhow::anyhow!("--emit-sbatch {}: cannot make it executable: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_asks_for_a_node_per_rank_and_runs_the_same_command() {
        let job = BatchJob {
            profile: "quick".into(),
            nodes: 2,
            cpus_per_node: 2,
            estimate_s: 400.0,
            results_dir: "/scratch/my results/".into(),
            workdir: "/home/u/dpstudy".into(),
            command: vec!["/opt/dpstudy".into(), "reproduce".into(), "--mpirun-args".into(), "--mca x y".into()],
        };
        let s = job.script();
        for line in [
            "#SBATCH --nodes=2",
            "#SBATCH --ntasks-per-node=1",
            "#SBATCH --cpus-per-task=2",
            "#SBATCH --time=24",
            "#SBATCH --output='/scratch/my results/slurm-%j.out'",
            "cd /home/u/dpstudy || { printf 'dpstudy: cannot enter %s: submit from where it is\\n' /home/u/dpstudy >&2; exit 1; }",
            "/opt/dpstudy reproduce --mpirun-args '--mca x y' &",
            "trap stopped TERM",
            "old=\"$(newest)\"",
        ] {
            assert!(s.lines().any(|l| l == line), "{line:?} missing:\n{s}");
        }
        assert!(s.starts_with("#!/bin/bash\n"));
        assert_eq!(quoted("it's"), "'it'\\''s'");
    }

    /// What CI showed on a busy machine: SIGKILL (KillWait after SIGTERM) came while the
    /// trap still waited on `scontrol`, and the resume line was never printed. Here
    /// `scontrol` and `sinfo` hang, and SIGKILL follows SIGTERM after a second.
    #[test]
    fn the_resume_line_is_printed_before_slurm_is_asked_anything() {
        use std::os::unix::{fs::PermissionsExt, process::CommandExt};
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for tool in ["scontrol", "sinfo"] {
            std::fs::write(bin.join(tool), "#!/bin/sh\nsleep 60\n").unwrap();
            std::fs::set_permissions(bin.join(tool), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let results = dir.path().join("results");
        std::fs::create_dir_all(results.join("quick-1")).unwrap();
        let job = BatchJob {
            profile: "quick".into(),
            nodes: 2,
            cpus_per_node: 1,
            estimate_s: 60.0,
            results_dir: results.display().to_string(),
            workdir: dir.path().display().to_string(),
            command: vec!["sh".into(), "-c".into(), "touch started && exec sleep 60".into()],
        };
        std::fs::write(dir.path().join("job.sh"), job.script()).unwrap();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let child = Command::new("bash")
            .arg(dir.path().join("job.sh"))
            .env("PATH", path)
            .env("SLURM_JOB_ID", "7")
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let group = format!("-{}", child.id());
        let started = std::time::Instant::now();
        while !dir.path().join("started").exists() {
            assert!(started.elapsed().as_secs() < 20, "the script's command never started");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // Slurm signals every process of the step: the whole group.
        let signal = |sig: &str| Command::new("kill").args([sig, "--", &group]).status().unwrap();
        signal("-TERM");
        std::thread::sleep(std::time::Duration::from_secs(1));
        signal("-KILL");
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("was ended by Slurm (SIGTERM)"), "{stderr}");
        assert!(
            stderr.contains(&format!("the run in {}/quick-1/ is incomplete", results.display()))
                && stderr.contains("reproduce --resume"),
            "{stderr}"
        );
    }

    /// Slurm may SIGKILL a job before its trap has run (a busy node, a short KillWait):
    /// the resume command was already said when the run's directory appeared, naming the
    /// new run and not the older one beside it.
    #[test]
    fn the_resume_line_is_said_when_the_run_starts() {
        use std::os::unix::process::CommandExt;
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("results");
        std::fs::create_dir_all(results.join("quick-1")).unwrap();
        let job = BatchJob {
            profile: "quick".into(),
            nodes: 1,
            cpus_per_node: 1,
            estimate_s: 60.0,
            results_dir: results.display().to_string(),
            workdir: dir.path().display().to_string(),
            command: vec!["sh".into(), "-c".into(), "sleep 0.3; mkdir results/quick-2 && exec sleep 60".into()],
        };
        std::fs::write(dir.path().join("job.sh"), job.script()).unwrap();
        let child = Command::new("bash")
            .arg(dir.path().join("job.sh"))
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while !results.join("quick-2").exists() {
            assert!(started.elapsed().as_secs() < 20, "the script's command never started");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
        let group = format!("-{}", child.id());
        Command::new("kill").args(["-KILL", "--", &group]).status().unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let run = format!("{}/quick-2/", results.display());
        assert!(stderr.contains(&format!("this job runs {run}")), "{stderr}");
        assert!(stderr.contains(&format!("reproduce --resume {run}")), "{stderr}");
    }

    #[test]
    fn the_time_limit_doubles_the_estimate_and_adds_ten_minutes() {
        assert_eq!(time_limit_minutes(0.0), 10);
        assert_eq!(time_limit_minutes(60.0), 12);
        assert_eq!(time_limit_minutes(61.0), 13);
        assert_eq!(time_limit_minutes(3600.0), 130);
    }

    #[test]
    fn the_emit_flag_is_left_out_of_the_command() {
        let args: Vec<String> =
            ["dpstudy", "reproduce", "--emit-sbatch", "job.sh", "--tables", "T3", "--emit-sbatch=x"]
                .map(String::from)
                .into();
        assert_eq!(without_emit(&args), ["dpstudy", "reproduce", "--tables", "T3"]);
    }
}
