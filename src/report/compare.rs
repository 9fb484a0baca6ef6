//! `dpstudy compare RUN EXPECTED`: a run beside the expected results, cell by cell, for the
//! figures that do not measure the hardware's speed (speedup, efficiency, communication
//! share, final cost, accuracies), and claim by claim. Each judged figure has a tolerance
//! ([`Tolerance`]); seconds are shown, never judged. A speedup or an efficiency is judged on
//! its 95% confidence interval: it is outside only when the two sides' intervals lie apart
//! by more than a stated tolerance. Cells and claims present on one side only are listed as
//! such.

use std::path::Path;

use crate::report::aggregate::{CellStats, aggregate_dir};
use crate::report::claims::{CheckRecord, Outcome, Verdict};
use crate::stats::Estimate;

/// How far apart the two sides' intervals of a speedup or an efficiency may lie, as a share
/// of the expected median, before `compare` calls them different: two machines of one kind
/// differ by more than one run's noise (the cores' clocks, the other tenants), which the
/// intervals of each side do not hold.
pub const INTERVAL_TOLERANCE: f64 = 0.10;

/// Why a figure is shown without a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unjudged {
    /// Seconds measure the machine.
    Seconds,
    /// One side has too few runs for a 95% interval (a cell timed once, say).
    FewRuns,
    /// More processes than cores: the ratio measures the scheduler.
    Oversubscribed,
    /// Across emulated hosts: the share depends on the CPU's speed against the shaped link.
    EmulatedLink,
    /// The claim was not evaluated on one side (no GPU, table not run).
    ClaimNotRun,
    /// Weight hashes: the bits depend on the kernel that ran (and, for the `gemm` kernel,
    /// on the machine's caches), so equal hashes are shown as the strong agreement they
    /// are, and different ones are not called a difference.
    KernelBits,
}

impl Unjudged {
    pub fn describe(self) -> &'static str {
        match self {
            Unjudged::Seconds => "not judged: seconds measure the machine",
            Unjudged::FewRuns => "not judged: no 95% interval on both sides",
            Unjudged::Oversubscribed => "not judged: oversubscribed",
            Unjudged::EmulatedLink => "not judged: emulated link",
            Unjudged::ClaimNotRun => "not judged: claim not run on one side",
            Unjudged::KernelBits => "not judged: the bits depend on the kernel that ran",
        }
    }
}

/// How far a figure may move between two machines before `compare` calls it a difference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// |run - expected| / |expected| at most this.
    Relative(f64),
    /// |run - expected| at most this.
    Absolute(f64),
    /// The two sides' intervals overlap, or lie apart by at most this share of the expected
    /// median.
    Intervals(f64),
    /// A claim: the same verdict on both sides.
    SameVerdict,
    /// Shown beside the other, never judged.
    Shown(Unjudged),
}

impl Tolerance {
    fn holds(self, run: f64, expected: f64) -> Option<bool> {
        match self {
            Tolerance::Relative(t) => Some((run - expected).abs() <= t * expected.abs()),
            Tolerance::Absolute(t) => Some((run - expected).abs() <= t),
            Tolerance::Intervals(_) | Tolerance::SameVerdict | Tolerance::Shown(_) => None,
        }
    }

    /// Whether two intervals agree within `Intervals(t)`: the gap between them (0 when
    /// they overlap) at most t times the expected median.
    fn intervals_hold(self, run: &Estimate, expected: &Estimate) -> Option<bool> {
        let Tolerance::Intervals(t) = self else { return None };
        let gap = (run.low - expected.high).max(expected.low - run.high).max(0.0);
        Some(gap <= t * expected.value.abs())
    }

    pub fn describe(self) -> String {
        match self {
            Tolerance::Relative(t) => format!("±{}%", 100.0 * t),
            Tolerance::Absolute(t) => format!("±{t}"),
            Tolerance::Intervals(t) => format!("95% CIs apart by ≤ {}%", 100.0 * t),
            Tolerance::SameVerdict => "verdicts must agree".into(),
            Tolerance::Shown(why) => why.describe().into(),
        }
    }
}

/// A figure of a cell that `compare` sets side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    Speedup,
    Efficiency,
    CommShare,
    FinalCost,
    TrainAccuracy,
    TestAccuracy,
    MedianSeconds,
}

