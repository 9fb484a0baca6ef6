//! From a results directory to the paper's tables and figures ([`aggregate`],
//! [`study_tables`] rendered by [`table_format`], [`figures`]), to a verdict per claim
//! ([`claims`]), to the comparison with the expected results ([`compare`], [`html`]) and to
//! the cost model ([`cost_model`]). Exporters produce bytes; this module is the one place that
//! writes them.

pub mod aggregate;
pub mod bench_summary;
pub mod ci_steps;
pub mod claims;
pub mod commbench_tables;
pub mod compare;
pub mod cost_model;
pub mod doc_regions;
pub mod docs;
pub mod figures;
pub mod findings;
pub mod html;
pub mod model_vs_data;
pub mod paper_map;
pub mod paper_numbers;
pub mod provenance;
pub mod study_tables;
pub mod table_format;
pub mod typed_numbers;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::experiment::env::Environment;
use crate::experiment::manifest::{Manifest, TableKind};
use crate::experiment::merge::Machines;
use crate::experiment::raw::{self, RunMeta};
use crate::util::files::write_atomic;
use table_format::{Align, Table};

/// Where `report` and `check` read their inputs and write their outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportConfig {
    /// The claims file (`None`: the default path, else the built-in copy).
    pub claims: Option<PathBuf>,
    /// The paper's directory, which gets a copy of the tables and figures (`None`: no copy).
    pub paper_dir: Option<PathBuf>,
    /// What report.html compares with (`None`: [`default_expected_dir`] where it exists).
    pub expected: Option<PathBuf>,
}

impl ReportConfig {
    /// Refuses an `--expected` that is not a directory before anything runs.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(e) = &self.expected {
            anyhow::ensure!(e.is_dir(), "--expected {}: not a directory of expected results", e.display());
        }
        Ok(())
    }
}

/// What `report` wrote.
#[derive(Debug)]
pub struct Written {
    pub tables: Vec<String>,
    pub figures: Vec<String>,
    pub dirs: Vec<PathBuf>,
    pub complete: bool,
}

/// The run's description and the manifest it ran (from `run.json`, not today's file).
fn run_of(dir: &Path) -> anyhow::Result<(RunMeta, Manifest)> {
    let meta = RunMeta::read(dir)?;
    let manifest = Manifest::parse(&meta.experiments_toml, &dir.join(raw::RUN_FILE))
        .with_context(|| format!("the experiments recorded in {}", dir.join(raw::RUN_FILE).display()))?;
    Ok((meta, manifest))
}

/// The study's tables of a run, the original's findings set beside them (from T1), and the
/// setup table from `env.json` (from `machines.json`, one column per machine, for a merged
/// run, whose tables also say which machine ran which cells).
pub fn build_tables(
    dir: &Path,
    meta: &RunMeta,
    manifest: &Manifest,
    agg: &aggregate::Aggregate,
) -> anyhow::Result<Vec<Table>> {
    let machines = Machines::read(dir)?;
    let mut out: Vec<Table> = Vec::new();
    for spec in meta.tables.iter().filter_map(|id| manifest.table(id)) {
        let mut table = study_tables::build(spec, agg);
        if let Some(m) = &machines {
            table.notes.extend(machines_note(m, agg, &spec.id));
        }
        out.push(table);
    }
    out.extend(commbench_tables::table(&agg.commbench, &agg.commbench_failures));
    out.extend(findings::Findings::of(agg).map(|f| f.table()));
    if meta.finished.is_none() {
        for t in &mut out {
            t.notes.insert(0, "INCOMPLETE RUN: it did not finish; only the cells done so far are shown.".into());
        }
    }
    match &machines {
        Some(m) => {
            let envs: Vec<(&str, &Environment)> =
                m.machines.iter().filter_map(|x| Some((x.label.as_str(), x.env.as_ref()?))).collect();
            if !envs.is_empty() {
                out.push(setup_table(&envs, meta));
            }
        }
        None => {
            if let Ok(text) = std::fs::read_to_string(dir.join(raw::ENV_FILE))
                && let Ok(env) = serde_json::from_str::<Environment>(&text)
            {
                out.push(setup_table(&[("", &env)], meta));
            }
        }
    }
    Ok(out)
}

/// "Ran on A: seq, mpi allreduce. Ran on B: gpu." for the cells of one table of a merged
/// run; a mode whose cells came from several machines is listed with its cell ids.
fn machines_note(machines: &Machines, agg: &aggregate::Aggregate, table: &str) -> Option<String> {
    let cells: Vec<&aggregate::CellStats> = agg.table(table).collect();
    let machine_of = |c: &aggregate::CellStats| machines.of_cell(&c.cell).unwrap_or("unknown machine").to_string();
    let mut parts = Vec::new();
    for m in &machines.machines {
        let mine: Vec<&&aggregate::CellStats> = cells.iter().filter(|c| machine_of(c) == m.label).collect();
        let mut labels: Vec<String> = Vec::new();
        for c in &mine {
            let label = c.label();
            let split = cells.iter().any(|o| o.label() == label && machine_of(o) != m.label);
            let text = if split { format!("{label} ({})", c.cell) } else { label };
            if !labels.contains(&text) {
                labels.push(text);
            }
        }
        if !labels.is_empty() {
            parts.push(format!("Ran on {}: {}.", m.label, labels.join(", ")));
        }
    }
    (!parts.is_empty()).then(|| format!("Merged run. {}", parts.join(" ")))
}

