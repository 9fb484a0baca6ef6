//! The MPI mode under real `mpirun`: the same model as the sequential trainer, for P = 1,
//! 2 and 3 (uneven shards), both syncs, full and mini-batch; and the faults.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{assert_fails_with, dpstudy, wait_at_most, wait_for_rank};
use dpstudy::model::init;

/// `mpirun -np P dpstudy <args>`, oversubscribing the 2-core machine where P > 2.
fn mpirun(np: usize, args: &[&str]) -> Command {
    let mut cmd = Command::new("mpirun");
    cmd.args(["--oversubscribe", "--bind-to", "none", "-np", &np.to_string(), env!("CARGO_BIN_EXE_dpstudy")])
        .args(args)
        // Open MPI refuses root without these; CI runs as root.
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    cmd
}

fn run_ok(mut cmd: Command) -> Output {
    let out = cmd.output().expect("start mpirun (is Open MPI installed?)");
    assert!(out.status.success(), "failed: {cmd:?}\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A training run writing its result and weights into `dir`, named `name`.
struct Run {
    json: serde_json::Value,
    weights: PathBuf,
}

fn train(dir: &Path, name: &str, np: Option<usize>, args: &[&str]) -> Run {
    let out = dir.join(format!("{name}.json"));
    let weights = dir.join(format!("{name}.safetensors"));
    let mut all: Vec<&str> =
        vec!["train", "--quiet", "--out", out.to_str().unwrap(), "--save-weights", weights.to_str().unwrap()];
    all.extend_from_slice(args);
    match np {
        None => {
            let o = dpstudy(&all);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        Some(np) => {
            let mut a = all.clone();
            a.splice(1..1, ["--mode", "mpi"]);
            run_ok(mpirun(np, &a));
        }
    }
    Run { json: serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap(), weights }
}

/// Real-data arguments: all 10,000 test images to train on, a shared cache.
fn mnist_args(dir: &Path) -> Vec<String> {
    let cache = common::shared_cache();
    vec!["--data-dir".into(), dir.to_str().unwrap().into(), "--cache-dir".into(), cache.to_str().unwrap().into()]
}

fn max_relative_weight_diff(a: &Path, b: &Path) -> f64 {
    let (a, b) = (init::load_any(a).unwrap(), init::load_any(b).unwrap());
    a.max_relative_diff(&b, 1e-12)
}

#[test]
fn mpi_weights_equal_sequential_weights_after_50_iterations() {
    let Some(mnist) = common::mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let base = mnist_args(&mnist);
    for (dtype, tolerance) in [("f64", 1e-10), ("f32", 1e-4)] {
        let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
        args.extend(["--samples", "10000", "--epochs", "1", "--iters", "50", "--dtype", dtype]);
        let seq = train(tmp.path(), &format!("seq-{dtype}"), None, &args);
        for np in [2, 3] {
            for sync in ["allreduce", "gather-bcast"] {
                let mut a = args.clone();
                a.extend(["--sync", sync]);
                let mpi = train(tmp.path(), &format!("mpi-{dtype}-{np}-{sync}"), Some(np), &a);
                assert_eq!(mpi.json["ranks"], np);
                let diff = max_relative_weight_diff(&seq.weights, &mpi.weights);
                assert!(diff < tolerance, "{dtype} P={np} {sync}: weights differ by {diff:e} (relative)");
                let ranks = &mpi.json["epochs"][0]["ranks"];
                assert_eq!(ranks.as_array().unwrap().len(), np, "every rank's times are recorded");
            }
        }
    }
}

#[test]
fn single_rank_mpi_equals_sequential_bit_for_bit() {
    let Some(mnist) = common::mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let base = mnist_args(&mnist);
    let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
    args.extend(["--samples", "6000", "--epochs", "2", "--iters", "10"]);
    let seq = train(tmp.path(), "seq", None, &args);
    for sync in ["allreduce", "gather-bcast"] {
        let mut a = args.clone();
        a.extend(["--sync", sync]);
        let mpi = train(tmp.path(), &format!("mpi1-{sync}"), Some(1), &a);
        // serde_json writes the shortest text that reads back to the same f64: equal text,
        // equal bits.
        assert_eq!(seq.json["step_costs"], mpi.json["step_costs"], "{sync}");
        assert_eq!(std::fs::read(&seq.weights).unwrap(), std::fs::read(&mpi.weights).unwrap(), "{sync}: weights");
    }
}

#[test]
fn mini_batch_in_parallel_equals_the_sequential_mini_batch_run() {
    let Some(mnist) = common::mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let base = mnist_args(&mnist);
    let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
    args.extend(["--samples", "9000", "--epochs", "2", "--iters", "20", "--batch-size", "256", "--lr", "0.5"]);
    let seq = train(tmp.path(), "seq-mb", None, &args);
    for np in [2, 3] {
        let mpi = train(tmp.path(), &format!("mpi-mb-{np}"), Some(np), &args);
        let diff = max_relative_weight_diff(&seq.weights, &mpi.weights);
        assert!(diff < 1e-10, "P={np}: mini-batch weights differ by {diff:e}");
    }
}

/// The per-epoch cost and accuracies of the study's network, rounded to 8 significant
/// digits (costs) and 4 decimals (accuracies): the same snapshot for every mode.
fn per_epoch_text(json: &serde_json::Value) -> String {
    let mut text = String::new();
    for e in json["epochs"].as_array().unwrap() {
        text += &format!(
            "epoch {}: cost {:.7e}, train accuracy {:.4}, test accuracy {:.4}\n",
            e["epoch"],
            e["cost"].as_f64().unwrap(),
            e["train_acc"].as_f64().unwrap(),
            e["test_acc"].as_f64().unwrap()
        );
    }
    text
}

fn snapshot_args(mnist: &Path) -> Vec<String> {
    let mut args = mnist_args(mnist);
    args.extend(["--samples", "8000", "--test-samples", "2000", "--epochs", "3", "--iters", "10"].map(String::from));
    args
}

#[test]
fn per_epoch_snapshot_sequential() {
    let Some(mnist) = common::mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let args = snapshot_args(&mnist);
    let run = train(tmp.path(), "seq", None, &args.iter().map(String::as_str).collect::<Vec<_>>());
    insta::assert_snapshot!("mnist_f64_per_epoch_3x10", per_epoch_text(&run.json));
}

#[test]
fn per_epoch_snapshot_mpi_equals_the_sequential_one() {
    let Some(mnist) = common::mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut args = snapshot_args(&mnist);
    args.extend(["--sync", "gather-bcast"].map(String::from));
    // P = 3: 8,000 rows split 2667 / 2667 / 2666.
    let run = train(tmp.path(), "mpi", Some(3), &args.iter().map(String::as_str).collect::<Vec<_>>());
    insta::assert_snapshot!("mnist_f64_per_epoch_3x10", per_epoch_text(&run.json));
}

/// `mpirun -np 2 dpstudy train` on synthetic data for far longer than any test waits, its
/// cache in `dir`, and the result file it would write (it must never appear).
fn two_ranks_training_for_ever(dir: &Path) -> (Command, PathBuf) {
    let out = dir.join("never.json");
    let cache = dir.join("cache");
    let args = [
        "train",
        "--mode",
        "mpi",
        "--data",
        "synthetic",
        "--samples",
        "20000",
        "--epochs",
        "1000",
        "--quiet",
        "--cache-dir",
        cache.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    (mpirun(2, &args), out)
}

#[test]
fn a_dead_rank_ends_the_job_quickly_and_leaves_no_result() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut cmd, out) = two_ranks_training_for_ever(tmp.path());
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // Wait for rank 1 to exist, give it time to reach the training loop, then kill it.
    let rank1 = wait_for_rank(out.to_str().unwrap(), 1);
    std::thread::sleep(Duration::from_secs(3));
    assert!(child.try_wait().unwrap().is_none(), "the job ended before the kill");
    let killed = Instant::now();
    assert!(Command::new("kill").args(["-9", &rank1.to_string()]).status().unwrap().success());
    let Some(status) = wait_at_most(&mut child, Duration::from_secs(20)) else {
        let _ = child.kill();
        panic!("mpirun still running 20 s after rank 1 died");
    };
    eprintln!("job ended {:.1} s after the kill, {status}", killed.elapsed().as_secs_f64());
    assert!(!status.success(), "mpirun exited 0 after a rank died");
    assert!(killed.elapsed() < Duration::from_secs(10), "took {:?}", killed.elapsed());
    assert!(!out.exists(), "a result file was written");
}

/// A rank that stops answering (SIGSTOP: alive, so Open MPI sees nothing wrong) would hang
/// the job forever; the other rank's watchdog ends it, naming itself and its peer.
#[test]
fn a_rank_that_stops_answering_is_ended_by_the_watchdog() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut cmd, out) = two_ranks_training_for_ever(tmp.path());
    cmd.env("DPSTUDY_COLLECTIVE_TIMEOUT", "3");
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let rank1 = wait_for_rank(out.to_str().unwrap(), 1);
    std::thread::sleep(Duration::from_secs(3));
    assert!(child.try_wait().unwrap().is_none(), "the job ended before the stop");
    let stopped = Instant::now();
    assert!(Command::new("kill").args(["-STOP", &rank1.to_string()]).status().unwrap().success());
    let Some(status) = wait_at_most(&mut child, Duration::from_secs(30)) else {
        let _ = child.kill();
        let _ = Command::new("kill").args(["-9", &rank1.to_string()]).status();
        panic!("mpirun still running 30 s after rank 1 stopped");
    };
    let _ = Command::new("kill").args(["-9", &rank1.to_string()]).status();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    eprintln!("job ended {:.1} s after the stop, {status}", stopped.elapsed().as_secs_f64());
    assert!(!status.success(), "mpirun exited 0:\n{stderr}");
    assert!(stderr.contains("error: rank 0 on host") && stderr.contains("got no answer for 3 s"), "{stderr}");
    assert!(stopped.elapsed() < Duration::from_secs(12), "took {:?}", stopped.elapsed());
    assert!(!out.exists(), "a result file was written");
}

