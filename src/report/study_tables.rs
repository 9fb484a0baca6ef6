//! The study's tables, one function each, from the aggregated cells. Which function draws a
//! table is chosen by the table's kind (its `name` in the experiments file).

use std::collections::BTreeMap;

use super::aggregate::{Aggregate, CellStats};
use super::table_format::{Align, Table};
use crate::data::SourceLabel;
use crate::experiment::manifest::{TableKind, TableSpec};
use crate::experiment::raw::Status;
use crate::stats::{Estimate, MIN_RUNS_FOR_CONFIDENCE};
use crate::train::Mode;

/// Seconds with three significant digits.
pub fn secs(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    match x.abs() {
        a if a >= 100.0 => format!("{x:.0}"),
        a if a >= 10.0 => format!("{x:.1}"),
        a if a >= 1.0 => format!("{x:.2}"),
        a if a >= 0.1 => format!("{x:.3}"),
        _ => format!("{x:.4}"),
    }
}

fn ms(x: f64) -> String {
    if x.is_finite() { format!("{:.2}", x * 1e3) } else { "–".into() }
}

fn percent(x: f64) -> String {
    if x.is_finite() { format!("{:.1}", 100.0 * x) } else { "–".into() }
}

/// P with a dagger when the cell asked for more cores than the host has.
fn p(c: &CellStats) -> String {
    format!("{}{}", c.p(), if c.oversubscribed { "†" } else { "" })
}

fn two(x: f64) -> String {
    if x.is_finite() { format!("{x:.2}") } else { "–".into() }
}

/// A median with its interval, `1.23 [1.20, 1.30]`, marked `*` when the interval covers the
/// median with less than 95% (fewer runs than [`MIN_RUNS_FOR_CONFIDENCE`]).
pub fn with_interval(e: Option<Estimate>, fmt: fn(f64) -> String) -> String {
    match e {
        None => "–".into(),
        Some(e) => format!("{}{}", e.text(fmt), if e.n >= 2 && !e.is_confident() { "*" } else { "" }),
    }
}

/// How every interval of a table was made, and what `*` means when a cell carries it.
fn interval_note(table: &mut Table, estimates: impl IntoIterator<Item = Option<Estimate>>) {
    let weak: Vec<usize> =
        estimates.into_iter().flatten().filter(|e| e.n >= 2 && !e.is_confident()).map(|e| e.n).collect();
    let mut text = "[low, high]: the 95% confidence interval of the median from order statistics (no distribution \
                    assumed); a ratio of two cells (speedup, efficiency, own speedup, weak efficiency) is the median \
                    over rounds of the ratio of their runs in the same round, with the same interval."
        .to_string();
    if let Some(&least) = weak.iter().min() {
        text += &format!(
            " *: fewer than {MIN_RUNS_FOR_CONFIDENCE} runs or rounds, where no 95% interval exists: the interval \
             shown is the range, covering the median with probability 1 − 2/2^n ({least}: {:.0}%).",
            100.0 * (1.0 - 2.0 / 2f64.powi(least as i32))
        );
    }
    table.notes.push(text);
}

fn range(lo: f64, hi: f64) -> String {
    format!("{}–{}", secs(lo), secs(hi))
}