/// One machine's lines of the setup table.
fn setup_rows(env: &Environment, meta: &RunMeta) -> Vec<(&'static str, String)> {
    let gib = env.memory_bytes.map_or("unknown".into(), |b| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64));
    let mut rows = vec![
        ("CPU", env.cpu_model.clone()),
        ("cores available", env.cores.to_string()),
        ("memory", gib),
        ("OS", format!("{} (kernel {})", env.os, env.kernel)),
        ("MPI", env.open_mpi.clone()),
        ("GPU", env.gpu.clone()),
        ("compiler", env.rustc.clone()),
        ("candle", env.candle_version.clone()),
        ("dpstudy", format!("{} ({})", env.dpstudy_version, env.git_revision)),
        ("profile", format!("{} ({} data, {})", meta.profile, meta.data, meta.dtype)),
    ];
    // The machine's state, recorded since the statistics of issue 28 (absent before).
    let mhz = |v: Option<f64>| v.map_or("not stated".to_string(), |m| format!("{m:.0} MHz"));
    if env.cpu_mhz_measured.is_some() {
        rows.push((
            "CPU clock",
            format!(
                "{} measured at the start; base {}, max {}",
                mhz(env.cpu_mhz_measured),
                mhz(env.cpu_mhz_base),
                mhz(env.cpu_mhz_max)
            ),
        ));
    }
    if !env.governor.is_empty() {
        let smt = env.threads_per_core.map_or("unknown".into(), |t| t.to_string());
        rows.push((
            "CPU state",
            format!("{smt} thread(s) per core; governor {}; load {} at the start", env.governor, env.load_at_start),
        ));
    }
    rows
}

/// The setup table: one value column per machine (the header is its label).
fn setup_table(envs: &[(&str, &Environment)], meta: &RunMeta) -> Table {
    let mut cols: Vec<(&str, Align)> = vec![("", Align::Left)];
    cols.extend(envs.iter().map(|(label, _)| (*label, Align::Wrap)));
    let title = if envs.len() > 1 {
        "Hardware and software of the machines of this run"
    } else {
        "Hardware and software of this run"
    };
    let mut t = Table::new("setup", "environment", title, &cols);
    let columns: Vec<Vec<(&str, String)>> = envs.iter().map(|(_, env)| setup_rows(env, meta)).collect();
    for (i, (key, _)) in columns[0].iter().enumerate() {
        let mut row = vec![key.to_string()];
        row.extend(columns.iter().map(|c| c[i].1.clone()));
        t.push(row);
    }
    t
}

/// Writes each table as `DIR/tables/STEM.md` and `.tex`, and each chart as
/// `DIR/figures/STEM.svg` and `.png` (`report`'s and `model`'s outputs alike).
pub fn write_tables_and_figures(dir: &Path, tables: &[Table], charts: &[figures::Chart]) -> anyhow::Result<()> {
    let (tdir, fdir) = (dir.join("tables"), dir.join("figures"));
    for t in tables {
        write_atomic(&tdir.join(format!("{}.md", t.stem)), t.markdown().as_bytes())?;
        write_atomic(&tdir.join(format!("{}.tex", t.stem)), t.latex().as_bytes())?;
    }
    for chart in charts {
        write_atomic(&fdir.join(format!("{}.svg", chart.stem)), figures::draw::svg(chart)?.as_bytes())?;
        write_atomic(&fdir.join(format!("{}.png", chart.stem)), &figures::draw::png(chart)?)?;
    }
    Ok(())
}

