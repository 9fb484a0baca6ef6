//! Claims checked against a run's aggregate: one [`Verdict`] each, with the figure measured
//! and the bound it was held to, gathered into the [`CheckRecord`] that `check.json` holds
//! and every consumer (`check`'s exit code, `check.txt`, `dpstudy claims`) reads.
//!
//! A timing claim is decided on an interval, never on one run: its figure (an efficiency, a
//! ratio of two cells' times, an R²) is computed round by round from the cells' runs of the
//! same round, and the median over rounds comes with its 95% confidence interval
//! ([`crate::stats`]). The claim passes when the whole interval is on the side the claim
//! asks for, fails when the whole interval is on the other side, and is otherwise
//! inconclusive: more runs or a quieter machine would tell. Figures that are not timings
//! (costs, accuracies) are deterministic and read as they are.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{Claim, Kind};
use crate::data::SourceLabel;
use crate::experiment::manifest::PerProfile;
use crate::experiment::raw::Status;
use crate::report::aggregate::{Aggregate, CellStats};
use crate::report::tables::{crossover_pairs, parity_reference, weak_baseline};
use crate::stats::{self, Direction, Estimate, Side};
use crate::train::{Mode, SyncKind};

/// The file `check` writes into a results directory, beside the text it renders.
pub const CHECK_FILE: &str = "check.json";
/// The layout of [`CHECK_FILE`] this binary writes and reads.
pub const CHECK_FORMAT: u32 = 2;
/// Older layouts this binary still reads: format 1 had no intervals and no inconclusive
/// verdict.
const CHECK_FORMATS_READ: [u32; 2] = [1, 2];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    Fail,
    /// The interval of the figure holds the bound: the runs cannot tell a pass from a fail.
    Inconclusive,
    /// Could not be evaluated here for a stated reason (no GPU, table not run).
    NotRun,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Inconclusive => "INCONCLUSIVE",
            Outcome::NotRun => "NOT RUN",
        }
    }
}

/// One claim's verdict with what was measured and what was expected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub id: String,
    pub claim: String,
    pub outcome: Outcome,
    /// What was measured, in words (the cells and figures behind the verdict).
    pub measured: String,
    /// The bound, in words; empty when the claim was not evaluated.
    pub expected: String,
    /// The figure held to the bound (the worst case over the claim's cells: lowest R²,
    /// efficiency or accuracy, largest ratio or difference); `None` for claims that are
    /// trends rather than figures, and for claims not evaluated.
    pub value: Option<f64>,
    /// The figure's interval, for a timing claim: the median over rounds of the worst
    /// figure with its confidence interval (the level it reached, the rounds behind it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Estimate>,
}

/// What `dpstudy check` found in a results directory: `check.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    pub format: u32,
    /// The profile of the run checked.
    pub profile: String,
    /// Whether the run finished; the claims of an unfinished one are checked on the cells
    /// done so far.
    pub complete: bool,
    pub verdicts: Vec<Verdict>,
}

impl CheckRecord {
    /// Verdicts with this outcome.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.verdicts.iter().filter(|v| v.outcome == outcome).count()
    }

    /// The verdict of claim `id`, if it was checked.
    pub fn verdict(&self, id: &str) -> Option<&Verdict> {
        self.verdicts.iter().find(|v| v.id == id)
    }

    /// Reads `dir/check.json`, naming the file at fault.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(CHECK_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {} (run `dpstudy check {}`)", path.display(), dir.display()))?;
        let record: Self =
            serde_json::from_str(&text).with_context(|| format!("{}: not a check record", path.display()))?;
        anyhow::ensure!(
            CHECK_FORMATS_READ.contains(&record.format),
            "{}: check format {}, this dpstudy reads formats {CHECK_FORMATS_READ:?}",
            path.display(),
            record.format
        );
        Ok(record)
    }

    /// The record as the JSON `check.json` holds.
    pub fn to_json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }
}

fn threshold(value: &Option<PerProfile<f64>>, profile: &str) -> Option<f64> {
    value.as_ref().and_then(|v| v.get(profile))
}

/// Series key: label and P (and H), so trends are read within one configuration.
fn series_key(c: &CellStats) -> SeriesKey {
    (c.label(), c.p(), c.hidden)
}

fn series_name(key: &SeriesKey) -> String {
    if key.1 > 1 { format!("{} P={} H={}", key.0, key.1, key.2) } else { format!("{} H={}", key.0, key.2) }
}

/// Label, P and H of a series.
type SeriesKey = (String, usize, usize);

fn series<'a>(cells: &[&'a CellStats]) -> Vec<(SeriesKey, Vec<&'a CellStats>)> {
    let mut out: Vec<(SeriesKey, Vec<&CellStats>)> = Vec::new();
    for c in cells {
        let key = series_key(c);
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(c),
            None => out.push((key, vec![c])),
        }
    }
    for (_, v) in &mut out {
        v.sort_by_key(|c| c.n);
    }
    out
}

/// The MPI cells across emulated hosts by (H, sync, P), each ordered fastest link first;
/// only groups with two links or more.
#[allow(clippy::type_complexity)]
fn link_series<'a>(cells: &[&'a CellStats]) -> Vec<((usize, Option<SyncKind>, usize), Vec<&'a CellStats>)> {
    let mut out: Vec<((usize, Option<SyncKind>, usize), Vec<&CellStats>)> = Vec::new();
    for c in cells.iter().copied().filter(|c| c.mode == Mode::Mpi && c.link.is_some()) {
        let key = (c.hidden, c.sync, c.p());
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(c),
            None => out.push((key, vec![c])),
        }
    }
    for (_, v) in &mut out {
        v.sort_by_key(|c| c.link.map(|l| l.fastest_first()));
    }
    out.retain(|(_, v)| v.len() >= 2);
    out.sort_by_key(|(k, _)| *k);
    out
}

