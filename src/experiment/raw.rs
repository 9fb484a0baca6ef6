//! Results as data: `raw.csv` holds one tidy row per (cell, rep, epoch, rank) with every
//! figure the trainers record; `run.json` says what the run was and whether it finished.
//! Summaries are derived from these, never edited by hand.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::plan::Cell;
use crate::data::{DataKind, SourceLabel};
use crate::ensemble::combine::Combiner;
use crate::real::Dtype;
use crate::train::{MemberScores, Mode, SyncKind, TrainResult};
use crate::util::files;

/// The layout of `raw.csv` and `run.json` this binary writes and reads.
pub const FORMAT: u32 = 1;
pub const RAW_FILE: &str = "raw.csv";
pub const RUN_FILE: &str = "run.json";
pub const ENV_FILE: &str = "env.json";

/// Why a run produced no timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Ok,
    /// It ran and failed (the reason says how).
    Failed,
    /// It was not started (no GPU, no real data, ...; the reason says why).
    NotRun,
}

/// One row of `raw.csv`. Times are seconds on that rank in that epoch; a row of a failed or
/// not-run cell has no epoch, rank or figures, only the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawRow {
    pub dpstudy_version: String,
    pub git_revision: String,
    pub profile: String,
    /// The cell's id ([`Cell::id`]).
    pub cell: String,
    /// The tables that use this cell, space-separated.
    pub tables: String,
    pub mode: Mode,
    /// Gradient sync of MPI cells, empty otherwise.
    pub sync: Option<SyncKind>,
    pub ranks: usize,
    pub threads: usize,
    /// Ranks x threads exceed this host's cores (ran with --oversubscribe).
    pub oversubscribed: bool,
    /// `cpu`, or the GPU's name.
    pub device: String,
    pub data_source: SourceLabel,
    pub n: usize,
    pub test_n: usize,
    pub hidden: usize,
    pub dtype: Dtype,
    pub epochs: usize,
    pub iters: usize,
    /// 0-based timed repetition; warm-up runs count from 0 too and are flagged.
    pub rep: usize,
    pub warmup: bool,
    pub status: Status,
    pub reason: String,
    pub epoch: Option<usize>,
    pub rank: Option<usize>,
    pub iterations: Option<usize>,
    pub compute_s: Option<f64>,
    pub wait_s: Option<f64>,
    pub comm_s: Option<f64>,
    pub update_s: Option<f64>,
    pub eval_s: Option<f64>,
    pub wall_s: Option<f64>,
    /// The epoch without its evaluation: the training time proper.
    pub train_s: Option<f64>,
    pub cost: Option<f64>,
    pub train_acc: Option<f64>,
    pub test_cost: Option<f64>,
    pub test_acc: Option<f64>,
    /// MPI cells across emulated hosts: the link between them (empty: one host). Last, so
    /// that raw.csv files written before it existed still read.
    #[serde(default)]
    pub link: Option<crate::cluster::Link>,
    /// Ensemble cells: validation rows, and whether members train on bootstrap samples.
    /// Their rows hold each rank's own member's cost and accuracies, and the combiners'
    /// test figures on every row of the run. (After `link`, so older files still read.)
    #[serde(default)]
    pub validation_n: usize,
    #[serde(default)]
    pub bagging: bool,
    #[serde(default)]
    pub average_test_acc: Option<f64>,
    #[serde(default)]
    pub average_test_cost: Option<f64>,
    #[serde(default)]
    pub vote_test_acc: Option<f64>,
    #[serde(default)]
    pub stacked_test_acc: Option<f64>,
    #[serde(default)]
    pub stacked_test_cost: Option<f64>,
    /// The machine around the run (`machine::RunState`), the same on every row of a run:
    /// the share of CPU ticks stolen by the hypervisor, the one-minute load before and
    /// after, and the CPU seconds of the run's processes. (Last, so older files still read.)
    #[serde(default)]
    pub steal_share: Option<f64>,
    #[serde(default)]
    pub load_before: Option<f64>,
    #[serde(default)]
    pub load_after: Option<f64>,
    #[serde(default)]
    pub cpu_s: Option<f64>,
    /// The run's reduction, and the SHA-256 of its trained weights (rank 0's; in every row
    /// of the run). (Last, so older files still read: as float, without a hash.)
    #[serde(default)]
    pub reduce: crate::train::Reduction,
    #[serde(default)]
    pub weights_sha256: Option<String>,
    /// What the user waits for the run, end to end: from starting its process (mpirun for
    /// MPI cells) to its exit, so mpirun's start-up, loading and scattering the data, the
    /// training loop, every evaluation and writing the result (in every row of the run).
    /// (Last, so older files still read: without it.)
    #[serde(default)]
    pub process_s: Option<f64>,
    /// The CPU kernel that computed the run's steps (rank 0's; empty: the GPU, a baseline,
    /// or a run recorded before dpstudy wrote it). The cost model fits each kernel's compute
    /// apart: the step's time per sample changes where the kernel does. (Last, so older
    /// files still read: without it.)
    #[serde(default)]
    pub kernel: Option<crate::model::kernel::KernelKind>,
}

