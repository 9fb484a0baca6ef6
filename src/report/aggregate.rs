//! From raw rows to per-cell statistics, with polars: per run (rank 0's clock, all ranks'
//! communication), then per cell over the timed runs (median, min, max, IQR, n), per-epoch
//! spread, outliers by Tukey's fences (flagged, never dropped); then, from each cell's runs,
//! the median's 95% confidence interval, and speedup and efficiency against the sequential
//! cell of the same work, round by round (`crate::stats`).

use std::path::Path;

use anyhow::Context;
use polars::prelude::*;
use serde::de::DeserializeOwned;

use crate::cluster::Link;
use crate::commbench::CommBenchRecord;
use crate::data::SourceLabel;
use crate::experiment::plan::WorkKey;
use crate::experiment::raw::{RawRow, Status};
use crate::model::kernel::KernelKind;
use crate::stats::{self, Estimate};
use crate::train::{Mode, Reduction, SyncKind};

/// The columns that identify a cell.
const CELL_KEYS: [&str; 17] = [
    "cell",
    "tables",
    "mode",
    "sync",
    "link",
    "ranks",
    "threads",
    "oversubscribed",
    "data_source",
    "n",
    "test_n",
    "hidden",
    "epochs",
    "iters",
    "validation_n",
    "bagging",
    "reduce",
];
/// What makes two cells comparable for speedup: same work (see [`WorkKey`]).
const WORK_KEYS: [&str; 6] = ["n", "test_n", "hidden", "epochs", "iters", "reduce"];

/// One timed run of a cell, as the round-by-round figures read it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RunSample {
    /// The round (the runner runs round r of every cell before round r + 1).
    pub rep: usize,
    /// Training time (rank 0, evaluation excluded).
    pub total_s: f64,
    /// Mean time of one gradient step.
    pub step_s: f64,
    /// Share of the ranks' training time in collectives.
    pub comm_share: f64,
    /// Share of the machine's CPU ticks stolen while the run went (NaN: not recorded).
    pub steal_share: f64,
    /// The run end to end: its process from start to exit (NaN: not recorded, in results
    /// written before dpstudy recorded it).
    pub process_s: f64,
}

impl RunSample {
    /// Whether the machine was noticeably someone else's during this run.
    pub fn flagged(&self) -> bool {
        self.steal_share > crate::experiment::machine::STEAL_FLAG
    }
}

/// The tables a cell belongs to: `T1 T3` in raw.csv, a list here.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableIds(pub Vec<String>);

impl TableIds {
    /// The ids of raw.csv's `tables` column, separated by spaces.
    pub fn parse(text: &str) -> Self {
        Self(text.split_whitespace().map(str::to_string).collect())
    }

    pub fn contains(&self, id: &str) -> bool {
        self.0.iter().any(|t| t == id)
    }
}

impl From<&str> for TableIds {
    fn from(text: &str) -> Self {
        Self::parse(text)
    }
}

