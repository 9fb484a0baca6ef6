//! The paper's results mapped to the commands that make them, and the paper run summed
//! up: generated from the committed paper run (its `run.json`, which holds the experiments
//! file as run, its raw rows and its verdicts) into the appendix and the README by
//! `dpstudy docs`, so that no time, count or verdict there is typed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::claims::record::{CheckRecord, Outcome};
use crate::experiment::manifest::{Manifest, TableKind};
use crate::experiment::plan::{Plan, PlanOptions};
use crate::experiment::raw::{self, RawRow, RunMeta, Status};

/// Seconds of the runs of each table: the sum of the process times of its cells' runs
/// (warm-ups and added rounds included), a cell that several tables share counted in
/// each, so each figure is what `--tables <id>` alone would spend running.
pub fn table_seconds(rows: &[RawRow]) -> BTreeMap<String, f64> {
    let mut seen = std::collections::HashSet::new();
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.status == Status::Ok) {
        let Some(seconds) = r.process_s else { continue };
        if !seen.insert((r.cell.as_str(), r.rep, r.warmup)) {
            continue;
        }
        for id in r.tables.split_whitespace() {
            *out.entry(id.to_string()).or_default() += seconds;
        }
    }
    out
}

fn minutes(seconds: f64) -> String {
    let m = (seconds / 60.0).round() as u64;
    if seconds < 90.0 {
        format!("{seconds:.0} s")
    } else if m < 60 {
        format!("{m} min")
    } else {
        format!("{} h {} min", m / 60, m % 60)
    }
}

/// The run's manifest (as run) and plan.
fn plan_of(dir: &Path, meta: &RunMeta) -> anyhow::Result<(Manifest, Plan)> {
    let manifest = Manifest::parse(&meta.experiments_toml, &dir.join(raw::RUN_FILE))?;
    let options = PlanOptions {
        profile: meta.profile.clone(),
        tables: meta.tables.clone(),
        max_ranks: Some(meta.max_ranks),
        reps: meta.reps,
    };
    let plan = Plan::new(&manifest, &options)?;
    Ok((manifest, plan))
}

/// What a table's cells need beyond this 2-core machine's defaults.
fn needs(plan: &Plan, id: &str, needs_gpu: bool) -> String {
    let cells: Vec<_> = plan.cells_of(id).collect();
    let cores = cells.iter().map(|c| c.cell.cores()).max().unwrap_or(1);
    let mut out = vec![format!("{cores} core{}", if cores == 1 { "" } else { "s" })];
    if cells.iter().any(|c| c.oversubscribe && c.cell.cores() > plan.max_ranks) {
        out.push("more cores, or oversubscribed and marked".into());
    }
    if needs_gpu {
        out.push("an NVIDIA GPU and a `cuda` build".into());
    }
    if cells.iter().any(|c| c.cell.link.is_some()) {
        out.push("root (emulated hosts)".into());
    }
    if cells.iter().any(|c| c.cell.mode.is_baseline()) {
        out.push("the Python baselines (`artifact/baselines/install.sh`)".into());
    }
    out.join(", ")
}

/// The stems of a table's outputs in `paper/`: its table and its figures.
fn outputs(id: &str, name: &str, kind: TableKind) -> String {
    let figures: &[&str] = match kind {
        TableKind::StrongScaling => &["speedup", "efficiency", "comm-share"],
        TableKind::Parity | TableKind::Determinism => &[],
        _ => &[name],
    };
    let mut out = format!("`tables/{id}-{name}.tex`");
    for f in figures {
        let _ = write!(out, ", `figures/fig-{id}-{f}.png`");
    }
    out
}

/// The appendix's map: each table of the paper run, its outputs, the command that makes
/// it, the directory that holds it, its time here and what it needs.
pub fn markdown(root: &Path, run: &str) -> anyhow::Result<String> {
    let dir = root.join(run);
    let meta = RunMeta::read(&dir)?;
    let (manifest, plan) = plan_of(&dir, &meta)?;
    let seconds = table_seconds(&raw::read_rows(&dir)?);
    let mut out = String::from(
        "| table | in the paper | command | results | time here | needs |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for id in &meta.tables {
        let Some(spec) = manifest.table(id) else { continue };
        let time = seconds.get(id).map_or("not recorded".to_string(), |&s| minutes(s));
        let _ = writeln!(
            out,
            "| {id} {} | {} | `dpstudy reproduce --profile {} --tables {id}` | `{run}` | {time} | {} |",
            spec.title,
            outputs(id, spec.name.as_str(), spec.name),
            meta.profile,
            needs(&plan, id, spec.needs_gpu),
        );
    }
    let _ = write!(
        out,
        "\nTimes: the sum of the process times of each table's runs in the paper run ({}, {} cores), a cell \
         that several tables share counted in each: what `--tables <id>` alone spends running, without the \
         data preparation and the communication sweeps. The cost model's tables M1-M3 and the original's \
         findings F1 are made by `dpstudy report` from the same run.\n",
        meta.git_revision, plan.max_ranks
    );
    Ok(out)
}

/// The paper run in one paragraph: command, revision, dates, duration, runs, verdicts.
pub fn summary(root: &Path, run: &str) -> anyhow::Result<String> {
    let dir = root.join(run);
    let meta = RunMeta::read(&dir)?;
    let rows = raw::read_rows(&dir)?;
    let mut runs: Vec<(&str, usize, bool)> =
        rows.iter().filter(|r| r.status == Status::Ok).map(|r| (r.cell.as_str(), r.rep, r.warmup)).collect();
    runs.sort();
    runs.dedup();
    let check = CheckRecord::read(&dir).with_context(|| format!("the verdicts of {run}"))?;
    let duration = meta
        .finished
        .as_deref()
        .and_then(|f| super::paper_numbers::seconds_between(&meta.started, f))
        .map_or("unfinished".to_string(), minutes);
    let count = |o: Outcome| check.count(o);
    Ok(format!(
        "The paper's results come from one run: `dpstudy reproduce --profile {}` at revision `{}`, started {}, \
         {duration} on this 2-core machine: {} runs of {} cells (`{run}`). Claims: {} passed, {} failed, {} \
         inconclusive, {} not run.\n",
        meta.profile,
        meta.git_revision,
        meta.started,
        runs.len(),
        meta.cells_total,
        count(Outcome::Pass),
        count(Outcome::Fail),
        count(Outcome::Inconclusive),
        count(Outcome::NotRun),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_cell_counts_in_each_table_and_a_run_once() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quick-run");
        let template = raw::read_rows(&fixture).unwrap().into_iter().find(|r| r.status == Status::Ok).unwrap();
        let row = |cell: &str, tables: &str, rep: usize, rank: usize, s: f64| {
            let mut r = template.clone();
            r.cell = cell.into();
            r.tables = tables.into();
            r.rep = rep;
            r.rank = Some(rank);
            r.warmup = false;
            r.process_s = Some(s);
            r
        };
        let rows = vec![
            row("a", "T1 T2", 0, 0, 2.0),
            row("a", "T1 T2", 0, 1, 2.0),
            row("a", "T1 T2", 1, 0, 3.0),
            row("b", "T2", 0, 0, 1.0),
        ];
        let s = table_seconds(&rows);
        assert_eq!(s["T1"], 5.0);
        assert_eq!(s["T2"], 6.0);
        assert_eq!(minutes(30.0), "30 s");
        assert_eq!(minutes(4_500.0), "1 h 15 min");
    }
}