impl RawRow {
    /// Records the machine's state around the run this row belongs to.
    pub fn set_state(&mut self, state: &super::machine::RunState) {
        self.steal_share = Some(state.steal_share);
        self.load_before = Some(state.load_before);
        self.load_after = Some(state.load_after);
        self.cpu_s = Some(state.cpu_s);
    }
}

/// What every row of one run of one cell shares.
#[derive(Debug, Clone)]
pub struct RunKey<'a> {
    pub profile: &'a str,
    pub cell: &'a Cell,
    pub tables: &'a [String],
    pub dtype: Dtype,
    pub oversubscribed: bool,
    pub rep: usize,
    pub warmup: bool,
}

impl RunKey<'_> {
    fn row(&self, status: Status, reason: &str, device: &str, data_source: SourceLabel) -> RawRow {
        let c = self.cell;
        RawRow {
            dpstudy_version: env!("CARGO_PKG_VERSION").into(),
            git_revision: crate::util::build_info::GIT_REVISION.into(),
            profile: self.profile.into(),
            cell: c.id(),
            tables: self.tables.join(" "),
            mode: c.mode,
            sync: c.sync,
            ranks: c.ranks,
            threads: c.threads,
            oversubscribed: self.oversubscribed,
            device: device.into(),
            data_source,
            n: c.n,
            test_n: c.test_n,
            hidden: c.hidden,
            dtype: self.dtype,
            epochs: c.epochs,
            iters: c.iters,
            rep: self.rep,
            warmup: self.warmup,
            status,
            reason: reason.into(),
            epoch: None,
            rank: None,
            iterations: None,
            compute_s: None,
            wait_s: None,
            comm_s: None,
            update_s: None,
            eval_s: None,
            wall_s: None,
            train_s: None,
            cost: None,
            train_acc: None,
            test_cost: None,
            test_acc: None,
            link: c.link,
            validation_n: c.validation_n,
            bagging: c.bagging,
            average_test_acc: None,
            average_test_cost: None,
            vote_test_acc: None,
            stacked_test_acc: None,
            stacked_test_cost: None,
            steal_share: None,
            load_before: None,
            load_after: None,
            cpu_s: None,
            reduce: c.reduce,
            weights_sha256: None,
            process_s: None,
            kernel: None,
        }
    }

    /// The single row recording that this run failed or was not run, and why.
    pub fn without_result(&self, status: Status, reason: &str, data_source: SourceLabel) -> RawRow {
        self.row(status, reason, "", data_source)
    }

    /// One row per (epoch, rank) of a finished run.
    pub fn rows(&self, result: &TrainResult, device: &str) -> Vec<RawRow> {
        let source = result.data_source.label();
        let combiner = |which: Combiner| result.ensemble.as_ref().and_then(|e| e.combiner(which));
        let (average, vote, stacked) =
            (combiner(Combiner::Average), combiner(Combiner::Vote), combiner(Combiner::Stacked));
        let mut rows = Vec::new();
        for epoch in &result.epochs {
            for (r, t) in epoch.ranks.iter().enumerate() {
                let mut row = self.row(Status::Ok, "", device, source);
                row.epoch = Some(epoch.epoch);
                row.rank = Some(t.rank);
                row.iterations = Some(epoch.iterations);
                row.compute_s = Some(t.compute_s);
                row.wait_s = Some(t.wait_s);
                row.comm_s = Some(t.comm_s);
                row.update_s = Some(t.update_s);
                row.eval_s = Some(t.eval_s);
                row.wall_s = Some(t.wall_s);
                row.train_s = Some(t.wall_s - t.eval_s);
                // An ensemble's ranks each trained their own member; the others one model.
                let scores = epoch.members.get(r).copied().unwrap_or(MemberScores {
                    cost: epoch.cost,
                    train_acc: epoch.train_acc,
                    test_cost: epoch.test_cost,
                    test_acc: epoch.test_acc,
                });
                row.cost = Some(scores.cost);
                row.train_acc = Some(scores.train_acc);
                row.test_cost = scores.test_cost;
                row.test_acc = scores.test_acc;
                row.average_test_acc = average.map(|c| c.test_acc);
                row.average_test_cost = average.and_then(|c| c.test_cost);
                row.vote_test_acc = vote.map(|c| c.test_acc);
                row.stacked_test_acc = stacked.map(|c| c.test_acc);
                row.stacked_test_cost = stacked.and_then(|c| c.test_cost);
                row.weights_sha256.clone_from(&result.weights_sha256);
                row.kernel = result.kernel;
                rows.push(row);
            }
        }
        rows
    }
}

