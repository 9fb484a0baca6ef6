//! The MPI mode under real `mpirun`: the same model as the sequential trainer, for P = 1,
//! 2 and 3 (uneven shards), both syncs, full and mini-batch; and the faults (of the hidden
//! split, `--mode model`, too).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{assert_fails_with, dpstudy, mpirun, wait_at_most, wait_for_rank};
use dpstudy::model::init;

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

/// `mpirun -np 2 dpstudy train --mode MODE` on synthetic data for far longer than any test
/// waits, its cache in `dir`, and the result file it would write (it must never appear).
fn two_ranks_training_for_ever(dir: &Path, mode: &str) -> (Command, PathBuf) {
    let out = dir.join("never.json");
    let cache = dir.join("cache");
    let args = [
        "train",
        "--mode",
        mode,
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

/// The modes whose ranks talk every step: data parallelism, and the hidden split (whose
/// collective sits inside the step, between the layers).
const MULTI_RANK_MODES: [&str; 2] = ["mpi", "model"];

#[test]
fn a_dead_rank_ends_the_job_quickly_and_leaves_no_result() {
    for mode in MULTI_RANK_MODES {
        let tmp = tempfile::tempdir().unwrap();
        let (mut cmd, out) = two_ranks_training_for_ever(tmp.path(), mode);
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        // Wait for rank 1 to exist, give it time to reach the training loop, then kill it.
        let rank1 = wait_for_rank(out.to_str().unwrap(), 1);
        std::thread::sleep(Duration::from_secs(3));
        assert!(child.try_wait().unwrap().is_none(), "{mode}: the job ended before the kill");
        let killed = Instant::now();
        assert!(Command::new("kill").args(["-9", &rank1.to_string()]).status().unwrap().success());
        let Some(status) = wait_at_most(&mut child, Duration::from_secs(20)) else {
            let _ = child.kill();
            panic!("{mode}: mpirun still running 20 s after rank 1 died");
        };
        eprintln!("{mode}: job ended {:.1} s after the kill, {status}", killed.elapsed().as_secs_f64());
        assert!(!status.success(), "{mode}: mpirun exited 0 after a rank died");
        assert!(killed.elapsed() < Duration::from_secs(10), "{mode}: took {:?}", killed.elapsed());
        assert!(!out.exists(), "{mode}: a result file was written");
    }
}

/// A rank that stops answering (SIGSTOP: alive, so Open MPI sees nothing wrong) would hang
/// the job forever; the other rank's watchdog ends it, naming itself, its peer and the
/// collective it waited in.
#[test]
fn a_rank_that_stops_answering_is_ended_by_the_watchdog() {
    for (mode, collective) in MULTI_RANK_MODES.into_iter().zip(["allreduce", "output logits"]) {
        let tmp = tempfile::tempdir().unwrap();
        let (mut cmd, out) = two_ranks_training_for_ever(tmp.path(), mode);
        cmd.env("DPSTUDY_COLLECTIVE_TIMEOUT", "3");
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let rank1 = wait_for_rank(out.to_str().unwrap(), 1);
        std::thread::sleep(Duration::from_secs(3));
        assert!(child.try_wait().unwrap().is_none(), "{mode}: the job ended before the stop");
        let stopped = Instant::now();
        assert!(Command::new("kill").args(["-STOP", &rank1.to_string()]).status().unwrap().success());
        let status = wait_at_most(&mut child, Duration::from_secs(30));
        let _ = Command::new("kill").args(["-9", &rank1.to_string()]).status();
        let Some(status) = status else {
            let _ = child.kill();
            panic!("{mode}: mpirun still running 30 s after rank 1 stopped");
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        eprintln!("{mode}: job ended {:.1} s after the stop, {status}", stopped.elapsed().as_secs_f64());
        assert!(!status.success(), "{mode}: mpirun exited 0:\n{stderr}");
        assert!(stderr.contains("error: rank 0 on host") && stderr.contains("got no answer for 3 s"), "{stderr}");
        assert!(stderr.contains(collective), "{mode}: the message names the {collective}:\n{stderr}");
        assert!(stopped.elapsed() < Duration::from_secs(12), "{mode}: took {:?}", stopped.elapsed());
        assert!(!out.exists(), "{mode}: a result file was written");
    }
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

/// The weights' hash a run records.
fn weights_hash(run: &Run) -> String {
    run.json["weights_sha256"].as_str().expect("every dpstudy trainer records its weights' hash").to_string()
}

/// Real MNIST, 5,003 rows (divisible by no P tested here, nor by the 64 blocks), H = 37 (a
/// kernel tail): the flags of the determinism runs.
fn split_args(mnist: &Path, reduce: &str, dtype: &str) -> Vec<String> {
    let mut args = mnist_args(mnist);
    for a in
        ["--samples", "5003", "--hidden", "37", "--epochs", "2", "--iters", "5", "--reduce", reduce, "--dtype", dtype]
    {
        args.push(a.into());
    }
    args
}

#[test]
fn the_exact_reduction_gives_one_hash_for_every_split() {
    let Some(mnist) = common::mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    for dtype in ["f64", "f32"] {
        let base = split_args(&mnist, "exact", dtype);
        let args: Vec<&str> = base.iter().map(String::as_str).collect();
        let seq = train(tmp.path(), &format!("seq-{dtype}"), None, &args);
        let expected = (weights_hash(&seq), seq.json["step_costs"].clone());
        let mut runs = vec![];
        for t in ["1", "2", "3"] {
            let a = [args.as_slice(), &["--mode", "threads", "--threads", t, "--oversubscribe"]].concat();
            runs.push((format!("threads T={t}"), train(tmp.path(), &format!("t{t}-{dtype}"), None, &a)));
        }
        for np in [1, 2, 3, 4, 5, 8] {
            for sync in ["allreduce", "gather-bcast"] {
                let a = [args.as_slice(), &["--sync", sync]].concat();
                runs.push((
                    format!("mpi {sync} P={np}"),
                    train(tmp.path(), &format!("p{np}-{sync}-{dtype}"), Some(np), &a),
                ));
            }
        }
        for (name, run) in &runs {
            assert_eq!(run.json["config"]["reduce"], "exact", "{dtype} {name}: the result records its reduction");
            assert_eq!((weights_hash(run), run.json["step_costs"].clone()), expected, "{dtype} {name}");
            assert_eq!(std::fs::read(&run.weights).unwrap(), std::fs::read(&seq.weights).unwrap(), "{dtype} {name}");
        }
    }
}

#[test]
fn the_float_reduction_does_differ_across_splits() {
    let Some(mnist) = common::mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let base = split_args(&mnist, "float", "f64");
    let args: Vec<&str> = base.iter().map(String::as_str).collect();
    let seq = weights_hash(&train(tmp.path(), "seq", None, &args));
    let p1 = weights_hash(&train(tmp.path(), "p1", Some(1), &args));
    let p3 = weights_hash(&train(tmp.path(), "p3", Some(3), &args));
    // Same split, same bits; another split, other bits: what the exact reduction removes.
    assert_eq!(seq, p1, "one rank is the sequential run");
    assert_ne!(seq, p3, "three ranks sum in another order: the float reduction's bits move");
}

#[test]
fn the_exact_reduction_refuses_mini_batches_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r.json");
    let refused = dpstudy(&[
        "train",
        "--data",
        "synthetic",
        "--reduce",
        "exact",
        "--batch-size",
        "10",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails_with(&refused, &["--reduce exact", "full-batch", "--batch-size"]);
    assert!(!out.exists(), "no result from a refused run");
}

#[test]
fn the_exact_reduction_holds_for_the_gemm_kernel_and_refuses_ranks_with_different_kernels() {
    let Some(mnist) = common::mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let base = split_args(&mnist, "exact", "f64");
    let args: Vec<&str> = base.iter().map(String::as_str).collect();
    let out = |name: &str| tmp.path().join(format!("{name}.json"));
    let hash_of = |name: &str| {
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out(name)).unwrap()).unwrap();
        assert_eq!(json["kernel"], "gemm", "{name}: DPSTUDY_KERNEL=gemm is the kernel that ran");
        json["weights_sha256"].as_str().unwrap().to_string()
    };
    // The portable kernel: its own bits, the same for every split.
    let seq =
        dpstudy_with_env(&[&["train", "--quiet", "--out", out("seq").to_str().unwrap()], args.as_slice()].concat());
    assert!(seq.status.success(), "{}", String::from_utf8_lossy(&seq.stderr));
    let mut three = mpirun(
        3,
        &[&["train", "--mode", "mpi", "--quiet", "--out", out("p3").to_str().unwrap()], args.as_slice()].concat(),
    );
    three.env("DPSTUDY_KERNEL", "gemm");
    run_ok(three);
    assert_eq!(hash_of("seq"), hash_of("p3"));
    // Ranks that would compute with different kernels (as on hosts of different CPUs) are
    // refused before training, naming both kernels.
    // One app context per rank, each setting its own kernel through `env` (mpirun's -x
    // applies to every context).
    let app = |kernel: &str| {
        let mut a = vec!["-np".to_string(), "1".into(), "env".into(), format!("DPSTUDY_KERNEL={kernel}")];
        a.push(env!("CARGO_BIN_EXE_dpstudy").into());
        a.extend(["train", "--mode", "mpi", "--quiet", "--out", out("mixed").to_str().unwrap()].map(String::from));
        a.extend(args.iter().map(|s| s.to_string()));
        a
    };
    let mixed = Command::new("mpirun")
        .args(["--oversubscribe", "--bind-to", "none"])
        .args(app("gemm"))
        .arg(":")
        .args(app("fused-avx2"))
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .unwrap();
    assert_fails_with(&mixed, &["--reduce exact: rank 1 computes with the fused-avx2 kernel and rank 0 with gemm"]);
    assert!(!out("mixed").exists(), "no result from a refused run");
}

/// `dpstudy ARGS` with the portable kernel forced.
fn dpstudy_with_env(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dpstudy")).args(args).env("DPSTUDY_KERNEL", "gemm").output().unwrap()
}
