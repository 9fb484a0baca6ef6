//! The baselines (the original's numpy/mpi4py implementation and PyTorch): each must follow
//! dpstudy's sequential trajectory on real MNIST before its time means anything, and a
//! baseline that fails, or cannot start, must fail its run clearly and leave no result.

use crate::common;

use std::path::Path;

use dpstudy::data::DataKind;
use dpstudy::train::{Mode, TrainConfig, TrainResult};

fn real_config(dir: &Path) -> TrainConfig {
    let mut config = common::config(DataKind::Mnist, dir, &common::shared_cache());
    config.samples = Some(2000);
    config.test_samples = 500;
    config.hidden = 25;
    config.epochs = 2;
    config.iters = 5;
    config
}

/// Relative difference, for costs of order one.
fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

fn check_against(seq: &TrainResult, run: &TrainResult, label: &str, processes: usize) {
    assert_eq!(run.ranks, processes, "{label}: processes");
    assert_eq!(run.hosts.len(), processes, "{label}: hosts");
    let runtime = run.baseline.as_ref().unwrap_or_else(|| panic!("{label}: no baseline runtime recorded"));
    assert!(!runtime.numpy.is_empty() && !runtime.python.is_empty(), "{label}: {runtime:?}");
    assert_eq!(run.step_costs.len(), seq.step_costs.len(), "{label}: step costs");
    for (i, (a, b)) in run.step_costs.iter().zip(&seq.step_costs).enumerate() {
        assert!(rel(*a, *b) <= 1e-9, "{label}: step {i}: cost {a} against dpstudy's sequential {b}");
    }
    for (e, s) in run.epochs.iter().zip(&seq.epochs) {
        assert!(rel(e.cost, s.cost) <= 1e-9, "{label}: epoch {} cost {} against {}", e.epoch, e.cost, s.cost);
        assert!((e.train_acc - s.train_acc).abs() <= 1.0 / 2000.0, "{label}: train accuracy {}", e.train_acc);
        let (t, st) = (e.test_acc.expect("test accuracy"), s.test_acc.unwrap());
        assert!((t - st).abs() <= 1.0 / 500.0, "{label}: test accuracy {t} against {st}");
        assert_eq!(e.ranks.len(), processes, "{label}: one time record per process");
        for r in &e.ranks {
            let parts = r.compute_s + r.comm_s + r.update_s + r.eval_s;
            assert!(r.compute_s > 0.0 && parts <= r.wall_s * 1.0001, "{label}: rank times {r:?}");
        }
    }
    assert!(run.total_train_s > 0.0 && run.total_compute_s > 0.0 && run.total_compute_s < run.total_train_s);
}

#[test]
fn every_baseline_follows_the_sequential_trajectory_on_real_mnist() {
    let Some(dir) = common::mnist_dir() else { return };
    if common::baseline_python().is_none() {
        return;
    }
    let seq = dpstudy::train::run_local(&real_config(&dir), |_| {}).unwrap().result;
    let cases = [
        (Mode::Original, 1, 1),
        (Mode::Original, 2, 1),
        (Mode::OriginalFixed, 2, 1),
        (Mode::Torch, 1, 1),
        (Mode::Torch, 1, 2),
        (Mode::TorchDdp, 2, 1),
    ];
    for (mode, ranks, threads) in cases {
        let config = TrainConfig { mode, ranks, threads, ..real_config(&dir) };
        let label = format!("{mode} P={ranks} T={threads}");
        let run = dpstudy::baseline::run(&config).unwrap_or_else(|e| panic!("{label}: {e:#}")).result;
        check_against(&seq, &run, &label, ranks);
        assert_eq!(run.config, TrainConfig { samples: Some(2000), ..config }, "{label}: the recorded config");
    }
}

/// A stand-in interpreter: a shell script that does `body` with `$out` set to the `--out`
/// path dpstudy gave it.
fn fake_python(dir: &Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("python3");
    let script =
        format!("#!/bin/sh\nout=\nwhile [ $# -gt 0 ]; do [ \"$1\" = --out ] && out=\"$2\"; shift; done\n{body}\n");
    std::fs::write(&path, script).unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&path).status().unwrap();
    path
}

fn train_with(python: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    train_with_env(python, out, extra, &[])
}

