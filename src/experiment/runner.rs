//! The runner: every cell of a plan as its own `dpstudy train` process (MPI cells under
//! `mpirun`), warm-up runs first, then the timed repetitions round by round so that drift
//! falls on every mode alike; then, where the profile sets a precision target, added rounds
//! for the cells whose interval is still too wide ([`super::precision`]). After each run
//! the raw file is rewritten atomically, so a crash loses at most the run in flight and
//! `--resume` picks up from there.

use std::collections::HashSet;
use std::fs::File;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::Context;

use super::machine::Snapshot;
use super::manifest::Profile;
use super::plan::{Cell, Plan, PlannedCell};
use super::raw::{self, RawRow, RunKey, Status};
use crate::baseline::python::{Environment, PythonError};
use crate::data::{DataConfig, DataKind, SourceLabel};
use crate::launch::{MpiLauncher, available_cores, local_command};
use crate::train::child_args::train_args;
use crate::train::{Mode, TrainResult};

/// Everything the runner needs besides the plan.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    pub data: DataConfig,
    pub launcher: MpiLauncher,
    /// The results directory (exists, holds `run.json`).
    pub dir: PathBuf,
    /// The GPU's name, or why there is none.
    pub gpu: Result<String, String>,
    /// The baselines' Python environment, or why there is none.
    pub python: Result<Environment, PythonError>,
}

/// The baselines' Python environment, probed only when the plan has baseline cells
/// (importing torch takes seconds).
pub fn probe_python(plan: &Plan) -> Result<Environment, PythonError> {
    if plan.cells.iter().any(|c| c.cell.mode.is_baseline()) {
        Environment::probe()
    } else {
        Err(PythonError::NotProbed)
    }
}

/// One process to start.
#[derive(Debug, Clone)]
struct Job<'a> {
    planned: &'a PlannedCell,
    rep: usize,
    warmup: bool,
}

impl Job<'_> {
    fn name(&self) -> String {
        let kind = if self.warmup { "warmup" } else { "r" };
        format!("{}-{kind}{}", self.planned.cell.id(), self.rep)
    }

    fn key(&self) -> (String, usize, bool) {
        (self.planned.cell.id(), self.rep, self.warmup)
    }
}

/// What a finished runner reports.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub runs_done: usize,
    pub runs_failed: usize,
    pub cells_not_run: usize,
    /// Runs beyond the planned ones, added for the precision target.
    pub runs_added: usize,
    /// How the runs of each cell were decided, in a line (`precision.csv` has the cells).
    pub precision: String,
}

/// Why a cell is not started at all, if it is not.
pub fn not_run_reason(plan: &Plan, planned: &PlannedCell, settings: &RunnerSettings) -> Option<String> {
    let tables: Vec<_> = plan.tables.iter().filter(|t| planned.tables.contains(&t.id)).collect();
    if let Err(why) = &settings.gpu {
        if planned.cell.mode == Mode::Gpu {
            return Some(format!("no GPU: {why}"));
        }
        if tables.iter().all(|t| t.needs_gpu) {
            return Some(format!("{} needs a GPU to compare with: {why}", planned.tables.join(", ")));
        }
    }
    if planned.cell.mode.is_baseline() {
        match &settings.python {
            Err(why) => return Some(format!("no baseline Python environment: {why}")),
            Ok(env) => {
                if let Some(why) = env.missing_for(planned.cell.mode) {
                    return Some(why);
                }
            }
        }
    }
    if let Some(why) = planned.cell.link.and_then(crate::cluster::unavailable) {
        return Some(why);
    }
    if settings.data.kind == DataKind::Synthetic && tables.iter().all(|t| t.real_data) {
        return Some(format!("{} needs real MNIST; this run uses synthetic data", planned.tables.join(", ")));
    }
    None
}

/// How many lines of a failed run's log `reproduce` prints under its FAILED line.
const FAILED_LOG_LINES: usize = 12;

/// The last non-empty line of a log: usually the error.
pub(super) fn last_line(log: &Path) -> String {
    let line = last_lines(log, 1).pop().map(|l| l.trim().to_string()).unwrap_or_else(|| "(no output)".into());
    line.chars().take(400).collect()
}

/// The last `n` non-empty lines of a run's log, oldest first: what a failure's reader
/// needs when the log itself is gone (a CI machine's clone).
fn last_lines(log: &Path, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut lines: Vec<String> =
        text.lines().rev().map(str::trim_end).filter(|l| !l.trim().is_empty()).take(n).map(String::from).collect();
    lines.reverse();
    lines
}

/// Runs one job; its result and its process's wall time in seconds, or why it failed.
fn run_job(plan: &Plan, job: &Job, settings: &RunnerSettings) -> Result<(TrainResult, f64), String> {
    let mut settings = std::borrow::Cow::Borrowed(settings);
    if job.planned.oversubscribe && job.planned.cell.cores() > available_cores() {
        // The table asked for this P on purpose (`parallel = [..]`): run it, marked.
        settings.to_mut().launcher.oversubscribe = true;
    }
    run_process(&plan.profile, &job.planned.cell, &settings, &job.name())
}

