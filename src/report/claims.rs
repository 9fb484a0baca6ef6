//! `artifact/claims.toml` and `dpstudy check`: the study's findings as claims with
//! tolerances, each checked against a results directory's aggregate.
//!
//! Timing claims read each cell's fastest timed run (best of R), not its median: on a shared
//! machine noise only ever adds time, so the minimum is the estimate least moved by it
//! (the tables report medians and ranges beside it).

use std::path::Path;

use serde::Deserialize;

use super::aggregate::{Aggregate, CellStats};
use super::tables::{crossover_pairs, parity_reference, weak_baseline};
use crate::experiment::manifest::PerProfile;
use crate::experiment::raw::Status;
use crate::tomlfile::{self, TomlFileError, line_of};

pub const BUILTIN: &str = include_str!("../../artifact/claims.toml");
pub const DEFAULT_PATH: &str = "artifact/claims.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    GrowsWithN,
    LinearInN,
    Speedup,
    WeakEfficiency,
    SameFinalCost,
    TestAccuracy,
    SyncRatio,
    GpuFaster,
}

/// One claim as the file states it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub id: String,
    pub claim: String,
    pub kind: Kind,
    pub table: String,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub sync: Option<String>,
    #[serde(default)]
    pub min: Option<PerProfile<f64>>,
    #[serde(default)]
    pub max: Option<PerProfile<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimsFile {
    version: u32,
    claims: Vec<toml::Spanned<Claim>>,
}

/// Reads the claims: `path`, else [`DEFAULT_PATH`] if it exists, else the built-in copy.
pub fn load(path: Option<&Path>) -> Result<Vec<Claim>, TomlFileError> {
    let (text, path) = tomlfile::text_of(path, DEFAULT_PATH, BUILTIN)?;
    parse(&text, &path)
}

