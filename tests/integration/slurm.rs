//! The study under Slurm, on an emulated cluster (artifact/cluster/emulate-slurm.sh: a
//! controller and one slurmd per emulated host, a munge key of its own): MPI training in an
//! allocation gives the sequential bits on 2 and 3 nodes, `reproduce --emit-sbatch` writes a
//! batch job that `sbatch` runs across the nodes with the job recorded, and an allocation
//! smaller than the plan's P is refused before anything runs.
//!
//! Needs root, iproute2 and Debian's slurm-wlm and munge. Without them the tests fail
//! loudly, unless `DPSTUDY_SKIP_SLURM=1` says the caller knowingly runs without them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::dpstudy;

fn emulator() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("artifact/cluster/emulate-slurm.sh")
}

/// Whether a Slurm cluster can be emulated here; a loud failure (or a loud skip) if not.
fn slurm_available() -> bool {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let tools = ["ip", "slurmctld", "slurmd", "munged", "salloc", "sbatch"].iter().all(|t| {
        Command::new("sh").args(["-c", &format!("command -v {t}")]).output().is_ok_and(|o| o.status.success())
    });
    if root && tools {
        return true;
    }
    let msg = "SLURM TEST NOT RUN: an emulated Slurm cluster needs root, iproute2, slurm-wlm and munge \
               (artifact/docker/install-test-deps.sh installs them)";
    if std::env::var("DPSTUDY_SKIP_SLURM").as_deref() == Ok("1") {
        eprintln!("\n!!!!!!!! {msg} (skipped because DPSTUDY_SKIP_SLURM=1) !!!!!!!!\n");
        false
    } else {
        panic!("\n!!!!!!!! {msg} !!!!!!!!\n(set DPSTUDY_SKIP_SLURM=1 to skip these tests knowingly)");
    }
}