impl Figure {
    pub const ALL: [Figure; 7] = [
        Figure::Speedup,
        Figure::Efficiency,
        Figure::CommShare,
        Figure::FinalCost,
        Figure::TrainAccuracy,
        Figure::TestAccuracy,
        Figure::MedianSeconds,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Figure::Speedup => "speedup",
            Figure::Efficiency => "efficiency",
            Figure::CommShare => "comm share",
            Figure::FinalCost => "final cost",
            Figure::TrainAccuracy => "train accuracy",
            Figure::TestAccuracy => "test accuracy",
            Figure::MedianSeconds => "median time s",
        }
    }

    fn is_timing_ratio(self) -> bool {
        matches!(self, Figure::Speedup | Figure::Efficiency | Figure::CommShare)
    }

    /// The tolerance of this figure for the expected cell `e`, and why.
    ///
    /// - Speedup and efficiency: on their 95% intervals, with [`INTERVAL_TOLERANCE`] on top
    ///   of them; not judged where a side has no 95% interval (fewer than 6 rounds).
    /// - The communication share: ±0.10 absolute, since it is a share of a step; judged
    ///   where the speedup is.
    /// - The final cost: relative 1e-4, claims.toml's bound for C6 (every mode reaches the
    ///   sequential cost). The arithmetic is the same on any x86-64 CPU, so only a changed
    ///   SIMD path could move it at all.
    /// - The accuracies: ±0.002, four images in 2,000, for the same reason.
    pub fn tolerance(self, r: &CellStats, e: &CellStats) -> Tolerance {
        if self.is_timing_ratio() {
            if e.link.is_some() {
                return Tolerance::Shown(Unjudged::EmulatedLink);
            }
            if e.oversubscribed {
                return Tolerance::Shown(Unjudged::Oversubscribed);
            }
            let confident = |c: &CellStats| c.time.is_some_and(|t| t.is_confident());
            if !confident(e) || !confident(r) {
                return Tolerance::Shown(Unjudged::FewRuns);
            }
        }
        match self {
            Figure::Speedup | Figure::Efficiency => Tolerance::Intervals(INTERVAL_TOLERANCE),
            Figure::CommShare => Tolerance::Absolute(0.10),
            Figure::FinalCost => Tolerance::Relative(1e-4),
            Figure::TrainAccuracy | Figure::TestAccuracy => Tolerance::Absolute(0.002),
            Figure::MedianSeconds => Tolerance::Shown(Unjudged::Seconds),
        }
    }

    fn of(self, c: &CellStats) -> Option<f64> {
        let v = match self {
            Figure::Speedup => c.speedup?.value,
            Figure::Efficiency => c.efficiency?.value,
            // A sequential cell has no communication to compare.
            Figure::CommShare if c.ranks * c.threads <= 1 => return None,
            Figure::CommShare => c.comm_share,
            Figure::FinalCost => c.final_cost,
            Figure::TrainAccuracy => c.final_train_acc,
            Figure::TestAccuracy => c.final_test_acc?,
            Figure::MedianSeconds => c.median_s,
        };
        v.is_finite().then_some(v)
    }

    /// The figure's interval, where it has one.
    fn interval(self, c: &CellStats) -> Option<Estimate> {
        match self {
            Figure::Speedup => c.speedup,
            Figure::Efficiency => c.efficiency,
            Figure::MedianSeconds => c.time,
            _ => None,
        }
        .filter(|e| e.n >= 2)
    }
}

/// One figure of one cell, or one claim, on both sides.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The tables the cell belongs to (`T1 T3`), or `claims`.
    pub group: String,
    /// The cell id, or the claim id.
    pub subject: String,
    /// The figure's name; for a claim, both verdicts.
    pub figure: String,
    /// A claim that is a trend has no value.
    pub run: Option<f64>,
    pub expected: Option<f64>,
    /// The figures' intervals, where they have them (timings, and the claims' figures).
    pub run_interval: Option<Estimate>,
    pub expected_interval: Option<Estimate>,
    pub tolerance: Tolerance,
    /// `None`: shown, not judged.
    pub within: Option<bool>,
}

impl Row {
    /// (run - expected) / |expected|, where both exist and expected is not about zero (a
    /// relative difference from C6's 4e-16 would print as 1e15 per cent and mean nothing).
    pub fn relative_difference(&self) -> Option<f64> {
        let (r, e) = (self.run?, self.expected?);
        (e.abs() > 1e-9).then(|| (r - e) / e.abs())
    }

    pub fn verdict(&self) -> &'static str {
        match self.within {
            Some(true) => "ok",
            Some(false) => "OUTSIDE",
            None => "shown",
        }
    }
}