/// Notes every table carries: what the figures are, the marks, and the cells without figures.
fn notes(table: &mut Table, agg: &Aggregate, cells: &[&CellStats]) {
    if cells.iter().any(|c| c.oversubscribed) {
        table.notes.push("† P exceeds this host's cores (run with --oversubscribe): ranks time-share cores.".into());
    }
    if cells.iter().any(|c| c.outliers > 0) {
        table.notes.push(
            "Outliers (runs outside Tukey's fences, 1.5 IQR) are counted in the last column and kept in the statistics."
                .into(),
        );
    }
    let recorded: Vec<_> = cells.iter().flat_map(|c| &c.samples).filter(|s| s.steal_share.is_finite()).collect();
    if !recorded.is_empty() {
        table.notes.push(format!(
            "Machine: {} of {} timed runs had more than {:.0}% of the CPU time stolen by the hypervisor (flagged; kept \
             in the statistics; raw.csv has each run's steal share, load and CPU time).",
            recorded.iter().filter(|s| s.flagged()).count(),
            recorded.len(),
            100.0 * crate::experiment::machine::STEAL_FLAG
        ));
    }
    let sources: std::collections::BTreeSet<SourceLabel> = cells.iter().map(|c| c.data_source).collect();
    if sources.iter().any(|s| *s != SourceLabel::Mnist) {
        table.notes.push(format!(
            "Data: {} (synthetic data: timings only; MNIST-format unverified data: checksums not checked).",
            sources.into_iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    // One note per distinct reason, naming the cells it affects.
    let mut gaps: BTreeMap<(Status, &str), Vec<&str>> = BTreeMap::new();
    for g in agg.gaps_of(&table.id) {
        gaps.entry((g.status, g.reason.as_str())).or_default().push(g.cell.as_str());
    }
    for ((status, reason), cells) in gaps {
        let what = if status == Status::NotRun { "Not run" } else { "FAILED" };
        let mut names: Vec<&str> = cells;
        names.dedup();
        table.notes.push(format!("{what} ({}): {reason}", names.join(", ")));
    }
}

fn timing_note(table: &mut Table, cells: &[&CellStats]) {
    let runs: std::collections::BTreeSet<usize> = cells.iter().map(|c| c.runs).collect();
    let runs: Vec<String> = runs.iter().map(|r| r.to_string()).collect();
    table.notes.insert(
        0,
        format!(
            "Medians of {} timed runs per cell after warm-up, runs interleaved round by round; range = min–max; IQR \
             = Q3 − Q1. Training time is rank 0's clock without the per-epoch evaluation.",
            runs.join("/")
        ),
    );
}

/// The two scopes of a time: the training loop, and what the user waits.
fn end_to_end_note(table: &mut Table) {
    table.notes.push(
        "End-to-end: the run's process from start to exit, as the user waits for it: mpirun's start-up (MPI \
         cells), loading the prepared data and scattering it to the ranks, the training loop, the evaluation, \
         writing the result; its speedup is the sequential run's end-to-end time over the cell's, round by round. \
         The gap to the training time is what start-up costs; it weighs most at small N."
            .into(),
    );
}

/// What the baseline rows are, when the table has any.
fn baseline_note(table: &mut Table, cells: &[&CellStats]) {
    if cells.iter().any(|c| c.mode.is_baseline()) {
        table.notes.push(
            "(baseline): Python programs run beside dpstudy on the same rows and initial weights: original = the \
             original study's implementation (numpy, mpi4py object gather and broadcast, BLAS threads at numpy's \
             default), original-fixed = the same with a buffer Allreduce and one BLAS thread per rank, torch = \
             PyTorch with P threads, torch-ddp = DistributedDataParallel (gloo) over P processes."
                .into(),
        );
    }
}

fn time_vs_size(spec: &TableSpec, agg: &Aggregate) -> Table {
    let cols = [
        ("N", Align::Right),
        ("mode", Align::Left),
        ("P", Align::Right),
        ("median s [95% CI]", Align::Right),
        ("range s", Align::Right),
        ("speedup [95% CI]", Align::Right),
        ("end-to-end s [95% CI]", Align::Right),
        ("end-to-end speedup", Align::Right),
        ("runs", Align::Right),
        ("outliers", Align::Right),
    ];
    let mut t = Table::new(&spec.id, spec.name.as_str(), &spec.title, &cols);
    let mut cells: Vec<&CellStats> = agg.table(&spec.id).collect();
    cells.sort_by_key(|c| (c.hidden, c.n, c.mode.is_baseline(), c.mode != Mode::Seq, c.label(), c.p()));
    for c in &cells {
        t.push(vec![
            c.n.to_string(),
            c.label(),
            p(c),
            with_interval(c.time, secs),
            range(c.min_s, c.max_s),
            with_interval(c.speedup, two),
            with_interval(c.end_to_end, secs),
            with_interval(c.end_to_end_speedup, two),
            c.runs.to_string(),
            c.outliers.to_string(),
        ]);
    }
    timing_note(&mut t, &cells);
    t.notes.push("Speedup: the sequential run's time over the cell's, round by round, at the same N.".into());
    end_to_end_note(&mut t);
    interval_note(&mut t, cells.iter().flat_map(|c| [c.time, c.speedup, c.end_to_end, c.end_to_end_speedup]));
    baseline_note(&mut t, &cells);
    notes(&mut t, agg, &cells);
    t
}

fn epoch_time(spec: &TableSpec, agg: &Aggregate) -> Table {
    let cols = [
        ("H", Align::Right),
        ("N", Align::Right),
        ("mode", Align::Left),
        ("P", Align::Right),
        ("epoch s [95% CI]", Align::Right),
        ("range s", Align::Right),
        ("epochs", Align::Right),
    ];
    let mut t = Table::new(&spec.id, spec.name.as_str(), &spec.title, &cols);
    let mut cells: Vec<&CellStats> = agg.table(&spec.id).collect();
    cells.sort_by_key(|c| (c.hidden, c.n, c.mode != Mode::Seq, c.label(), c.p()));
    for c in &cells {
        t.push(vec![
            c.hidden.to_string(),
            c.n.to_string(),
            c.label(),
            p(c),
            with_interval(c.time.map(|e| e.map(|v| v / c.epochs as f64)), secs),
            range(c.epoch_min_s, c.epoch_max_s),
            (c.runs * c.epochs).to_string(),
        ]);
    }
    t.notes.push(format!(
        "Epoch s: the median over runs of a run's time per epoch ({} iterations each), rank 0's clock without \
         evaluation; range: the fastest and slowest single epoch of every run.",
        cells.first().map_or(0, |c| c.iters)
    ));
    interval_note(&mut t, cells.iter().map(|c| c.time));
    notes(&mut t, agg, &cells);
    t
}

fn strong_scaling(spec: &TableSpec, agg: &Aggregate) -> Table {
    let cols = [
        ("mode", Align::Left),
        ("P", Align::Right),
        ("N", Align::Right),
        ("median s [95% CI]", Align::Right),
        ("speedup [95% CI]", Align::Right),
        ("efficiency [95% CI]", Align::Right),
        ("own speedup", Align::Right),
        ("end-to-end s [95% CI]", Align::Right),
        ("end-to-end speedup", Align::Right),
        ("comm %", Align::Right),
        ("wait %", Align::Right),
        ("runs", Align::Right),
    ];
    let mut t = Table::new(&spec.id, spec.name.as_str(), &spec.title, &cols);
    let mut cells: Vec<&CellStats> = agg.table(&spec.id).collect();
    cells.sort_by_key(|c| (c.mode.is_baseline(), c.mode != Mode::Seq, c.label(), c.p()));
    // Each mode over its own one-process cell: how much parallelism buys an implementation,
    // whatever its speed (the original's P ranks over the original's sequential program).
    let own = |c: &CellStats| {
        cells
            .iter()
            .find(|b| b.mode == c.mode && b.sync == c.sync && b.p() == 1 && b.n == c.n && b.hidden == c.hidden)
            .and_then(|b| b.time_ratio(c))
    };
    for c in &cells {
        t.push(vec![
            c.label(),
            p(c),
            c.n.to_string(),
            with_interval(c.time, secs),
            with_interval(c.speedup, two),
            with_interval(c.efficiency, two),
            with_interval(own(c), two),
            with_interval(c.end_to_end, secs),
            with_interval(c.end_to_end_speedup, two),
            percent(c.comm_share),
            percent(c.wait_share),
            c.runs.to_string(),
        ]);
    }
    timing_note(&mut t, &cells);
    t.notes.push(
        "Speedup: the sequential run's time over the cell's, round by round, at the same N; efficiency = speedup / \
         P; own speedup: over the same mode's one-process cell, round by round; comm and wait: shares of the ranks' \
         training time in collectives and at the barrier before them."
            .into(),
    );
    end_to_end_note(&mut t);
    interval_note(
        &mut t,
        cells.iter().flat_map(|c| [c.time, c.speedup, c.efficiency, own(c), c.end_to_end, c.end_to_end_speedup]),
    );
    baseline_note(&mut t, &cells);
    notes(&mut t, agg, &cells);
    t
}

/// The time of the same mode and sync with P = 1, for weak-scaling efficiency.
pub fn weak_baseline<'a>(cells: &[&'a CellStats], c: &CellStats) -> Option<&'a CellStats> {
    cells.iter().copied().find(|b| b.p() == 1 && b.mode == c.mode && b.sync == c.sync && b.hidden == c.hidden)
}

