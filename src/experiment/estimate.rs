//! How long a plan will take on this machine: a short calibration (a few steps of the
//! sequential trainer per hidden-layer size, and a few steps of one `mpirun` job with the
//! plan's largest P, each as its own process like the real runs) turned into a time per
//! cell.
//!
//! The model is deliberately simple and says so: a run costs its process start-up (fixed,
//! plus loading its rows), its training steps (rows x the calibrated time per row and step,
//! shared by the cores the cell may use at the parallel efficiency the MPI calibration
//! measured) and one evaluation pass per epoch. A busy host during the run, or a quiet one
//! during the calibration, moves the real time; the closing line of `reproduce` prints the
//! measured time beside the estimate.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;

use super::plan::{Cell, Plan, PlannedCell};
use super::runner::{self, RunnerSettings};
use crate::train::{Mode, SyncKind, TrainResult};

/// Rows x hidden units of a calibration run: about 0.15 s per step for f64 on one core of
/// this study's development machine, enough to average over page faults and timer noise.
const CALIBRATION_WORK: usize = 8_000_000;
/// Steps of each calibration run.
const CALIBRATION_STEPS: usize = 4;
/// The fewest rows of a calibration run.
const MIN_CALIBRATION_ROWS: usize = 1000;

/// What one sequential process costs on this machine, as measured by [`calibrate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// Cores of this host: the most a cell's processes and threads can share.
    pub cores: usize,
    /// By H: seconds per training row for one step of one process.
    pub step_s_per_row: BTreeMap<usize, f64>,
    /// By H: seconds per row of the evaluation pass after an epoch.
    pub eval_s_per_row: BTreeMap<usize, f64>,
    /// A plain process's start-up outside training (exec, data, weights): the fixed part.
    pub startup_s: f64,
    /// The part of the start-up that grows with the rows loaded.
    pub load_s_per_row: f64,
    /// The fixed start-up of an `mpirun` job, if the plan has MPI cells.
    pub mpi_startup_s: Option<f64>,
    /// Sequential step time over P times the P-rank step time, as the MPI calibration
    /// measured it (1 without one); applied to every cell that uses several cores.
    pub parallel_efficiency: f64,
    /// By baseline program (keyed by [`program_of`]): what one of its runs measured.
    pub baselines: BTreeMap<Mode, BaselineCost>,
    /// Wall time the calibration itself took.
    pub took_s: f64,
    /// What the calibration could not measure (the MPI job failing, e.g. without mpirun).
    pub warnings: Vec<String>,
}

/// What the calibration measured of a baseline program.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaselineCost {
    /// Its step time per row over dpstudy's sequential one at the same H: how many times
    /// slower its step is (it scales with H as dpstudy's does).
    pub step_ratio: f64,
    /// Its process's fixed start-up outside training (Python, its imports); reading the
    /// rows is counted per row, as for dpstudy.
    pub startup_s: f64,
}

/// The program a baseline mode runs, and so the calibration that covers it: the original's
/// program for both of its modes, PyTorch's for one process and for DDP.
pub fn program_of(mode: Mode) -> Mode {
    match mode {
        Mode::OriginalFixed => Mode::Original,
        Mode::TorchDdp => Mode::Torch,
        other => other,
    }
}

/// One timed calibration run: rows trained, steps, and the measured parts.
#[derive(Debug, Clone, Copy)]
struct Sample {
    rows: usize,
    step_s: f64,
    eval_s: f64,
    startup_s: f64,
}

impl Sample {
    fn from(cell: &Cell, result: &TrainResult, process_s: f64) -> Self {
        let epoch = result.final_epoch();
        let root = epoch.root();
        Sample {
            rows: cell.n,
            step_s: (root.wall_s - root.eval_s) / epoch.iterations.max(1) as f64,
            eval_s: root.eval_s,
            startup_s: (process_s - result.total_train_s).max(0.0),
        }
    }
}

