//! Enough runs, decided by the data (Hoefler and Belli's rule): after the planned rounds,
//! a cell whose tables allow more runs than planned (`max_reps`) gets another round while
//! the 95% confidence interval of its median time is wider than the profile's `precision`
//! (a share of the median) and it has not reached its cap. A round that a cell gets, its
//! sequential cell of the same work gets too where it lacks it, so that the speedup's
//! round-by-round pairs stay pairs.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::plan::PlannedCell;
use super::raw::{RawRow, Status};
use crate::stats::{self, Estimate, MIN_RUNS_FOR_CONFIDENCE};
use crate::train::Mode;

/// The file that says, per cell, how its number of runs was decided.
pub const PRECISION_FILE: &str = "precision.csv";

/// How a cell's number of runs was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Its interval is within the target.
    Met,
    /// It reached its cap with the interval still wider than the target.
    Capped,
    /// It wants another round.
    Wants,
    /// A run of it failed: no rounds are added to a cell that fails (the failure is
    /// reported, and its claims fail).
    Failed,
    /// Its tables run a fixed number of times (no target, or `max_reps` = `reps`).
    Fixed,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Met => "within target",
            Standing::Capped => "at cap",
            Standing::Wants => "wants more runs",
            Standing::Failed => "a run failed",
            Standing::Fixed => "fixed runs",
        }
    }
}

/// Each timed run's training time (rank 0's clock), by round, of cell `id`.
pub fn run_times(rows: &[RawRow], id: &str) -> Vec<(usize, f64)> {
    let mut by_rep: std::collections::BTreeMap<usize, f64> = std::collections::BTreeMap::new();
    for r in rows.iter().filter(|r| r.cell == id && !r.warmup && r.status == Status::Ok && r.rank == Some(0)) {
        *by_rep.entry(r.rep).or_default() += r.train_s.unwrap_or(f64::NAN);
    }
    by_rep.into_iter().collect()
}

/// The next timed round of `id`: one past the highest round tried, whatever its outcome (a
/// failed run is not retried in an added round).
fn next_rep(rows: &[RawRow], id: &str) -> usize {
    rows.iter()
        .filter(|r| r.cell == id && !r.warmup && r.status != Status::NotRun)
        .map(|r| r.rep + 1)
        .max()
        .unwrap_or(0)
}

/// Where `planned` stands against `target`, with its current interval.
pub fn standing(planned: &PlannedCell, rows: &[RawRow], target: Option<f64>) -> (Standing, Option<Estimate>) {
    let id = planned.cell.id();
    let times: Vec<f64> = run_times(rows, &id).into_iter().map(|t| t.1).collect();
    let estimate = stats::median_interval(&times);
    let Some(target) = target.filter(|_| planned.cap() > planned.reps) else { return (Standing::Fixed, estimate) };
    if rows.iter().any(|r| r.cell == id && !r.warmup && r.status == Status::Failed) {
        return (Standing::Failed, estimate);
    }
    let precise = estimate.is_some_and(|e| e.n >= MIN_RUNS_FOR_CONFIDENCE && e.relative_width() <= target);
    let standing = if precise {
        Standing::Met
    } else if next_rep(rows, &id) >= planned.cap() {
        Standing::Capped
    } else {
        Standing::Wants
    };
    (standing, estimate)
}

/// The cells to run in the next added round, each with its round: those that want more
/// runs, and the sequential cell of the same work of each where it lacks that round.
pub fn next_round<'a>(
    cells: &[&'a PlannedCell],
    rows: &[RawRow],
    target: Option<f64>,
) -> Vec<(&'a PlannedCell, usize)> {
    let mut round: Vec<(&PlannedCell, usize)> = Vec::new();
    for &planned in cells {
        if standing(planned, rows, target).0 != Standing::Wants {
            continue;
        }
        let rep = next_rep(rows, &planned.cell.id());
        let reference =
            cells.iter().copied().find(|c| c.cell.mode == Mode::Seq && c.cell.work() == planned.cell.work());
        // A cell that has tried round `rep` (or a later one) has it.
        for cell in std::iter::once(planned).chain(reference) {
            let tried = next_rep(rows, &cell.cell.id()) > rep;
            if !tried && !round.iter().any(|(c, r)| c.cell == cell.cell && *r == rep) {
                round.push((cell, rep));
            }
        }
    }
    // Plan order, so that the round interleaves the cells as the planned rounds do.
    round.sort_by(|a, b| a.0.cell.cmp(&b.0.cell));
    round
}

