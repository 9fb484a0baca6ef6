//! Model parallelism under real `mpirun` (`--mode model`: the hidden units split over the
//! ranks): the sequential model on real MNIST for P = 2 and 3 with H divisible by neither,
//! one rank bit for bit against the sequential run on the same (gemm) kernel, the records and
//! the refusals. Its faults (a dead rank, a rank that stops answering) are tested with the
//! data-parallel mode's, in `mpi.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, assert_fails_with, dpstudy, mpirun};
use dpstudy::model::init;

/// A run's result and the weights it saved.
struct Run {
    json: serde_json::Value,
    weights: PathBuf,
}

/// `dpstudy train` (under `mpirun -np P --mode model` when `np` is given) into `dir`.
fn train(dir: &Path, name: &str, np: Option<usize>, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = dir.join(format!("{name}.json"));
    let weights = dir.join(format!("{name}.safetensors"));
    let mut all: Vec<&str> =
        vec!["train", "--quiet", "--out", out.to_str().unwrap(), "--save-weights", weights.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut cmd = match np {
        None => Command::new(env!("CARGO_BIN_EXE_dpstudy")),
        Some(np) => {
            all.splice(1..1, ["--mode", "model"]);
            mpirun(np, &[])
        }
    };
    cmd.args(&all).env_remove("DPSTUDY_DATA_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("start dpstudy (mpirun installed?)");
    assert!(o.status.success(), "{name}: {cmd:?}\n{}", String::from_utf8_lossy(&o.stderr));
    Run { json: serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap(), weights }
}

fn mnist_args(dir: &Path) -> Vec<String> {
    let cache = common::shared_cache();
    vec!["--data-dir".into(), dir.to_str().unwrap().into(), "--cache-dir".into(), cache.to_str().unwrap().into()]
}

#[test]
fn the_hidden_split_trains_the_sequential_model_on_real_mnist() {
    let Some(mnist) = common::mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let base = mnist_args(&mnist);
    // H = 25 and 50: P = 2 splits 25 as 13 + 12, P = 3 splits 50 as 17 + 17 + 16. In f64
    // against the sequential run's own kernel; in f32 against the sequential run on the
    // hidden split's (gemm) kernel, as the fused and gemm kernels alone differ by about 1e-4
    // after 30 f32 steps: the data-parallel tests' bound then holds the split, not the kernel.
    let cases = [("f64", 1e-10, "25", 2, "auto"), ("f64", 1e-10, "50", 3, "auto"), ("f32", 1e-4, "50", 3, "gemm")];
    for (dtype, tolerance, hidden, np, kernel) in cases {
        let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
        args.extend(["--samples", "6000", "--test-samples", "1000", "--epochs", "2", "--iters", "15"]);
        args.extend(["--dtype", dtype, "--hidden", hidden]);
        let name = format!("{dtype}-h{hidden}");
        let seq = train(tmp.path(), &format!("seq-{name}"), None, &args, &[("DPSTUDY_KERNEL", kernel)]);
        let model = train(tmp.path(), &format!("model-{name}-p{np}"), Some(np), &args, &[]);
        let (a, b) = (init::load_any(&seq.weights).unwrap(), init::load_any(&model.weights).unwrap());
        let diff = a.max_relative_diff(&b, 1e-12);
        assert!(diff < tolerance, "{name} P={np}: weights differ by {diff:e} (relative)");
        let costs = |r: &Run| -> Vec<f64> {
            r.json["step_costs"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
        };
        for (s, m) in costs(&seq).iter().zip(costs(&model)) {
            assert!((s - m).abs() <= tolerance * s.abs(), "{name}: step cost {m} against {s}");
        }
        assert_eq!(model.json["ranks"], np);
        assert_eq!(model.json["config"]["mode"], "model");
        assert_eq!(model.json["kernel"], "gemm");
        let epoch = &model.json["epochs"][1];
        // The test rows are evaluated on every rank, the figures reported by rank 0.
        for field in ["test_cost", "test_acc", "train_acc"] {
            let (s, m) = (seq.json["epochs"][1][field].as_f64().unwrap(), epoch[field].as_f64().unwrap());
            assert!((s - m).abs() <= tolerance * s.abs().max(1.0), "{name}: {field} {m} against {s}");
        }
        let ranks = epoch["ranks"].as_array().unwrap();
        assert_eq!(ranks.len(), np, "every rank's times are recorded");
        for r in ranks {
            assert!(r["compute_s"].as_f64().unwrap() > 0.0 && r["comm_s"].as_f64().unwrap() > 0.0, "{r}");
        }
    }
}

/// One rank computes what the `gemm` kernel computes in one process, in the same order.
#[test]
fn one_rank_equals_the_sequential_gemm_run_bit_for_bit() {
    let Some(mnist) = common::mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let base = mnist_args(&mnist);
    let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
    args.extend(["--samples", "3000", "--epochs", "2", "--iters", "5", "--hidden", "30"]);
    let gemm = [("DPSTUDY_KERNEL", "gemm")];
    let seq = train(tmp.path(), "seq", None, &args, &gemm);
    let model = train(tmp.path(), "model1", Some(1), &args, &[]);
    assert_eq!(seq.json["kernel"], "gemm");
    assert_eq!(seq.json["step_costs"], model.json["step_costs"]);
    assert_eq!(seq.json["weights_sha256"], model.json["weights_sha256"]);
    assert_eq!(std::fs::read(&seq.weights).unwrap(), std::fs::read(&model.weights).unwrap());
}

#[test]
fn what_the_hidden_split_cannot_do_is_refused_before_it_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().to_str().unwrap();
    let out = tmp.path().join("r.json");
    let synthetic = ["--data", "synthetic", "--samples", "200", "--cache-dir", cache, "--out", out.to_str().unwrap()];
    let run = |np: usize, extra: &[&str]| {
        let mut args = vec!["train", "--mode", "model"];
        args.extend_from_slice(&synthetic);
        args.extend_from_slice(extra);
        mpirun(np, &args).output().unwrap()
    };
    let o = run(3, &["--hidden", "2"]);
    let stderr = assert_fails_with(&o, &["3 MPI ranks for 2 hidden units", "--hidden"]);
    assert_eq!(stderr.matches("3 MPI ranks for 2").count(), 1, "reported once, by rank 0:\n{stderr}");
    assert_fails_with(&run(2, &["--reduce", "exact"]), &["--reduce", "--mode model"]);
    assert_fails_with(&run(2, &["--batch-size", "50"]), &["--batch-size", "full batches"]);
    assert_fails_with(&run(2, &["--threads", "2"]), &["--threads", "one thread per rank"]);
    // Without mpirun it says how to start it.
    let mut args = vec!["train", "--mode", "model"];
    args.extend_from_slice(&synthetic);
    assert_fails_with(&dpstudy(&args), &["--mode model", "mpirun"]);
    assert!(!out.exists(), "a refused run wrote a result");
}
