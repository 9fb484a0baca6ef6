//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

use dpstudy::data::{DataConfig, DataKind};
use dpstudy::real::Dtype;
use dpstudy::train::{Mode, TrainConfig};

/// The directory of the real MNIST test files, from `DPSTUDY_MNIST_DIR`.
///
/// Missing data is a failure, loudly, unless `DPSTUDY_SKIP_REAL_DATA=1` says the caller
/// knowingly runs without it; then the test prints that it did not run and returns `None`.
pub fn mnist_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("DPSTUDY_MNIST_DIR").map(PathBuf::from);
    if let Some(dir) = dir.filter(|d| d.join("t10k-images-idx3-ubyte.gz").is_file()) {
        return Some(dir);
    }
    data_missing(
        "REAL-DATA TEST NOT RUN: DPSTUDY_MNIST_DIR must name a directory holding the MNIST test files \
         (t10k-*-idx?-ubyte.gz), e.g. DPSTUDY_MNIST_DIR=../shared/data/mnist",
    )
}

/// Missing real data: a loud failure, or with `DPSTUDY_SKIP_REAL_DATA=1` a loud skip (`None`).
fn data_missing(msg: &str) -> Option<PathBuf> {
    if std::env::var("DPSTUDY_SKIP_REAL_DATA").as_deref() == Ok("1") {
        eprintln!("\n!!!!!!!! {msg} (skipped because DPSTUDY_SKIP_REAL_DATA=1) !!!!!!!!\n");
        None
    } else {
        panic!("\n!!!!!!!! {msg} !!!!!!!!\n(set DPSTUDY_SKIP_REAL_DATA=1 to skip these tests knowingly)");
    }
}

/// The baselines' Python interpreter (`DPSTUDY_PYTHON`, else the install script's default
/// location). Missing, it is a failure, loudly, unless `DPSTUDY_SKIP_BASELINES=1` says the
/// caller knowingly runs without it (then `None`, and the test says it did not run).
pub fn baseline_python() -> Option<PathBuf> {
    match dpstudy::baseline::python::interpreter() {
        Ok(python) => Some(python),
        Err(why) => {
            let msg = format!("BASELINE TEST NOT RUN: {why}");
            if std::env::var("DPSTUDY_SKIP_BASELINES").as_deref() == Ok("1") {
                eprintln!("\n!!!!!!!! {msg} (skipped because DPSTUDY_SKIP_BASELINES=1) !!!!!!!!\n");
                None
            } else {
                panic!("\n!!!!!!!! {msg} !!!!!!!!\n(set DPSTUDY_SKIP_BASELINES=1 to skip these tests knowingly)");
            }
        }
    }
}

/// A cache directory shared by the tests of one build (the PCA runs once).
pub fn shared_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("dpstudy-test-cache")
}

/// A small training configuration; callers adjust fields.
pub fn config(kind: DataKind, data_dir: &Path, cache_dir: &Path) -> TrainConfig {
    TrainConfig {
        mode: Mode::Seq,
        sync: None,
        data: DataConfig { kind, dir: data_dir.to_path_buf(), cache_dir: cache_dir.to_path_buf(), verify: true },
        samples: Some(500),
        test_samples: 0,
        hidden: 10,
        epochs: 2,
        iters: 5,
        lr: 0.1,
        dtype: Dtype::F64,
        batch_size: None,
        seed: 1,
        threads: 1,
        ranks: 1,
        init: None,
        ensemble: None,
    }
}

/// Runs the `dpstudy` binary with `args`.
pub fn dpstudy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dpstudy")).args(args).env_remove("DPSTUDY_DATA_DIR").output().expect("run dpstudy")
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

/// The directory of all 70,000 MNIST images (the training pair and the test pair), from
/// `DPSTUDY_MNIST_FULL_DIR`. Missing data fails loudly, as in [`mnist_dir`], unless
/// `DPSTUDY_SKIP_REAL_DATA=1`.
pub fn mnist_full_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("DPSTUDY_MNIST_FULL_DIR").map(PathBuf::from);
    let complete = |d: &Path| {
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
            .iter()
            .all(|f| d.join(f).is_file() || d.join(format!("{f}.gz")).is_file())
            && d.join("t10k-images-idx3-ubyte.gz").is_file()
    };
    if let Some(dir) = dir.filter(|d| complete(d)) {
        return Some(dir);
    }
    data_missing(
        "FULL-DATA TEST NOT RUN: DPSTUDY_MNIST_FULL_DIR must name a directory holding all four MNIST files \
         (train-*-idx?-ubyte[.gz], t10k-*-idx?-ubyte.gz), e.g. DPSTUDY_MNIST_FULL_DIR=../shared/data/mnist-full",
    )
}

/// The pid of the dpstudy process of MPI rank `rank` whose command line mentions `marker`.
pub fn find_rank(marker: &str, rank: u32) -> Option<u32> {
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