/// Writes all rows to `dir/raw.csv` atomically.
pub fn write_rows(dir: &Path, rows: &[RawRow]) -> anyhow::Result<()> {
    let path = dir.join(RAW_FILE);
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row).with_context(|| format!("cannot encode a row of {}", path.display()))?;
    }
    let bytes = writer.into_inner().context("cannot finish the CSV")?;
    files::write_atomic(&path, &bytes)
}

/// Reads `dir/raw.csv`, naming the line of a malformed row.
pub fn read_rows(dir: &Path) -> anyhow::Result<Vec<RawRow>> {
    let path = dir.join(RAW_FILE);
    let mut reader = csv::Reader::from_path(&path).with_context(|| format!("cannot read {}", path.display()))?;
    reader
        .deserialize()
        .enumerate()
        .map(|(i, row)| row.with_context(|| format!("{}, line {}: not a row of this format", path.display(), i + 2)))
        .collect()
}

/// `run.json`: what was run, by which binary, and whether it finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub format: u32,
    pub dpstudy_version: String,
    pub git_revision: String,
    pub profile: String,
    /// Table ids of the run.
    pub tables: Vec<String>,
    pub max_ranks: usize,
    pub oversubscribe: bool,
    pub mpirun_args: Vec<String>,
    pub data: DataKind,
    /// The MNIST images the run read (runs recorded before pools were named: `present`).
    #[serde(default)]
    pub pool: crate::data::Pool,
    pub dtype: Dtype,
    /// The experiments file's text as run.
    pub experiments_toml: String,
    pub started: String,
    /// Set when every cell has run (successfully or not) and the raw file is final.
    pub finished: Option<String>,
    pub cells_total: usize,
    pub cells_failed: usize,
    pub cells_not_run: usize,
    /// `--reps` of the run, if given; where it read its data and cached what it prepared;
    /// whether it checked the files' checksums. What `--resume DIR` alone takes from here.
    /// (Absent from runs recorded before; then the flags' defaults.)
    #[serde(default)]
    pub reps: Option<usize>,
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    #[serde(default = "yes")]
    pub verify: bool,
}

fn yes() -> bool {
    true
}

