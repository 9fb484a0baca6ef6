//! The original study's four findings, each set beside what this run measured, from the
//! time-vs-size table (T1): sequential against MPI with the run's largest P, at every N.
//! Every figure is a median with its 95% confidence interval, and every figure of two cells
//! is computed round by round (`crate::stats`); "significantly" is a one-sided Mann-Whitney
//! U test per N (MPI's runs faster than the sequential runs, p < 0.05) together with a
//! speedup interval above 1. A finding whose intervals cannot tell is "inconclusive".
//!
//! The original's figures are screenshots without numbers, so only its qualitative
//! findings can be compared; the numbers here are all this run's. Rendered as a table (for
//! the paper and the appendix) and as LaTeX macros, so the paper's abstract and conclusions
//! quote generated figures instead of typed ones.

use std::fmt::Write as _;

use super::aggregate::{Aggregate, CellStats};
use super::study_tables::secs;
use super::table_format::{Align, Table};
use crate::stats::{self, Estimate};
use crate::train::{Mode, SyncKind};

/// The table the findings are read from.
pub const SOURCE_TABLE: &str = "T1";
/// File of the LaTeX macros.
pub const MACROS_FILE: &str = "findings-macros.tex";
/// The significance level of the rank test.
pub const ALPHA: f64 = 0.05;

/// The macros the paper may use, in the order [`Findings::latex_macros`] defines them.
const MACRO_NAMES: [&str; 15] = [
    "FindP",
    "FindNmin",
    "FindNmax",
    "FindSpeedupMin",
    "FindSpeedupMax",
    "FindEfficiencyMin",
    "FindEfficiencyMax",
    "FindSlopeRatio",
    "FindGapFirst",
    "FindGapLast",
    "FindSeqLast",
    "FindMpiLast",
    "FindIters",
    "FindRuns",
    "FindPvalueMax",
];

/// Sequential and MPI at one size: each cell's runs by round.
#[derive(Debug, Clone, PartialEq)]
pub struct SizePoint {
    pub n: usize,
    pub seq: Vec<(usize, f64)>,
    pub mpi: Vec<(usize, f64)>,
}

impl SizePoint {
    fn times(runs: &[(usize, f64)]) -> Vec<f64> {
        runs.iter().map(|r| r.1).collect()
    }

    pub fn seq_time(&self) -> Option<Estimate> {
        stats::median_interval(&Self::times(&self.seq))
    }

    pub fn mpi_time(&self) -> Option<Estimate> {
        stats::median_interval(&Self::times(&self.mpi))
    }

    /// The sequential time over MPI's, round by round.
    pub fn speedup(&self) -> Option<Estimate> {
        stats::paired_ratio(&self.seq, &self.mpi)
    }

    /// Seconds the parallel run saves at this size, round by round.
    pub fn gap(&self) -> Option<Estimate> {
        stats::per_round(&stats::common_rounds(&[&self.seq, &self.mpi]), |r| r[0] - r[1])
    }

    /// The one-sided rank test's p-value: MPI's runs faster than the sequential ones.
    pub fn p_value(&self) -> f64 {
        stats::mann_whitney_less(&Self::times(&self.mpi), &Self::times(&self.seq)).unwrap_or(f64::NAN)
    }

    /// A reduction no noise explains: the rank test at [`ALPHA`] and a speedup interval
    /// above 1.
    pub fn significant(&self) -> bool {
        self.p_value() < ALPHA && self.speedup().is_some_and(|s| s.low > 1.0)
    }
}

/// The comparison: one point per N, the MPI series' P and sync.
#[derive(Debug, Clone, PartialEq)]
pub struct Findings {
    pub ranks: usize,
    pub sync: SyncKind,
    pub hidden: usize,
    /// Iterations each timed run trains (epochs x iterations per epoch).
    pub iterations: usize,
    pub points: Vec<SizePoint>,
}

/// Least-squares slope of y against x.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    sxy / sxx
}

/// A finding's verdict from intervals: confirmed when every interval says so, refuted when
/// one says the opposite, inconclusive otherwise.
fn verdict(right: bool, wrong: bool) -> String {
    match (right, wrong) {
        (_, true) => "refuted",
        (true, false) => "confirmed",
        (false, false) => "inconclusive",
    }
    .into()
}

fn interval(e: Option<Estimate>, fmt: fn(f64) -> String) -> String {
    e.map_or("–".into(), |e| e.text(fmt))
}

fn two(x: f64) -> String {
    format!("{x:.2}")
}

