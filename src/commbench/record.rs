//! What a sweep wrote: one row per pattern and size, and the record around them
//! (`commbench/<transport>-p<P>.json` in a results directory).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::op::CommOp;
use crate::cluster::Transport;

/// The record's format; a reader refuses others.
pub const RECORD_FORMAT: u32 = 1;
/// The folder of a results directory that holds the sweeps `reproduce` ran.
pub const DIR: &str = "commbench";

/// One pattern at one size: each rank's mean time per iteration, then the least, mean and
/// largest over the ranks taking part (as the OSU benchmarks report), the bandwidths at the
/// mean, and the elements found wrong in the checked pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub op: CommOp,
    pub bytes: usize,
    pub iters: usize,
    pub min_s: f64,
    pub avg_s: f64,
    pub max_s: f64,
    /// Message bytes over the mean time, GB/s.
    pub algbw_gbs: f64,
    /// The algorithm bandwidth times [`CommOp::bus_factor`], GB/s.
    pub busbw_gbs: f64,
    pub wrong: u64,
}

/// One sweep on one set of ranks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommBenchRecord {
    pub format: u32,
    pub command: Vec<String>,
    pub git_revision: String,
    /// Where the ranks talked (`None`: several hosts, and `--transport` did not say how).
    pub transport: Option<Transport>,
    pub ranks: usize,
    /// The distinct hosts the ranks ran on, in rank order.
    pub hosts: Vec<String>,
    pub warmup: usize,
    pub budget_s: f64,
    pub rows: Vec<Row>,
}

impl CommBenchRecord {
    /// Wrong elements over every row.
    pub fn wrong(&self) -> u64 {
        self.rows.iter().map(|r| r.wrong).sum()
    }

    pub fn rows_of(&self, op: CommOp) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(move |r| r.op == op)
    }

    /// The transport's name in labels: `shared memory`, a link, or `unnamed transport`.
    pub fn transport_label(&self) -> String {
        self.transport.map_or_else(|| "unnamed transport".into(), |t| t.to_string())
    }

    /// The sweep as the terminal shows it.
    pub fn text(&self) -> String {
        let mut out = format!(
            "commbench: {} ranks on {} host(s) ({}), {}; time per iteration over the ranks; bandwidths at the mean\n",
            self.ranks,
            self.hosts.len(),
            self.hosts.join(", "),
            self.transport_label()
        );
        out += &format!(
            "{:<13} {:>10} {:>6} {:>12} {:>12} {:>12} {:>10} {:>10} {:>6}\n",
            "pattern", "bytes", "iters", "min us", "avg us", "max us", "algbw GB/s", "busbw GB/s", "wrong"
        );
        for r in &self.rows {
            out += &format!(
                "{:<13} {:>10} {:>6} {:>12.2} {:>12.2} {:>12.2} {:>10.3} {:>10.3} {:>6}\n",
                r.op.as_str(),
                r.bytes,
                r.iters,
                1e6 * r.min_s,
                1e6 * r.avg_s,
                1e6 * r.max_s,
                r.algbw_gbs,
                r.busbw_gbs,
                r.wrong
            );
        }
        out
    }

    /// The file of a record in a results directory: by transport, or `hostfile-pP.json`
    /// for a sweep over the hosts of a hostfile or allocation, which names none.
    pub fn file_name(transport: Option<Transport>, ranks: usize) -> String {
        match transport {
            Some(t) => format!("{}-p{ranks}.json", t.name()),
            None => format!("hostfile-p{ranks}.json"),
        }
    }

    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let record: Self =
            serde_json::from_str(&text).with_context(|| format!("{}: not a commbench record", path.display()))?;
        anyhow::ensure!(
            record.format == RECORD_FORMAT,
            "{}: commbench record format {} (this dpstudy reads {RECORD_FORMAT})",
            path.display(),
            record.format
        );
        Ok(record)
    }
}

/// The path of the sweep over `transport` (`None`: a hostfile's or allocation's hosts) on
/// `ranks` ranks in the results directory `dir`.
pub fn path_in(dir: &Path, transport: Option<Transport>, ranks: usize) -> PathBuf {
    dir.join(DIR).join(CommBenchRecord::file_name(transport, ranks))
}

/// The sweeps of a results directory that started and failed: `name: why`, from the
/// `.failed` files `reproduce` leaves in place of their records.
pub fn read_failures(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join(DIR)) else { return vec![] };
    let mut out: Vec<String> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "failed"))
        .map(|p| {
            let why = std::fs::read_to_string(&p).unwrap_or_default();
            format!("{}: {}", p.file_stem().unwrap_or_default().to_string_lossy(), why.trim())
        })
        .collect();
    out.sort();
    out
}

/// Every sweep of a results directory, by file name (none: an empty list).
pub fn read_dir(dir: &Path) -> anyhow::Result<Vec<CommBenchRecord>> {
    let folder = dir.join(DIR);
    if !folder.is_dir() {
        return Ok(vec![]);
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&folder)
        .with_context(|| format!("cannot list {}", folder.display()))?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths.iter().map(|p| CommBenchRecord::read(p)).collect()
}