#[test]
fn more_ranks_than_samples_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r.json");
    let mut cmd = mpirun(
        3,
        &[
            "train",
            "--mode",
            "mpi",
            "--data",
            "synthetic",
            "--samples",
            "2",
            "--cache-dir",
            tmp.path().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let o = cmd.output().unwrap();
    let stderr = assert_fails_with(&o, &["3 MPI ranks for 2 training samples"]);
    assert_eq!(stderr.matches("3 MPI ranks for 2").count(), 1, "reported once, by rank 0:\n{stderr}");
    assert!(!out.exists());
}

#[test]
fn ranks_with_different_flags_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().to_str().unwrap();
    let bin = env!("CARGO_BIN_EXE_dpstudy");
    let common = ["train", "--mode", "mpi", "--data", "synthetic", "--samples", "100", "--cache-dir", cache];
    let mut cmd = Command::new("mpirun");
    cmd.args(["--oversubscribe", "-np", "1", bin]).args(common).args(["--hidden", "10"]);
    cmd.args([":", "-np", "1", bin]).args(common).args(["--hidden", "20"]);
    cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    assert_fails_with(&cmd.output().unwrap(), &["rank 1 was started with a different configuration"]);
}

#[test]
fn mpi_mode_without_mpirun_says_how_to_launch() {
    assert_fails_with(
        &dpstudy(&["train", "--mode", "mpi", "--data", "synthetic"]),
        &["must be started by mpirun", "-np"],
    );
}

#[test]
fn mpi_mode_without_open_mpi_says_what_to_install() {
    let out = Command::new(env!("CARGO_BIN_EXE_dpstudy"))
        .args(["train", "--mode", "mpi", "--data", "synthetic"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_fails_with(&out, &["mpirun is not on PATH", "apt-get install openmpi-bin"]);
}
