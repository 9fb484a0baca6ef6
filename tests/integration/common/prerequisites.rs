//! What the tests need from the machine: the real data, the baselines' Python, a shared
//! cache. Missing, each is a loud failure, or with its `DPSTUDY_SKIP_*` variable a loud skip.

use std::path::{Path, PathBuf};

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