fn weak_scaling(spec: &TableSpec, agg: &Aggregate) -> Table {
    let cols = [
        ("mode", Align::Left),
        ("P", Align::Right),
        ("N", Align::Right),
        ("median s [95% CI]", Align::Right),
        ("weak efficiency [95% CI]", Align::Right),
        ("runs", Align::Right),
    ];
    let mut t = Table::new(&spec.id, spec.name.as_str(), &spec.title, &cols);
    let mut cells: Vec<&CellStats> = agg.table(&spec.id).collect();
    cells.sort_by_key(|c| (c.label(), c.p()));
    for c in &cells {
        let eff = weak_baseline(&cells, c).and_then(|b| b.time_ratio(c));
        t.push(vec![
            c.label(),
            p(c),
            c.n.to_string(),
            with_interval(c.time, secs),
            with_interval(eff, two),
            c.runs.to_string(),
        ]);
    }
    timing_note(&mut t, &cells);
    t.notes.push(
        "Weak efficiency: the time with P = 1 over the time with P, round by round (N grows with P; 1 is ideal)."
            .into(),
    );
    interval_note(&mut t, cells.iter().flat_map(|c| [c.time, weak_baseline(&cells, c).and_then(|b| b.time_ratio(c))]));
    notes(&mut t, agg, &cells);
    t
}

