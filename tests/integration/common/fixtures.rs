//! Fixed inputs the tests start from: a run's config, the committed results fixture and
//! copies of it, checked or made to fail.

use std::path::{Path, PathBuf};

use super::process::dpstudy;
use dpstudy::data::{DataConfig, DataKind};
use dpstudy::experiment::raw::{self, RawRow};
use dpstudy::real::Dtype;
use dpstudy::train::{Mode, TrainConfig};

/// A small training configuration; callers adjust fields.
pub fn config(kind: DataKind, data_dir: &Path, cache_dir: &Path) -> TrainConfig {
    TrainConfig {
        mode: Mode::Seq,
        sync: None,
        data: DataConfig {
            kind,
            dir: data_dir.to_path_buf(),
            cache_dir: cache_dir.to_path_buf(),
            verify: true,
            pool: Default::default(),
        },
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
        reduce: Default::default(),
        ensemble: None,
    }
}

/// The fixture results directory: a quick run of T1-T7 (raw.csv, run.json, env.json) and
/// a communication sweep (commbench/).
pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quick-run")
}

/// A copy of the fixture in a temporary directory (report and check write into it).
pub fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    copy_fixture(&dir);
    (tmp, dir)
}

/// The fixture's files (raw rows, run, environment, communication sweep) into a new `dir`.
fn copy_fixture(dir: &Path) {
    std::fs::create_dir_all(dir.join("commbench")).unwrap();
    for name in [raw::RAW_FILE, raw::RUN_FILE, raw::ENV_FILE, SWEEP] {
        std::fs::copy(fixture().join(name), dir.join(name)).unwrap();
    }
}

/// The fixture's communication sweep: `dpstudy commbench` on 2 ranks of the machine that
/// ran the fixture's cells, recorded later (the cells predate the command); its
/// gather-broadcast bus bandwidths recomputed from the algorithm bandwidths with the
/// factor 2 (P - 1) adopted after it was recorded.
const SWEEP: &str = "commbench/shared-memory-p2.json";

/// A checked copy of the fixture in `tmp/name`, with `rows` (default: the fixture's);
/// check.json is written whether its claims pass or fail.
pub fn checked_fixture(tmp: &Path, name: &str, rows: Option<Vec<RawRow>>) -> PathBuf {
    let dir = tmp.join(name);
    copy_fixture(&dir);
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