impl std::fmt::Display for TableIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl serde::Serialize for TableIds {
    /// As raw.csv writes them: one string, the ids separated by spaces.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Statistics of one cell over its timed runs. Times in seconds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CellStats {
    pub cell: String,
    pub tables: TableIds,
    pub mode: Mode,
    pub sync: Option<SyncKind>,
    /// MPI cells across emulated hosts: the link between them.
    pub link: Option<Link>,
    pub ranks: usize,
    pub threads: usize,
    pub oversubscribed: bool,
    pub data_source: SourceLabel,
    pub n: usize,
    pub test_n: usize,
    pub hidden: usize,
    pub epochs: usize,
    pub iters: usize,
    /// Timed runs.
    pub runs: usize,
    /// The timed runs themselves, by round.
    pub samples: Vec<RunSample>,
    /// The median training time with its confidence interval (`None`: no timed run).
    pub time: Option<Estimate>,
    /// The median end-to-end time of a run (process start to exit: mpirun's start-up,
    /// loading and scattering the data, training, evaluation) with its interval (`None`:
    /// not recorded).
    pub end_to_end: Option<Estimate>,
    /// The sequential cell's end-to-end time over this cell's, round by round.
    pub end_to_end_speedup: Option<Estimate>,
    /// Total training time of a run (rank 0, evaluation excluded).
    pub median_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    pub q1_s: f64,
    pub q3_s: f64,
    /// Runs outside [q1 - 1.5 IQR, q3 + 1.5 IQR].
    pub outliers: usize,
    /// Median time of one gradient step.
    pub step_s: f64,
    /// Median over runs of rank 0's communication time per step.
    pub comm_step_s: f64,
    /// Share of the ranks' training time spent in collectives, and waiting before them.
    pub comm_share: f64,
    pub wait_share: f64,
    /// Per-epoch time over every (run, epoch): median, min, max, quartiles.
    pub epoch_median_s: f64,
    pub epoch_min_s: f64,
    pub epoch_max_s: f64,
    pub epoch_q1_s: f64,
    pub epoch_q3_s: f64,
    pub final_cost: f64,
    pub final_train_acc: f64,
    pub final_test_acc: Option<f64>,
    /// Ensemble cells: validation rows, bootstrap members, the best member's test accuracy
    /// and each combiner's (medians over runs; the figures are deterministic).
    pub validation_n: usize,
    pub bagging: bool,
    pub best_member_test_acc: Option<f64>,
    pub average_test_acc: Option<f64>,
    pub vote_test_acc: Option<f64>,
    pub stacked_test_acc: Option<f64>,
    /// The sequential cell of the same work: its median, and this cell's speedup over it:
    /// the median over rounds of the sequential run's time over this cell's in the same
    /// round, with its interval.
    pub seq_median_s: Option<f64>,
    pub speedup: Option<Estimate>,
    /// Speedup per core (ranks x threads).
    pub efficiency: Option<Estimate>,
    /// How the gradient sums were reduced.
    pub reduce: Reduction,
    /// The SHA-256 of the trained weights, when every run of the cell recorded the same one
    /// (`None`: none recorded, a baseline, or runs that disagree: see `hash_variants`).
    pub weights_sha256: Option<String>,
    /// Distinct weight hashes over the cell's runs (1 for a deterministic cell).
    pub hash_variants: usize,
    /// The CPU kernel every timed run of the cell computed with (`None`: not recorded, or
    /// runs that disagree). Which kernel runs depends on H and the rows per process, so a
    /// cell and its P-rank counterpart may differ: the cost model fits each apart.
    pub kernel: Option<KernelKind>,
}

impl CellStats {
    /// P as tables show it: ranks for MPI, threads for the threads mode, 1 otherwise.
    pub fn p(&self) -> usize {
        self.ranks * self.threads
    }

    pub fn in_table(&self, id: &str) -> bool {
        self.tables.contains(id)
    }

    /// The same-work key: cells with equal keys train the same thing.
    pub fn work(&self) -> WorkKey {
        (self.n, self.test_n, self.hidden, self.epochs, self.iters, self.reduce)
    }

    /// The runs' training times by round.
    pub fn totals(&self) -> Vec<(usize, f64)> {
        self.samples.iter().map(|s| (s.rep, s.total_s)).collect()
    }

    /// The runs' step times by round.
    pub fn steps(&self) -> Vec<(usize, f64)> {
        self.samples.iter().map(|s| (s.rep, s.step_s)).collect()
    }

    /// The median step time with its interval.
    pub fn step(&self) -> Option<Estimate> {
        stats::median_interval(&self.samples.iter().map(|s| s.step_s).collect::<Vec<_>>())
    }

    /// The runs' end-to-end times by round (those that recorded one).
    pub fn end_to_end_totals(&self) -> Vec<(usize, f64)> {
        self.samples.iter().filter(|s| s.process_s.is_finite()).map(|s| (s.rep, s.process_s)).collect()
    }

    /// The runs' communication shares by round.
    pub fn comm_shares(&self) -> Vec<(usize, f64)> {
        self.samples.iter().map(|s| (s.rep, s.comm_share)).collect()
    }

    /// `self`'s time over `other`'s, round by round (`other` faster: above 1).
    pub fn time_ratio(&self, other: &CellStats) -> Option<Estimate> {
        stats::paired_ratio(&self.totals(), &other.totals())
    }