/// Runs `cell` as its own `dpstudy train` process (under mpirun for MPI cells), its result
/// in `runs/NAME.json` and its log in `logs/NAME.log` of `settings.dir` (both folders must
/// exist); returns the result and the process's wall time in seconds, or why it failed.
pub fn run_process(
    profile: &Profile,
    cell: &Cell,
    settings: &RunnerSettings,
    name: &str,
) -> Result<(TrainResult, f64), String> {
    let dir = &settings.dir;
    let out = dir.join("runs").join(format!("{name}.json"));
    let log_path = dir.join("logs").join(format!("{name}.log"));
    let args = train_args(&cell.train_config(profile, &settings.data), &out);
    let command =
        if cell.mode.under_mpirun() { settings.launcher.command(cell.ranks, &args) } else { local_command(&args) };
    let mut command = command.map_err(|e| format!("{e:#}"))?;
    if let Some(link) = cell.link {
        // One rank per emulated host: the emulator's hosts are mpirun's default hostfile.
        let emulator = crate::cluster::install_emulator(&dir.join("cluster")).map_err(|e| format!("{e:#}"))?;
        command = crate::cluster::across_hosts(&emulator, cell.ranks, link, &command);
    }
    let started = Instant::now();
    let status = run_logged(&mut command, &log_path)?;
    if !status.success() {
        return Err(format!("{} ({status}; log: {})", last_line(&log_path), log_path.display()));
    }
    let wall_s = started.elapsed().as_secs_f64();
    let text = std::fs::read(&out).map_err(|e| format!("no result at {}: {e}", out.display()))?;
    let result = serde_json::from_slice(&text).map_err(|e| format!("{}: not a training result: {e}", out.display()))?;
    Ok((result, wall_s))
}

/// Runs `command` with no input, its output and errors into `log_path`; its exit status, or
/// why it could not start.
pub fn run_logged(command: &mut std::process::Command, log_path: &Path) -> Result<std::process::ExitStatus, String> {
    let log = File::create(log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log_err = log.try_clone().map_err(|e| format!("cannot share {}: {e}", log_path.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .status()
        .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))
}

/// Creates the `runs/` and `logs/` folders of a results (or calibration) directory.
pub fn create_run_dirs(dir: &Path) -> anyhow::Result<()> {
    for sub in ["runs", "logs"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
    }
    Ok(())
}

/// The jobs of every runnable cell, interleaved: the warm-up runs of every cell, round by
/// round, then the timed runs round by round, so that a round pairs the cells (what the
/// round-by-round ratios rely on) and a drift of the machine touches every cell alike.
fn rounds<'a>(runnable: &[&'a PlannedCell]) -> Vec<Job<'a>> {
    let mut jobs = Vec::new();
    let max_warmup = runnable.iter().map(|c| c.warmup).max().unwrap_or(0);
    let max_reps = runnable.iter().map(|c| c.reps).max().unwrap_or(0);
    for w in 0..max_warmup {
        jobs.extend(runnable.iter().filter(|c| c.warmup > w).map(|&planned| Job { planned, rep: w, warmup: true }));
    }
    for r in 0..max_reps {
        jobs.extend(runnable.iter().filter(|c| c.reps > r).map(|&planned| Job { planned, rep: r, warmup: false }));
    }
    jobs
}

