//! `dpstudy merge`: one results directory from the runs of several machines.
//!
//! Reviewers often have the GPU results from one machine and the CPU results from another
//! (this project's own GPU runs happen on a lent machine). Both runs read the same
//! experiments, so their cells have the same ids; the merged directory takes each cell from
//! the first directory that ran it (a cell "not run" there, such as the GPU cells of a
//! machine without one, is taken from a later directory that did run it), and records in
//! `machines.json` which machine ran which cell. `report` and `check` read the merged
//! directory like any other and label its tables with the machines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::env::Environment;
use super::raw::{self, RawRow, RunMeta, Status};
use crate::cluster::Transport;
use crate::commbench::{self, CommBenchRecord};
use crate::train::Mode;
use crate::util::files::write_atomic;

/// Which machine ran which cell of a merged directory.
pub const MACHINES_FILE: &str = "machines.json";

/// `dpstudy merge` as a plain config: the directories in order of preference, and where to
/// write the merged one.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeConfig {
    pub sources: Vec<PathBuf>,
    pub out: PathBuf,
}

/// One machine of a merged run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// A short name, unique in the run: the host name (with `#2`, `#3` on a clash).
    pub label: String,
    /// The results directory it came from, as given.
    pub source: PathBuf,
    /// Its `env.json`, when the directory had one.
    pub env: Option<Environment>,
}

/// `machines.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machines {
    pub machines: Vec<Machine>,
    /// Cell id -> the label of the machine whose rows the merged directory holds.
    pub cells: BTreeMap<String, String>,
}

impl Machines {
    /// Reads `dir/machines.json`; `None` when the directory is a single run.
    pub fn read(dir: &Path) -> anyhow::Result<Option<Self>> {
        let path = dir.join(MACHINES_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Some(serde_json::from_str(&text).with_context(|| format!("{}: not a machines file", path.display()))?))
    }

    /// The machine a cell's rows came from.
    pub fn of_cell(&self, cell: &str) -> Option<&str> {
        self.cells.get(cell).map(String::as_str)
    }
}

/// What `merge` wrote.
#[derive(Debug)]
pub struct Merged {
    pub machines: Machines,
    pub cells_total: usize,
    pub cells_not_run: usize,
}

/// Why directories cannot be merged.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MergeError {
    #[error("merge needs at least two results directories (got {0})")]
    TooFew(usize),
    #[error("{dir}: its {field} is {theirs}, but {first}'s is {ours}: only runs of the same experiments merge")]
    Differs { dir: PathBuf, first: PathBuf, field: &'static str, theirs: String, ours: String },
    #[error(
        "{dir}: its run.json records a different experiments file than {first}'s: only runs of the same \
         experiments merge"
    )]
    DifferentExperiments { dir: PathBuf, first: PathBuf },
    #[error("{dir}: the run did not finish (run.json has no `finished`): merge finished runs only")]
    Unfinished { dir: PathBuf },
    #[error("{0} exists: merge writes a new directory")]
    OutExists(PathBuf),
}

/// A source directory, read.
struct Source {
    dir: PathBuf,
    meta: RunMeta,
    rows: Vec<RawRow>,
    env: Option<Environment>,
}

fn read_source(dir: &Path) -> anyhow::Result<Source> {
    let meta = RunMeta::read(dir)?;
    if meta.finished.is_none() {
        return Err(MergeError::Unfinished { dir: dir.into() }.into());
    }
    let rows = raw::read_rows(dir)?;
    let env_path = dir.join(raw::ENV_FILE);
    let env = match std::fs::read_to_string(&env_path) {
        Ok(text) => {
            Some(serde_json::from_str(&text).with_context(|| format!("{}: not an environment", env_path.display()))?)
        }
        Err(_) => None,
    };
    Ok(Source { dir: dir.into(), meta, rows, env })
}

/// The fields two runs must share to be one study: the same cells, measured the same way.
fn check_compatible(first: &Source, other: &Source) -> Result<(), MergeError> {
    let fields: [(&'static str, String, String); 3] = [
        ("profile", first.meta.profile.clone(), other.meta.profile.clone()),
        ("data", first.meta.data.to_string(), other.meta.data.to_string()),
        ("dtype", first.meta.dtype.to_string(), other.meta.dtype.to_string()),
    ];
    for (field, ours, theirs) in fields {
        if ours != theirs {
            return Err(MergeError::Differs { dir: other.dir.clone(), first: first.dir.clone(), field, theirs, ours });
        }
    }
    if first.meta.experiments_toml != other.meta.experiments_toml {
        return Err(MergeError::DifferentExperiments { dir: other.dir.clone(), first: first.dir.clone() });
    }
    Ok(())
}

/// Host names as labels, made unique.
fn labels(sources: &[Source]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let base = s
            .env
            .as_ref()
            .map(|e| e.hostname.trim())
            .filter(|h| !h.is_empty())
            .map_or(format!("machine {}", i + 1), String::from);
        let mut label = base.clone();
        let mut k = 2;
        while out.contains(&label) {
            label = format!("{base} #{k}");
            k += 1;
        }
        out.push(label);
    }
    out
}

/// Whether a cell ran (successfully or not) in these rows.
fn ran(rows: &[&RawRow]) -> bool {
    rows.iter().any(|r| r.status != Status::NotRun)
}