fn link_name(c: &CellStats) -> String {
    c.link.map_or("one host".into(), |l| l.to_string())
}

/// Coefficient of determination of the least-squares line through `points`.
pub fn r_squared(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx == 0.0 || syy == 0.0 { f64::NAN } else { sxy * sxy / (sxx * syy) }
}

/// Checks every claim against `agg`, a run of `profile` with `tables` that finished
/// (`complete`) or not.
pub fn check(claims: &[Claim], agg: &Aggregate, profile: &str, tables: &[String], complete: bool) -> CheckRecord {
    CheckRecord {
        format: CHECK_FORMAT,
        profile: profile.to_string(),
        complete,
        verdicts: claims.iter().map(|c| evaluate(c, agg, profile, tables)).collect(),
    }
}

fn evaluate(claim: &Claim, agg: &Aggregate, profile: &str, tables: &[String]) -> Verdict {
    let valued = |outcome, measured: String, expected: String, value: Option<f64>| Verdict {
        id: claim.id.clone(),
        claim: claim.claim.clone(),
        outcome,
        measured,
        expected,
        value,
        interval: None,
    };
    // A timing claim: its figures with their intervals, decided together.
    let judged = |figures: Vec<(String, Estimate)>, bound: f64, direction: Direction, what: &str| -> Verdict {
        let decided = Decided::of(figures, bound, direction);
        Verdict {
            interval: Some(decided.worst.1),
            ..valued(decided.outcome(), decided.measured(what), decided.expected(what), Some(decided.worst.1.value))
        }
    };
    let verdict = |outcome, measured: String, expected: String| valued(outcome, measured, expected, None);
    if !tables.contains(&claim.table) {
        return verdict(Outcome::NotRun, format!("table {} was not part of this run", claim.table), String::new());
    }
    let mut cells: Vec<&CellStats> = agg.table(&claim.table).collect();
    // A comparison with a baseline reads both modes' cells; other claims one mode's, or
    // dpstudy's own modes' unless they name a baseline (the baselines are measured beside
    // dpstudy, not claimed about).
    let compared: Vec<Mode> = claim.mode.into_iter().chain(claim.baseline).collect();
    match claim.mode {
        Some(_) => cells.retain(|c| compared.contains(&c.mode)),
        None if claim.kind != Kind::SameFinalCost => cells.retain(|c| !c.mode.is_baseline()),
        None => {}
    }
    if let Some(sync) = claim.sync {
        // The sync is dpstudy's MPI mode's; a compared baseline has its own.
        cells.retain(|c| c.sync == Some(sync) || Some(c.mode) == claim.baseline);
    }
    // Cells that failed make the claim fail: the run did not show it.
    let failed: Vec<String> = agg
        .gaps_of(&claim.table)
        .filter(|g| g.status == Status::Failed)
        .filter(|g| claim.mode.is_none_or(|_| compared.contains(&g.mode)))
        .filter(|g| claim.mode.is_some() || claim.kind == Kind::SameFinalCost || !g.mode.is_baseline())
        .map(|g| format!("{}: {}", g.cell, g.reason))
        .collect();
    if !failed.is_empty() {
        return verdict(Outcome::Fail, format!("cells failed: {}", failed.join("; ")), "every cell runs".into());
    }
    let not_run = |what: &str| -> Verdict {
        // The reason of a cell the claim reads, else of any cell of the table.
        let gaps = || agg.gaps_of(&claim.table);
        let reason = gaps().find(|g| compared.contains(&g.mode)).or_else(|| gaps().next()).map(|g| g.reason.clone());
        let why = reason.map_or(format!("no {what} cells in table {}", claim.table), |r| format!("not run: {r}"));
        verdict(Outcome::NotRun, why, String::new())
    };
    let gpu_not_run =
        || verdict(Outcome::NotRun, format!("not run: {}", gpu_gap_reason(agg, &claim.table)), String::new());
    let min = threshold(&claim.min, profile);
    let max = threshold(&claim.max, profile);
    let pass = |ok: bool| if ok { Outcome::Pass } else { Outcome::Fail };
    match claim.kind {
        Kind::GrowsWithN => {
            // As for LinearInN: below about N = 10,000 a GPU's step is launch-bound (an H200
            // took 0.073-0.079 s for 40 steps at every N from 2,000 to 8,000).
            if claim.mode != Some(Mode::Gpu) {
                cells.retain(|c| c.mode != Mode::Gpu);
            }
            let steps: Vec<(String, Estimate)> = series(&cells)
                .iter()
                .flat_map(|(key, s)| {
                    s.windows(2).filter_map(move |w| {
                        let e = w[1].time_ratio(w[0])?;
                        Some((format!("{} N={} to {}", series_name(key), w[0].n, w[1].n), e))
                    })
                })
                .collect();
            if steps.is_empty() {
                return not_run("timed");
            }
            judged(steps, 1.0, Direction::Above, "time at the next N over time at N")
        }
        Kind::LinearInN => {
            let min = min.unwrap_or(f64::NAN);
            // A GPU's time at these sizes is mostly fixed cost (launches, transfers of the
            // result), not work: the claim is about the CPU modes unless it names the GPU.
            if claim.mode != Some(Mode::Gpu) {
                cells.retain(|c| c.mode != Mode::Gpu);
            }
            let fits: Vec<(String, Estimate)> = series(&cells)
                .iter()
                .filter(|(_, s)| s.len() >= 3)
                .filter_map(|(k, s)| {
                    let totals: Vec<Vec<(usize, f64)>> = s.iter().map(|c| c.totals()).collect();
                    let refs: Vec<&[(usize, f64)]> = totals.iter().map(|t| t.as_slice()).collect();
                    let ns: Vec<f64> = s.iter().map(|c| c.n as f64).collect();
                    let fit = stats::per_round(&stats::common_rounds(&refs), |times| {
                        r_squared(&ns.iter().copied().zip(times.iter().copied()).collect::<Vec<_>>())
                    })?;
                    Some((series_name(k), fit))
                })
                .collect();
            if fits.is_empty() {
                return not_run("three or more sizes of");
            }
            judged(fits, min, Direction::AtLeast, "R² of time against N")
        }
        Kind::Speedup => {
            let min = min.unwrap_or(f64::NAN);
            let (Some(n), Some(p)) = (cells.iter().map(|c| c.n).max(), cells.iter().map(|c| c.p()).max()) else {
                return not_run("timed");
            };
            let Some(c) = cells.iter().find(|c| c.n == n && c.p() == p) else { return not_run("largest") };
            let Some(eff) = c.efficiency else { return not_run("sequential") };
            let mark = if c.oversubscribed { " (oversubscribed)" } else { "" };
            let speedup = c.speedup.map_or(String::new(), |s| format!(", speedup {}", s.text(two)));
            judged(
                vec![(format!("{} P={p}{mark} at N={n}{speedup}", c.label()), eff)],
                min,
                Direction::AtLeast,
                "efficiency (speedup / P)",
            )
        }
        Kind::WeakEfficiency => {
            let min = min.unwrap_or(f64::NAN);
            let effs: Vec<(String, Estimate)> = cells
                .iter()
                .filter(|c| c.p() > 1)
                .filter_map(|c| Some((format!("{} P={}", c.label(), c.p()), weak_baseline(&cells, c)?.time_ratio(c)?)))
                .collect();
            if effs.is_empty() {
                return not_run("P > 1");
            }
            judged(effs, min, Direction::AtLeast, "weak efficiency")
        }
        Kind::SameFinalCost => {
            let max = max.unwrap_or(f64::NAN);
            let Some(reference) = parity_reference(&cells, None) else {
                return not_run("sequential");
            };
            let mut unmatched = vec![];
            let devs: Vec<(String, f64)> = cells
                .iter()
                .filter(|c| c.mode != Mode::Seq)
                .filter_map(|c| {
                    // Each cell against the sequential run of the same work (N, H, steps).
                    let Some(seq) = parity_reference(&cells, Some(c)) else {
                        unmatched.push(c.cell.clone());
                        return None;
                    };
                    let d = (c.final_cost - seq.final_cost).abs() / seq.final_cost.abs();
                    Some((format!("{} P={} N={}", c.label(), c.p(), c.n), d))
                })
                .collect();
            if !unmatched.is_empty() {
                return verdict(
                    Outcome::Fail,
                    format!("no sequential cell of the same N and H for {}", unmatched.join(", ")),
                    "every cell has its sequential reference".into(),
                );
            }
            if devs.is_empty() {
                return not_run("parallel");
            }
            let worst = devs.iter().max_by(|a, b| a.1.total_cmp(&b.1)).expect("not empty");
            valued(
                pass(devs.iter().all(|d| d.1 <= max)),
                format!(
                    "largest relative difference {:.1e} ({}); sequential cost {:.6}",
                    worst.1, worst.0, reference.final_cost
                ),
                format!("≤ {max:.0e}"),
                Some(worst.1),
            )
        }
        Kind::TestAccuracy => {
            let min = min.unwrap_or(f64::NAN);
            let accs: Vec<(String, f64, SourceLabel)> = cells
                .iter()
                .filter_map(|c| c.final_test_acc.map(|a| (format!("{} P={}", c.label(), c.p()), a, c.data_source)))
                .collect();
            if accs.is_empty() {
                return not_run("test-set");
            }
            if let Some((_, _, source)) = accs.iter().find(|a| a.2 != SourceLabel::Mnist) {
                return verdict(
                    Outcome::NotRun,
                    format!("data is {source}: accuracy is only claimed on verified MNIST"),
                    String::new(),
                );
            }
            let worst = accs.iter().min_by(|a, b| a.1.total_cmp(&b.1)).expect("not empty");
            valued(
                pass(accs.iter().all(|a| a.1 >= min)),
                format!("lowest test accuracy {:.4} ({}); {} modes", worst.1, worst.0, accs.len()),
                format!("≥ {min} (profile {profile})"),
                Some(worst.1),
            )
        }
        Kind::SyncRatio => {
            let max = max.unwrap_or(f64::NAN);
            let ratios: Vec<(String, Estimate)> = cells
                .iter()
                .filter(|c| c.sync == Some(SyncKind::Allreduce))
                .filter_map(|a| {
                    let g = cells
                        .iter()
                        .find(|g| g.sync == Some(SyncKind::GatherBcast) && g.p() == a.p() && g.hidden == a.hidden)?;
                    Some((format!("H={} P={}", a.hidden, a.p()), stats::paired_ratio(&a.steps(), &g.steps())?))
                })
                .collect();
            if ratios.is_empty() {
                return not_run("paired sync");
            }
            judged(ratios, max, Direction::AtMost, "allreduce / gather-bcast step")
        }
        Kind::CommGrowsAsLinkSlows => {
            let series = link_series(&cells);
            let growths: Vec<(String, Estimate)> = series
                .iter()
                .filter_map(|((h, sync, p), s)| {
                    let (fast, slow) = (s[0], s[s.len() - 1]);
                    let name = format!(
                        "H={h} {} P={p}: {:.1}% ({}) to {:.1}% ({})",
                        sync.map(|s| s.to_string()).unwrap_or_default(),
                        100.0 * fast.comm_share,
                        link_name(fast),
                        100.0 * slow.comm_share,
                        link_name(slow)
                    );
                    Some((name, stats::paired_ratio(&slow.comm_shares(), &fast.comm_shares())?))
                })
                .collect();
            if growths.is_empty() {
                return not_run("two or more links of");
            }
            judged(growths, 1.0, Direction::Above, "comm share on the slowest link over the fastest")
        }
        Kind::GatherBcastLosesMore => {
            let min = min.unwrap_or(f64::NAN);
            let linked: Vec<&CellStats> = cells.iter().copied().filter(|c| c.link.is_some()).collect();
            let Some(slowest) = linked.iter().filter_map(|c| c.link).max_by_key(|l| l.fastest_first()) else {
                return not_run("link");
            };
            // Both efficiencies are over the same sequential run of the round: their ratio is
            // gather-broadcast's time over allreduce's.
            let ratios: Vec<(String, Estimate)> = linked
                .iter()
                .filter(|a| a.link == Some(slowest) && a.sync == Some(SyncKind::Allreduce))
                .filter_map(|a| {
                    let g = linked.iter().find(|g| {
                        g.link == Some(slowest)
                            && g.sync == Some(SyncKind::GatherBcast)
                            && g.p() == a.p()
                            && g.hidden == a.hidden
                    })?;
                    Some((format!("on {slowest}, H={} P={}", a.hidden, a.p()), g.time_ratio(a)?))
                })
                .collect();
            if ratios.is_empty() {
                return not_run("paired sync");
            }
            judged(ratios, min, Direction::AtLeast, "allreduce / gather-bcast efficiency")
        }
        Kind::ModelPredicts => {
            let max = max.unwrap_or(f64::NAN);
            // The model reads every cell of the run: compute from the sequential cells, the
            // collectives from the MPI cells of T3, T6 and T8, whichever ran.
            let all: Vec<&CellStats> = agg.cells.iter().collect();
            let model = crate::report::model::Model::of(&all);
            let Some(worst) = model.worst_prediction() else {
                return not_run(
                    "MPI cells that the model covers (sequential cells at two sizes, MPI cells at two H) in",
                );
            };
            let error = worst.relative_error();
            valued(
                pass(error.abs() <= max),
                format!(
                    "{} MPI cells predicted; largest error {:+.1}% ({}; a fit to the cells' medians, without an \
                     interval)",
                    model.predictions.len(),
                    100.0 * error,
                    worst.cell
                ),
                format!("≤ {:.0}%", 100.0 * max),
                Some(error.abs()),
            )
        }
        Kind::FasterThanBaseline => {
            let min = min.unwrap_or(f64::NAN);
            let (Some(mode), Some(baseline)) = (claim.mode, claim.baseline) else { return not_run("compared") };
            let alone = |m: Mode| cells.iter().copied().filter(move |c| c.mode == m && c.p() == 1);
            let pair = alone(baseline)
                .filter_map(|b| alone(mode).find(|c| c.work() == b.work()).map(|c| (c, b)))
                .max_by_key(|(c, _)| (c.n, c.hidden));
            let Some((ours, theirs)) = pair else { return not_run(&format!("one-process {mode} and {baseline}")) };
            let Some(ratio) = theirs.time_ratio(ours) else { return not_run("paired") };
            let name = format!(
                "at N={}, H={}: {} {} s, {} {} s",
                ours.n,
                ours.hidden,
                ours.label(),
                ours.time.map_or("–".into(), |e| e.text(crate::report::tables::secs)),
                theirs.label(),
                theirs.time.map_or("–".into(), |e| e.text(crate::report::tables::secs)),
            );
            judged(vec![(name, ratio)], min, Direction::AtLeast, "baseline's time / dpstudy's")
        }
        Kind::ScalesBetterThanBaseline => {
            let min = min.unwrap_or(f64::NAN);
            let (Some(mode), Some(baseline)) = (claim.mode, claim.baseline) else { return not_run("compared") };
            // Each mode's efficiency at P against its own one-process cell of the same work; the
            // two efficiencies' ratio round by round.
            let one = |c: &CellStats| {
                cells
                    .iter()
                    .copied()
                    .find(|b| b.mode == c.mode && b.sync == c.sync && b.p() == 1 && b.work() == c.work())
            };
            let parallel = |m: Mode| cells.iter().copied().filter(move |c| c.mode == m && c.p() > 1);
            let pair = parallel(baseline)
                .filter_map(|b| parallel(mode).find(|c| c.work() == b.work() && c.p() == b.p()).map(|c| (c, b)))
                .max_by_key(|(c, _)| (c.n, c.p(), c.hidden));
            let Some((ours, theirs)) = pair else { return not_run(&format!("parallel {mode} and {baseline}")) };
            let (Some(ours_1), Some(theirs_1)) = (one(ours), one(theirs)) else {
                return not_run(&format!("one-process {mode} and {baseline}"));
            };
            let series = [ours_1.totals(), ours.totals(), theirs_1.totals(), theirs.totals()];
            let refs: Vec<&[(usize, f64)]> = series.iter().map(|t| t.as_slice()).collect();
            let Some(ratio) = stats::per_round(&stats::common_rounds(&refs), |r| (r[0] / r[1]) / (r[2] / r[3])) else {
                return not_run("paired");
            };
            let mark = if ours.oversubscribed { " (oversubscribed)" } else { "" };
            let name = format!("P={}{mark}, N={}: {} against {}", ours.p(), ours.n, ours.label(), theirs.label());
            judged(vec![(name, ratio)], min, Direction::AtLeast, "efficiency ratio, each over its own P=1")
        }
        Kind::EnsembleBeatsBestMember => {
            let min = min.unwrap_or(f64::NAN);
            let margins: Vec<(&CellStats, f64)> = cells
                .iter()
                .copied()
                .filter(|c| c.mode == Mode::Ensemble && !c.bagging && c.p() > 1)
                .filter_map(|c| Some((c, c.average_test_acc? - c.best_member_test_acc?)))
                .collect();
            let Some(&(worst, margin)) = margins.iter().min_by(|a, b| a.1.total_cmp(&b.1)) else {
                return not_run("ensemble (P > 1)");
            };
            valued(
                pass(margins.iter().all(|(_, m)| *m >= min)),
                format!(
                    "smallest margin at P={}: average {:.4} against the best member's {:.4} ({:+.4}; {} ensembles)",
                    worst.p(),
                    worst.average_test_acc.unwrap_or(f64::NAN),
                    worst.best_member_test_acc.unwrap_or(f64::NAN),
                    margin,
                    margins.len()
                ),
                format!("average − best member ≥ {min}"),
                Some(margin),
            )
        }
        Kind::GpuCrossover => {
            let points: Vec<(usize, usize, f64, f64)> = crossover_pairs(&cells)
                .into_iter()
                .filter_map(|(h, n, cpu, gpu)| Some((h, n, cpu?.median_s, gpu?.median_s)))
                .collect();
            if points.is_empty() {
                return gpu_not_run();
            }
            let by_h = crossovers(&points);
            let stays_ahead = by_h.iter().all(|c| c.reversal.is_none());
            let measured = by_h.iter().map(Crossover::describe).collect::<Vec<_>>().join("; ");
            let at_largest_h = by_h.last().and_then(|c| c.from_n).map_or(f64::NAN, |n| n as f64);
            valued(
                pass(stays_ahead),
                measured,
                "once ahead, the GPU stays ahead at every larger N".into(),
                Some(at_largest_h),
            )
        }
        Kind::GpuFaster => {
            let pairs = crossover_pairs(&cells);
            let Some((h, n, cpu, gpu)) = pairs.iter().max_by_key(|(h, n, ..)| (*n, *h)) else {
                return not_run("timed");
            };
            match (cpu, gpu) {
                // The GPU's runs come from a GPU machine's run (merge): no round pairs them.
                (Some(c), Some(g)) => match g.unpaired_time_ratio(c) {
                    Some(ratio) => judged(
                        vec![(
                            format!("at N={n}, H={h}: GPU against the fastest CPU ({} P={})", c.label(), c.p()),
                            ratio,
                        )],
                        1.0,
                        Direction::Below,
                        "GPU time / CPU time",
                    ),
                    None => not_run("paired"),
                },
                _ => gpu_not_run(),
            }
        }
    }
}