pub fn parse(text: &str, path: &Path) -> Result<Vec<Claim>, TomlFileError> {
    let file: ClaimsFile = tomlfile::parse(text, path)?;
    if file.version != 1 {
        return Err(TomlFileError::Parse {
            path: path.into(),
            message: format!("version {} (this dpstudy reads version 1)", file.version),
        });
    }
    let mut claims: Vec<Claim> = Vec::new();
    for spanned in file.claims {
        let line = line_of(text, spanned.span().start);
        let claim = spanned.into_inner();
        let invalid = |message: String| TomlFileError::Invalid { path: path.into(), line, message };
        if claims.iter().any(|c| c.id == claim.id) {
            return Err(invalid(format!("claim `{}` is declared twice", claim.id)));
        }
        let needs = match claim.kind {
            Kind::LinearInN | Kind::Speedup | Kind::WeakEfficiency | Kind::TestAccuracy => Some("min"),
            Kind::SameFinalCost | Kind::SyncRatio => Some("max"),
            Kind::GrowsWithN | Kind::GpuFaster => None,
        };
        match needs {
            Some("min") if claim.min.is_none() => return Err(invalid(format!("claim `{}` needs `min`", claim.id))),
            Some("max") if claim.max.is_none() => return Err(invalid(format!("claim `{}` needs `max`", claim.id))),
            _ => {}
        }
        if matches!(claim.kind, Kind::Speedup | Kind::WeakEfficiency) && claim.mode.is_none() {
            return Err(invalid(format!("claim `{}` needs `mode`", claim.id)));
        }
        claims.push(claim);
    }
    Ok(claims)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub id: String,
    pub claim: String,
    pub outcome: Outcome,
    pub measured: String,
    pub expected: String,
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

/// Coefficient of determination of the least-squares line through `points`.
pub fn r_squared(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx == 0.0 || syy == 0.0 { f64::NAN } else { sxy * sxy / (sxx * syy) }
}

/// Checks every claim against `agg` (a run of `profile` with `tables`).
pub fn check(claims: &[Claim], agg: &Aggregate, profile: &str, tables: &[String]) -> Vec<Verdict> {
    claims.iter().map(|c| evaluate(c, agg, profile, tables)).collect()
}

fn evaluate(claim: &Claim, agg: &Aggregate, profile: &str, tables: &[String]) -> Verdict {
    let verdict = |outcome, measured: String, expected: String| Verdict {
        id: claim.id.clone(),
        claim: claim.claim.clone(),
        outcome,
        measured,
        expected,
    };
    if !tables.contains(&claim.table) {
        return verdict(Outcome::NotRun, format!("table {} was not part of this run", claim.table), String::new());
    }
    let mut cells: Vec<&CellStats> = agg.table(&claim.table).collect();
    if let Some(mode) = &claim.mode {
        cells.retain(|c| &c.mode == mode);
    }
    if let Some(sync) = &claim.sync {
        cells.retain(|c| &c.sync == sync);
    }
    // Cells that failed make the claim fail: the run did not show it.
    let failed: Vec<String> = agg
        .gaps_of(&claim.table)
        .filter(|g| g.status == Status::Failed)
        .filter(|g| claim.mode.as_ref().is_none_or(|m| &g.mode == m))
        .map(|g| format!("{}: {}", g.cell, g.reason))
        .collect();
    if !failed.is_empty() {
        return verdict(Outcome::Fail, format!("cells failed: {}", failed.join("; ")), "every cell runs".into());
    }
    let not_run = |what: &str| -> Verdict {
        let reason = agg.gaps_of(&claim.table).map(|g| g.reason.clone()).next();
        let why = reason.map_or(format!("no {what} cells in table {}", claim.table), |r| format!("not run: {r}"));
        verdict(Outcome::NotRun, why, String::new())
    };
    let min = threshold(&claim.min, profile);
    let max = threshold(&claim.max, profile);
    let pass = |ok: bool| if ok { Outcome::Pass } else { Outcome::Fail };
    match claim.kind {
        Kind::GrowsWithN => {
            let all = series(&cells);
            if all.is_empty() {
                return not_run("timed");
            }
            let mut bad = vec![];
            for (key, s) in &all {
                if s.windows(2).any(|w| w[1].min_s <= w[0].min_s) {
                    let times: Vec<String> = s.iter().map(|c| super::tables::secs(c.min_s)).collect();
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
            let fits: Vec<(String, f64)> = series(&cells)
                .iter()
                .filter(|(_, s)| s.len() >= 3)
                .map(|(k, s)| (series_name(k), r_squared(&s.iter().map(|c| (c.n as f64, c.min_s)).collect::<Vec<_>>())))
                .collect();
            if fits.is_empty() {
                return not_run("three or more sizes of");
            }
            let worst = fits.iter().min_by(|a, b| a.1.total_cmp(&b.1)).expect("not empty");
            verdict(
                pass(fits.iter().all(|f| f.1 >= min)),
                format!("lowest R² {:.4} ({}); {} series", worst.1, worst.0, fits.len()),
                format!("R² ≥ {min}"),
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
            verdict(
                pass(eff >= min),
                format!("{} P={p}{mark} at N={n}: speedup {speedup:.2}, efficiency {eff:.2} (best of runs)", c.label()),
                format!("speedup ≥ {:.2} (efficiency ≥ {min})", min * p as f64),
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
            verdict(
                pass(effs.iter().all(|e| e.1 >= min)),
                format!("lowest weak efficiency {:.2} ({})", worst.1, worst.0),
                format!("≥ {min} at every P"),
            )
        }
        Kind::SameFinalCost => {
            let max = max.unwrap_or(f64::NAN);
            let Some(reference) = parity_reference(&cells) else { return not_run("sequential") };
            let devs: Vec<(String, f64)> = cells
                .iter()
                .filter(|c| c.mode != "seq")
                .map(|c| {
                    let d = (c.final_cost - reference.final_cost).abs() / reference.final_cost.abs();
                    (format!("{} P={}", c.label(), c.p()), d)
                })
                .collect();
            if devs.is_empty() {
                return not_run("parallel");
            }
            let worst = devs.iter().max_by(|a, b| a.1.total_cmp(&b.1)).expect("not empty");
            verdict(
                pass(devs.iter().all(|d| d.1 <= max)),
                format!(
                    "largest relative difference {:.1e} ({}); sequential cost {:.6}",
                    worst.1, worst.0, reference.final_cost
                ),
                format!("≤ {max:.0e}"),
            )
        }
        Kind::TestAccuracy => {
            let min = min.unwrap_or(f64::NAN);
            let accs: Vec<(String, f64, &str)> = cells
                .iter()
                .filter_map(|c| {
                    c.final_test_acc.map(|a| (format!("{} P={}", c.label(), c.p()), a, c.data_source.as_str()))
                })
                .collect();
            if accs.is_empty() {
                return not_run("test-set");
            }
            if let Some((_, _, source)) = accs.iter().find(|a| a.2 != "mnist") {
                return verdict(
                    Outcome::NotRun,
                    format!("data is {source}: accuracy is only claimed on verified MNIST"),
                    String::new(),
                );
            }
            let worst = accs.iter().min_by(|a, b| a.1.total_cmp(&b.1)).expect("not empty");
            verdict(
                pass(accs.iter().all(|a| a.1 >= min)),
                format!("lowest test accuracy {:.4} ({}); {} modes", worst.1, worst.0, accs.len()),
                format!("≥ {min} (profile {profile})"),
            )
        }
        Kind::SyncRatio => {
            let max = max.unwrap_or(f64::NAN);
            let ratios: Vec<(String, f64)> = cells
                .iter()
                .filter(|c| c.sync == "allreduce")
                .filter_map(|a| {
                    let g =
                        cells.iter().find(|g| g.sync == "gather-bcast" && g.p() == a.p() && g.hidden == a.hidden)?;
                    Some((format!("H={} P={}", a.hidden, a.p()), a.step_s / g.step_s))
                })
                .collect();
            if ratios.is_empty() {
                return not_run("paired sync");
            }
            let worst = ratios.iter().max_by(|a, b| a.1.total_cmp(&b.1)).expect("not empty");
            verdict(
                pass(ratios.iter().all(|r| r.1 <= max)),
                format!("largest allreduce / gather-bcast step ratio {:.2} ({})", worst.1, worst.0),
                format!("≤ {max}"),
            )
        }
        Kind::GpuFaster => {
            let pairs = crossover_pairs(&cells);
            let Some((h, n, cpu, gpu)) = pairs.iter().max_by_key(|(h, n, ..)| (*n, *h)) else {
                return not_run("timed");
            };
            match (cpu, gpu) {
                (Some(c), Some(g)) => verdict(
                    pass(g.min_s < c.min_s),
                    format!(
                        "at N={n}, H={h}: GPU {} s, fastest CPU ({} P={}) {} s",
                        super::tables::secs(g.min_s),
                        c.label(),
                        c.p(),
                        super::tables::secs(c.min_s)
                    ),
                    "GPU time < CPU time".into(),
                ),
                _ => {
                    let reason = agg
                        .gaps_of(&claim.table)
                        .find(|g| g.mode == "gpu")
                        .map_or("no GPU cell".to_string(), |g| g.reason.clone());
                    verdict(Outcome::NotRun, format!("not run: {reason}"), String::new())
                }
            }
        }
    }
}

fn bound_text(value: &Option<PerProfile<f64>>, op: &str) -> String {
    match value {
        None => String::new(),
        Some(PerProfile::All(v)) => format!("{op} {v}"),
        Some(PerProfile::Each(map)) => {
            map.iter().map(|(profile, v)| format!("{op} {v} ({profile})")).collect::<Vec<_>>().join(", ")
        }
    }
}

/// The claims as the appendix's Markdown table: claim, command, expected value and
/// tolerance, what this machine measured in each reference run (`(profile, check.txt)`
/// pairs, one column each), and the time of the table's quick run (from
/// `table-times.txt`: lines `T1 64`, seconds).
pub fn markdown_table(claims: &[Claim], measured: &[(String, String)], table_times: &str) -> String {
    let columns: String = measured.iter().map(|(profile, _)| format!(" measured here ({profile}) |")).collect();
    let mut out = format!(
        "| id | claim | command | expected | tolerance |{columns} time (quick, here) |\n| --- | --- | --- | --- | --- |{} --- |\n",
        " --- |".repeat(measured.len())
    );
    for c in claims {
        let (expected, tolerance) = match c.kind {
            Kind::GrowsWithN => ("best-of-runs time rises with N".to_string(), "strictly, every series".to_string()),
            Kind::LinearInN => ("R² of best-of-runs time against N".into(), bound_text(&c.min, "≥")),
            Kind::Speedup => ("speedup / P at the largest N and P (best of runs)".into(), bound_text(&c.min, "≥")),
            Kind::WeakEfficiency => ("time(P = 1) / time(P), N/P fixed (best of runs)".into(), bound_text(&c.min, "≥")),
            Kind::SameFinalCost => ("relative difference of final cost to sequential".into(), bound_text(&c.max, "≤")),
            Kind::TestAccuracy => ("test accuracy, every mode".into(), bound_text(&c.min, "≥")),
            Kind::SyncRatio => ("allreduce / gather-bcast step time".into(), bound_text(&c.max, "≤")),
            Kind::GpuFaster => ("GPU time below the fastest CPU mode's".into(), "strictly".into()),
        };
        let verdicts: String = measured
            .iter()
            .map(|(_, check_txt)| {
                let verdict = verdict_in(check_txt, &c.id).unwrap_or_else(|| "–".into());
                format!(" {} |", verdict.replace('|', "\\|"))
            })
            .collect();
        let time = table_times
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{} ", c.table)))
            .map_or("–".to_string(), |s| format!("{} s", s.trim()));
        out += &format!(
            "| {} | {} | `dpstudy reproduce --tables {}` | {expected} | {tolerance} |{verdicts} {time} |\n",
            c.id, c.claim, c.table,
        );
    }
    out
}

/// `PASS: <measured>` (or FAIL, NOT RUN) of claim `id` in a `check.txt`.
fn verdict_in(check_txt: &str, id: &str) -> Option<String> {
    let lines: Vec<&str> = check_txt.lines().collect();
    let i = lines.iter().position(|l| l.split_whitespace().next() == Some(id))?;
    let outcome = if lines[i].contains("NOT RUN") {
        "NOT RUN"
    } else if lines[i].contains("PASS") {
        "PASS"
    } else {
        "FAIL"
    };
    let measured = lines.get(i + 1).and_then(|l| l.trim().strip_prefix("measured: ")).unwrap_or("");
    Some(format!("{outcome}: {measured}"))
}

/// The verdicts as the text `check` prints.
pub fn render(verdicts: &[Verdict]) -> String {
    let mut out = String::new();
    for v in verdicts {
        out += &format!("{:<4} {:<7}  {}\n", v.id, v.outcome.as_str(), v.claim);
        out += &format!("              measured: {}\n", v.measured);
        if !v.expected.is_empty() {
            out += &format!("              expected: {}\n", v.expected);
        }
    }
    let count = |o| verdicts.iter().filter(|v| v.outcome == o).count();
    out += &format!(
        "check: {} passed, {} failed, {} not run\n",
        count(Outcome::Pass),
        count(Outcome::Fail),
        count(Outcome::NotRun)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_claims_parse() {
        let claims = parse(BUILTIN, Path::new("claims.toml")).unwrap();
        assert!(claims.len() >= 7);
        assert!(claims.iter().any(|c| c.kind == Kind::GpuFaster));
    }

    #[test]
    fn malformed_claims_name_the_line() {
        let e = parse(
            "version = 1\n[[claims]]\nid = \"C1\"\nclaim = \"x\"\nkind = \"faster\"\ntable = \"T1\"\n",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("c.toml") && e.contains("line 5") && e.contains("faster"), "{e}");
        let e = parse("version = 1\n\n[[claims]]\nid = \"C1\"\nclaim = \"x\"\nkind = \"speedup\"\ntable = \"T1\"\nmode = \"mpi\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.toml, line 3") && e.contains("needs `min`"), "{e}");
    }

    #[test]
    fn r_squared_of_a_line_is_one_and_of_noise_is_low() {
        assert!((r_squared(&[(1.0, 2.0), (2.0, 4.0), (3.0, 6.0)]) - 1.0).abs() < 1e-12);
        assert!(r_squared(&[(1.0, 1.0), (2.0, 3.0), (3.0, 1.0), (4.0, 3.0)]) < 0.3);
    }
}