/// Runs the calibration processes for every hidden-layer size of the plan's CPU cells into
/// `dir` (created; its `runs/` and `logs/` keep what each run wrote).
pub fn calibrate(plan: &Plan, settings: &RunnerSettings, cores: usize) -> anyhow::Result<Calibration> {
    let started = Instant::now();
    runner::create_run_dirs(&settings.dir)?;
    let cpu_cells: Vec<&PlannedCell> = plan.cells.iter().filter(|c| c.cell.mode != Mode::Gpu).collect();
    let largest_n = cpu_cells.iter().map(|c| c.cell.n).max().unwrap_or(MIN_CALIBRATION_ROWS);
    let mut hidden: Vec<usize> = cpu_cells.iter().map(|c| c.cell.hidden).collect();
    hidden.sort_unstable();
    hidden.dedup();

    let run = |cell: Cell, name: String| -> anyhow::Result<Sample> {
        let (result, process_s) = runner::run_process(&plan.profile, &cell, settings, &name)
            .map_err(|why| anyhow::anyhow!("calibration run {name} failed: {why}"))?;
        Ok(Sample::from(&cell, &result, process_s))
    };
    let seq = |n: usize, hidden: usize, iters: usize| Cell {
        n,
        hidden,
        test_n: 0,
        epochs: 1,
        iters,
        mode: Mode::Seq,
        ranks: 1,
        threads: 1,
        sync: None,
        link: None,
        validation_n: 0,
        bagging: false,
        reduce: Default::default(),
    };
    let rows_for = |h: usize| (CALIBRATION_WORK / h.max(1)).clamp(MIN_CALIBRATION_ROWS.min(largest_n), largest_n);
    let mut samples = BTreeMap::new();
    for &h in &hidden {
        let n = rows_for(h);
        let sample = run(seq(n, h, CALIBRATION_STEPS), format!("calibrate-seq-h{h}-n{n}"))?;
        samples.insert(h, sample);
    }
    let (startup_s, load_s_per_row) = fit_line(samples.values().map(|s| (s.rows as f64, s.startup_s)));
    // The plan's largest P that this host runs without time-sharing a core.
    let mpi_ranks = plan
        .cells
        .iter()
        .filter(|c| matches!(c.cell.mode, Mode::Mpi | Mode::Model))
        .map(|c| c.cell.ranks.min(cores))
        .max();
    let mut warnings = vec![];
    let (mpi_startup_s, parallel_efficiency) = match (mpi_ranks, hidden.first()) {
        (Some(ranks), Some(&h)) => {
            let n = rows_for(h).max(ranks);
            let cell = Cell { mode: Mode::Mpi, ranks, sync: Some(SyncKind::Allreduce), ..seq(n, h, CALIBRATION_STEPS) };
            // An MPI job that cannot run here fails the MPI cells too, each with its reason;
            // the estimate goes on without it.
            match run(cell, format!("calibrate-mpi-p{ranks}-h{h}-n{n}")) {
                Ok(sample) => {
                    let seq_step = samples[&h].step_s / samples[&h].rows as f64 * n as f64;
                    let efficiency =
                        if ranks > 1 { (seq_step / (ranks as f64 * sample.step_s)).clamp(0.05, 1.0) } else { 1.0 };
                    (Some((sample.startup_s - load_s_per_row * n as f64).max(0.0)), efficiency)
                }
                Err(e) => {
                    warnings.push(format!("{e:#}; MPI cells are estimated as perfectly parallel"));
                    (None, 1.0)
                }
            }
        }
        _ => (None, 1.0),
    };
    let baselines = calibrate_baselines(plan, settings, &samples, load_s_per_row, &run, &mut warnings);
    Ok(Calibration {
        cores,
        baselines,
        step_s_per_row: samples.iter().map(|(&h, s)| (h, s.step_s / s.rows as f64)).collect(),
        eval_s_per_row: samples.iter().map(|(&h, s)| (h, s.eval_s / s.rows as f64)).collect(),
        startup_s,
        load_s_per_row,
        mpi_startup_s,
        parallel_efficiency,
        took_s: started.elapsed().as_secs_f64(),
        warnings,
    })
}