/// The sequential cell of a parity table, the reference every mode is compared with.
/// The sequential cell of the same work as `like` (N, H, test rows, epochs, iterations);
/// with `like` absent, the first sequential cell.
pub fn parity_reference<'a>(cells: &[&'a CellStats], like: Option<&CellStats>) -> Option<&'a CellStats> {
    cells.iter().copied().find(|c| c.mode == Mode::Seq && like.is_none_or(|l| c.work() == l.work()))
}

fn parity(spec: &TableSpec, agg: &Aggregate) -> Table {
    let cols = [
        ("mode", Align::Left),
        ("P", Align::Right),
        ("N", Align::Right),
        ("final cost", Align::Right),
        ("rel. Δ vs seq", Align::Right),
        ("train acc", Align::Right),
        ("test acc", Align::Right),
        ("data", Align::Left),
    ];
    let mut t = Table::new(&spec.id, spec.name.as_str(), &spec.title, &cols);
    let mut cells: Vec<&CellStats> = agg.table(&spec.id).collect();
    cells.sort_by_key(|c| (c.mode != Mode::Seq, c.label(), c.p()));
    let reference = parity_reference(&cells, None).map(|c| c.final_cost);
    for c in &cells {
        let delta = reference.map(|r| (c.final_cost - r).abs() / r.abs());
        t.push(vec![
            c.label(),
            p(c),
            c.n.to_string(),
            format!("{:.6}", c.final_cost),
            delta.map_or("–".into(), |d| if d == 0.0 { "0".into() } else { format!("{d:.1e}") }),
            format!("{:.4}", c.final_train_acc),
            c.final_test_acc.map_or("–".into(), |a| format!("{a:.4}")),
            c.data_source.to_string(),
        ]);
    }
    if let Some(c) = cells.first() {
        t.notes.push(format!(
            "After {} epochs of {} full-batch steps from the same initial weights; test: the last {} images of the pool.",
            c.epochs, c.iters, c.test_n
        ));
    }
    notes(&mut t, agg, &cells);
    t
}

/// The first 12 hex digits of a weights hash, or why there is none.
pub fn short_hash(c: &CellStats) -> String {
    match (&c.weights_sha256, c.hash_variants) {
        (Some(h), _) => h.chars().take(12).collect(),
        (None, v) if v > 1 => format!("{v} different"),
        (None, _) => "–".into(),
    }
}