impl Findings {
    /// Reads T1's sequential and MPI cells (the largest P, the first H); `None` when the run
    /// has fewer than two sizes with both.
    pub fn of(agg: &Aggregate) -> Option<Self> {
        let cells: Vec<&CellStats> = agg.table(SOURCE_TABLE).collect();
        let hidden = cells.iter().map(|c| c.hidden).min()?;
        let mpi: Vec<&CellStats> =
            cells.iter().copied().filter(|c| c.mode == Mode::Mpi && c.hidden == hidden).collect();
        let ranks = mpi.iter().map(|c| c.ranks).max()?;
        let mut points: Vec<SizePoint> = mpi
            .iter()
            .filter(|m| m.ranks == ranks)
            .filter_map(|m| {
                let seq = cells.iter().find(|c| c.mode == Mode::Seq && c.work() == m.work())?;
                Some(SizePoint { n: m.n, seq: seq.totals(), mpi: m.totals() })
            })
            .collect();
        points.sort_by_key(|p| p.n);
        let sync = mpi.first()?.sync?;
        let iterations = mpi.first().map_or(0, |c| c.epochs * c.iters);
        (points.len() >= 2).then_some(Self { ranks, sync, hidden, iterations, points })
    }

    fn first(&self) -> &SizePoint {
        &self.points[0]
    }

    fn last(&self) -> &SizePoint {
        self.points.last().expect("at least two points")
    }

    /// The rounds every cell of the comparison ran: per round, (seq, MPI) at each N.
    fn rounds(&self) -> Vec<Vec<f64>> {
        let series: Vec<&[(usize, f64)]> = self.points.iter().flat_map(|p| [&p.seq[..], &p.mpi[..]]).collect();
        stats::common_rounds(&series)
    }

    /// A figure of every size, computed round by round from (N, seq s, MPI s) triples.
    fn per_round(&self, figure: impl Fn(&[(f64, f64, f64)]) -> f64) -> Option<Estimate> {
        let ns: Vec<f64> = self.points.iter().map(|p| p.n as f64).collect();
        stats::per_round(&self.rounds(), |r| {
            figure(&ns.iter().enumerate().map(|(i, &n)| (n, r[2 * i], r[2 * i + 1])).collect::<Vec<_>>())
        })
    }

    /// MPI's least-squares slope of time in N over the sequential one's, round by round.
    pub fn slope_ratio(&self) -> Option<Estimate> {
        self.per_round(|p| {
            let line = |f: fn(&(f64, f64, f64)) -> f64| slope(&p.iter().map(|t| (t.0, f(t))).collect::<Vec<_>>());
            line(|t| t.2) / line(|t| t.1)
        })
    }

    /// The least-squares slope in N of the gap (sequential minus MPI seconds), round by round.
    pub fn gap_slope(&self) -> Option<Estimate> {
        self.per_round(|p| slope(&p.iter().map(|t| (t.0, t.1 - t.2)).collect::<Vec<_>>()))
    }

    /// (sequential, MPI) least-squares slopes of the median time in N, seconds per image.
    pub fn slopes(&self) -> (f64, f64) {
        let line = |f: fn(&SizePoint) -> Option<Estimate>| {
            slope(&self.points.iter().map(|p| (p.n as f64, f(p).map_or(f64::NAN, |e| e.value))).collect::<Vec<_>>())
        };
        (line(SizePoint::seq_time), line(SizePoint::mpi_time))
    }

    fn speedups(&self) -> Vec<Estimate> {
        self.points.iter().filter_map(SizePoint::speedup).collect()
    }