/// `dpstudy report DIR`: aggregates DIR's raw rows and writes `summary/`, `tables/` and
/// `figures/` into DIR, and the tables and figures into the paper directory too.
pub fn report(dir: &Path, config: &ReportConfig) -> anyhow::Result<Written> {
    let (meta, manifest) = run_of(dir)?;
    let agg = aggregate::aggregate_dir(dir)?;
    write_atomic(&dir.join("summary").join("cells.csv"), &agg.csv(None)?)?;
    for id in &meta.tables {
        write_atomic(&dir.join("summary").join(format!("{id}.csv")), &agg.csv(Some(id))?)?;
    }
    let tables = build_tables(dir, &meta, &manifest, &agg)?;
    let macros = findings::Findings::of(&agg).map_or_else(findings::Findings::missing_macros, |f| f.latex_macros());
    let claims_list = claims::load(config.claims.as_deref())?;
    let verdicts = claims::check(&claims_list, &agg, &meta.profile, &meta.tables, meta.finished.is_some());
    let numbers =
        paper_numbers::of(&meta, &raw::read_rows(dir)?, &agg).latex() + &paper_numbers::verdict_macros(&verdicts);
    let kinds: Vec<(String, TableKind)> =
        meta.tables.iter().filter_map(|id| manifest.table(id)).map(|t| (t.id.clone(), t.name)).collect();
    let mut charts = figures::charts(&agg, &kinds);
    charts.extend(commbench_tables::charts(&agg.commbench));
    if !agg.commbench.is_empty() {
        write_atomic(&dir.join("summary").join("commbench.csv"), commbench_tables::csv(&agg.commbench).as_bytes())?;
    }

    let mut targets = vec![dir.to_path_buf()];
    targets.extend(config.paper_dir.clone());
    let mut figures_written = vec![];
    for target in &targets {
        let tdir = target.join("tables");
        let mut all = String::new();
        write_tables_and_figures(target, &tables, &charts)?;
        for t in &tables {
            all += &t.markdown();
            all += "\n";
        }
        write_atomic(&tdir.join("all.md"), all.as_bytes())?;
        write_atomic(&tdir.join(findings::MACROS_FILE), macros.as_bytes())?;
        write_atomic(&tdir.join(paper_numbers::MACROS_FILE), numbers.as_bytes())?;
        figures_written = charts.iter().map(|c| c.stem.clone()).collect();
    }
    Ok(Written {
        tables: tables.iter().map(|t| t.stem.clone()).collect(),
        figures: figures_written,
        dirs: targets,
        complete: meta.finished.is_some(),
    })
}

/// `dpstudy check DIR`: the verdicts, written to `DIR/check.json` and rendered into
/// `DIR/check.txt`; returns the record and its text.
pub fn check(dir: &Path, claims_path: Option<&Path>) -> anyhow::Result<(claims::CheckRecord, String)> {
    let claims = claims::load(claims_path)?;
    let (meta, _) = run_of(dir)?;
    let agg = aggregate::aggregate_dir(dir)?;
    let record = claims::check(&claims, &agg, &meta.profile, &meta.tables, meta.finished.is_some());
    let text = claims::render::check_text(&record);
    write_atomic(&dir.join(claims::record::CHECK_FILE), record.to_json()?.as_bytes())?;
    write_atomic(&dir.join("check.txt"), text.as_bytes())?;
    Ok((record, text))
}

/// The expected results of a profile, where `reproduce` and `report --html` look for them
/// by default: `artifact/expected/PROFILE` under the working directory (the image's
/// /artifact included).
pub fn default_expected_dir(profile: &str) -> PathBuf {
    Path::new("artifact").join("expected").join(profile)
}

/// The expected results to compare the run in `dir` with: `explicit`, else the default of
/// the run's profile.
pub fn expected_dir(dir: &Path, explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    match explicit {
        Some(e) => Ok(e.to_path_buf()),
        None => Ok(default_expected_dir(&RunMeta::read(dir)?.profile)),
    }
}

/// Writes `DIR/report.html` ([`html`]) from a reported and checked results directory,
/// compared with `expected` (`None`: [`default_expected_dir`], and a missing default only
/// says so on the page; a directory named on purpose must compare).
pub fn html_report(dir: &Path, expected: Option<&Path>) -> anyhow::Result<PathBuf> {
    let (meta, manifest) = run_of(dir)?;
    let check = claims::CheckRecord::read(dir)?;
    let agg = aggregate::aggregate_dir(dir)?;
    let tables = build_tables(dir, &meta, &manifest, &agg)?;
    let kinds: Vec<(String, TableKind)> =
        meta.tables.iter().filter_map(|id| manifest.table(id)).map(|t| (t.id.clone(), t.name)).collect();
    let mut figures = Vec::new();
    for chart in figures::charts(&agg, &kinds).into_iter().chain(commbench_tables::charts(&agg.commbench)) {
        figures.push(html::Figure { png: figures::draw::png(&chart)?, title: chart.title });
    }
    let e = expected_dir(dir, expected)?;
    let expected = match compare::compare(dir, &e) {
        Ok(comparison) => html::Expected::Compared { env: html::read_env(&e)?, dir: e, comparison },
        // Without expected results of its own, the page says why there is no comparison.
        Err(why) if expected.is_none() => html::Expected::Unavailable { dir: e, why: format!("{why:#}") },
        Err(why) => return Err(why.context(format!("comparing {} with {}", dir.display(), e.display()))),
    };
    let failed_runs = raw::read_rows(dir)?
        .into_iter()
        .filter(|r| r.status == raw::Status::Failed)
        .map(|r| (format!("{} (run {})", r.cell, r.rep), r.reason))
        .collect();
    let name = dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
    let run_line = format!(
        "profile {} · tables {} · dpstudy {} ({}) · started {} · {}",
        meta.profile,
        meta.tables.join(" "),
        meta.dpstudy_version,
        meta.git_revision,
        meta.started,
        meta.finished.as_ref().map_or("not finished".to_string(), |f| format!("finished {f}"))
    );
    let page = html::Page {
        name,
        run_line,
        check: &check,
        failed_runs,
        expected,
        tables: &tables,
        figures,
        env: html::read_env(dir)?,
    };
    let path = dir.join(html::HTML_FILE);
    write_atomic(&path, html::render(&page).as_bytes())?;
    Ok(path)
}