fn determinism(spec: &TableSpec, agg: &Aggregate) -> Table {
    let cols = [
        ("reduction", Align::Left),
        ("mode", Align::Left),
        ("P", Align::Right),
        ("final cost", Align::Right),
        ("weights SHA-256", Align::Left),
        ("same bits as seq", Align::Left),
    ];
    let mut t = Table::new(&spec.id, spec.name.as_str(), &spec.title, &cols);
    let mut cells: Vec<&CellStats> = agg.table(&spec.id).collect();
    cells.sort_by_key(|c| (c.reduce, c.work(), c.mode != Mode::Seq, c.label(), c.p()));
    for c in &cells {
        let seq = cells.iter().find(|s| s.mode == Mode::Seq && s.work() == c.work());
        let same = match (seq.and_then(|s| s.weights_sha256.as_ref()), &c.weights_sha256) {
            (Some(a), Some(b)) => if a == b { "yes" } else { "no" }.to_string(),
            _ => "–".into(),
        };
        t.push(vec![c.reduce.to_string(), c.label(), p(c), format!("{:.15e}", c.final_cost), short_hash(c), same]);
    }
    if let Some(c) = cells.first() {
        t.notes.push(format!(
            "N = {}, H = {}, {} epochs of {} full-batch steps from the same initial weights. float: \
             floating-point sums in the order each split gives; exact: 64 global blocks of rows summed \
             as fixed-point integers (the same bits for any split). The hash is of the trained weights \
             as f64; every run of a cell gave the one shown.",
            c.n, c.hidden, c.epochs, c.iters
        ));
    }
    notes(&mut t, agg, &cells);
    t
}

fn sync_patterns(spec: &TableSpec, agg: &Aggregate) -> Table {
    let cols = [
        ("H", Align::Right),
        ("P", Align::Right),
        ("sync", Align::Left),
        ("step ms [95% CI]", Align::Right),
        ("comm ms/step", Align::Right),
        ("comm %", Align::Right),
        ("runs", Align::Right),
    ];
    let mut t = Table::new(&spec.id, spec.name.as_str(), &spec.title, &cols);
    let mut cells: Vec<&CellStats> = agg.table(&spec.id).collect();
    cells.sort_by_key(|c| (c.hidden, c.p(), c.sync));
    for c in &cells {
        t.push(vec![
            c.hidden.to_string(),
            p(c),
            c.sync.map(|s| s.to_string()).unwrap_or_default(),
            with_interval(c.step(), ms),
            ms(c.comm_step_s),
            percent(c.comm_share),
            c.runs.to_string(),
        ]);
    }
    if let Some(c) = cells.first() {
        t.notes.push(format!(
            "N = {}; medians over runs of the mean step (rank 0, {} epochs of {} steps); comm: rank 0's time in the \
             collectives.",
            c.n, c.epochs, c.iters
        ));
    }
    interval_note(&mut t, cells.iter().map(|c| c.step()));
    notes(&mut t, agg, &cells);
    t
}

/// For each (H, N) of the crossover grid: the fastest CPU cell and the GPU cell, if any.
pub fn crossover_pairs<'a>(
    cells: &[&'a CellStats],
) -> Vec<(usize, usize, Option<&'a CellStats>, Option<&'a CellStats>)> {
    let mut keys: Vec<(usize, usize)> = cells.iter().map(|c| (c.hidden, c.n)).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(h, n)| {
            let here = cells.iter().copied().filter(|c| c.hidden == h && c.n == n);
            // dpstudy's CPU modes: a baseline in the table is set beside, not raced.
            let cpu = here
                .clone()
                .filter(|c| c.mode != Mode::Gpu && !c.mode.is_baseline())
                .min_by(|a, b| a.median_s.total_cmp(&b.median_s));
            let gpu = here.clone().find(|c| c.mode == Mode::Gpu);
            (h, n, cpu, gpu)
        })
        .collect()
}