    /// `self`'s time over `other`'s where their runs were not interleaved: a GPU cell, which
    /// a lent GPU machine runs and `merge` joins to this machine's CPU cells, against a CPU
    /// cell ([`stats::unpaired_ratio`]).
    pub fn unpaired_time_ratio(&self, other: &CellStats) -> Option<Estimate> {
        Some(stats::unpaired_ratio(&self.time?, &other.time?))
    }

    /// `mpi allreduce`, `threads`, `seq`, ...; a baseline says so: `original (baseline)`;
    /// an ensemble of bootstrap members: `ensemble bagging`.
    pub fn label(&self) -> String {
        if self.mode == Mode::Ensemble {
            return if self.bagging { "ensemble bagging".into() } else { "ensemble".into() };
        }
        match (self.sync, self.mode.is_baseline()) {
            (Some(sync), _) => format!("{} {sync}", self.mode),
            (None, true) => format!("{} (baseline)", self.mode),
            (None, false) => self.mode.to_string(),
        }
    }
}

/// A cell that has no timings, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CellGap {
    pub cell: String,
    pub tables: TableIds,
    pub mode: Mode,
    pub status: Status,
    pub reason: String,
}

/// The aggregation of a results directory.
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// Sorted by size, hidden units, mode, P, sync.
    pub cells: Vec<CellStats>,
    pub gaps: Vec<CellGap>,
    /// The per-cell statistics as a polars frame (what `summary/*.csv` holds).
    pub frame: DataFrame,
    /// The run's communication sweeps (`commbench/`), which the cost model is fitted to.
    pub commbench: Vec<CommBenchRecord>,
    /// The sweeps that started and failed (`name: why`).
    pub commbench_failures: Vec<String>,
}

fn frame_of(rows: &[RawRow]) -> PolarsResult<DataFrame> {
    // Text columns hold the names raw.csv holds (`Display` of each enum).
    let s = |f: fn(&RawRow) -> String| rows.iter().map(f).collect::<Vec<_>>();
    let i = |f: fn(&RawRow) -> usize| rows.iter().map(|r| f(r) as i64).collect::<Vec<_>>();
    let oi = |f: fn(&RawRow) -> Option<usize>| rows.iter().map(|r| f(r).map(|v| v as i64)).collect::<Vec<_>>();
    let of = |f: fn(&RawRow) -> Option<f64>| rows.iter().map(f).collect::<Vec<_>>();
    let status = |r: &RawRow| match r.status {
        Status::Ok => "ok".to_string(),
        Status::Failed => "failed".to_string(),
        Status::NotRun => "not-run".to_string(),
    };
    DataFrame::new_infer_height(vec![
        Column::new("cell".into(), s(|r| r.cell.clone())),
        Column::new("tables".into(), s(|r| r.tables.clone())),
        Column::new("mode".into(), s(|r| r.mode.to_string())),
        Column::new("sync".into(), s(|r| r.sync.map(|s| s.to_string()).unwrap_or_default())),
        Column::new("link".into(), s(|r| r.link.map(|l| l.to_string()).unwrap_or_default())),
        Column::new("ranks".into(), i(|r| r.ranks)),
        Column::new("threads".into(), i(|r| r.threads)),
        Column::new("oversubscribed".into(), rows.iter().map(|r| r.oversubscribed).collect::<Vec<_>>()),
        Column::new("data_source".into(), s(|r| r.data_source.to_string())),
        Column::new("n".into(), i(|r| r.n)),
        Column::new("test_n".into(), i(|r| r.test_n)),
        Column::new("hidden".into(), i(|r| r.hidden)),
        Column::new("epochs".into(), i(|r| r.epochs)),
        Column::new("iters".into(), i(|r| r.iters)),
        Column::new("rep".into(), i(|r| r.rep)),
        Column::new("warmup".into(), rows.iter().map(|r| r.warmup).collect::<Vec<_>>()),
        Column::new("status".into(), rows.iter().map(status).collect::<Vec<_>>()),
        Column::new("epoch".into(), oi(|r| r.epoch)),
        Column::new("rank".into(), oi(|r| r.rank)),
        Column::new("iterations".into(), oi(|r| r.iterations)),
        Column::new("comm_s".into(), of(|r| r.comm_s)),
        Column::new("wait_s".into(), of(|r| r.wait_s)),
        Column::new("train_s".into(), of(|r| r.train_s)),
        Column::new("cost".into(), of(|r| r.cost)),
        Column::new("train_acc".into(), of(|r| r.train_acc)),
        Column::new("test_acc".into(), of(|r| r.test_acc)),
        Column::new("validation_n".into(), i(|r| r.validation_n)),
        Column::new("bagging".into(), rows.iter().map(|r| r.bagging).collect::<Vec<_>>()),
        Column::new("average_test_acc".into(), of(|r| r.average_test_acc)),
        Column::new("vote_test_acc".into(), of(|r| r.vote_test_acc)),
        Column::new("stacked_test_acc".into(), of(|r| r.stacked_test_acc)),
        Column::new("steal_share".into(), of(|r| r.steal_share)),
        Column::new("reduce".into(), s(|r| r.reduce.to_string())),
        Column::new("weights_sha256".into(), rows.iter().map(|r| r.weights_sha256.clone()).collect::<Vec<_>>()),
        Column::new("process_s".into(), of(|r| r.process_s)),
    ])
}