fn two(x: f64) -> String {
    format!("{x:.2}")
}

/// A claim's figures with their intervals, held to one bound together: it passes when
/// every interval is on the right side, fails when one is wholly on the wrong side, and is
/// inconclusive otherwise.
struct Decided {
    figures: Vec<(String, Estimate, Side)>,
    /// The figure nearest the wrong side (by its median), with its name.
    worst: (String, Estimate),
    bound: f64,
    direction: Direction,
}

impl Decided {
    fn of(figures: Vec<(String, Estimate)>, bound: f64, direction: Direction) -> Self {
        let toward_wrong = |e: &Estimate| match direction {
            Direction::AtLeast | Direction::Above => e.value,
            Direction::AtMost | Direction::Below => -e.value,
        };
        let worst = figures
            .iter()
            .min_by(|a, b| toward_wrong(&a.1).total_cmp(&toward_wrong(&b.1)))
            .cloned()
            .expect("a claim judges one figure or more");
        let figures = figures.into_iter().map(|(name, e)| {
            let side = e.against(bound, direction);
            (name, e, side)
        });
        Self { figures: figures.collect(), worst, bound, direction }
    }

    fn count(&self, side: Side) -> usize {
        self.figures.iter().filter(|f| f.2 == side).count()
    }

    fn outcome(&self) -> Outcome {
        if self.count(Side::Wrong) > 0 {
            Outcome::Fail
        } else if self.count(Side::Straddles) > 0 {
            Outcome::Inconclusive
        } else {
            Outcome::Pass
        }
    }