/// `precision.csv`: per cell, its runs, cap, interval and standing; and a summary line.
pub fn record(dir: &Path, cells: &[&PlannedCell], rows: &[RawRow], target: Option<f64>) -> anyhow::Result<String> {
    let mut csv = String::from("cell,runs,planned,cap,median_s,low_s,high_s,relative_width,level,standing\n");
    let (mut met, mut capped, mut adaptive) = (0, 0, 0);
    for planned in cells {
        let (standing, e) = standing(planned, rows, target);
        // One run has no interval: its ends and width stay empty.
        let figure = |f: fn(&Estimate) -> f64| e.filter(|e| e.n >= 2).map_or(String::new(), |e| format!("{}", f(&e)));
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{}",
            planned.cell.id(),
            e.map_or(0, |e| e.n),
            planned.reps,
            planned.cap(),
            e.map_or(String::new(), |e| format!("{}", e.value)),
            figure(|e| e.low),
            figure(|e| e.high),
            figure(|e| e.relative_width()),
            figure(|e| e.level),
            standing.as_str()
        );
        if standing != Standing::Fixed {
            adaptive += 1;
        }
        met += usize::from(standing == Standing::Met);
        capped += usize::from(standing == Standing::Capped);
    }
    let path = dir.join(PRECISION_FILE);
    crate::util::files::write_atomic(&path, csv.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(match target {
        Some(t) if adaptive > 0 => format!(
            "precision: {met} of {adaptive} cells with a target reached a 95% interval within {:.0}% of the median, \
             {capped} stopped at their cap ({})",
            100.0 * t,
            path.display()
        ),
        _ => format!("precision: every cell ran its planned runs ({})", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SourceLabel;
    use crate::experiment::plan::Cell;
    use crate::experiment::raw::RunKey;

    fn planned(mode: Mode, reps: usize, max_reps: usize) -> PlannedCell {
        let cell = Cell {
            n: 1000,
            hidden: 50,
            test_n: 0,
            epochs: 1,
            iters: 10,
            mode,
            ranks: if mode == Mode::Mpi { 2 } else { 1 },
            threads: 1,
            sync: (mode == Mode::Mpi).then_some(crate::train::SyncKind::Allreduce),
            link: None,
            validation_n: 0,
            bagging: false,
            reduce: Default::default(),
        };
        PlannedCell { cell, tables: vec!["T1".into()], reps, max_reps, warmup: 0, oversubscribe: false }
    }

    /// A timed run of `p` in round `rep` that took `seconds` (one epoch, rank 0).
    fn run(p: &PlannedCell, rep: usize, seconds: f64) -> RawRow {
        let key = RunKey {
            profile: "quick",
            cell: &p.cell,
            tables: &p.tables,
            dtype: crate::real::Dtype::F64,
            oversubscribed: false,
            rep,
            warmup: false,
        };
        let mut row = key.without_result(Status::Ok, "", SourceLabel::Mnist);
        (row.rank, row.epoch, row.train_s) = (Some(0), Some(1), Some(seconds));
        row
    }

    #[test]
    fn a_noisy_cell_gets_rounds_until_its_cap_and_brings_its_sequential_reference() {
        let (seq, mpi) = (planned(Mode::Seq, 6, 6), planned(Mode::Mpi, 6, 8));
        let cells = [&seq, &mpi];
        let times = [1.0, 1.3, 0.8, 1.2, 0.9, 1.1];
        let mut rows: Vec<RawRow> =
            times.iter().enumerate().flat_map(|(r, t)| [run(&seq, r, *t), run(&mpi, r, *t / 2.0)]).collect();
        assert_eq!(standing(&mpi, &rows, Some(0.1)).0, Standing::Wants);
        // The sequential cell runs a fixed number of times, but joins the round for the pairs.
        assert_eq!(standing(&seq, &rows, Some(0.1)).0, Standing::Fixed);
        let round: Vec<(String, usize)> =
            next_round(&cells, &rows, Some(0.1)).iter().map(|(c, r)| (c.cell.id(), *r)).collect();
        assert_eq!(round, [(seq.cell.id(), 6), (mpi.cell.id(), 6)]);
        rows.extend([run(&seq, 6, 1.0), run(&mpi, 6, 0.5), run(&seq, 7, 1.0), run(&mpi, 7, 0.5)]);
        assert_eq!(standing(&mpi, &rows, Some(0.1)).0, Standing::Capped);
        assert!(next_round(&cells, &rows, Some(0.1)).is_empty());
        // Without a target, nothing is added.
        assert!(next_round(&cells, &rows[..12], None).is_empty());
    }

    #[test]
    fn a_quiet_cell_stops_at_its_planned_runs() {
        let mpi = planned(Mode::Mpi, 6, 10);
        let rows: Vec<RawRow> = (0..6).map(|r| run(&mpi, r, 1.0 + 0.001 * r as f64)).collect();
        assert_eq!(standing(&mpi, &rows, Some(0.1)).0, Standing::Met);
        assert!(next_round(&[&mpi], &rows, Some(0.1)).is_empty());
        // Three runs give no 95% interval: a cell with a target runs at least six.
        assert_eq!(standing(&mpi, &rows[..3], Some(0.1)).0, Standing::Wants);
        // A cell whose run failed gets no more rounds.
        let mut failing = rows[..3].to_vec();
        failing[2].status = Status::Failed;
        assert_eq!(standing(&mpi, &failing, Some(0.1)).0, Standing::Failed);
        assert!(next_round(&[&mpi], &failing, Some(0.1)).is_empty());
    }
}
