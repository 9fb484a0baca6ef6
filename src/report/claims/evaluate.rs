//! `dpstudy check`'s rule: each claim reads the cells of its table that it names, a failed
//! cell fails it, and its kind's rule ([`kinds`](super::kinds)) judges the rest.
//!
//! A timing claim is decided on an interval, never on one run: its figure (an efficiency, a
//! ratio of two cells' times, an R²) is computed round by round from the cells' runs of the
//! same round, and the median over rounds comes with its 95% confidence interval
//! ([`crate::stats`]). The claim passes when the whole interval is on the side the claim
//! asks for, fails when the whole interval is on the other side, and is otherwise
//! inconclusive: more runs or a quieter machine would tell. Figures that are not timings
//! (costs, accuracies) are deterministic and read as they are.

use super::judge::Judge;
use super::record::{CHECK_FORMAT, CheckRecord, Outcome, Verdict};
use super::{Claim, Kind, kinds};
use crate::experiment::raw::Status;
use crate::report::aggregate::{Aggregate, CellStats};
use crate::train::Mode;

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

/// One claim's verdict: not run when its table was not, failed when a cell it reads failed,
/// else its kind's.
fn evaluate(claim: &Claim, agg: &Aggregate, profile: &str, tables: &[String]) -> Verdict {
    let mut cells: Vec<&CellStats> = agg.table(&claim.table).collect();
    // A comparison with a baseline reads both modes' cells; other claims one mode's, or
    // dpstudy's own modes' unless they name a baseline (the baselines are measured beside
    // dpstudy, not claimed about).
    let compared: Vec<Mode> = claim.mode.into_iter().chain(claim.baseline).collect();
    let reads_mode = |mode: Mode| match claim.mode {
        Some(_) => compared.contains(&mode),
        None => claim.kind == Kind::SameFinalCost || !mode.is_baseline(),
    };
    // The sync is dpstudy's MPI mode's; a compared baseline has its own.
    cells.retain(|c| {
        reads_mode(c.mode) && claim.sync.is_none_or(|s| c.sync == Some(s) || Some(c.mode) == claim.baseline)
    });
    let judge = Judge {
        claim,
        agg,
        profile,
        cells,
        compared: compared.clone(),
        bound: claim.bound(profile).unwrap_or(f64::NAN),
    };
    if !tables.contains(&claim.table) {
        let why = format!("table {} was not part of this run", claim.table);
        return judge.verdict(Outcome::NotRun, why, String::new());
    }
    // Cells that failed make the claim fail: the run did not show it.
    let failed: Vec<String> = agg
        .gaps_of(&claim.table)
        .filter(|g| g.status == Status::Failed && reads_mode(g.mode))
        .map(|g| format!("{}: {}", g.cell, g.reason))
        .collect();
    if !failed.is_empty() {
        return judge.verdict(Outcome::Fail, format!("cells failed: {}", failed.join("; ")), "every cell runs".into());
    }
    kinds::judge(&judge)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SourceLabel;
    use crate::experiment::manifest::PerProfile;
    use crate::report::aggregate::RunSample;
    use crate::train::{Reduction, SyncKind};

    /// Six rounds of a cell whose runs all move with the round by the same factors (the
    /// machine's drift), so that a ratio of two such cells is the same in every round.
    fn rounds(total_s: f64, step_s: f64, comm_share: f64) -> Vec<RunSample> {
        [1.0, 1.01, 0.99, 1.02, 0.98, 1.0]
            .iter()
            .enumerate()
            .map(|(rep, f)| RunSample {
                rep,
                total_s: f * total_s,
                step_s: f * step_s,
                comm_share,
                steal_share: 0.0,
                process_s: f64::NAN,
            })
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
            end_to_end: None,
            end_to_end_speedup: None,
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
            reduce: Reduction::Float,
            weights_sha256: Some("a".repeat(64)),
            hash_variants: 1,
            kernel: None,
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
            reduce: None,
            min: min.map(PerProfile::All),
            max: None,
        }
    }

    /// The claim's verdict on `cells`, in a quick run of the table `table` alone.
    fn evaluate_in(table: &str, claim: &Claim, cells: Vec<CellStats>) -> Verdict {
        let agg = Aggregate {
            cells,
            gaps: vec![],
            frame: polars::prelude::DataFrame::empty(),
            commbench: vec![],
            commbench_failures: vec![],
        };
        evaluate(claim, &agg, "quick", &[table.to_string()])
    }

    fn evaluate_on(claim: &Claim, cells: Vec<CellStats>) -> Verdict {
        evaluate_in("T8", claim, cells)
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
        evaluate_in("T3", claim, cells)
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
    fn identical_weights_compares_each_exact_cell_with_the_exact_sequential_hash() {
        let exact = |mode: Mode, p: usize, hash: char| {
            let mut c = t3(mode, p, 1.0, 3.0);
            c.reduce = Reduction::Exact;
            c.weights_sha256 = Some(hash.to_string().repeat(64));
            c
        };
        let claim = Claim { mode: None, ..baseline_claim(Kind::IdenticalWeights, Mode::Seq, None, 0.0) };
        // The float cells (hash 'a') differ from the exact ones and are not this claim's.
        let mut cells = vec![exact(Mode::Seq, 1, 'b'), exact(Mode::Mpi, 2, 'b'), exact(Mode::Threads, 3, 'b')];
        cells.push(t3(Mode::Mpi, 2, 1.0, 3.0));
        let v = evaluate_t3(&claim, cells.clone());
        assert_eq!(v.outcome, Outcome::Pass, "{}", v.measured);
        assert!(v.measured.starts_with("identical: 3 cells"), "{}", v.measured);
        cells[2].weights_sha256 = Some("c".repeat(64));
        let v = evaluate_t3(&claim, cells.clone());
        assert_eq!(v.outcome, Outcome::Fail);
        assert!(v.measured.contains("threads P=3 (cccccccccccc)"), "{}", v.measured);
        // Runs of one cell that disagree have no hash: not identical.
        (cells[2].weights_sha256, cells[2].hash_variants) = (None, 2);
        assert!(evaluate_t3(&claim, cells.clone()).measured.contains("(2 different)"));
        // Without the exact sequential cell there is nothing to compare with.
        assert_eq!(evaluate_t3(&claim, cells[1..].to_vec()).outcome, Outcome::NotRun);
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

    /// A hidden-split cell or its data-parallel allreduce pair on `link`, at N = `n`, H = 1600
    /// (the hidden split moves fewer numbers below N = 65,761), its time 1 / `efficiency`.
    fn split_cell(mode: Mode, n: usize, link: &str, efficiency: f64) -> CellStats {
        let mut c = linked(1600, SyncKind::Allreduce, link, 0.5, efficiency);
        (c.mode, c.n) = (mode, n);
        if mode == Mode::Model {
            c.sync = None;
        }
        c.cell = format!("{mode}-{n}-{link}");
        c
    }

    #[test]
    fn the_split_that_moves_fewer_numbers_must_win_on_the_slowest_link() {
        let claim = network_claim(Kind::FewerNumbersWins, Some(1.0));
        let cells = |model_on_slow: f64| {
            vec![
                split_cell(Mode::Mpi, 8000, "tcp", 0.9),
                split_cell(Mode::Model, 8000, "tcp", 0.5),
                split_cell(Mode::Mpi, 8000, "tcp-100mbit", 0.4),
                split_cell(Mode::Model, 8000, "tcp-100mbit", model_on_slow),
            ]
        };
        // At H = 1600, N = 8000 the hidden split moves 80,000 numbers, data parallelism
        // 657,610: the hidden split must be faster on the slowest link (and only there).
        let v = evaluate_on(&claim, cells(0.8));
        assert_eq!(v.outcome, Outcome::Pass, "{}", v.measured);
        assert!(v.measured.contains("on tcp-100mbit, H=1600 N=8000 P=2 (model moves fewer): 2.000"), "{}", v.measured);
        assert_eq!(evaluate_on(&claim, cells(0.3)).outcome, Outcome::Fail);
        // Past the crossover the data-parallel split is the one that must win.
        let past = vec![
            split_cell(Mode::Mpi, 80_000, "tcp-100mbit", 0.4),
            split_cell(Mode::Model, 80_000, "tcp-100mbit", 0.8),
        ];
        assert_eq!(evaluate_on(&claim, past).outcome, Outcome::Fail);
        // No link, no verdict.
        let one_host: Vec<CellStats> = cells(0.8).into_iter().map(|c| CellStats { link: None, ..c }).collect();
        assert_eq!(evaluate_on(&claim, one_host).outcome, Outcome::NotRun);
    }
}