/// One run of each baseline program the plan will run (one process, a few steps at the H
/// and the size of its first cell, at most the sequential calibration's rows), set against
/// dpstudy's sequential sample of that H. A program whose run fails is left out, with a
/// warning: its cells are then not in the estimate.
fn calibrate_baselines(
    plan: &Plan,
    settings: &RunnerSettings,
    seq: &BTreeMap<usize, Sample>,
    load_s_per_row: f64,
    run: &dyn Fn(Cell, String) -> anyhow::Result<Sample>,
    warnings: &mut Vec<String>,
) -> BTreeMap<Mode, BaselineCost> {
    let mut costs = BTreeMap::new();
    for program in [Mode::Original, Mode::Torch] {
        let runnable = |c: &&PlannedCell| {
            program_of(c.cell.mode) == program && runner::not_run_reason(plan, c, settings).is_none()
        };
        let Some(first) = plan.cells.iter().find(runnable) else { continue };
        let Some(reference) = seq.get(&first.cell.hidden) else { continue };
        let n = reference.rows.min(first.cell.n).max(1);
        let cell = Cell {
            n,
            test_n: 0,
            epochs: 1,
            iters: CALIBRATION_STEPS,
            mode: program,
            ranks: 1,
            threads: 1,
            ..first.cell.clone()
        };
        match run(cell, format!("calibrate-{program}-h{}-n{n}", first.cell.hidden)) {
            Ok(sample) => {
                let per_row = |s: &Sample| s.step_s / s.rows as f64;
                let step_ratio = per_row(&sample) / per_row(reference);
                // The start-up without the rows' loading, which `run_s` adds per cell.
                let startup_s = (sample.startup_s - load_s_per_row * n as f64).max(0.0);
                costs.insert(program, BaselineCost { step_ratio, startup_s });
            }
            Err(e) => warnings.push(format!("{e:#}; its cells are not in the estimate")),
        }
    }
    costs
}

/// Least-squares intercept and slope of `points`; with fewer than two distinct x, the mean
/// as the intercept and no slope.
fn fit_line(points: impl Iterator<Item = (f64, f64)>) -> (f64, f64) {
    let points: Vec<(f64, f64)> = points.collect();
    if points.is_empty() {
        return (0.0, 0.0);
    }
    let k = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / k;
    let my = points.iter().map(|p| p.1).sum::<f64>() / k;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return (my, 0.0);
    }
    let slope = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx;
    // A slope below zero is noise (loading more rows never takes less time).
    let slope = slope.max(0.0);
    (my - slope * mx, slope)
}

impl Calibration {
    /// Estimated seconds of one run of `cell`, `None` for a cell the calibration does not
    /// cover (a GPU cell; a baseline whose program it did not run).
    pub fn run_s(&self, cell: &Cell) -> Option<f64> {
        if cell.mode == Mode::Gpu {
            return None;
        }
        // A baseline: its program's start-up (and mpirun's beside a plain start-up, for
        // several ranks), its step as many times dpstudy's as measured.
        let (startup, step_ratio) = if cell.mode.is_baseline() {
            let cost = self.baselines.get(&program_of(cell.mode))?;
            let launcher = match (cell.ranks > 1, self.mpi_startup_s) {
                (true, Some(mpi)) => (mpi - self.startup_s).max(0.0),
                _ => 0.0,
            };
            (cost.startup_s + launcher, cost.step_ratio)
        } else {
            let startup = match cell.mode {
                Mode::Mpi | Mode::Model | Mode::Ensemble => self.mpi_startup_s.unwrap_or(self.startup_s),
                _ => self.startup_s,
            };
            (startup, 1.0)
        };
        let step = step_ratio * *self.step_s_per_row.get(&cell.hidden)?;
        let eval = self.eval_s_per_row.get(&cell.hidden).copied().unwrap_or(0.0);
        let used = cell.cores().min(self.cores).max(1);
        let cores = if used > 1 { used as f64 * self.parallel_efficiency } else { 1.0 };
        let rows = (cell.n + cell.validation_n + cell.test_n) as f64;
        let startup = startup + self.load_s_per_row * rows;
        let steps = (cell.epochs * cell.iters) as f64;
        // An ensemble's ranks each train on all N rows: P times one run's work.
        let members = if cell.mode == Mode::Ensemble { cell.ranks as f64 } else { 1.0 };
        Some(startup + members * (steps * cell.n as f64 * step + cell.epochs as f64 * rows * eval) / cores)
    }
}