fn gpu_crossover(spec: &TableSpec, agg: &Aggregate) -> Table {
    let cols = [
        ("H", Align::Right),
        ("N", Align::Right),
        ("fastest CPU", Align::Left),
        ("CPU s [95% CI]", Align::Right),
        ("GPU s [95% CI]", Align::Right),
        ("CPU / GPU [95% CI]", Align::Right),
    ];
    let mut t = Table::new(&spec.id, spec.name.as_str(), &spec.title, &cols);
    let cells: Vec<&CellStats> = agg.table(&spec.id).collect();
    let pairs = crossover_pairs(&cells);
    for &(h, n, cpu, gpu) in &pairs {
        t.push(vec![
            h.to_string(),
            n.to_string(),
            cpu.map_or("–".into(), |c| format!("{} P={}", c.label(), p(c))),
            cpu.map_or("–".into(), |c| with_interval(c.time, secs)),
            gpu.map_or("not run".into(), |g| with_interval(g.time, secs)),
            match (cpu, gpu) {
                (Some(c), Some(g)) => with_interval(c.unpaired_time_ratio(g), two),
                _ => "–".into(),
            },
        ]);
    }
    t.notes.push(
        "CPU / GPU above 1: the GPU is faster. The GPU's runs come from a GPU machine's run, not interleaved with the \
         CPU's: the ratio is of the two medians, its interval from the ends of their intervals (covering with at least \
         the sum of their levels minus 1). The fastest CPU mode: by median."
            .into(),
    );
    interval_note(&mut t, pairs.iter().flat_map(|(_, _, c, g)| [c.and_then(|c| c.time), g.and_then(|g| g.time)]));
    notes(&mut t, agg, &cells);
    t
}

/// MPI across emulated hosts by link, beside the sequential cells of the same sizes: how
/// speedup and the communication share change as the network slows.
fn network(spec: &TableSpec, agg: &Aggregate) -> Table {
    let cols = [
        ("H", Align::Right),
        ("link", Align::Left),
        ("mode", Align::Left),
        ("P", Align::Right),
        ("step ms [95% CI]", Align::Right),
        ("comm ms/step", Align::Right),
        ("comm %", Align::Right),
        ("speedup [95% CI]", Align::Right),
        ("efficiency [95% CI]", Align::Right),
        ("runs", Align::Right),
    ];
    let mut t = Table::new(&spec.id, spec.name.as_str(), &spec.title, &cols);
    let mut cells: Vec<&CellStats> = agg.table(&spec.id).collect();
    cells.sort_by_key(|c| (c.hidden, c.mode != Mode::Seq, c.sync, c.link.map(|l| l.fastest_first()), c.p()));
    for c in &cells {
        t.push(vec![
            c.hidden.to_string(),
            c.link.map_or("one host".into(), |l| l.to_string()),
            c.label(),
            p(c),
            with_interval(c.step(), ms),
            ms(c.comm_step_s),
            percent(c.comm_share),
            with_interval(c.speedup, two),
            with_interval(c.efficiency, two),
            c.runs.to_string(),
        ]);
    }
    if let Some(c) = cells.first() {
        t.notes.push(format!(
            "N = {}; one rank per emulated host (a network namespace each, joined by a bridge); link: tcp unshaped, or \
             tcp-R with every host's outgoing traffic shaped to R by tc's token bucket; no latency is added. Medians \
             over runs of the mean step (rank 0, {} epochs of {} steps); comm: rank 0's time in the collectives; \
             speedup over the sequential cell of the same size, round by round.",
            c.n, c.epochs, c.iters
        ));
    }
    interval_note(&mut t, cells.iter().flat_map(|c| [c.step(), c.speedup]));
    notes(&mut t, agg, &cells);
    t
}

