//! Check records as text: the verdicts `check` prints and writes to `check.txt`, and the
//! appendix's Markdown table of claims beside the verdicts of reference runs.

use super::record::{CheckRecord, Outcome};
use super::{Claim, Kind};
use crate::experiment::manifest::PerProfile;

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
/// tolerance, what this machine measured in each reference run (the check records of
/// the runs, one column each, named by the given name), and the time of the table's quick
/// run (from `table-times.txt`: lines `T1 64`, seconds).
pub fn markdown_table(claims: &[Claim], measured: &[(String, CheckRecord)], table_times: &str) -> String {
    let columns: String = measured.iter().map(|(name, _)| format!(" measured here ({name}) |")).collect();
    let mut out = format!(
        "| id | claim | command | expected | tolerance |{columns} time (quick, here) |\n| --- | --- | --- | --- | --- |{} --- |\n",
        " --- |".repeat(measured.len())
    );
    for c in claims {
        let (expected, tolerance) = match c.kind {
            Kind::GrowsWithN => ("time(next N) / time(N), every step of every series".to_string(), "> 1".to_string()),
            Kind::LinearInN => ("R² of time against N, round by round".into(), bound_text(&c.min, "≥")),
            Kind::Speedup => ("speedup / P at the largest N and P".into(), bound_text(&c.min, "≥")),
            Kind::WeakEfficiency => ("time(P = 1) / time(P), N/P fixed".into(), bound_text(&c.min, "≥")),
            Kind::SameFinalCost => ("relative difference of final cost to sequential".into(), bound_text(&c.max, "≤")),
            Kind::TestAccuracy => ("test accuracy, every mode".into(), bound_text(&c.min, "≥")),
            Kind::SyncRatio => ("allreduce / gather-bcast step time".into(), bound_text(&c.max, "≤")),
            Kind::GpuFaster => ("GPU time / the fastest CPU mode's".into(), "< 1".into()),
            Kind::GpuCrossover => ("the N from which the GPU stays faster, per H".into(), "no reversal".into()),
            Kind::CommGrowsAsLinkSlows => {
                ("comm share, slowest link over fastest, per H, sync, P".into(), "> 1, every series".into())
            }
            Kind::ModelPredicts => {
                ("the cost model's step out of sample: the largest distance outside an MPI cell's measured interval, over its median".into(), bound_text(&c.max, "≤"))
            }
            Kind::GatherBcastLosesMore => {
                ("allreduce / gather-bcast efficiency on the slowest link".into(), bound_text(&c.min, "≥"))
            }
            Kind::FasterThanBaseline => {
                ("baseline's one-process time / dpstudy's, largest N".into(), bound_text(&c.min, "≥"))
            }
            Kind::ScalesBetterThanBaseline => (
                "dpstudy's efficiency / baseline's at the largest P and N, each over its own P = 1".into(),
                bound_text(&c.min, "≥"),
            ),
            Kind::EnsembleBeatsBestMember => {
                ("averaged ensemble's test accuracy − best member's, every P > 1".into(), bound_text(&c.min, "≥"))
            }
            Kind::FewerNumbersWins => (
                "on the slowest link, the speedup of the split (data or model) that moves fewer numbers, every pair"
                    .into(),
                bound_text(&c.min, "≥"),
            ),
            Kind::IdenticalWeights => {
                ("SHA-256 of the trained weights, every mode and P, against sequential".into(), "equal".into())
            }
        };
        let verdicts: String = measured
            .iter()
            .map(|(_, record)| {
                let verdict = record
                    .verdict(&c.id)
                    .map_or_else(|| "–".into(), |v| format!("{}: {}", v.outcome.as_str(), v.measured));
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

/// The record as the text `check` prints and writes to `check.txt`.
pub fn check_text(record: &CheckRecord) -> String {
    let mut out = String::new();
    if !record.complete {
        out += "INCOMPLETE RUN: it did not finish; claims are checked on the cells done so far.\n";
    }
    for v in &record.verdicts {
        out += &format!("{:<4} {:<7}  {}\n", v.id, v.outcome.as_str(), v.claim);
        out += &format!("              measured: {}\n", v.measured);
        if !v.expected.is_empty() {
            out += &format!("              expected: {}\n", v.expected);
        }
    }
    out += &format!(
        "check: {} passed, {} failed, {} inconclusive, {} not run\n",
        record.count(Outcome::Pass),
        record.count(Outcome::Fail),
        record.count(Outcome::Inconclusive),
        record.count(Outcome::NotRun)
    );
    out
}