fn keys() -> Vec<Expr> {
    CELL_KEYS.iter().map(|k| col(*k)).collect()
}

fn quartile(name: &str, q: f64) -> Expr {
    col(name).quantile(lit(q), QuantileMethod::Linear)
}

/// The per-cell statistics frame (lazy until the end), and the per-run frame (cell, rep,
/// total, step and communication share) the intervals are computed from.
fn cell_frame(raw: DataFrame) -> PolarsResult<(DataFrame, DataFrame)> {
    let timed = raw.lazy().filter(col("status").eq(lit("ok")).and(col("warmup").not()));
    let runs = runs_of(timed.clone());
    let per_cell = per_cell_of(runs.clone());
    let outliers = outliers_of(&per_cell, runs.clone());
    let epochs = epochs_of(timed);

    let work: Vec<Expr> = WORK_KEYS.iter().map(|k| col(*k)).collect();
    let mut seq_cols = work.clone();
    seq_cols.push(col("median_s").alias("seq_median_s"));
    let seq = per_cell.clone().filter(col("mode").eq(lit(Mode::Seq.as_str()))).select(seq_cols);

    let left = || JoinArgs::new(JoinType::Left);
    let runs_of_cells = runs
        .select([
            col("cell"),
            col("rep"),
            col("total_s"),
            col("step_s"),
            col("comm_share"),
            col("steal_share"),
            col("process_s"),
        ])
        .sort_by_exprs([col("cell"), col("rep")], SortMultipleOptions::default())
        .collect()?;
    let cells = per_cell
        .join(outliers, [col("cell")], [col("cell")], left())
        .join(epochs, [col("cell")], [col("cell")], left())
        .join(seq, work.clone(), work, left())
        .with_columns([col("outliers").fill_null(lit(0i64))])
        .sort_by_exprs(
            // Ends with the cell id, which is unique: the order never depends on the group-by.
            [
                col("n"),
                col("hidden"),
                col("test_n"),
                col("mode"),
                col("ranks"),
                col("threads"),
                col("sync"),
                col("epochs"),
                col("iters"),
                col("cell"),
            ],
            SortMultipleOptions::default(),
        )
        .collect()?;
    Ok((cells, runs_of_cells))
}

/// One row per run (cell and rep) of the timed rows: rank 0's total, steps and time in the
/// collectives, the shares over every rank, the final scores.
fn runs_of(timed: LazyFrame) -> LazyFrame {
    let root = col("rank").eq(lit(0i64));
    let last_epoch = root.clone().and(col("epoch").eq(col("epochs")));
    let root_last = last_epoch.clone();
    let mut run_keys = keys();
    run_keys.push(col("rep"));
    timed
        .group_by(run_keys)
        .agg([
            col("train_s").filter(root.clone()).sum().alias("total_s"),
            col("iterations").filter(root.clone()).sum().cast(DataType::Float64).alias("steps"),
            col("comm_s").filter(root).sum().alias("root_comm_s"),
            (col("comm_s").sum() / col("train_s").sum()).alias("comm_share"),
            (col("wait_s").sum() / col("train_s").sum()).alias("wait_share"),
            col("cost").filter(last_epoch.clone()).first().alias("final_cost"),
            col("train_acc").filter(last_epoch.clone()).first().alias("final_train_acc"),
            col("test_acc").filter(last_epoch).first().alias("final_test_acc"),
            col("test_acc").filter(col("epoch").eq(col("epochs"))).max().alias("best_member_test_acc"),
            col("average_test_acc").first().alias("average_test_acc"),
            col("vote_test_acc").first().alias("vote_test_acc"),
            col("stacked_test_acc").first().alias("stacked_test_acc"),
            col("steal_share").max().alias("steal_share"),
            col("process_s").max().alias("process_s"),
            col("weights_sha256").filter(root_last.clone()).first().alias("weights_sha256"),
        ])
        .with_columns([
            (col("total_s") / col("steps")).alias("step_s"),
            (col("root_comm_s") / col("steps")).alias("comm_step_s"),
        ])
}