/// The side a one-sided cell or claim is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Run,
    Expected,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Run => "run",
            Side::Expected => "expected",
        }
    }
}

/// The comparison of two results directories.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub rows: Vec<Row>,
    /// Cells or claims on one side only.
    pub one_sided: Vec<(String, Side)>,
}

/// The group name of claim rows.
pub const CLAIMS_GROUP: &str = "claims";

impl Comparison {
    pub fn outside(&self) -> usize {
        self.rows.iter().filter(|r| r.within == Some(false)).count()
    }

    pub fn judged(&self) -> usize {
        self.rows.iter().filter(|r| r.within.is_some()).count()
    }

    /// The groups: the claims first, then the tables in order of their first id (`T1`,
    /// `T1 T2`, ..., `T10`).
    pub fn groups(&self) -> Vec<&str> {
        let mut groups: Vec<&str> = Vec::new();
        for r in &self.rows {
            if !groups.contains(&r.group.as_str()) {
                groups.push(&r.group);
            }
        }
        groups.sort_by_key(|g| {
            let first = g.split(' ').next().unwrap_or_default();
            let number: usize = first.trim_start_matches('T').parse().unwrap_or(usize::MAX);
            (*g != CLAIMS_GROUP, number, g.to_string())
        });
        groups
    }

    /// The summary line both the terminal and the HTML report end with.
    pub fn summary(&self) -> String {
        format!(
            "compare: {} figures judged, {} outside their tolerance; {} shown, not judged; {} only on one side",
            self.judged(),
            self.outside(),
            self.rows.len() - self.judged(),
            self.one_sided.len()
        )
    }
}

/// Compares the cells of two aggregates and the verdicts of two check records.
pub fn compare_cells(
    run: &[CellStats],
    expected: &[CellStats],
    run_check: &CheckRecord,
    expected_check: &CheckRecord,
) -> Comparison {
    let mut rows = Vec::new();
    let mut one_sided = Vec::new();
    for e in expected {
        let Some(r) = run.iter().find(|r| r.cell == e.cell) else {
            one_sided.push((e.cell.clone(), Side::Expected));
            continue;
        };
        for figure in Figure::ALL {
            let (rv, ev) = (figure.of(r), figure.of(e));
            if rv.is_none() && ev.is_none() {
                continue;
            }
            let tolerance = figure.tolerance(r, e);
            let (ri, ei) = (figure.interval(r), figure.interval(e));
            let within = match (rv, ev) {
                (Some(rv), Some(ev)) => match (ri, ei) {
                    (Some(ri), Some(ei)) if matches!(tolerance, Tolerance::Intervals(_)) => {
                        tolerance.intervals_hold(&ri, &ei)
                    }
                    _ => tolerance.holds(rv, ev),
                },
                // A figure on one side only (a test accuracy the run lacks) is a difference.
                _ => (!matches!(tolerance, Tolerance::Shown(_))).then_some(false),
            };
            rows.push(Row {
                group: e.tables.to_string(),
                subject: e.cell.clone(),
                figure: figure.name().into(),
                run: rv,
                expected: ev,
                run_interval: ri,
                expected_interval: ei,
                tolerance,
                within,
            });
        }
    }
    for e in expected {
        if let Some(r) = run.iter().find(|r| r.cell == e.cell) {
            let hashes = (r.weights_sha256.as_deref(), e.weights_sha256.as_deref());
            rows.extend(hash_row(&e.tables.to_string(), &e.cell, hashes));
        }
    }
    for r in run.iter().filter(|r| !expected.iter().any(|e| e.cell == r.cell)) {
        one_sided.push((r.cell.clone(), Side::Run));
    }
    for ev in &expected_check.verdicts {
        match run_check.verdict(&ev.id) {
            None => one_sided.push((ev.id.clone(), Side::Expected)),
            Some(rv) => rows.push(claim_row(rv, ev)),
        }
    }
    for rv in run_check.verdicts.iter().filter(|v| expected_check.verdict(&v.id).is_none()) {
        one_sided.push((rv.id.clone(), Side::Run));
    }
    Comparison { rows, one_sided }
}