/// Runs the plan into `settings.dir`, keeping the rows of `done` (from a resumed run).
pub fn run<'a>(plan: &'a Plan, settings: &RunnerSettings, previous: Vec<RawRow>) -> anyhow::Result<RunSummary> {
    create_run_dirs(&settings.dir)?;
    let data_label = SourceLabel::of_kind(settings.data.kind, settings.data.verify);
    let cores = available_cores();
    let key = |planned: &'a PlannedCell, rep, warmup| RunKey {
        profile: &plan.profile_name,
        cell: &planned.cell,
        tables: &planned.tables,
        dtype: plan.profile.dtype,
        oversubscribed: planned.cell.cores() > cores,
        rep,
        warmup,
    };

    // Finished runs of a resumed directory are kept; failed ones run again.
    let finished: HashSet<(String, usize, bool)> =
        previous.iter().filter(|r| r.status == Status::Ok).map(|r| (r.cell.clone(), r.rep, r.warmup)).collect();
    let mut rows: Vec<RawRow> = previous.into_iter().filter(|r| r.status == Status::Ok).collect();
    let mut summary = RunSummary::default();

    let mut runnable: Vec<&PlannedCell> = Vec::new();
    for planned in &plan.cells {
        match not_run_reason(plan, planned, settings) {
            Some(reason) => {
                rows.push(key(planned, 0, false).without_result(Status::NotRun, &reason, data_label));
                summary.cells_not_run += 1;
            }
            None => runnable.push(planned),
        }
    }
    let mut jobs = rounds(&runnable);
    jobs.retain(|j| !finished.contains(&j.key()));
    raw::write_rows(&settings.dir, &rows)?;

    let progress = Progress::new(jobs.len() as u64);
    let run_one = |job: &Job<'a>, rows: &mut Vec<RawRow>, summary: &mut RunSummary| -> anyhow::Result<()> {
        let started = Instant::now();
        progress.start(&job.name());
        let k = key(job.planned, job.rep, job.warmup);
        let before = Snapshot::take();
        match run_job(plan, job, settings) {
            Ok((result, process_s)) => {
                let mut new_rows = result_rows(&k, &result, job, settings, before);
                new_rows.iter_mut().for_each(|row| row.process_s = Some(process_s));
                rows.extend(new_rows);
                summary.runs_done += 1;
                progress.finish(&job.name(), &format!("ok, {:.1} s", started.elapsed().as_secs_f64()), false);
            }
            Err(reason) => {
                progress.finish(&job.name(), &format!("FAILED: {reason}"), true);
                let log = settings.dir.join("logs").join(format!("{}.log", job.name()));
                progress.note(&last_lines(&log, FAILED_LOG_LINES));
                rows.push(k.without_result(Status::Failed, &reason, data_label));
                summary.runs_failed += 1;
            }
        }
        raw::write_rows(&settings.dir, rows)
    };
    for job in &jobs {
        run_one(job, &mut rows, &mut summary)?;
    }
    // Rounds added while a cell's interval is wider than the target (each round a fresh
    // look at every cell, so the added runs stay interleaved).
    let target = plan.profile.precision;
    loop {
        let round = super::precision::next_round(&runnable, &rows, target);
        if round.is_empty() {
            break;
        }
        progress.extend(round.len() as u64);
        for (planned, rep) in round {
            run_one(&Job { planned, rep, warmup: false }, &mut rows, &mut summary)?;
            summary.runs_added += 1;
        }
    }
    progress.done();
    summary.precision = super::precision::record(&settings.dir, &runnable, &rows, target)?;
    Ok(summary)
}

/// The rows of a run that finished, each with the machine's state over the run (from the
/// snapshot taken `before` it to one taken now).
fn result_rows(
    key: &RunKey,
    result: &TrainResult,
    job: &Job,
    settings: &RunnerSettings,
    before: Option<Snapshot>,
) -> Vec<RawRow> {
    let device =
        if job.planned.cell.mode == Mode::Gpu { settings.gpu.clone().unwrap_or_default() } else { "cpu".into() };
    let state = before.zip(Snapshot::take()).map(|(b, a)| b.until(&a));
    let mut rows = key.rows(result, &device);
    if let Some(state) = state {
        rows.iter_mut().for_each(|row| row.set_state(&state));
    }
    rows
}

/// One bar over the runs with an ETA on a terminal; one line per run otherwise (CI logs).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: std::cell::Cell<u64>,
    count: std::cell::Cell<u64>,
}

impl Progress {
    fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} runs, {elapsed} elapsed, ETA {eta}  {msg}",
                )
                .expect("a valid template"),
            );
            bar
        });
        Self { bar, total: std::cell::Cell::new(total), count: std::cell::Cell::new(0) }
    }

    /// Counts `more` runs added to the plan (the precision target's rounds).
    fn extend(&self, more: u64) {
        self.total.set(self.total.get() + more);
        if let Some(bar) = &self.bar {
            bar.inc_length(more);
        }
    }

    fn start(&self, name: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(name.to_string());
        }
    }

    /// Reports a finished run; failures are printed above the bar too.
    fn finish(&self, name: &str, outcome: &str, failed: bool) {
        self.count.set(self.count.get() + 1);
        match &self.bar {
            Some(bar) => {
                if failed {
                    bar.println(format!("{name}: {outcome}"));
                }
                bar.inc(1);
            }
            None => eprintln!("[{}/{}] {name}: {outcome}", self.count.get(), self.total.get()),
        }
    }

    /// Prints lines above the bar (or into the log), indented under the run they follow.
    fn note(&self, lines: &[String]) {
        for line in lines {
            let line = format!("    | {}", line.chars().take(400).collect::<String>());
            match &self.bar {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_runs_log_tail_keeps_the_last_lines_in_order_without_blanks() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("run.log");
        std::fs::write(&log, "start\n\n  one\ntwo\n\nterminate called after throwing\n   \n").unwrap();
        assert_eq!(last_lines(&log, 3), ["  one", "two", "terminate called after throwing"]);
        assert_eq!(last_lines(&log, 10).len(), 4);
        assert_eq!(last_line(&log), "terminate called after throwing");
        assert!(last_lines(&dir.path().join("missing.log"), 5).is_empty());
        assert_eq!(last_line(&dir.path().join("missing.log")), "(no output)");
    }
}