/// One row per cell: its runs' count, the totals' median and quartiles, the medians of the
/// rest.
fn per_cell_of(runs: LazyFrame) -> LazyFrame {
    runs.group_by(keys()).agg([
        col("total_s").len().cast(DataType::Int64).alias("runs"),
        col("total_s").median().alias("median_s"),
        col("total_s").min().alias("min_s"),
        col("total_s").max().alias("max_s"),
        quartile("total_s", 0.25).alias("q1_s"),
        quartile("total_s", 0.75).alias("q3_s"),
        col("step_s").median().alias("step_s"),
        col("comm_step_s").median().alias("comm_step_s"),
        col("comm_share").median().alias("comm_share"),
        col("wait_share").median().alias("wait_share"),
        col("final_cost").median().alias("final_cost"),
        col("final_train_acc").median().alias("final_train_acc"),
        col("final_test_acc").median().alias("final_test_acc"),
        col("best_member_test_acc").median().alias("best_member_test_acc"),
        col("average_test_acc").median().alias("average_test_acc"),
        col("vote_test_acc").median().alias("vote_test_acc"),
        col("stacked_test_acc").median().alias("stacked_test_acc"),
        col("weights_sha256").n_unique().cast(DataType::Int64).alias("hash_variants"),
        col("weights_sha256").first().alias("weights_sha256"),
    ])
}

/// Tukey's fences on the runs' totals: the outliers counted per cell (the runs themselves
/// are kept).
fn outliers_of(per_cell: &LazyFrame, runs: LazyFrame) -> LazyFrame {
    let fences = per_cell.clone().select([
        col("cell"),
        (col("q1_s") - lit(1.5) * (col("q3_s") - col("q1_s"))).alias("low"),
        (col("q3_s") + lit(1.5) * (col("q3_s") - col("q1_s"))).alias("high"),
    ]);
    runs.join(fences, [col("cell")], [col("cell")], JoinArgs::new(JoinType::Inner)).group_by([col("cell")]).agg([col(
        "total_s",
    )
    .lt(col("low"))
    .or(col("total_s").gt(col("high")))
    .cast(DataType::Int64)
    .sum()
    .alias("outliers")])
}

/// One row per cell: rank 0's epoch times' median, range and quartiles.
fn epochs_of(timed: LazyFrame) -> LazyFrame {
    timed.filter(col("rank").eq(lit(0i64))).group_by([col("cell")]).agg([
        col("train_s").median().alias("epoch_median_s"),
        col("train_s").min().alias("epoch_min_s"),
        col("train_s").max().alias("epoch_max_s"),
        quartile("train_s", 0.25).alias("epoch_q1_s"),
        quartile("train_s", 0.75).alias("epoch_q3_s"),
    ])
}

/// The enum whose serde name is `value`, or an error naming the column.
fn parse_name<T: DeserializeOwned>(column: &str, value: String) -> anyhow::Result<T> {
    serde_json::from_value(serde_json::Value::String(value.clone()))
        .with_context(|| format!("column `{column}`: unknown value `{value}`"))
}

/// A frame's columns, read by name.
struct Columns<'a>(&'a DataFrame);