/// The plan with its estimate, as `--dry-run` prints it and a real run records it.
#[derive(Debug, Clone)]
pub struct Estimate {
    pub text: String,
    pub total_s: f64,
}

/// Describes the plan (per table: cells, runs to do, oversubscribed and not-run cells,
/// estimated time) and the estimate. `not_run(cell)` says why a cell will not run, if it
/// will not; `done(cell)` how many of its runs a resumed directory already holds. Cells
/// several tables share run once and are counted under the first of them.
pub fn describe(
    plan: &Plan,
    calibration: &Calibration,
    not_run: impl Fn(&PlannedCell) -> Option<String>,
    done: impl Fn(&PlannedCell) -> usize,
) -> Estimate {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "plan: profile {}, max P = {}, {} cells, {} tables ({})",
        plan.profile_name,
        plan.max_ranks,
        plan.cells.len(),
        plan.tables.len(),
        plan.profile.description.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    let _ = writeln!(
        text,
        "  {:<4} {:<16} {:>5} {:>5} {:>8} {:>8} {:>10}",
        "id", "table", "cells", "runs", "oversub", "not run", "estimate"
    );
    let mut counted = std::collections::HashSet::new();
    let mut all = Tally::default();
    for table in &plan.tables {
        let t = Tally::of(plan, &table.id, calibration, &not_run, &done, &mut counted);
        let (cells, runs, oversub, skipped) = (t.cells, t.runs, t.oversub, t.skipped);
        let seconds = duration(t.seconds);
        let _ = writeln!(
            text,
            "  {:<4} {:<16} {cells:>5} {runs:>5} {oversub:>8} {skipped:>8} {seconds:>10}",
            table.id, table.name
        );
        all.add(&t);
    }
    let reasons: std::collections::BTreeSet<String> = plan.cells.iter().filter_map(&not_run).collect();
    for reason in &reasons {
        let _ = writeln!(text, "  not run: {reason}");
    }
    text += &calibration_text(calibration);
    let caveat = if all.uncovered > 0 {
        format!(" ({} GPU or baseline cell(s) not included)", all.uncovered)
    } else {
        String::new()
    };
    let _ = writeln!(text, "estimate: {} for {} runs{caveat}", duration(all.seconds), all.runs);
    if all.extra_runs > 0 {
        let _ = writeln!(
            text,
            "precision: up to {} more runs ({}) if every cell with a target ({:.0}% of its median) ran to its cap",
            all.extra_runs,
            duration(all.extra_s),
            100.0 * plan.profile.precision.unwrap_or(f64::NAN)
        );
    }
    Estimate { text, total_s: all.seconds }
}

/// The runs of a table (or of the whole plan) still to do, and what they cost by the
/// calibration.
#[derive(Debug, Default)]
struct Tally {
    cells: usize,
    runs: usize,
    oversub: usize,
    skipped: usize,
    seconds: f64,
    /// Runs the precision target may add, each cell up to its cap, and their time.
    extra_runs: usize,
    extra_s: f64,
    /// Cells the calibration does not cover (GPU, baselines).
    uncovered: usize,
}