    /// The smallest and largest median speedup.
    fn speedup_range(&self) -> (f64, f64) {
        self.speedups()
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), e| (lo.min(e.value), hi.max(e.value)))
    }

    /// Whether time rises from each N to the next in both modes: (every step's interval
    /// above 1, some step's interval below 1).
    fn growth(&self) -> (bool, bool) {
        let steps: Vec<Option<Estimate>> = self
            .points
            .windows(2)
            .flat_map(|w| [stats::paired_ratio(&w[1].seq, &w[0].seq), stats::paired_ratio(&w[1].mpi, &w[0].mpi)])
            .collect();
        (steps.iter().all(|e| e.is_some_and(|e| e.low > 1.0)), steps.iter().any(|e| e.is_some_and(|e| e.high < 1.0)))
    }

    /// The four findings: the original's words (paraphrased), what this run measured, and
    /// whether it agrees.
    pub fn rows(&self) -> Vec<[String; 3]> {
        let p = self.ranks;
        let (first, last) = (self.first(), self.last());
        let sizes = format!("N = {} to {}", first.n, last.n);
        let (grows, shrinks) = self.growth();
        let significant = self.points.iter().filter(|x| x.significant()).count();
        let slower = self.speedups().iter().any(|s| s.high < 1.0);
        let p_max = self.points.iter().map(SizePoint::p_value).fold(0.0, f64::max);
        let slope_ratio = self.slope_ratio();
        let gap_slope = self.gap_slope();
        let (s_lo, s_hi) = self.speedup_range();
        vec![
            [
                "Training time grows with N in both modes".into(),
                format!(
                    "sequential {} to {} s, MPI (P = {p}) {} to {} s over {sizes}",
                    interval(first.seq_time(), secs),
                    interval(last.seq_time(), secs),
                    interval(first.mpi_time(), secs),
                    interval(last.mpi_time(), secs)
                ),
                verdict(grows, shrinks),
            ],
            [
                "Data parallelism significantly reduces the training time at every size".into(),
                format!(
                    "speedup {} at N = {} to {} at N = {} with P = {p} (efficiency {:.2} to {:.2}); one-sided \
                     Mann-Whitney U, MPI faster: p ≤ {} at every N; significant (p < {ALPHA} and a speedup interval \
                     above 1) at {}",
                    interval(first.speedup(), two),
                    first.n,
                    interval(last.speedup(), two),
                    last.n,
                    s_lo / p as f64,
                    s_hi / p as f64,
                    p_value_text(p_max),
                    if significant == self.points.len() {
                        "every N".to_string()
                    } else {
                        format!("{significant} of {} sizes", self.points.len())
                    }
                ),
                verdict(significant == self.points.len(), slower),
            ],
            [
                "The parallel time grows more slowly with N".into(),
                format!(
                    "MPI's slope of time in N over the sequential one's {} (sequential {:.3} s per 10,000 images)",
                    interval(slope_ratio, two),
                    self.slopes().0 * 1e4,
                ),
                verdict(slope_ratio.is_some_and(|e| e.high < 1.0), slope_ratio.is_some_and(|e| e.low > 1.0)),
            ],
            [
                "The gap between the two widens as N grows".into(),
                format!(
                    "sequential minus MPI: {} s at N = {}, {} s at N = {}; the gap's slope in N {} s per 10,000 images \
                     (the ratio of the two stays near {:.2}: speedup {} at the smallest N, {} at the largest)",
                    interval(first.gap(), secs),
                    first.n,
                    interval(last.gap(), secs),
                    last.n,
                    interval(gap_slope.map(|e| e.map(|v| v * 1e4)), |v| format!("{v:.3}")),
                    (s_lo + s_hi) / 2.0,
                    interval(first.speedup(), two),
                    interval(last.speedup(), two)
                ),
                verdict(gap_slope.is_some_and(|e| e.low > 0.0), gap_slope.is_some_and(|e| e.high < 0.0)),
            ],
        ]
    }

    /// The findings as a table of the paper.
    pub fn table(&self) -> Table {
        let mut t = Table::new(
            "F1",
            "original-findings",
            "The original study's findings, measured",
            &[
                ("finding of the original", Align::Wrap),
                ("measured in this run", Align::Wrap),
                ("verdict", Align::Left),
            ],
        );
        for row in self.rows() {
            t.push(row.to_vec());
        }
        let runs: Vec<usize> = self.points.iter().flat_map(|p| [p.seq.len(), p.mpi.len()]).collect();
        t.notes.push(format!(
            "From {SOURCE_TABLE}: sequential against MPI ({}, P = {}), H = {}, runs of {} iterations, {} to {} timed runs \
             per cell. Times: medians with 95% confidence intervals [low, high] (order statistics); speedups, gaps and \
             slopes: computed round by round from the two cells' runs of the same round, their median with the same \
             interval. Verdicts: confirmed when every interval agrees, refuted when one contradicts, inconclusive \
             otherwise. The original's figures carry no numbers; only its qualitative findings are compared.",
            self.sync,
            self.ranks,
            self.hidden,
            self.iterations,
            runs.iter().min().unwrap_or(&0),
            runs.iter().max().unwrap_or(&0)
        ));
        t
    }

    /// The macros of [`Findings::latex_macros`] for a run without the sizes to compare, so
    /// the paper still builds and says so instead of quoting an older run.
    pub fn missing_macros() -> String {
        let mut text =
            String::from("% Generated by dpstudy report: this run has no T1 to compare with the original.\n");
        for name in MACRO_NAMES {
            let _ = writeln!(text, "\\newcommand{{\\{name}}}{{n/a}}");
        }
        text
    }

    /// `\newcommand` lines for the paper: sizes, P, speedup and efficiency ranges, the
    /// slope ratio and the gaps.
    pub fn latex_macros(&self) -> String {
        let (s_lo, s_hi) = self.speedup_range();
        let p = self.ranks as f64;
        let thousands = |n: usize| {
            let s = n.to_string();
            let mut out = String::new();
            for (i, ch) in s.chars().enumerate() {
                if i > 0 && (s.len() - i).is_multiple_of(3) {
                    out.push_str("{,}");
                }
                out.push(ch);
            }
            out
        };
        let median = |e: Option<Estimate>| e.map_or(f64::NAN, |e| e.value);
        let runs = self.points.iter().flat_map(|p| [p.seq.len(), p.mpi.len()]).min().unwrap_or(0);
        let p_max = self.points.iter().map(SizePoint::p_value).fold(0.0, f64::max);
        let mut text = String::from("% Generated by dpstudy report from T1 of the run (medians); do not edit.\n");
        let values = [
            self.ranks.to_string(),
            thousands(self.first().n),
            thousands(self.last().n),
            format!("{s_lo:.2}"),
            format!("{s_hi:.2}"),
            format!("{:.2}", s_lo / p),
            format!("{:.2}", s_hi / p),
            format!("{:.2}", median(self.slope_ratio())),
            secs(median(self.first().gap())),
            secs(median(self.last().gap())),
            secs(median(self.last().seq_time())),
            secs(median(self.last().mpi_time())),
            self.iterations.to_string(),
            runs.to_string(),
            p_value_text(p_max),
        ];
        for (name, value) in MACRO_NAMES.iter().zip(values) {
            let _ = writeln!(text, "\\newcommand{{\\{name}}}{{{value}}}");
        }
        text
    }
}

