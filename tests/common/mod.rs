//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

use dpstudy::data::{DataConfig, DataKind};
use dpstudy::experiment::raw::{self, RawRow};
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

/// The fixture results directory: a quick run of T1-T7 (raw.csv, run.json, env.json).
pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quick-run")
}

/// A copy of the fixture in a temporary directory (report and check write into it).
pub fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    std::fs::create_dir(&dir).unwrap();
    for name in [raw::RAW_FILE, raw::RUN_FILE, raw::ENV_FILE] {
        std::fs::copy(fixture().join(name), dir.join(name)).unwrap();
    }
    (tmp, dir)
}

/// A checked copy of the fixture in `tmp/name`, with `rows` (default: the fixture's);
/// check.json is written whether its claims pass or fail.
pub fn checked_fixture(tmp: &Path, name: &str, rows: Option<Vec<RawRow>>) -> PathBuf {
    let dir = tmp.join(name);
    std::fs::create_dir(&dir).unwrap();
    for file in [raw::RAW_FILE, raw::RUN_FILE, raw::ENV_FILE] {
        std::fs::copy(fixture().join(file), dir.join(file)).unwrap();
    }
    if let Some(rows) = rows {
        raw::write_rows(&dir, &rows).unwrap();
    }
    let _ = dpstudy(&["check", dir.to_str().unwrap()]);
    assert!(dir.join("check.json").is_file(), "no check.json in {}", dir.display());
    dir
}

/// The fixture with MPI three times slower and one mode's final cost off by 1%.
pub fn failing_rows() -> Vec<RawRow> {
    let mut rows = raw::read_rows(&fixture()).unwrap();
    for r in &mut rows {
        if r.mode == Mode::Mpi {
            r.train_s = r.train_s.map(|t| t * 3.0);
        }
        if r.mode == Mode::Threads {
            r.cost = r.cost.map(|c| c * 1.01);
        }
    }
    rows
}

/// Headless Chromium (`DPSTUDY_CHROMIUM`, else `chromium` on PATH). Missing, it is a
/// failure, loudly, unless `DPSTUDY_SKIP_BROWSER=1` says the caller knowingly runs without
/// it (then `None`, and the test says it did not run).
pub fn chromium() -> Option<PathBuf> {
    let named = std::env::var_os("DPSTUDY_CHROMIUM").map(PathBuf::from);
    let found = named.or_else(|| {
        std::env::var_os("PATH")
            .and_then(|path| std::env::split_paths(&path).map(|d| d.join("chromium")).find(|p| p.is_file()))
    });
    if let Some(browser) = found.filter(|p| p.is_file()) {
        return Some(browser);
    }
    let msg = "BROWSER TEST NOT RUN: no headless Chromium (install Debian's `chromium`, or set DPSTUDY_CHROMIUM)";
    if std::env::var("DPSTUDY_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("\n!!!!!!!! {msg} (skipped because DPSTUDY_SKIP_BROWSER=1) !!!!!!!!\n");
        None
    } else {
        panic!("\n!!!!!!!! {msg} !!!!!!!!\n(set DPSTUDY_SKIP_BROWSER=1 to skip these tests knowingly)");
    }
}