fn train_with_env(python: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut args = vec!["train", "--data", "synthetic", "--samples", "200", "--hidden", "5", "--epochs", "1"];
    args.extend(["--iters", "2", "--out", out.to_str().unwrap()]);
    args.extend(extra);
    let cache = tempfile::tempdir().unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_dpstudy"))
        .args(&args)
        .args(["--cache-dir", cache.path().to_str().unwrap()])
        .env("DPSTUDY_PYTHON", python)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn a_baseline_that_fails_or_writes_nonsense_fails_the_run_and_leaves_no_result() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("result.json");

    let crashing = fake_python(tmp.path(), "echo 'Traceback: numpy exploded' >&2; exit 3");
    let failed = train_with(&crashing, &out, &["--mode", "original"]);
    let stderr = common::assert_fails_with(&failed, &["baseline original", "original.py", "exit status: 3"]);
    assert!(stderr.contains("numpy exploded"), "the program's own error is shown: {stderr}");
    assert!(!out.exists(), "no result file after a failed baseline");

    let nonsense = fake_python(tmp.path(), "echo '{\"ranks\": 1}' > \"$out\"");
    let failed = train_with(&nonsense, &out, &["--mode", "torch"]);
    common::assert_fails_with(&failed, &["not a baseline result", "torch_train.py"]);
    assert!(!out.exists());

    let silent = fake_python(tmp.path(), "exit 0");
    let failed = train_with(&silent, &out, &["--mode", "original-fixed"]);
    common::assert_fails_with(&failed, &["baseline original-fixed wrote no result"]);
    assert!(!out.exists());
}

#[test]
fn a_missing_interpreter_and_misused_flags_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("result.json");
    let missing = tmp.path().join("no-such-venv/bin/python3");
    let failed = train_with(&missing, &out, &["--mode", "torch-ddp", "--ranks", "2"]);
    common::assert_fails_with(&failed, &["no-such-venv", "DPSTUDY_PYTHON", "artifact/baselines/install.sh"]);
    assert!(!out.exists());

    let failed = train_with(&missing, &out, &["--mode", "seq", "--ranks", "2"]);
    common::assert_fails_with(&failed, &["--ranks 2", "mpirun -np"]);
    let weights = tmp.path().join("w.safetensors");
    let failed = train_with(&missing, &out, &["--mode", "original", "--save-weights", weights.to_str().unwrap()]);
    common::assert_fails_with(&failed, &["--save-weights", "does not hand its weights back"]);
    assert!(!out.exists() && !weights.exists());
}

#[test]
fn a_baseline_that_hangs_is_stopped_at_its_limit_with_its_children() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("result.json");
    let marker = tmp.path().join("child-alive");
    // The program starts a child that would write a file after 4 s, then hangs.
    let hanging = fake_python(tmp.path(), &format!("(sleep 4; touch {}) & sleep 60", marker.display()));
    let started = std::time::Instant::now();
    let failed = train_with_env(&hanging, &out, &["--mode", "original"], &[("DPSTUDY_BASELINE_TIMEOUT", "1")]);
    let took = started.elapsed().as_secs_f64();
    common::assert_fails_with(&failed, &["baseline original", "ran longer than 1 s", "DPSTUDY_BASELINE_TIMEOUT"]);
    assert!(took < 8.0, "stopped after {took:.1} s");
    assert!(!out.exists());
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert!(!marker.exists(), "the program's child outlived it: its process group was not stopped");

    let failed = train_with_env(&hanging, &out, &["--mode", "torch"], &[("DPSTUDY_BASELINE_TIMEOUT", "soon")]);
    common::assert_fails_with(&failed, &["DPSTUDY_BASELINE_TIMEOUT=soon", "whole seconds"]);
}

/// The dry run of a table with baselines times each baseline program once and counts its
/// cells in the estimate (no "baseline cell(s) not included").
#[test]
fn a_dry_run_estimates_the_baseline_cells_too() {
    if common::baseline_python().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let out = common::dpstudy(&[
        "reproduce",
        "--tables",
        "T3",
        "--data",
        "synthetic",
        "--dry-run",
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("estimate: ") && !stdout.contains("not included"), "{stdout}");
    assert!(!stdout.contains("calibration: "), "no calibration warning: {stdout}");
}
