//! Claims checked against a run's aggregate: one [`Verdict`] each, with the figure measured
//! and the bound it was held to, gathered into the [`CheckRecord`] that `check.json` holds
//! and every consumer (`check`'s exit code, `check.txt`, `dpstudy claims`) reads.
//!
//! Timing claims read each cell's fastest timed run (best of R), not its median: on a shared
//! machine noise only ever adds time, so the minimum is the estimate least moved by it
//! (the tables report medians and ranges beside it).

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{Claim, Kind};
use crate::data::SourceLabel;
use crate::experiment::manifest::PerProfile;
use crate::experiment::raw::Status;
use crate::report::aggregate::{Aggregate, CellStats};
use crate::report::tables::{crossover_pairs, parity_reference, secs, weak_baseline};
use crate::train::{Mode, SyncKind};

/// The file `check` writes into a results directory, beside the text it renders.
pub const CHECK_FILE: &str = "check.json";
/// The layout of [`CHECK_FILE`] this binary writes and reads.
pub const CHECK_FORMAT: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    Fail,
    /// Could not be evaluated here for a stated reason (no GPU, table not run).
    NotRun,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
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
            record.format == CHECK_FORMAT,
            "{}: check format {}, this dpstudy reads format {CHECK_FORMAT}",
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
            let all = series(&cells);
            if all.is_empty() {
                return not_run("timed");
            }
            let mut bad = vec![];
            for (key, s) in &all {
                if s.windows(2).any(|w| w[1].min_s <= w[0].min_s) {
                    let times: Vec<String> = s.iter().map(|c| secs(c.min_s)).collect();
                    bad.push(format!("{}: {} s", series_name(key), times.join(", ")));
                }
            }
            let sizes = all.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
            let measured = if bad.is_empty() {
                format!("{} series, each rising over {sizes} sizes", all.len())
            } else {
                format!("not rising: {}", bad.join("; "))
            };
            verdict(pass(bad.is_empty()), measured, "best-of-runs time rises with N".into())
        }
        Kind::LinearInN => {
            let min = min.unwrap_or(f64::NAN);
            // A GPU's time at these sizes is mostly fixed cost (launches, transfers of the
            // result), not work: the claim is about the CPU modes unless it names the GPU.
            if claim.mode != Some(Mode::Gpu) {
                cells.retain(|c| c.mode != Mode::Gpu);
            }
            let fits: Vec<(String, f64)> = series(&cells)
                .iter()
                .filter(|(_, s)| s.len() >= 3)
                .map(|(k, s)| (series_name(k), r_squared(&s.iter().map(|c| (c.n as f64, c.min_s)).collect::<Vec<_>>())))
                .collect();
            if fits.is_empty() {
                return not_run("three or more sizes of");
            }
            let worst = fits.iter().min_by(|a, b| a.1.total_cmp(&b.1)).expect("not empty");
            valued(
                pass(fits.iter().all(|f| f.1 >= min)),
                format!("lowest R² {:.4} ({}); {} series", worst.1, worst.0, fits.len()),
                format!("R² ≥ {min}"),
                Some(worst.1),
            )
        }
        Kind::Speedup => {
            let min = min.unwrap_or(f64::NAN);
            let (Some(n), Some(p)) = (cells.iter().map(|c| c.n).max(), cells.iter().map(|c| c.p()).max()) else {
                return not_run("timed");
            };
            let Some(c) = cells.iter().find(|c| c.n == n && c.p() == p) else { return not_run("largest") };
            let speedup = c.seq_min_s.map_or(f64::NAN, |s| s / c.min_s);
            let eff = speedup / p as f64;
            let mark = if c.oversubscribed { " (oversubscribed)" } else { "" };
            valued(
                pass(eff >= min),
                format!("{} P={p}{mark} at N={n}: speedup {speedup:.2}, efficiency {eff:.2} (best of runs)", c.label()),
                format!("speedup ≥ {:.2} (efficiency ≥ {min})", min * p as f64),
                Some(eff),
            )
        }
        Kind::WeakEfficiency => {
            let min = min.unwrap_or(f64::NAN);
            let effs: Vec<(String, f64)> = cells
                .iter()
                .filter(|c| c.p() > 1)
                .map(|c| {
                    let e = weak_baseline(&cells, c).map_or(f64::NAN, |b| b.min_s / c.min_s);
                    (format!("{} P={}", c.label(), c.p()), e)
                })
                .collect();
            if effs.is_empty() {
                return not_run("P > 1");
            }
            let worst = effs.iter().min_by(|a, b| a.1.total_cmp(&b.1)).expect("not empty");
            valued(
                pass(effs.iter().all(|e| e.1 >= min)),
                format!("lowest weak efficiency {:.2} ({})", worst.1, worst.0),
                format!("≥ {min} at every P"),
                Some(worst.1),
            )
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
            let ratios: Vec<(String, f64)> = cells
                .iter()
                .filter(|c| c.sync == Some(SyncKind::Allreduce))
                .filter_map(|a| {
                    let g = cells
                        .iter()
                        .find(|g| g.sync == Some(SyncKind::GatherBcast) && g.p() == a.p() && g.hidden == a.hidden)?;
                    Some((format!("H={} P={}", a.hidden, a.p()), a.step_s / g.step_s))
                })
                .collect();
            if ratios.is_empty() {
                return not_run("paired sync");
            }
            let worst = ratios.iter().max_by(|a, b| a.1.total_cmp(&b.1)).expect("not empty");
            valued(
                pass(ratios.iter().all(|r| r.1 <= max)),
                format!("largest allreduce / gather-bcast step ratio {:.2} ({})", worst.1, worst.0),
                format!("≤ {max}"),
                Some(worst.1),
            )
        }
        Kind::CommGrowsAsLinkSlows => {
            let series = link_series(&cells);
            if series.is_empty() {
                return not_run("two or more links of");
            }
            let mut worst: Option<(String, f64)> = None;
            let mut parts = vec![];
            for ((h, sync, p), s) in &series {
                let (fast, slow) = (s[0], s[s.len() - 1]);
                let name = format!("H={h} {} P={p}", sync.map(|s| s.to_string()).unwrap_or_default());
                parts.push(format!(
                    "{name}: {:.1}% ({}) to {:.1}% ({})",
                    100.0 * fast.comm_share,
                    link_name(fast),
                    100.0 * slow.comm_share,
                    link_name(slow)
                ));
                let growth = slow.comm_share / fast.comm_share;
                if worst.as_ref().is_none_or(|w| growth < w.1) {
                    worst = Some((name, growth));
                }
            }
            let (_, growth) = worst.expect("not empty");
            valued(
                pass(series.iter().all(|(_, s)| s[s.len() - 1].comm_share > s[0].comm_share)),
                parts.join("; "),
                "a larger comm share on the slowest link than on the fastest".into(),
                Some(growth),
            )
        }
        Kind::GatherBcastLosesMore => {
            let min = min.unwrap_or(f64::NAN);
            let linked: Vec<&CellStats> = cells.iter().copied().filter(|c| c.link.is_some()).collect();
            let Some(slowest) = linked.iter().filter_map(|c| c.link).max_by_key(|l| l.fastest_first()) else {
                return not_run("link");
            };
            let ratios: Vec<(String, f64)> = linked
                .iter()
                .filter(|a| a.link == Some(slowest) && a.sync == Some(SyncKind::Allreduce))
                .filter_map(|a| {
                    let g = linked.iter().find(|g| {
                        g.link == Some(slowest)
                            && g.sync == Some(SyncKind::GatherBcast)
                            && g.p() == a.p()
                            && g.hidden == a.hidden
                    })?;
                    Some((format!("H={} P={}", a.hidden, a.p()), a.efficiency? / g.efficiency?))
                })
                .collect();
            if ratios.is_empty() {
                return not_run("paired sync");
            }
            let worst = ratios.iter().min_by(|a, b| a.1.total_cmp(&b.1)).expect("not empty");
            let all: Vec<String> = ratios.iter().map(|(k, r)| format!("{k}: {r:.2}")).collect();
            valued(
                pass(ratios.iter().all(|r| r.1 >= min)),
                format!("on {slowest}: allreduce / gather-bcast efficiency {}", all.join(", ")),
                format!("≥ {min}"),
                Some(worst.1),
            )
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
                    "{} MPI cells predicted; largest error {:+.1}% ({})",
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
                .filter_map(|b| alone(mode).find(|c| same_work(c, b)).map(|c| (c, b)))
                .max_by_key(|(c, _)| (c.n, c.hidden));
            let Some((ours, theirs)) = pair else { return not_run(&format!("one-process {mode} and {baseline}")) };
            let ratio = theirs.min_s / ours.min_s;
            valued(
                pass(ratio >= min),
                format!(
                    "at N={}, H={}: {} {} s, {} {} s: {ratio:.2} times faster (best of runs)",
                    ours.n,
                    ours.hidden,
                    ours.label(),
                    secs(ours.min_s),
                    theirs.label(),
                    secs(theirs.min_s)
                ),
                format!("≥ {min} times faster"),
                Some(ratio),
            )
        }
        Kind::ScalesBetterThanBaseline => {
            let min = min.unwrap_or(f64::NAN);
            let (Some(mode), Some(baseline)) = (claim.mode, claim.baseline) else { return not_run("compared") };
            // Each mode's efficiency at P against its own one-process cell of the same work.
            let efficiency = |c: &CellStats| -> Option<f64> {
                let one =
                    cells.iter().find(|b| b.mode == c.mode && b.sync == c.sync && b.p() == 1 && same_work(b, c))?;
                Some(one.min_s / (c.p() as f64 * c.min_s))
            };
            let parallel = |m: Mode| cells.iter().copied().filter(move |c| c.mode == m && c.p() > 1);
            let pair = parallel(baseline)
                .filter_map(|b| parallel(mode).find(|c| same_work(c, b) && c.p() == b.p()).map(|c| (c, b)))
                .max_by_key(|(c, _)| (c.n, c.p(), c.hidden));
            let Some((ours, theirs)) = pair else { return not_run(&format!("parallel {mode} and {baseline}")) };
            let (Some(e_ours), Some(e_theirs)) = (efficiency(ours), efficiency(theirs)) else {
                return not_run(&format!("one-process {mode} and {baseline}"));
            };
            let ratio = e_ours / e_theirs;
            let mark = if ours.oversubscribed { " (oversubscribed)" } else { "" };
            valued(
                pass(ratio >= min),
                format!(
                    "P={}{mark}, N={}: efficiency {} {e_ours:.2}, {} {e_theirs:.2}: ratio {ratio:.2} (best of runs, each \
                     over its own P=1)",
                    ours.p(),
                    ours.n,
                    ours.label(),
                    theirs.label()
                ),
                format!("efficiency ratio ≥ {min}"),
                Some(ratio),
            )
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
                .filter_map(|(h, n, cpu, gpu)| Some((h, n, cpu?.min_s, gpu?.min_s)))
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
                (Some(c), Some(g)) => valued(
                    pass(g.min_s < c.min_s),
                    format!(
                        "at N={n}, H={h}: GPU {} s, fastest CPU ({} P={}) {} s",
                        secs(g.min_s),
                        c.label(),
                        c.p(),
                        secs(c.min_s)
                    ),
                    "GPU time < CPU time".into(),
                    Some(g.min_s / c.min_s),
                ),
                _ => gpu_not_run(),
            }
        }
    }
}