/// `sh -c SCRIPT` on h1 of an emulated cluster of `nodes` nodes; $BIN is dpstudy, $OUT a
/// directory (also the working directory).
fn on_cluster(nodes: usize, tag: char, out: &Path, script: &str) -> Output {
    let prefix = format!("u{}{tag}", std::process::id() % 10_000);
    let o = Command::new(emulator())
        .args(["--nodes", &nodes.to_string(), "--prefix", &prefix, "--", "sh", "-c", script])
        .current_dir(out)
        .env("BIN", env!("CARGO_BIN_EXE_dpstudy"))
        .env("OUT", out)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .expect("start emulate-slurm.sh");
    let namespaces = String::from_utf8(Command::new("ip").args(["netns", "list"]).output().unwrap().stdout).unwrap();
    assert!(!namespaces.contains(&prefix), "the cluster's namespaces outlived it:\n{namespaces}");
    o
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

const TRAIN: &str =
    "train --data synthetic --samples 3001 --hidden 20 --epochs 1 --iters 20 --dtype f64 --reduce exact --quiet";

#[test]
fn mpi_training_in_an_allocation_of_two_and_three_nodes_gives_the_sequential_bits() {
    if !slurm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let mut seq: Vec<&str> = TRAIN.split(' ').collect();
    let seq_path = out.join("seq.json");
    seq.extend(["--out", seq_path.to_str().unwrap()]);
    let o = dpstudy(&seq);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // What a cluster user types: an allocation, and mpirun inside it without a hostfile.
    let script = format!(
        "salloc -N 2 --ntasks-per-node=1 mpirun -np 2 \"$BIN\" {TRAIN} --mode mpi --out \"$OUT/p2.json\" && \
         salloc -N 3 --ntasks-per-node=1 mpirun -np 3 \"$BIN\" {TRAIN} --mode mpi --sync gather-bcast --out \"$OUT/p3.json\""
    );
    let o = on_cluster(3, 'a', out, &script);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let expected = json(&seq_path)["weights_sha256"].clone();
    assert!(expected.is_string(), "{expected}");
    for (name, hosts) in [("p2.json", vec!["h1", "h2"]), ("p3.json", vec!["h1", "h2", "h3"])] {
        let run = json(&out.join(name));
        assert_eq!(run["hosts"], serde_json::json!(hosts), "{name}");
        assert!(run["slurm_job"].is_string(), "{name}: no job recorded");
        assert_eq!(run["weights_sha256"], expected, "{name}: not the sequential bits");
    }
}

#[test]
fn a_batch_job_from_emit_sbatch_runs_reproduce_across_the_nodes_and_records_the_job() {
    if !slurm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let results = out.join("results");
    let emit = dpstudy(&[
        "reproduce",
        "--tables",
        "T4",
        "--reps",
        "1",
        "--data",
        "synthetic",
        "--no-paper",
        "--cache-dir",
        out.join("cache").to_str().unwrap(),
        "--results-dir",
        results.to_str().unwrap(),
        "--emit-sbatch",
        out.join("job.sh").to_str().unwrap(),
    ]);
    assert!(emit.status.success(), "{}", String::from_utf8_lossy(&emit.stderr));
    let script = std::fs::read_to_string(out.join("job.sh")).unwrap();
    assert!(script.contains("#SBATCH --nodes=2") && script.contains("#SBATCH --time="), "{script}");
    let exec = script.lines().find(|l| l.contains(" reproduce --tables")).expect("the command's line");
    assert!(exec.contains(" reproduce --tables T4") && !exec.contains("--emit-sbatch"), "{script}");
    assert_eq!(std::fs::read_dir(&results).unwrap().count(), 0, "emitting ran nothing");

    let o = on_cluster(2, 'b', out, "sbatch --wait \"$OUT/job.sh\"");
    let log: String = std::fs::read_dir(&results)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("slurm-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    // The job's exit status is reproduce's, which a claim failing on this busy machine makes
    // non-zero: what must hold is that the run finished, every run of it on its nodes.
    let stderr = String::from_utf8_lossy(&o.stderr);
    let run = std::fs::read_dir(&results)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("no run:\n{stderr}\n{log}"));
    assert!(json(&run.join("run.json"))["finished"].is_string(), "{stderr}\n{log}");
    assert!(log.contains(", 0 failed, 0 cells not run"), "{log}");
    let env = json(&run.join("env.json"));
    assert_eq!(env["slurm"]["nodes"], "h[1-2]", "{env}");
    let job = env["slurm"]["job_id"].clone();
    let mut crossed = 0;
    for entry in std::fs::read_dir(run.join("runs")).unwrap().flatten() {
        let result = json(&entry.path());
        assert_eq!(result["slurm_job"], job, "{}", entry.path().display());
        if entry.file_name().to_string_lossy().contains("mpi-allreduce-p2") {
            assert_eq!(result["hosts"], serde_json::json!(["h1", "h2"]));
            crossed += 1;
        }
    }
    assert!(crossed > 0, "no MPI cell with P = 2 ran");
    let sweep = dpstudy::commbench::CommBenchRecord::read(&run.join("commbench/hostfile-p2.json")).unwrap();
    assert_eq!(sweep.hosts, ["h1", "h2"]);
}

#[test]
fn an_allocation_smaller_than_the_plans_p_is_refused_before_anything_runs() {
    if !slurm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let script = "salloc -N 1 \"$BIN\" reproduce --tables T4 --reps 1 --data synthetic --no-paper \
                  --results-dir \"$OUT/results\" 2>\"$OUT/err\"; echo $? >\"$OUT/rc\"";
    let o = on_cluster(2, 'c', out, script);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = std::fs::read_to_string(out.join("err")).unwrap();
    assert_ne!(std::fs::read_to_string(out.join("rc")).unwrap().trim(), "0", "{err}");
    assert!(err.contains("need 2 ranks") && err.contains("holds 1 task(s)") && err.contains("salloc -N 2"), "{err}");
    assert!(!out.join("results").exists(), "a refused run wrote results");
}

/// Emits the batch job of a `reproduce` of T4 with `reps` runs per cell into `out/job.sh`
/// (results in `out/results`).
fn emit_t4(out: &Path, reps: &str) {
    let emit = dpstudy(&[
        "reproduce",
        "--tables",
        "T4",
        "--reps",
        reps,
        "--data",
        "synthetic",
        "--no-paper",
        "--cache-dir",
        out.join("cache").to_str().unwrap(),
        "--results-dir",
        out.join("results").to_str().unwrap(),
        "--emit-sbatch",
        out.join("job.sh").to_str().unwrap(),
    ]);
    assert!(emit.status.success(), "{}", String::from_utf8_lossy(&emit.stderr));
}

/// The job output of the one batch job in `out/results`, and the run it started.
fn job_output_and_run(out: &Path) -> (String, PathBuf) {
    let entries: Vec<PathBuf> = std::fs::read_dir(out.join("results")).unwrap().flatten().map(|e| e.path()).collect();
    let log = entries.iter().filter(|p| p.is_file()).map(|p| std::fs::read_to_string(p).unwrap()).collect();
    let run = entries.iter().find(|p| p.is_dir()).cloned().unwrap_or_else(|| panic!("no run: {entries:?}"));
    (log, run)
}

#[test]
fn a_node_going_down_ends_the_job_naming_it_and_resume_finishes_the_run() {
    if !slurm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    emit_t4(out, "3");
    // Submit, take h2 down once the first run is written, wait for the job to end (timed),
    // keep run.json as the ended job left it, bring h2 back, and resume in a new allocation.
    let script = r#"set -e
        job=$(sbatch --parsable "$OUT/job.sh")
        for i in $(seq 1 600); do ls "$OUT"/results/*/runs/*.json >/dev/null 2>&1 && break; sleep 0.1; done
        start=$(date +%s.%N)
        scontrol update nodename=h2 state=down reason=dpstudy-fault-test
        for i in $(seq 1 600); do [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break; sleep 0.1; done
        awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }' > "$OUT/ended_after_s"
        run=$(ls -td "$OUT"/results/*/ | head -n 1)
        cp "$run/run.json" "$OUT/run-when-ended.json"
        scontrol update nodename=h2 state=resume
        salloc -N 2 --ntasks-per-node=1 "$BIN" reproduce --resume "$run" --no-paper > "$OUT/resume.log" 2>&1 || true"#;
    let o = on_cluster(2, 'd', out, script);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (log, run) = job_output_and_run(out);
    let ended_after: f64 = std::fs::read_to_string(out.join("ended_after_s")).unwrap().trim().parse().unwrap();
    assert!(ended_after < 30.0, "the job outlived its node by {ended_after} s\n{log}");
    assert!(log.contains("node h2 is down") && log.contains("dpstudy-fault-test"), "{log}");
    assert!(log.contains("is incomplete") && log.contains("reproduce --resume"), "{log}");
    assert!(json(&out.join("run-when-ended.json"))["finished"].is_null(), "an ended job's run looked finished");
    let resumed = std::fs::read_to_string(out.join("resume.log")).unwrap();
    assert!(json(&run.join("run.json"))["finished"].is_string(), "{resumed}");
    assert!(resumed.contains(", 0 failed, 0 cells not run"), "{resumed}");
}