impl Columns<'_> {
    fn strs(&self, name: &str) -> PolarsResult<Vec<String>> {
        Ok(self.0.column(name)?.str()?.iter().map(|v| v.unwrap_or_default().to_string()).collect())
    }

    /// A text column of enum names, parsed by the enum's serde names (those raw.csv holds).
    fn enums<T: DeserializeOwned>(&self, name: &str) -> anyhow::Result<Vec<T>> {
        self.strs(name)?.into_iter().map(|v| parse_name(name, v)).collect()
    }

    /// A text column that may be empty (no value), else of enum names.
    fn optional_enums<T: DeserializeOwned>(&self, name: &str) -> anyhow::Result<Vec<Option<T>>> {
        self.strs(name)?.into_iter().map(|v| (!v.is_empty()).then(|| parse_name(name, v)).transpose()).collect()
    }

    fn ints(&self, name: &str) -> PolarsResult<Vec<usize>> {
        Ok(self.0.column(name)?.cast(&DataType::Int64)?.i64()?.iter().map(|v| v.unwrap_or(0) as usize).collect())
    }

    fn bools(&self, name: &str) -> PolarsResult<Vec<bool>> {
        Ok(self.0.column(name)?.bool()?.iter().map(|v| v.unwrap_or(false)).collect())
    }

    fn floats(&self, name: &str) -> PolarsResult<Vec<Option<f64>>> {
        Ok(self.0.column(name)?.cast(&DataType::Float64)?.f64()?.iter().collect())
    }

    /// A float column where a missing value is NaN.
    fn nans(&self, name: &str) -> PolarsResult<Vec<f64>> {
        Ok(self.floats(name)?.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    }
}

fn stats_of(df: &DataFrame) -> anyhow::Result<Vec<CellStats>> {
    let c = Columns(df);
    let (cell, tables) = (c.strs("cell")?, c.strs("tables")?);
    let (mode, sync, source) =
        (c.enums::<Mode>("mode")?, c.optional_enums::<SyncKind>("sync")?, c.enums::<SourceLabel>("data_source")?);
    let link = c.optional_enums::<Link>("link")?;
    let (ranks, threads, over) = (c.ints("ranks")?, c.ints("threads")?, c.bools("oversubscribed")?);
    let (n, test_n, hidden, epochs, iters) =
        (c.ints("n")?, c.ints("test_n")?, c.ints("hidden")?, c.ints("epochs")?, c.ints("iters")?);
    let (runs, outliers) = (c.ints("runs")?, c.ints("outliers")?);
    let (median_s, min_s, max_s, q1_s, q3_s) =
        (c.nans("median_s")?, c.nans("min_s")?, c.nans("max_s")?, c.nans("q1_s")?, c.nans("q3_s")?);
    let (step_s, comm_step_s, comm_share, wait_share) =
        (c.nans("step_s")?, c.nans("comm_step_s")?, c.nans("comm_share")?, c.nans("wait_share")?);
    let (epoch_median_s, epoch_min_s, epoch_max_s, epoch_q1_s, epoch_q3_s) = (
        c.nans("epoch_median_s")?,
        c.nans("epoch_min_s")?,
        c.nans("epoch_max_s")?,
        c.nans("epoch_q1_s")?,
        c.nans("epoch_q3_s")?,
    );
    let (final_cost, final_train_acc, final_test_acc) =
        (c.nans("final_cost")?, c.nans("final_train_acc")?, c.floats("final_test_acc")?);
    let (validation_n, bagging) = (c.ints("validation_n")?, c.bools("bagging")?);
    let (best_member, average, vote, stacked) = (
        c.floats("best_member_test_acc")?,
        c.floats("average_test_acc")?,
        c.floats("vote_test_acc")?,
        c.floats("stacked_test_acc")?,
    );
    let seq_median_s = c.floats("seq_median_s")?;
    Ok((0..df.height())
        .map(|i| CellStats {
            cell: cell[i].clone(),
            tables: TableIds::parse(&tables[i]),
            mode: mode[i],
            sync: sync[i],
            link: link[i],
            ranks: ranks[i],
            threads: threads[i],
            oversubscribed: over[i],
            data_source: source[i],
            n: n[i],
            test_n: test_n[i],
            hidden: hidden[i],
            epochs: epochs[i],
            iters: iters[i],
            runs: runs[i],
            samples: vec![],
            time: None,
            end_to_end: None,
            end_to_end_speedup: None,
            median_s: median_s[i],
            min_s: min_s[i],
            max_s: max_s[i],
            q1_s: q1_s[i],
            q3_s: q3_s[i],
            outliers: outliers[i],
            step_s: step_s[i],
            comm_step_s: comm_step_s[i],
            comm_share: comm_share[i],
            wait_share: wait_share[i],
            epoch_median_s: epoch_median_s[i],
            epoch_min_s: epoch_min_s[i],
            epoch_max_s: epoch_max_s[i],
            epoch_q1_s: epoch_q1_s[i],
            epoch_q3_s: epoch_q3_s[i],
            final_cost: final_cost[i],
            final_train_acc: final_train_acc[i],
            final_test_acc: final_test_acc[i],
            validation_n: validation_n[i],
            bagging: bagging[i],
            best_member_test_acc: best_member[i].filter(|_| mode[i] == Mode::Ensemble),
            average_test_acc: average[i],
            vote_test_acc: vote[i],
            stacked_test_acc: stacked[i],
            seq_median_s: seq_median_s[i],
            speedup: None,
            efficiency: None,
            reduce: Reduction::Float,
            weights_sha256: None,
            hash_variants: 0,
            kernel: None,
        })
        .collect::<Vec<_>>())
    .and_then(|stats| with_hashes(&c, stats))
}