impl Tally {
    /// The tally of table `id`; a cell shared with an earlier table (in `counted`) is
    /// counted there.
    fn of(
        plan: &Plan,
        id: &str,
        calibration: &Calibration,
        not_run: &impl Fn(&PlannedCell) -> Option<String>,
        done: &impl Fn(&PlannedCell) -> usize,
        counted: &mut std::collections::HashSet<String>,
    ) -> Self {
        let mut t = Self::default();
        for planned in plan.cells_of(id) {
            t.cells += 1;
            if planned.cell.cores() > calibration.cores {
                t.oversub += 1;
            }
            if not_run(planned).is_some() {
                t.skipped += 1;
                continue;
            }
            if !counted.insert(planned.cell.id()) {
                continue;
            }
            let to_do = (planned.reps + planned.warmup).saturating_sub(done(planned));
            let may_add = if plan.profile.precision.is_some() { planned.cap() - planned.reps } else { 0 };
            t.runs += to_do;
            t.extra_runs += may_add;
            match calibration.run_s(&planned.cell) {
                Some(s) => {
                    t.seconds += s * to_do as f64;
                    t.extra_s += s * may_add as f64;
                }
                None => t.uncovered += 1,
            }
        }
        t
    }

    /// Adds the runs, times and uncovered cells of `other` (a table's) to this total.
    fn add(&mut self, other: &Tally) {
        self.runs += other.runs;
        self.seconds += other.seconds;
        self.extra_runs += other.extra_runs;
        self.extra_s += other.extra_s;
        self.uncovered += other.uncovered;
    }
}

/// What the calibration measured, and its warnings: the lines under the table of tables.
fn calibration_text(calibration: &Calibration) -> String {
    let per_k = |m: &BTreeMap<usize, f64>| {
        m.iter().map(|(h, s)| format!("H={h} {:.2} ms", s * 1e6)).collect::<Vec<_>>().join(", ")
    };
    let baselines: String = calibration
        .baselines
        .iter()
        .map(|(program, cost)| {
            format!("; {program} step {:.1}x dpstudy's, start {:.2} s", cost.step_ratio, cost.startup_s)
        })
        .collect();
    let mut text = format!(
        "calibration ({:.1} s, {} core(s)): one step per 1,000 rows {}; evaluation per 1,000 rows {}; process start {:.2} s + \
         {:.2} ms per 1,000 rows loaded{}{baselines}\n",
        calibration.took_s,
        calibration.cores,
        per_k(&calibration.step_s_per_row),
        per_k(&calibration.eval_s_per_row),
        calibration.startup_s,
        calibration.load_s_per_row * 1e6,
        calibration
            .mpi_startup_s
            .map(|s| format!("; mpirun start {s:.2} s; parallel efficiency {:.2}", calibration.parallel_efficiency))
            .unwrap_or_default()
    );
    for warning in &calibration.warnings {
        let _ = writeln!(text, "calibration: {warning}");
    }
    text
}

/// `1 h 02 min`, `12 min 05 s`, `42 s`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