    fn measured(&self, what: &str) -> String {
        let figure = |(name, e, _): &(String, Estimate, Side)| format!("{name}: {}", e.text(|v| format!("{v:.3}")));
        // The figures off the right side, else the worst one.
        let named: Vec<String> = match self.outcome() {
            Outcome::Pass => vec![format!("{}: {}", self.worst.0, self.worst.1.text(|v| format!("{v:.3}")))],
            _ => self.figures.iter().filter(|f| f.2 != Side::Right).map(figure).collect(),
        };
        let mut text = format!(
            "{what}, median [interval] over rounds: {} ({}; {} figure(s): {} on the right side, {} undecided, {} on \
             the wrong side)",
            named.join("; "),
            self.worst.1.level_text("rounds"),
            self.figures.len(),
            self.count(Side::Right),
            self.count(Side::Straddles),
            self.count(Side::Wrong)
        );
        if self.outcome() == Outcome::Inconclusive {
            text += "; inconclusive: more runs or a quieter machine";
        }
        text
    }

    fn expected(&self, what: &str) -> String {
        format!("{what} {} {}, the whole interval", self.direction.symbol(), self.bound)
    }
}

/// Why a table has no GPU cell to read: the reason its GPU cells did not run.
fn gpu_gap_reason(agg: &Aggregate, table: &str) -> String {
    agg.gaps_of(table).find(|g| g.mode == Mode::Gpu).map_or("no GPU cell".to_string(), |g| g.reason.clone())
}