/// Each cell's reduction, and its weights hash when every run agrees on one.
fn with_hashes(c: &Columns<'_>, mut stats: Vec<CellStats>) -> anyhow::Result<Vec<CellStats>> {
    let (reduce, hashes, variants) =
        (c.enums::<Reduction>("reduce")?, c.strs("weights_sha256")?, c.ints("hash_variants")?);
    for (i, cell) in stats.iter_mut().enumerate() {
        cell.reduce = reduce[i];
        cell.weights_sha256 = (variants[i] == 1 && !hashes[i].is_empty()).then(|| hashes[i].clone());
        cell.hash_variants = variants[i];
    }
    Ok(stats)
}

/// Each cell's kernel: the one all its timed rows recorded, if they agree on one.
fn with_kernels(cells: &mut [CellStats], rows: &[RawRow]) {
    let mut seen: std::collections::HashMap<&str, Vec<Option<KernelKind>>> = std::collections::HashMap::new();
    for r in rows.iter().filter(|r| r.status == Status::Ok && !r.warmup) {
        let kinds = seen.entry(r.cell.as_str()).or_default();
        if !kinds.contains(&r.kernel) {
            kinds.push(r.kernel);
        }
    }
    for c in cells {
        c.kernel = match seen.get(c.cell.as_str()).map(Vec::as_slice) {
            Some([one]) => *one,
            _ => None,
        };
    }
}

/// The runs of each cell from the per-run frame.
fn samples_of(runs: &DataFrame) -> anyhow::Result<std::collections::HashMap<String, Vec<RunSample>>> {
    let c = Columns(runs);
    let (cell, rep) = (c.strs("cell")?, c.ints("rep")?);
    let (total, step, comm, steal, process) =
        (c.nans("total_s")?, c.nans("step_s")?, c.nans("comm_share")?, c.nans("steal_share")?, c.nans("process_s")?);
    let mut out: std::collections::HashMap<String, Vec<RunSample>> = std::collections::HashMap::new();
    for i in 0..runs.height() {
        let sample = RunSample {
            rep: rep[i],
            total_s: total[i],
            step_s: step[i],
            comm_share: comm[i],
            steal_share: steal[i],
            process_s: process[i],
        };
        out.entry(cell[i].clone()).or_default().push(sample);
    }
    Ok(out)
}