/// The trained weights' hashes of a cell on both sides, when both recorded one: the same
/// bits, or not (shown, not judged: see [`Unjudged::KernelBits`]).
fn hash_row(group: &str, cell: &str, (run, expected): (Option<&str>, Option<&str>)) -> Option<Row> {
    let (run, expected) = (run?, expected?);
    let short = |h: &str| h.chars().take(12).collect::<String>();
    let figure = if run == expected {
        format!("weights SHA-256: the same bits ({})", short(run))
    } else {
        format!("weights SHA-256: different bits ({} here, {} expected)", short(run), short(expected))
    };
    Some(Row {
        group: group.into(),
        subject: cell.into(),
        figure,
        run: None,
        expected: None,
        run_interval: None,
        expected_interval: None,
        tolerance: Tolerance::Shown(Unjudged::KernelBits),
        within: None,
    })
}

/// A claim on both sides: judged by its verdict (its bound lives in claims.toml and `check`
/// applied it on each side); its value and interval are shown. An inconclusive verdict
/// contradicts neither a pass nor a fail: only a pass on one side and a fail on the other
/// is a difference.
fn claim_row(run: &Verdict, expected: &Verdict) -> Row {
    let evaluated = run.outcome != Outcome::NotRun && expected.outcome != Outcome::NotRun;
    let decided = |o: Outcome| matches!(o, Outcome::Pass | Outcome::Fail);
    let agree = run.outcome == expected.outcome || !decided(run.outcome) || !decided(expected.outcome);
    Row {
        group: CLAIMS_GROUP.into(),
        subject: run.id.clone(),
        figure: format!("{} here, {} expected", run.outcome.as_str(), expected.outcome.as_str()),
        run: run.value,
        expected: expected.value,
        run_interval: run.interval,
        expected_interval: expected.interval,
        tolerance: if evaluated { Tolerance::SameVerdict } else { Tolerance::Shown(Unjudged::ClaimNotRun) },
        within: evaluated.then_some(agree),
    }
}

/// Compares the results directory `run` with `expected`; both must have been checked
/// (check.json) and must come from the same profile.
pub fn compare(run: &Path, expected: &Path) -> anyhow::Result<Comparison> {
    anyhow::ensure!(expected.is_dir(), "the expected results {} are not a directory", expected.display());
    let (rc, ec) = (CheckRecord::read(run)?, CheckRecord::read(expected)?);
    anyhow::ensure!(
        rc.profile == ec.profile,
        "{} is a {} run but {} holds {} results: compare runs of one profile",
        run.display(),
        rc.profile,
        expected.display(),
        ec.profile
    );
    let (ra, ea) = (aggregate_dir(run)?, aggregate_dir(expected)?);
    Ok(compare_cells(&ra.cells, &ea.cells, &rc, &ec))
}

/// A figure as the comparison prints it: six significant digits, or a dash.
pub fn figure_text(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) => format!("{v:.5e}"),
        Some(v) if v == 0.0 => format!("{v:.6}"),
        Some(v) => format!("{:.*}", (5.0 - v.abs().log10().floor()).max(0.0) as usize, v),
    }
}

/// A figure with its interval, `1.85000 [1.80000, 1.91000]`, or as [`figure_text`].
pub fn figure_with_interval(v: Option<f64>, interval: Option<Estimate>) -> String {
    match interval {
        Some(e) => format!("{} [{}, {}]", figure_text(v), figure_text(Some(e.low)), figure_text(Some(e.high))),
        None => figure_text(v),
    }
}

/// The relative difference as the comparison prints it.
pub fn difference_text(row: &Row) -> String {
    row.relative_difference().map_or("-".into(), |d| format!("{:+.2}%", 100.0 * d))
}