/// Data against model parallelism: each pair of a hidden-split cell and the data-parallel
/// allreduce cell of the same work, P and transport ([`super::model_vs_data`]), with the
/// numbers each moves per step, their steps, and the cost model's prediction of both.
fn model_parallel(spec: &TableSpec, agg: &Aggregate) -> Table {
    use super::model_vs_data::{self as mvd, Pair};
    let cols = [
        ("H", Align::Right),
        ("link", Align::Left),
        ("P", Align::Right),
        ("N", Align::Right),
        ("numbers/step data / model", Align::Right),
        ("data step ms [95% CI]", Align::Right),
        ("model step ms [95% CI]", Align::Right),
        ("comm ms data / model", Align::Right),
        ("own speedup data / model", Align::Right),
        ("predicted ms data / model", Align::Right),
        ("model speedup [95% CI]", Align::Right),
        ("faster", Align::Left),
        ("fewer numbers", Align::Left),
    ];
    let mut t = Table::new(&spec.id, spec.name.as_str(), &spec.title, &cols);
    let all: Vec<&CellStats> = agg.table(&spec.id).collect();
    let pairs = mvd::pairs(&all);
    let model = super::cost_model::Model::of(&agg.cells.iter().collect::<Vec<_>>(), &agg.commbench);
    let predicted = |c: &CellStats| {
        model.predictions.iter().find(|p| p.cell == c.cell).map_or("–".to_string(), |p| ms(p.predicted_step_s))
    };
    // Each split over its own one-rank cell (one host) of the same work, round by round:
    // what P ranks bought its compute and communication together.
    let own = |c: &CellStats| {
        all.iter()
            .find(|b| b.mode == c.mode && b.sync == c.sync && b.ranks == 1 && b.link.is_none() && b.work() == c.work())
            .and_then(|b| b.time_ratio(c))
            .map_or("–".to_string(), |e| two(e.value))
    };
    for pair in &pairs {
        let (d, m) = (pair.data, pair.model);
        t.push(vec![
            m.hidden.to_string(),
            pair.transport(),
            p(m),
            m.n.to_string(),
            format!("{} / {}", mvd::data_numbers(m.hidden), mvd::model_numbers(m.n)),
            with_interval(d.step(), ms),
            with_interval(m.step(), ms),
            format!("{} / {}", ms(d.comm_step_s), ms(m.comm_step_s)),
            format!("{} / {}", own(d), own(m)),
            format!("{} / {}", predicted(d), predicted(m)),
            with_interval(pair.model_speedup(), two),
            pair.winner().as_str().into(),
            if pair.model_moves_less() { "model" } else { "data" }.into(),
        ]);
    }
    let mut hidden: Vec<usize> = pairs.iter().map(|p| p.model.hidden).collect();
    hidden.dedup();
    t.notes.push(format!(
        "data: data parallelism (mpi allreduce), each rank's N/P rows, the gradient summed every step; model: the \
         hidden units split over the ranks (`--mode model`), every rank all N rows, the output layer's inputs (N x \
         10) summed every step. numbers/step: what each sums per step. By the byte count the hidden split moves \
         fewer numbers below N = (401 H + 10 (H + 1)) / 10: {}. Step: rank 0's mean step (median over runs); \
         comm: rank 0's time in the step's collectives; own speedup: each split's one-rank time (one host) over \
         its time here, round by round (median); predicted: the cost model's step (a rank's compute as the \
         one-rank cell of its split over P, the allreduce from the run's commbench sweep of the link and P; T11, \
         M2), made without the cell. Model speedup: the data-parallel time over the model-parallel one, round by \
         round; faster: decided on its interval (above 1: model, below: data).",
        hidden.iter().map(|&h| format!("N = {:.0} at H = {h}", mvd::crossover_n(h))).collect::<Vec<_>>().join(", ")
    ));
    let mut groups: Vec<Vec<Pair<'_>>> = Vec::new();
    for pair in &pairs {
        match groups.last_mut() {
            Some(g)
                if (g[0].model.hidden, g[0].model.link, g[0].model.ranks)
                    == (pair.model.hidden, pair.model.link, pair.model.ranks) =>
            {
                g.push(*pair)
            }
            _ => groups.push(vec![*pair]),
        }
    }
    if !groups.is_empty() {
        let lines: Vec<String> = groups
            .iter()
            .map(|g| {
                let m = g[0].model;
                format!("H = {}, {}, P = {}: {}", m.hidden, g[0].transport(), m.p(), mvd::measured_crossover(g))
            })
            .collect();
        t.notes.push(format!("Measured crossover: {}.", lines.join("; ")));
    }
    let split_predictions = model.predictions.iter().filter(|p| {
        p.split == super::cost_model::fit::Split::HiddenUnits && pairs.iter().any(|pair| pair.model.cell == p.cell)
    });
    if let Some(worst) = split_predictions.max_by(|a, b| a.relative_error().abs().total_cmp(&b.relative_error().abs()))
    {
        t.notes.push(format!(
            "The cost model on the hidden split: largest error against the measured median {:+.0}% ({}). It takes a \
             rank's compute as its split's one-rank step over P; where the own-speedup column is far from P, \
             splitting the units did not divide the compute (every rank still reads all N rows, through products P \
             times narrower), which the model leaves out. Claim C12 judges the data-parallel cells only.",
            100.0 * worst.relative_error(),
            worst.cell
        ));
    }
    t.notes.push(
        "The hidden split computes with the portable gemm kernel (its sum over ranks sits between the two layers, \
         which the fused kernel runs together); data parallelism with the kernel its result records. Its one-rank \
         cells show what that costs."
            .into(),
    );
    interval_note(&mut t, pairs.iter().flat_map(|p| [p.data.step(), p.model.step(), p.model_speedup()]));
    notes(&mut t, agg, &all);
    t
}