/// Which source each cell comes from.
struct Choice {
    /// The cells in the order they first appear.
    order: Vec<String>,
    /// Each cell's source: the first that ran it, else the first that lists it.
    source_of: BTreeMap<String, usize>,
    /// Cells no source ran.
    not_run: usize,
}

fn choose(sources: &[Source]) -> Choice {
    let mut order: Vec<String> = Vec::new();
    for s in sources {
        for r in &s.rows {
            if !order.contains(&r.cell) {
                order.push(r.cell.clone());
            }
        }
    }
    fn rows_of<'a>(s: &'a Source, cell: &str) -> Vec<&'a RawRow> {
        s.rows.iter().filter(|r| r.cell == cell).collect()
    }
    let mut source_of = BTreeMap::new();
    let mut not_run = 0;
    for cell in &order {
        let i = sources
            .iter()
            .position(|s| ran(&rows_of(s, cell)))
            .or_else(|| sources.iter().position(|s| s.rows.iter().any(|r| &r.cell == cell)))
            .expect("every cell comes from some source");
        if !ran(&rows_of(&sources[i], cell)) {
            not_run += 1;
        }
        source_of.insert(cell.clone(), i);
    }
    Choice { order, source_of, not_run }
}

/// The communication sweeps of the merged run: for each (transport, P), the sweep of the
/// machine whose data-parallel cells of that transport and P were chosen, so that the cost
/// model predicts each cell with its own machine's network (a sweep no chosen cell uses:
/// the first machine's that has it).
fn copy_sweeps(sources: &[Source], source_of: &BTreeMap<String, usize>, out: &Path) -> anyhow::Result<()> {
    let mut taken: Vec<(Option<Transport>, usize)> = Vec::new();
    let sweeps: Vec<(usize, CommBenchRecord)> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| Ok(commbench::record::read_dir(&s.dir)?.into_iter().map(move |r| (i, r))))
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let used_by = |i: usize, r: &CommBenchRecord| {
        sources[i].rows.iter().any(|row| {
            matches!(row.mode, Mode::Mpi | Mode::Model)
                && row.ranks == r.ranks
                && r.transport == Some(Transport::of_link(row.link))
                && source_of.get(&row.cell) == Some(&i)
        })
    };
    let chosen = sweeps.iter().filter(|(i, r)| used_by(*i, r)).chain(sweeps.iter());
    for (_, record) in chosen {
        if taken.contains(&(record.transport, record.ranks)) {
            continue;
        }
        taken.push((record.transport, record.ranks));
        let path = commbench::record::path_in(out, record.transport, record.ranks);
        write_atomic(&path, serde_json::to_string_pretty(record)?.as_bytes())?;
    }
    Ok(())
}

/// Merges `config.sources` into `config.out` (a new directory): raw.csv, run.json, env.json
/// (the first machine's), machines.json and the communication sweeps.
pub fn merge(config: &MergeConfig) -> anyhow::Result<Merged> {
    if config.sources.len() < 2 {
        return Err(MergeError::TooFew(config.sources.len()).into());
    }
    if config.out.exists() {
        return Err(MergeError::OutExists(config.out.clone()).into());
    }
    let sources: Vec<Source> = config.sources.iter().map(|d| read_source(d)).collect::<anyhow::Result<_>>()?;
    for other in &sources[1..] {
        check_compatible(&sources[0], other)?;
    }
    let labels = labels(&sources);

    let Choice { order, source_of, not_run } = choose(&sources);
    let cells: BTreeMap<String, String> = source_of.iter().map(|(c, &i)| (c.clone(), labels[i].clone())).collect();
    // Each source's chosen rows in their order (the runner's interleaved rounds).
    let rows: Vec<RawRow> = sources
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            let chosen = &source_of;
            s.rows.iter().filter(move |r| chosen.get(&r.cell) == Some(&i))
        })
        .cloned()
        .collect();

    let first = &sources[0].meta;
    let mut tables: Vec<String> = Vec::new();
    for s in &sources {
        for t in &s.meta.tables {
            if !tables.contains(t) {
                tables.push(t.clone());
            }
        }
    }
    let failed = order.iter().filter(|c| rows.iter().any(|r| &r.cell == *c && r.status == Status::Failed)).count();
    let meta = RunMeta {
        tables,
        cells_total: order.len(),
        cells_failed: failed,
        cells_not_run: not_run,
        finished: sources.iter().filter_map(|s| s.meta.finished.clone()).max(),
        ..first.clone()
    };
    let machines = Machines {
        machines: sources
            .iter()
            .zip(&labels)
            .map(|(s, label)| Machine { label: label.clone(), source: s.dir.clone(), env: s.env.clone() })
            .collect(),
        cells,
    };

    std::fs::create_dir_all(&config.out).with_context(|| format!("cannot create {}", config.out.display()))?;
    raw::write_rows(&config.out, &rows)?;
    if let Some(env) = &sources[0].env {
        write_atomic(&config.out.join(raw::ENV_FILE), serde_json::to_string_pretty(env)?.as_bytes())?;
    }
    write_atomic(&config.out.join(MACHINES_FILE), serde_json::to_string_pretty(&machines)?.as_bytes())?;
    copy_sweeps(&sources, &source_of, &config.out)?;
    // run.json last: a directory without it is no results directory, so a merge that
    // stopped half-way is never read as complete.
    meta.write(&config.out)?;
    Ok(Merged { machines, cells_total: order.len(), cells_not_run: not_run })
}
