//! Running the `dpstudy` binary and watching its processes: its output, its failures, the
//! MPI ranks it starts.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

/// Runs the `dpstudy` binary with `args`.
pub fn dpstudy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dpstudy")).args(args).env_remove("DPSTUDY_DATA_DIR").output().expect("run dpstudy")
}

/// Runs `dpstudy reproduce ARGS` as root may (Open MPI's consent), for a test that needs
/// every run done but not every claim to pass (few steps, or a machine busy with the other
/// tests); asserts that, and returns stderr.
pub fn reproduce_running_every_cell(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dpstudy"))
        .arg("reproduce")
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .expect("run dpstudy reproduce");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success() || stderr.contains("claim(s) failed"), "{stderr}");
    stderr
}

/// Asserts a failed run whose stderr mentions every one of `needles`; returns stderr.
pub fn assert_fails_with(out: &Output, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "expected failure, got success; stderr:\n{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "stderr lacks {needle:?}:\n{stderr}");
    }
    stderr
}

/// Names of the entries of `dir` (empty if it does not exist).
pub fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// The pid of the dpstudy process of MPI rank `rank` whose command line mentions `marker`.
fn find_rank(marker: &str, rank: u32) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if !args.first().is_some_and(|a| a.ends_with("dpstudy")) || !args.iter().any(|a| a == marker) {
            continue;
        }
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let wanted = format!("OMPI_COMM_WORLD_RANK={rank}");
        if environ.split(|&b| b == 0).any(|v| v == wanted.as_bytes()) {
            return Some(pid);
        }
    }
    None
}

/// Waits (up to 60 s) for the dpstudy process of MPI rank `rank` whose command line
/// mentions `marker`, and returns its pid.
pub fn wait_for_rank(marker: &str, rank: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(pid) = find_rank(marker, rank) {
            return pid;
        }
        assert!(Instant::now() < deadline, "rank {rank} never started");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The child's exit status once it ends, or `None` if it still runs `limit` after the call.
pub fn wait_at_most(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `mpirun -np P dpstudy <args>`, oversubscribing the 2-core machine where P > 2.
pub fn mpirun(np: usize, args: &[&str]) -> Command {
    let mut cmd = Command::new("mpirun");
    cmd.args(["--oversubscribe", "--bind-to", "none", "-np", &np.to_string(), env!("CARGO_BIN_EXE_dpstudy")])
        .args(args)
        // Open MPI refuses root without these; CI runs as root.
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    cmd
}