/// A p-value with two significant digits.
fn p_value_text(p: f64) -> String {
    if !p.is_finite() || p <= 0.0 {
        return "–".into();
    }
    let digits = (1 - p.log10().floor() as i32).max(2) as usize;
    format!("{p:.digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Six rounds per cell: each round's runs share the machine's drift (the same factor),
    /// and each run has its own noise of up to `noise`.
    fn findings(points: &[(usize, f64, f64)], noise: f64) -> Findings {
        let drift = [1.0, 1.03, 0.98, 1.05, 0.97, 1.01];
        let own = [0.0, 0.5, -0.5, 1.0, -1.0, 0.25];
        let runs = |t: f64, shift: usize| -> Vec<(usize, f64)> {
            (0..6).map(|r| (r, t * drift[r] * (1.0 + noise * own[(r + shift) % 6]))).collect()
        };
        Findings {
            ranks: 2,
            sync: SyncKind::Allreduce,
            hidden: 50,
            iterations: 100,
            points: points.iter().map(|&(n, seq, mpi)| SizePoint { n, seq: runs(seq, 0), mpi: runs(mpi, 3) }).collect(),
        }
    }

    #[test]
    fn halved_times_confirm_every_finding() {
        let f = findings(&[(10_000, 1.0, 0.52), (20_000, 2.0, 1.02), (40_000, 4.0, 2.02)], 0.01);
        let verdicts: Vec<String> = f.rows().into_iter().map(|r| r[2].clone()).collect();
        assert_eq!(verdicts, ["confirmed", "confirmed", "confirmed", "confirmed"]);
        // Six runs against six, wholly apart: p = 1 / C(12, 6) = 0.00108.
        assert!(f.rows()[1][1].contains("p ≤ 0.0011 at every N"), "{}", f.rows()[1][1]);
        let (seq, mpi) = f.slopes();
        assert!((seq - 1e-4).abs() < 3e-6 && (mpi - 5e-5).abs() < 3e-6, "{seq} {mpi}");
        let macros = f.latex_macros();
        assert!(macros.contains("\\newcommand{\\FindNmax}{40{,}000}"), "{macros}");
        assert!(macros.contains("\\newcommand{\\FindRuns}{6}"), "{macros}");
        let defined = |text: &str| text.lines().filter(|l| l.starts_with("\\newcommand")).count();
        assert_eq!(defined(&macros), MACRO_NAMES.len());
        assert_eq!(defined(&Findings::missing_macros()), MACRO_NAMES.len());
    }

    #[test]
    fn the_original_measurement_pattern_would_be_refuted_here() {
        // What the earlier draft of our paper wrongly put in the original's mouth: MPI
        // slower, increasingly so. Each of the last three findings must then read refuted.
        let f = findings(&[(10_000, 1.0, 1.3), (20_000, 2.0, 2.8), (40_000, 4.0, 6.0)], 0.01);
        let verdicts: Vec<String> = f.rows().into_iter().map(|r| r[2].clone()).collect();
        assert_eq!(verdicts, ["confirmed", "refuted", "refuted", "refuted"]);
    }

    #[test]
    fn a_reduction_within_the_noise_is_not_significant() {
        // MPI 3% faster at the median, each run 20% noisy: neither confirmed nor refuted.
        let f = findings(&[(10_000, 1.0, 0.97), (20_000, 2.0, 1.94)], 0.2);
        assert_eq!(f.rows()[1][2], "inconclusive", "{}", f.rows()[1][1]);
        assert!(f.rows()[1][1].contains("significant (p < 0.05 and a speedup interval above 1) at 0 of 2 sizes"));
        assert!(f.points.iter().all(|p| p.p_value() > ALPHA));
    }
}