fn accuracy(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite()).map_or("–".into(), |v| format!("{v:.4}"))
}

/// Whether a data-parallel cell of an ensembles table had P times the iterations (the
/// compute of a P-member ensemble): the table's cells with more iterations than the least.
pub fn equal_budget(cells: &[&CellStats], c: &CellStats) -> bool {
    let least = cells.iter().map(|c| c.iters).min().unwrap_or(c.iters);
    c.mode == Mode::Mpi && c.iters > least
}

/// T9: data parallelism (one model, P ranks) against ensembles (P models, combined).
fn ensembles(spec: &TableSpec, agg: &Aggregate) -> Table {
    let cols = [
        ("model", Align::Left),
        ("P", Align::Right),
        ("steps", Align::Right),
        ("median s [95% CI]", Align::Right),
        ("test acc", Align::Right),
        ("best member", Align::Right),
        ("average", Align::Right),
        ("vote", Align::Right),
        ("stacked", Align::Right),
        ("runs", Align::Right),
    ];
    let mut t = Table::new(&spec.id, spec.name.as_str(), &spec.title, &cols);
    let all: Vec<&CellStats> = agg.table(&spec.id).collect();
    let mut cells = all.clone();
    cells.sort_by_key(|c| (c.mode == Mode::Ensemble, c.bagging, equal_budget(&all, c), c.p()));
    for c in &cells {
        let model = match c.mode {
            Mode::Ensemble => c.label(),
            _ if equal_budget(&all, c) => format!("{} (P x steps)", c.label()),
            _ => c.label(),
        };
        let ensemble = c.mode == Mode::Ensemble;
        t.push(vec![
            model,
            p(c),
            (c.epochs * c.iters).to_string(),
            with_interval(c.time, secs),
            // An ensemble's own test accuracy is its averaged prediction's (column "average").
            if ensemble { "–".into() } else { accuracy(c.final_test_acc) },
            accuracy(c.best_member_test_acc),
            accuracy(c.average_test_acc),
            accuracy(c.vote_test_acc),
            accuracy(c.stacked_test_acc),
            c.runs.to_string(),
        ]);
    }
    if let Some(e) = cells.iter().find(|c| c.mode == Mode::Ensemble) {
        t.notes.push(format!(
            "N = {} training images, H = {}; test: the last {} images of the pool. mpi allreduce: one model, the data \
             split over P ranks (the study's method); (P x steps): the same with P times the steps, the compute of a \
             P-member ensemble. ensemble: P members, each on all N images from its own initial weights (seed + rank), \
             no communication while training; bagging: each member on its own bootstrap sample of the N images. \
             Combiners: average of the members' probabilities, majority vote, and a stacked multinomial logistic \
             regression fitted on the {} validation images after the training images. An ensemble's time runs until \
             the combined prediction exists (the slowest member, the gathers, the stacker's fit).",
            e.n, e.hidden, e.test_n, e.validation_n
        ));
    }
    interval_note(&mut t, cells.iter().map(|c| c.time));
    notes(&mut t, agg, &cells);
    t
}

/// The table `spec` declares, drawn from `agg`.
pub fn build(spec: &TableSpec, agg: &Aggregate) -> Table {
    match spec.name {
        TableKind::TimeVsSize => time_vs_size(spec, agg),
        TableKind::EpochTime => epoch_time(spec, agg),
        TableKind::StrongScaling => strong_scaling(spec, agg),
        TableKind::WeakScaling => weak_scaling(spec, agg),
        TableKind::Parity => parity(spec, agg),
        TableKind::SyncPatterns => sync_patterns(spec, agg),
        TableKind::GpuCrossover => gpu_crossover(spec, agg),
        TableKind::Network => network(spec, agg),
        TableKind::Ensembles => ensembles(spec, agg),
        TableKind::Determinism => determinism(spec, agg),
        TableKind::ModelParallel => model_parallel(spec, agg),
    }
}