/// Writes the estimate beside the results it predicts, to compare afterwards.
pub fn record(dir: &Path, estimate: &Estimate) -> anyhow::Result<()> {
    let path = dir.join(ESTIMATE_FILE);
    crate::util::files::write_atomic(&path, estimate.text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The estimate of a results directory.
pub const ESTIMATE_FILE: &str = "estimate.txt";

#[cfg(test)]
mod tests {
    use super::*;

    fn calibration() -> Calibration {
        Calibration {
            cores: 2,
            step_s_per_row: BTreeMap::from([(50, 2e-6)]),
            eval_s_per_row: BTreeMap::from([(50, 1e-6)]),
            startup_s: 0.5,
            load_s_per_row: 1e-5,
            mpi_startup_s: Some(1.0),
            parallel_efficiency: 1.0,
            baselines: BTreeMap::from([(Mode::Torch, BaselineCost { step_ratio: 3.0, startup_s: 2.0 })]),
            took_s: 3.0,
            warnings: vec![],
        }
    }

    fn cell(mode: Mode, ranks: usize, threads: usize) -> Cell {
        Cell {
            n: 10_000,
            hidden: 50,
            test_n: 0,
            epochs: 2,
            iters: 50,
            mode,
            ranks,
            threads,
            sync: None,
            link: None,
            validation_n: 0,
            bagging: false,
            reduce: Default::default(),
        }
    }

    #[test]
    fn a_run_is_startup_plus_steps_plus_evaluation_shared_by_the_cores() {
        let c = calibration();
        // 0.5 + 0.1 (load) + (100 steps x 10,000 rows x 2 us = 2 s) + 2 x 10,000 x 1 us.
        let seq = c.run_s(&cell(Mode::Seq, 1, 1)).unwrap();
        assert!((seq - 2.62).abs() < 1e-9, "{seq}");
        // Two ranks halve the work; mpirun's own start-up replaces the plain one.
        let mpi = c.run_s(&cell(Mode::Mpi, 2, 1)).unwrap();
        assert!((mpi - (1.0 + 0.1 + 1.01)).abs() < 1e-9, "{mpi}");
        // Four ranks on two cores: no faster than two.
        let over = c.run_s(&cell(Mode::Mpi, 4, 1)).unwrap();
        assert!((over - mpi).abs() < 1e-9, "{over}");
        assert_eq!(c.run_s(&cell(Mode::Gpu, 1, 1)), None);
        // A baseline: its program's start-up and its step 3 times dpstudy's (0.1 load, 6 s
        // of steps, 0.02 evaluation); DDP on two ranks adds mpirun's start-up and halves the
        // work. A program the calibration did not run is not guessed.
        let torch = c.run_s(&cell(Mode::Torch, 1, 1)).unwrap();
        assert!((torch - (2.0 + 0.1 + 6.02)).abs() < 1e-9, "{torch}");
        let ddp = c.run_s(&cell(Mode::TorchDdp, 2, 1)).unwrap();
        assert!((ddp - (2.0 + 0.5 + 0.1 + 3.01)).abs() < 1e-9, "{ddp}");
        assert_eq!(c.run_s(&cell(Mode::Original, 1, 1)), None);
        // An H the calibration did not measure is not guessed.
        assert_eq!(c.run_s(&Cell { hidden: 25, ..cell(Mode::Seq, 1, 1) }), None);
        // At a measured efficiency of 0.8, two cores do the work of 1.6; one core is one.
        let c = Calibration { parallel_efficiency: 0.8, ..calibration() };
        let mpi = c.run_s(&cell(Mode::Mpi, 2, 1)).unwrap();
        assert!((mpi - (1.0 + 0.1 + 2.02 / 1.6)).abs() < 1e-9, "{mpi}");
        let threads1 = c.run_s(&cell(Mode::Threads, 1, 1)).unwrap();
        assert!((threads1 - seq).abs() < 1e-9, "{threads1}");
        // An ensemble's two members each do a whole run's work, on the two cores.
        let ensemble = c.run_s(&cell(Mode::Ensemble, 2, 1)).unwrap();
        assert!((ensemble - (1.0 + 0.1 + 2.0 * 2.02 / 1.6)).abs() < 1e-9, "{ensemble}");
    }

    #[test]
    fn the_line_fit_recovers_start_up_and_load_rate() {
        let (a, b) = fit_line([(1000.0, 0.3), (5000.0, 0.7), (9000.0, 1.1)].into_iter());
        assert!((a - 0.2).abs() < 1e-12 && (b - 1e-4).abs() < 1e-15, "{a} {b}");
        assert_eq!(fit_line([(10.0, 2.0), (10.0, 4.0)].into_iter()), (3.0, 0.0));
        assert_eq!(fit_line(std::iter::empty()), (0.0, 0.0));
        // Loading more rows never takes less time: a falling fit is noise.
        assert_eq!(fit_line([(1.0, 2.0), (3.0, 1.0)].into_iter()).1, 0.0);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(42.4), "42 s");
        assert_eq!(duration(725.0), "12 min 05 s");
        assert_eq!(duration(3720.0), "1 h 02 min");
    }
}