/// Each cell's runs, its time's interval, and its speedup and efficiency over the
/// sequential cell of the same work, round by round.
fn with_intervals(mut cells: Vec<CellStats>, runs: &DataFrame) -> anyhow::Result<Vec<CellStats>> {
    let mut samples = samples_of(runs)?;
    for c in &mut cells {
        c.samples = samples.remove(&c.cell).unwrap_or_default();
        c.time = stats::median_interval(&c.samples.iter().map(|s| s.total_s).collect::<Vec<_>>());
        c.end_to_end = stats::median_interval(&c.end_to_end_totals().iter().map(|&(_, s)| s).collect::<Vec<_>>());
    }
    let seq: Vec<CellStats> = cells.iter().filter(|c| c.mode == Mode::Seq).cloned().collect();
    for c in &mut cells {
        let Some(reference) = seq.iter().find(|s| s.work() == c.work()) else { continue };
        c.speedup = reference.time_ratio(c);
        c.end_to_end_speedup = stats::paired_ratio(&reference.end_to_end_totals(), &c.end_to_end_totals());
        let p = c.p() as f64;
        c.efficiency = c.speedup.map(|e| e.map(|v| v / p));
    }
    Ok(cells)
}

/// The intervals as columns of the summary frame (`speedup_low` ... beside `speedup`).
fn interval_columns(frame: &mut DataFrame, cells: &[CellStats]) -> PolarsResult<()> {
    type Pick = fn(&CellStats) -> Option<Estimate>;
    let picks: [(&str, Pick); 5] = [
        ("time", |c| c.time),
        ("speedup", |c| c.speedup),
        ("efficiency", |c| c.efficiency),
        ("end_to_end", |c| c.end_to_end),
        ("end_to_end_speedup", |c| c.end_to_end_speedup),
    ];
    for (name, pick) in picks {
        let part = |f: fn(&Estimate) -> f64| cells.iter().map(|c| pick(c).map(|e| f(&e))).collect::<Vec<Option<f64>>>();
        if name != "time" {
            frame.with_column(Column::new(name.into(), part(|e| e.value)))?;
        }
        frame.with_column(Column::new(format!("{name}_low").into(), part(|e| e.low)))?;
        frame.with_column(Column::new(format!("{name}_high").into(), part(|e| e.high)))?;
        frame.with_column(Column::new(format!("{name}_level").into(), part(|e| e.level)))?;
    }
    Ok(())
}

impl Aggregate {
    /// Aggregates raw rows.
    pub fn of(rows: &[RawRow]) -> anyhow::Result<Self> {
        let raw = frame_of(rows).map_err(anyhow::Error::from).context("cannot build the raw frame")?;
        let (mut frame, runs) =
            cell_frame(raw).map_err(anyhow::Error::from).context("cannot aggregate the raw rows")?;
        let mut cells = with_intervals(stats_of(&frame).context("cannot read the aggregated frame")?, &runs)?;
        with_kernels(&mut cells, rows);
        interval_columns(&mut frame, &cells)
            .map_err(anyhow::Error::from)
            .context("cannot add the intervals to the summary")?;
        let gaps = rows
            .iter()
            .filter(|r| r.status != Status::Ok)
            .map(|r| CellGap {
                cell: r.cell.clone(),
                tables: TableIds::parse(&r.tables),
                mode: r.mode,
                status: r.status,
                reason: r.reason.clone(),
            })
            .collect();
        Ok(Self { cells, gaps, frame, commbench: vec![], commbench_failures: vec![] })
    }

    /// The cells of one table.
    pub fn table<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a CellStats> + 'a {
        self.cells.iter().filter(move |c| c.in_table(id))
    }

    /// Cells of one table that have no timings.
    pub fn gaps_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a CellGap> + 'a {
        self.gaps.iter().filter(move |g| g.tables.contains(id))
    }

    /// Writes the rows of the cells of table `id` (all cells when `None`) as CSV bytes.
    pub fn csv(&self, id: Option<&str>) -> anyhow::Result<Vec<u8>> {
        let mask: BooleanChunked = self.cells.iter().map(|c| id.is_none_or(|id| c.in_table(id))).collect();
        let mut df = self.frame.filter(&mask)?;
        let mut bytes = Vec::new();
        CsvWriter::new(&mut bytes).include_header(true).finish(&mut df)?;
        Ok(bytes)
    }
}

/// Reads a results directory's raw rows and aggregates them, with its communication sweeps.
pub fn aggregate_dir(dir: &Path) -> anyhow::Result<Aggregate> {
    let mut agg = Aggregate::of(&crate::experiment::raw::read_rows(dir)?)?;
    agg.commbench = crate::commbench::record::read_dir(dir)?;
    agg.commbench_failures = crate::commbench::record::read_failures(dir);
    Ok(agg)
}