/// A results directory that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("{0} is not a dpstudy results directory (no {RUN_FILE})")]
    NotResults(PathBuf),
    #[error(
        "{path}: written by dpstudy {version} in results format {format}; this is dpstudy {ours}, which reads \
         format {FORMAT}"
    )]
    OtherFormat { path: PathBuf, version: String, format: u32, ours: &'static str },
}

impl RunMeta {
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        files::write_atomic(&dir.join(RUN_FILE), serde_json::to_string_pretty(self)?.as_bytes())
    }

    /// Reads `dir/run.json`, refusing other formats.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(RUN_FILE);
        if !path.exists() {
            return Err(ResultsError::NotResults(dir.into()).into());
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
        let format = value.get("format").and_then(|f| f.as_u64()).unwrap_or(0) as u32;
        if format != FORMAT {
            let version = value.get("dpstudy_version").and_then(|v| v.as_str()).unwrap_or("unknown").to_string();
            return Err(ResultsError::OtherFormat { path, version, format, ours: env!("CARGO_PKG_VERSION") }.into());
        }
        serde_json::from_value(value).with_context(|| format!("{}: not a run description", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_csv() {
        let dir = tempfile::tempdir().unwrap();
        let cell = Cell {
            n: 10,
            hidden: 3,
            test_n: 0,
            epochs: 1,
            iters: 2,
            mode: Mode::Seq,
            ranks: 1,
            threads: 1,
            sync: None,
            link: None,
            validation_n: 0,
            bagging: false,
            reduce: Default::default(),
        };
        let key = RunKey {
            profile: "quick",
            cell: &cell,
            tables: &["T1".into(), "T2".into()],
            dtype: Dtype::F64,
            oversubscribed: false,
            rep: 0,
            warmup: false,
        };
        let mut ok = key.without_result(Status::Ok, "", SourceLabel::Mnist);
        ok.epoch = Some(1);
        ok.train_s = Some(0.25);
        ok.kernel = Some(crate::model::kernel::KernelKind::Gemm);
        let failed = key.without_result(Status::Failed, "mpirun: not found, \"quoted\"", SourceLabel::Mnist);
        write_rows(dir.path(), &[ok.clone(), failed.clone()]).unwrap();
        assert_eq!(read_rows(dir.path()).unwrap(), [ok, failed]);
    }

    #[test]
    fn a_raw_file_written_before_the_kernel_column_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let cell = Cell {
            n: 10,
            hidden: 3,
            test_n: 0,
            epochs: 1,
            iters: 2,
            mode: Mode::Seq,
            ranks: 1,
            threads: 1,
            sync: None,
            link: None,
            validation_n: 0,
            bagging: false,
            reduce: Default::default(),
        };
        let key = RunKey {
            profile: "quick",
            cell: &cell,
            tables: &[],
            dtype: Dtype::F64,
            oversubscribed: false,
            rep: 0,
            warmup: false,
        };
        let mut row = key.without_result(Status::Ok, "", SourceLabel::Mnist);
        row.kernel = Some(crate::model::kernel::KernelKind::FusedAvx512);
        write_rows(dir.path(), std::slice::from_ref(&row)).unwrap();
        let path = dir.path().join(RAW_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().next().unwrap().ends_with(",kernel") && text.contains("fused-avx512"), "{text}");
        // The older layout: the same rows without the last column.
        let older: String = text.lines().map(|l| format!("{}\n", &l[..l.rfind(',').unwrap()])).collect();
        std::fs::write(&path, older).unwrap();
        row.kernel = None;
        assert_eq!(read_rows(dir.path()).unwrap(), [row]);
    }

    #[test]
    fn other_formats_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        assert!(RunMeta::read(dir.path()).unwrap_err().to_string().contains("not a dpstudy results directory"));
        std::fs::write(dir.path().join(RUN_FILE), r#"{"format": 99, "dpstudy_version": "9.0.0"}"#).unwrap();
        let e = RunMeta::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("dpstudy 9.0.0") && e.contains("format 99"), "{e}");
    }
}