/// Whether two cells train on the same work: N, H, test rows, epochs and iterations.
fn same_work(a: &CellStats, b: &CellStats) -> bool {
    (a.n, a.hidden, a.test_n, a.epochs, a.iters) == (b.n, b.hidden, b.test_n, b.epochs, b.iters)
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

    /// An MPI cell across emulated hosts with the figures the network claims read.
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
            runs: 3,
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
            seq_min_s: Some(2.0 * efficiency),
            speedup: Some(2.0 * efficiency),
            efficiency: Some(efficiency),
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
        assert_eq!((v.outcome, v.value), (Outcome::Pass, Some(4.0)), "{}", v.measured);
        assert!(v.measured.contains("4.00 times faster"), "{}", v.measured);
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
        let mut bigger = cells.clone();
        for c in &mut bigger {
            c.n = 16000;
            c.min_s *= 2.0;
        }
        let mut slow_baseline = bigger.clone();
        slow_baseline[2].min_s = 0.1;
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
        assert!(v.measured.starts_with("H=50 allreduce P=2: 3.0% (tcp) to 50.0% (tcp-100mbit)"), "{}", v.measured);
        let mut shrinking = growing;
        shrinking[4].comm_share = 0.02;
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
        assert_eq!(v.measured, "on tcp-100mbit: allreduce / gather-bcast efficiency H=400 P=2: 1.20");
        // Only the slowest link counts: the unshaped pair, where gather-bcast leads, does not.
        assert_eq!(evaluate_on(&claim, cells(0.58)).outcome, Outcome::Fail);
    }

    #[test]
    fn r_squared_of_a_line_is_one_and_of_noise_is_low() {
        assert!((r_squared(&[(1.0, 2.0), (2.0, 4.0), (3.0, 6.0)]) - 1.0).abs() < 1e-12);
        assert!(r_squared(&[(1.0, 1.0), (2.0, 3.0), (3.0, 1.0), (4.0, 3.0)]) < 0.3);
    }
}