#[test]
fn a_job_past_its_time_limit_ends_saying_so() {
    if !slurm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    emit_t4(out, "500");
    // A minute, Slurm's smallest limit, for a run of several.
    let job = std::fs::read_to_string(out.join("job.sh")).unwrap();
    let limited: String = job
        .lines()
        .map(|l| if l.starts_with("#SBATCH --time=") { "#SBATCH --time=1" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(out.join("job.sh"), limited + "\n").unwrap();
    let o = on_cluster(2, 't', out, "sbatch --wait \"$OUT/job.sh\"; echo $? > \"$OUT/rc\"");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (log, run) = job_output_and_run(out);
    assert_ne!(std::fs::read_to_string(out.join("rc")).unwrap().trim(), "0", "{log}");
    // Slurm's own line, and the command that finishes the run: said when the run started,
    // so that it is there even when Slurm's SIGKILL leaves the script's trap no time (the
    // trap's "is incomplete" line follows where it had the time).
    assert!(log.contains("DUE TO TIME LIMIT"), "{log}");
    let name = run.file_name().unwrap().to_string_lossy().into_owned();
    let resume = log.lines().find(|l| l.contains("reproduce --resume") && l.contains(&name));
    assert!(resume.is_some(), "no resume command naming {name}: {log}");
    assert!(json(&run.join("run.json"))["finished"].is_null(), "{log}");
}