/// Where the GPU overtakes the fastest CPU mode, for one H (best-of-runs times).
#[derive(Debug, Clone, PartialEq)]
struct Crossover {
    hidden: usize,
    /// The smallest N from which the GPU is faster at every measured N (None: never).
    from_n: Option<usize>,
    /// An N where the GPU was faster, and a larger one where it was slower again.
    reversal: Option<(usize, usize)>,
}

impl Crossover {
    fn describe(&self) -> String {
        let h = self.hidden;
        match (self.reversal, self.from_n) {
            (Some((ahead, behind)), _) => format!("H={h}: GPU faster at N={ahead}, slower again at N={behind}"),
            (None, Some(n)) => format!("H={h}: GPU faster from N={n}"),
            (None, None) => format!("H={h}: CPU faster at every N"),
        }
    }
}

/// The crossover of every H, in increasing H, from `(H, N, fastest CPU s, GPU s)` points.
fn crossovers(points: &[(usize, usize, f64, f64)]) -> Vec<Crossover> {
    let mut hs: Vec<usize> = points.iter().map(|p| p.0).collect();
    hs.sort_unstable();
    hs.dedup();
    hs.into_iter()
        .map(|h| {
            let mut wins: Vec<(usize, bool)> =
                points.iter().filter(|p| p.0 == h).map(|&(_, n, cpu, gpu)| (n, gpu < cpu)).collect();
            wins.sort_by_key(|w| w.0);
            let reversal = wins
                .iter()
                .position(|w| w.1)
                .and_then(|first| wins[first..].iter().find(|w| !w.1).map(|behind| (wins[first].0, behind.0)));
            // The N after the last loss, if the GPU led there (the first N if it never lost).
            let from_n = match wins.iter().rposition(|w| !w.1) {
                None => Some(wins[0].0),
                Some(last_loss) => wins.get(last_loss + 1).map(|w| w.0),
            };
            Crossover { hidden: h, from_n, reversal }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::aggregate::RunSample;

    #[test]
    fn the_crossover_is_the_n_from_which_the_gpu_stays_faster() {
        let found = crossovers(&[
            (400, 8000, 2.0, 0.4),
            (50, 2000, 0.1, 0.3),
            (50, 8000, 0.4, 0.1),
            (50, 4000, 0.2, 0.1),
            (400, 2000, 0.5, 0.3),
        ]);
        assert_eq!(found[0], Crossover { hidden: 50, from_n: Some(4000), reversal: None });
        assert_eq!(found[1], Crossover { hidden: 400, from_n: Some(2000), reversal: None });
        assert_eq!(found[0].describe(), "H=50: GPU faster from N=4000");
    }

    #[test]
    fn a_gpu_that_falls_behind_again_or_never_leads_is_reported() {
        let reversal = crossovers(&[(50, 2000, 0.1, 0.05), (50, 4000, 0.2, 0.3), (50, 8000, 0.4, 0.5)]);
        assert_eq!(reversal[0], Crossover { hidden: 50, from_n: None, reversal: Some((2000, 4000)) });
        assert_eq!(reversal[0].describe(), "H=50: GPU faster at N=2000, slower again at N=4000");
        let never = crossovers(&[(50, 2000, 0.1, 0.3), (50, 4000, 0.2, 0.3)]);
        assert_eq!(never[0], Crossover { hidden: 50, from_n: None, reversal: None });
        assert_eq!(never[0].describe(), "H=50: CPU faster at every N");
    }

    /// Six rounds of a cell whose runs all move with the round by the same factors (the
    /// machine's drift), so that a ratio of two such cells is the same in every round.
    fn rounds(total_s: f64, step_s: f64, comm_share: f64) -> Vec<RunSample> {
        [1.0, 1.01, 0.99, 1.02, 0.98, 1.0]
            .iter()
            .enumerate()
            .map(|(rep, f)| RunSample { rep, total_s: f * total_s, step_s: f * step_s, comm_share, steal_share: 0.0 })
            .collect()
    }

    /// `c` with its runs' times multiplied by `factor`.
    fn slowed(mut c: CellStats, factor: f64) -> CellStats {
        for s in &mut c.samples {
            s.total_s *= factor;
            s.step_s *= factor;
        }
        c
    }

    /// An MPI cell across emulated hosts with the figures the network claims read: its time
    /// is 1 / efficiency (a sequential time of 1, P = 2 ... as far as ratios go).
    fn linked(hidden: usize, sync: SyncKind, link: &str, comm_share: f64, efficiency: f64) -> CellStats {
        CellStats {
            cell: format!("mpi-{sync}-p2-{link}-h{hidden}"),
            tables: "T8".into(),
            mode: Mode::Mpi,
            sync: Some(sync),
            link: Some(link.parse().unwrap()),
            ranks: 2,
            threads: 1,
            oversubscribed: false,
            data_source: SourceLabel::Mnist,
            n: 8000,
            test_n: 0,
            hidden,
            epochs: 1,
            iters: 5,
            runs: 6,
            samples: rounds(1.0 / efficiency, 0.2, comm_share),
            time: None,
            median_s: 1.0,
            min_s: 1.0,
            max_s: 1.0,
            q1_s: 1.0,
            q3_s: 1.0,
            outliers: 0,
            step_s: 0.2,
            comm_step_s: 0.2 * comm_share,
            comm_share,
            wait_share: 0.0,
            epoch_median_s: 1.0,
            epoch_min_s: 1.0,
            epoch_max_s: 1.0,
            epoch_q1_s: 1.0,
            epoch_q3_s: 1.0,
            final_cost: 1.0,
            final_train_acc: 0.5,
            final_test_acc: None,
            validation_n: 0,
            bagging: false,
            best_member_test_acc: None,
            average_test_acc: None,
            vote_test_acc: None,
            stacked_test_acc: None,
            seq_median_s: Some(2.0 * efficiency),
            speedup: None,
            efficiency: None,
        }
    }

    fn network_claim(kind: Kind, min: Option<f64>) -> Claim {
        Claim {
            id: "C".into(),
            claim: "network".into(),
            kind,
            table: "T8".into(),
            mode: None,
            sync: None,
            baseline: None,
            min: min.map(PerProfile::All),
            max: None,
        }
    }

    fn evaluate_on(claim: &Claim, cells: Vec<CellStats>) -> Verdict {
        let agg = Aggregate { cells, gaps: vec![], frame: polars::prelude::DataFrame::empty() };
        evaluate(claim, &agg, "quick", &["T8".to_string()])
    }

    /// A T3 cell of `mode` with P processes (threads for torch), its best time and final cost.
    fn t3(mode: Mode, p: usize, min_s: f64, final_cost: f64) -> CellStats {
        let threads = if matches!(mode, Mode::Torch | Mode::Threads) { p } else { 1 };
        let mut c = linked(50, SyncKind::Allreduce, "tcp", 0.0, 1.0);
        c.cell = format!("{mode}-p{p}");
        c.tables = "T3".into();
        c.link = None;
        c.sync = (mode == Mode::Mpi).then_some(SyncKind::Allreduce);
        c.mode = mode;
        (c.ranks, c.threads) = (p / threads, threads);
        (c.min_s, c.median_s, c.final_cost) = (min_s, min_s, final_cost);
        c.samples = rounds(min_s, min_s / 10.0, 0.0);
        c
    }

    fn baseline_claim(kind: Kind, mode: Mode, baseline: Option<Mode>, bound: f64) -> Claim {
        let bound = Some(PerProfile::All(bound));
        let (min, max) = if kind == Kind::SameFinalCost { (None, bound) } else { (bound, None) };
        Claim { table: "T3".into(), mode: Some(mode), baseline, min, max, ..network_claim(kind, None) }
    }

    fn evaluate_t3(claim: &Claim, cells: Vec<CellStats>) -> Verdict {
        let agg = Aggregate { cells, gaps: vec![], frame: polars::prelude::DataFrame::empty() };
        evaluate(claim, &agg, "quick", &["T3".to_string()])
    }

    #[test]
    fn dpstudy_against_a_baseline_compares_one_process_times_and_own_efficiencies() {
        let cells = vec![
            t3(Mode::Seq, 1, 1.0, 3.0),
            t3(Mode::Mpi, 1, 1.05, 3.0),
            t3(Mode::Mpi, 2, 0.55, 3.0),
            t3(Mode::Original, 1, 4.0, 3.0),
            t3(Mode::Original, 2, 1.6, 3.0),
            t3(Mode::TorchDdp, 1, 2.0, 3.0),
            t3(Mode::TorchDdp, 2, 1.25, 3.0),
        ];
        let faster = baseline_claim(Kind::FasterThanBaseline, Mode::Seq, Some(Mode::Original), 3.0);
        let v = evaluate_t3(&faster, cells.clone());
        assert_eq!(v.outcome, Outcome::Pass, "{}", v.measured);
        assert!((v.value.unwrap() - 4.0).abs() < 1e-12, "{:?}", v.value);
        assert!(
            v.measured.starts_with("baseline's time / dpstudy's, median [interval] over rounds: at N=8000"),
            "{}",
            v.measured
        );
        let v = evaluate_t3(&Claim { min: Some(PerProfile::All(5.0)), ..faster.clone() }, cells.clone());
        assert_eq!(v.outcome, Outcome::Fail);

        // mpi: 1.05 / (2 x 0.55) = 0.955; torch-ddp: 2.0 / (2 x 1.25) = 0.8.
        let scales = baseline_claim(Kind::ScalesBetterThanBaseline, Mode::Mpi, Some(Mode::TorchDdp), 1.0);
        let v = evaluate_t3(&scales, cells.clone());
        assert_eq!(v.outcome, Outcome::Pass, "{}", v.measured);
        assert!((v.value.unwrap() - (1.05 / 1.1) / 0.8).abs() < 1e-12, "{:?}", v.value);
        // Without the baseline's P = 1 cell there is nothing to compare with.
        let no_ddp_p1: Vec<CellStats> = cells.iter().filter(|c| c.cell != "torch-ddp-p1").cloned().collect();
        assert_eq!(evaluate_t3(&scales, no_ddp_p1).outcome, Outcome::NotRun);
        let no_baseline: Vec<CellStats> = cells.iter().filter(|c| !c.mode.is_baseline()).cloned().collect();
        assert_eq!(evaluate_t3(&faster, no_baseline).outcome, Outcome::NotRun);
    }

    #[test]
    fn a_claim_whose_interval_holds_the_bound_is_inconclusive_not_passed() {
        let seq = t3(Mode::Seq, 1, 1.0, 3.0);
        // MPI at P = 2 takes 0.7 s, its rounds scattered by up to 15% on top of the drift
        // both cells share: efficiency 0.714 at the median, 0.62 to 0.84 round by round.
        let mut mpi = t3(Mode::Mpi, 2, 0.7, 3.0);
        for (s, f) in mpi.samples.iter_mut().zip([1.0, 1.15, 0.85, 1.1, 0.9, 1.05]) {
            s.total_s *= f;
        }
        mpi.efficiency = seq.time_ratio(&mpi).map(|e| e.map(|v| v / 2.0));
        let claim = |min: f64| Claim {
            kind: Kind::Speedup,
            table: "T3".into(),
            mode: Some(Mode::Mpi),
            sync: Some(SyncKind::Allreduce),
            min: Some(PerProfile::All(min)),
            ..network_claim(Kind::Speedup, None)
        };
        let cells = vec![seq, mpi];
        let v = evaluate_t3(&claim(0.7), cells.clone());
        assert_eq!(v.outcome, Outcome::Inconclusive, "{}", v.measured);
        assert!(v.measured.ends_with("inconclusive: more runs or a quieter machine"), "{}", v.measured);
        let e = v.interval.unwrap();
        assert!(e.low < 0.7 && 0.7 < e.high && e.n == 6, "{e:?}");
        assert_eq!(evaluate_t3(&claim(0.5), cells.clone()).outcome, Outcome::Pass);
        assert_eq!(evaluate_t3(&claim(0.9), cells).outcome, Outcome::Fail);
    }

    #[test]
    fn baselines_must_reach_the_sequential_cost_and_are_left_out_of_claims_about_dpstudy() {
        let cells =
            vec![t3(Mode::Seq, 1, 1.0, 3.0), t3(Mode::Mpi, 2, 0.5, 3.0), t3(Mode::Original, 2, 0.9, 3.0 + 6e-9)];
        let same = Claim { mode: None, ..baseline_claim(Kind::SameFinalCost, Mode::Seq, None, 1e-9) };
        let v = evaluate_t3(&same, cells.clone());
        assert_eq!(v.outcome, Outcome::Fail, "the baseline is 2e-9 off: {}", v.measured);
        assert!(v.measured.contains("original (baseline) P=2"), "{}", v.measured);
        let mut close = cells.clone();
        close[2].final_cost = 3.0 + 1e-12;
        assert_eq!(evaluate_t3(&same, close).outcome, Outcome::Pass);
        // A claim about every mode of dpstudy (no `mode`) does not read the baselines: a slow
        // baseline does not make time "not rise" in C1's sense.
        let grows = Claim { mode: None, ..baseline_claim(Kind::GrowsWithN, Mode::Seq, None, 0.0) };
        let bigger: Vec<CellStats> = cells.iter().map(|c| CellStats { n: 16000, ..slowed(c.clone(), 2.0) }).collect();
        let mut slow_baseline = bigger.clone();
        slow_baseline[2] = slowed(slow_baseline[2].clone(), 0.05);
        let all: Vec<CellStats> = cells.into_iter().chain(slow_baseline).collect();
        assert_eq!(evaluate_t3(&grows, all).outcome, Outcome::Pass);
    }

    #[test]
    fn the_comm_share_must_grow_from_the_fastest_link_to_the_slowest() {
        use SyncKind::{Allreduce, GatherBcast};
        let claim = network_claim(Kind::CommGrowsAsLinkSlows, None);
        // Links in any order: the claim orders them, unshaped first.
        let growing = vec![
            linked(50, Allreduce, "tcp-100mbit", 0.5, 0.5),
            linked(50, Allreduce, "tcp", 0.03, 0.95),
            linked(50, Allreduce, "tcp-1gbit", 0.05, 0.9),
            linked(50, GatherBcast, "tcp", 0.04, 0.95),
            linked(50, GatherBcast, "tcp-100mbit", 0.55, 0.45),
        ];
        let v = evaluate_on(&claim, growing.clone());
        assert_eq!(v.outcome, Outcome::Pass, "{}", v.measured);
        // A pass names the series nearest the bound: gather-broadcast's 4% to 55% (13.75 times).
        assert!(
            v.measured.contains("H=50 gather-bcast P=2: 4.0% (tcp) to 55.0% (tcp-100mbit): 13.750"),
            "{}",
            v.measured
        );
        let mut shrinking = growing;
        shrinking[4].comm_share = 0.02;
        shrinking[4].samples.iter_mut().for_each(|s| s.comm_share = 0.02);
        assert_eq!(evaluate_on(&claim, shrinking).outcome, Outcome::Fail);
        let one_link = vec![linked(50, Allreduce, "tcp", 0.03, 0.95)];
        assert_eq!(evaluate_on(&claim, one_link).outcome, Outcome::NotRun);
    }

    #[test]
    fn gather_bcast_must_lose_more_on_the_slowest_link() {
        use SyncKind::{Allreduce, GatherBcast};
        let claim = network_claim(Kind::GatherBcastLosesMore, Some(1.1));
        let cells = |gather_efficiency: f64| {
            vec![
                linked(400, Allreduce, "tcp", 0.02, 0.9),
                linked(400, GatherBcast, "tcp", 0.02, 0.95),
                linked(400, Allreduce, "tcp-100mbit", 0.5, 0.6),
                linked(400, GatherBcast, "tcp-100mbit", 0.6, gather_efficiency),
            ]
        };
        let v = evaluate_on(&claim, cells(0.5));
        assert_eq!(v.outcome, Outcome::Pass, "{}", v.measured);
        assert!(v.measured.contains("on tcp-100mbit, H=400 P=2: 1.200 [1.200, 1.200]"), "{}", v.measured);
        // Only the slowest link counts: the unshaped pair, where gather-bcast leads, does not.
        assert_eq!(evaluate_on(&claim, cells(0.58)).outcome, Outcome::Fail);
    }

    #[test]
    fn r_squared_of_a_line_is_one_and_of_noise_is_low() {
        assert!((r_squared(&[(1.0, 2.0), (2.0, 4.0), (3.0, 6.0)]) - 1.0).abs() < 1e-12);
        assert!(r_squared(&[(1.0, 1.0), (2.0, 3.0), (3.0, 1.0), (4.0, 3.0)]) < 0.3);
    }
}