/// The comparison as text: table by table, one line per figure; then the claims, the
/// one-sided subjects and the summary line.
pub fn render(c: &Comparison) -> String {
    let mut out = String::new();
    for group in c.groups() {
        let title = if group == CLAIMS_GROUP { "claims".to_string() } else { format!("tables {group}") };
        out += &format!("== {title}\n");
        for r in c.rows.iter().filter(|r| r.group == group) {
            out += &format!(
                "{:<8} {:<52} {:<26} run {:>12} expected {:>12} {:>9}  {}\n",
                r.verdict(),
                r.subject,
                r.figure,
                figure_with_interval(r.run, r.run_interval),
                figure_with_interval(r.expected, r.expected_interval),
                difference_text(r),
                r.tolerance.describe()
            );
        }
    }
    for (subject, side) in &c.one_sided {
        out += &format!("only in {}: {subject}\n", side.as_str());
    }
    out += &c.summary();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_hashes_are_shown_same_or_different_and_never_judged() {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let same = hash_row("T10", "seq", (Some(&a), Some(&a))).unwrap();
        assert_eq!(same.figure, "weights SHA-256: the same bits (aaaaaaaaaaaa)");
        assert_eq!((same.within, same.tolerance), (None, Tolerance::Shown(Unjudged::KernelBits)));
        let other = hash_row("T10", "seq", (Some(&a), Some(&b))).unwrap();
        assert!(other.figure.contains("different bits (aaaaaaaaaaaa here, bbbbbbbbbbbb expected)"));
        assert_eq!(other.within, None);
        assert_eq!(hash_row("T10", "seq", (Some(&a), None)), None, "a run before hashes: no row");
    }

    #[test]
    fn figures_print_with_six_significant_digits() {
        assert_eq!(figure_text(Some(1.83456789)), "1.83457");
        assert_eq!(figure_text(Some(0.8279101)), "0.827910");
        assert_eq!(figure_text(Some(24.81)), "24.8100");
        assert_eq!(figure_text(Some(6.7e-16)), "6.70000e-16");
        assert_eq!(figure_text(Some(0.0)), "0.000000");
        assert_eq!(figure_text(None), "-");
    }

    #[test]
    fn tolerances_hold_at_their_edges_and_not_beyond() {
        assert_eq!(Tolerance::Relative(0.25).holds(1.25, 1.0), Some(true));
        assert_eq!(Tolerance::Relative(0.25).holds(1.2501, 1.0), Some(false));
        assert_eq!(Tolerance::Absolute(0.002).holds(0.7015, 0.7), Some(true));
        assert_eq!(Tolerance::Absolute(0.002).holds(0.7025, 0.7), Some(false));
        assert_eq!(Tolerance::Shown(Unjudged::Seconds).holds(9.0, 1.0), None);
    }

    fn verdict(id: &str, outcome: Outcome, value: Option<f64>) -> Verdict {
        Verdict {
            id: id.into(),
            claim: String::new(),
            outcome,
            measured: String::new(),
            expected: String::new(),
            value,
            interval: None,
        }
    }

    #[test]
    fn claims_are_judged_by_their_verdicts_and_claims_not_run_are_shown() {
        let same = claim_row(&verdict("C3", Outcome::Pass, Some(0.8)), &verdict("C3", Outcome::Pass, Some(0.9)));
        assert_eq!((same.within, same.tolerance), (Some(true), Tolerance::SameVerdict));
        let flipped = claim_row(&verdict("C3", Outcome::Fail, Some(0.6)), &verdict("C3", Outcome::Pass, Some(0.9)));
        assert_eq!(flipped.within, Some(false));
        assert_eq!(flipped.figure, "FAIL here, PASS expected");
        let gpu = claim_row(&verdict("C8", Outcome::NotRun, None), &verdict("C8", Outcome::Pass, Some(3.0)));
        assert_eq!((gpu.within, gpu.tolerance), (None, Tolerance::Shown(Unjudged::ClaimNotRun)));
        let undecided =
            claim_row(&verdict("C3", Outcome::Inconclusive, Some(0.7)), &verdict("C3", Outcome::Pass, Some(0.9)));
        assert_eq!(undecided.within, Some(true), "an inconclusive run contradicts no pass");
    }

    #[test]
    fn intervals_agree_when_they_overlap_or_lie_within_the_tolerance() {
        let e = |low: f64, high: f64| Estimate { value: 0.5 * (low + high), low, high, level: 0.97, n: 8 };
        let t = Tolerance::Intervals(0.10);
        // Overlapping: the T5-like case of 1.88 against 1.48 is no longer judged on one run,
        // and two intervals that touch agree.
        assert_eq!(t.intervals_hold(&e(1.80, 1.95), &e(1.70, 1.85)), Some(true));
        // Apart by 0.10 at an expected median of 1.5: 6.7%, within 10%.
        assert_eq!(t.intervals_hold(&e(1.75, 1.80), &e(1.45, 1.65)), Some(true));
        // Apart by 0.2: 13%, outside, above or below.
        assert_eq!(t.intervals_hold(&e(1.85, 1.90), &e(1.45, 1.65)), Some(false));
        assert_eq!(t.intervals_hold(&e(1.20, 1.25), &e(1.45, 1.65)), Some(false));
        assert_eq!(Tolerance::Relative(0.1).intervals_hold(&e(1.0, 2.0), &e(1.0, 2.0)), None);
    }
}
