//! The study's tables, one function each, from the aggregated cells. Which function draws a
//! table is chosen by the table's kind (its `name` in the experiments file).

use std::collections::BTreeMap;

use super::aggregate::{Aggregate, CellStats};
use super::table::{Align, Table};
use crate::data::SourceLabel;
use crate::experiment::manifest::{TableKind, TableSpec};
use crate::experiment::raw::Status;
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

fn ratio(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite()).map_or("–".into(), |v| format!("{v:.2}"))
}

fn percent(x: f64) -> String {
    if x.is_finite() { format!("{:.1}", 100.0 * x) } else { "–".into() }
}

/// P with a dagger when the cell asked for more cores than the host has.
fn p(c: &CellStats) -> String {
    format!("{}{}", c.p(), if c.oversubscribed { "†" } else { "" })
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
            "Medians of {} timed runs per cell after warm-up; range = min–max; IQR = Q3 − Q1. Training time is rank \
             0's clock without the per-epoch evaluation.",
            runs.join("/")
        ),
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
        ("time s", Align::Right),
        ("IQR s", Align::Right),
        ("range s", Align::Right),
        ("speedup", Align::Right),
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
            secs(c.median_s),
            secs(c.q3_s - c.q1_s),
            range(c.min_s, c.max_s),
            ratio(c.speedup),
            c.runs.to_string(),
            c.outliers.to_string(),
        ]);
    }
    timing_note(&mut t, &cells);
    t.notes.push("Speedup: the sequential median at the same N over the cell's median.".into());
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
        ("epoch s", Align::Right),
        ("IQR s", Align::Right),
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
            secs(c.epoch_median_s),
            secs(c.epoch_q3_s - c.epoch_q1_s),
            range(c.epoch_min_s, c.epoch_max_s),
            (c.runs * c.epochs).to_string(),
        ]);
    }
    t.notes.push(format!(
        "Median over every timed epoch of every run ({} iterations each), rank 0's clock without evaluation.",
        cells.first().map_or(0, |c| c.iters)
    ));
    notes(&mut t, agg, &cells);
    t
}

fn strong_scaling(spec: &TableSpec, agg: &Aggregate) -> Table {
    let cols = [
        ("mode", Align::Left),
        ("P", Align::Right),
        ("N", Align::Right),
        ("time s", Align::Right),
        ("speedup", Align::Right),
        ("efficiency", Align::Right),
        ("own speedup", Align::Right),
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
            .map(|b| b.median_s / c.median_s)
    };
    for c in &cells {
        t.push(vec![
            c.label(),
            p(c),
            c.n.to_string(),
            secs(c.median_s),
            ratio(c.speedup),
            ratio(c.efficiency),
            ratio(own(c)),
            percent(c.comm_share),
            percent(c.wait_share),
            c.runs.to_string(),
        ]);
    }
    timing_note(&mut t, &cells);
    t.notes.push(
        "Speedup over the sequential median at the same N; efficiency = speedup / P; own speedup: over the same \
         mode's one-process median; comm and wait: shares of the ranks' training time in collectives and at the \
         barrier before them."
            .into(),
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
        ("time s", Align::Right),
        ("IQR s", Align::Right),
        ("weak efficiency", Align::Right),
        ("runs", Align::Right),
    ];
    let mut t = Table::new(&spec.id, spec.name.as_str(), &spec.title, &cols);
    let mut cells: Vec<&CellStats> = agg.table(&spec.id).collect();
    cells.sort_by_key(|c| (c.label(), c.p()));
    for c in &cells {
        let eff = weak_baseline(&cells, c).map(|b| b.median_s / c.median_s);
        t.push(vec![
            c.label(),
            p(c),
            c.n.to_string(),
            secs(c.median_s),
            secs(c.q3_s - c.q1_s),
            ratio(eff),
            c.runs.to_string(),
        ]);
    }
    timing_note(&mut t, &cells);
    t.notes.push("Weak efficiency: the time with P = 1 over the time with P (N grows with P; 1 is ideal).".into());
    notes(&mut t, agg, &cells);
    t
}

/// The sequential cell of a parity table, the reference every mode is compared with.
/// The sequential cell of the same work as `like` (N, H, test rows, epochs, iterations);
/// with `like` absent, the first sequential cell.
pub fn parity_reference<'a>(cells: &[&'a CellStats], like: Option<&CellStats>) -> Option<&'a CellStats> {
    cells.iter().copied().find(|c| {
        c.mode == Mode::Seq
            && like.is_none_or(|l| {
                (c.n, c.hidden, c.test_n, c.epochs, c.iters) == (l.n, l.hidden, l.test_n, l.epochs, l.iters)
            })
    })
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

fn sync_patterns(spec: &TableSpec, agg: &Aggregate) -> Table {
    let cols = [
        ("H", Align::Right),
        ("P", Align::Right),
        ("sync", Align::Left),
        ("step ms", Align::Right),
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
            ms(c.step_s),
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
        ("CPU s", Align::Right),
        ("GPU s", Align::Right),
        ("CPU / GPU", Align::Right),
    ];
    let mut t = Table::new(&spec.id, spec.name.as_str(), &spec.title, &cols);
    let cells: Vec<&CellStats> = agg.table(&spec.id).collect();
    for (h, n, cpu, gpu) in crossover_pairs(&cells) {
        t.push(vec![
            h.to_string(),
            n.to_string(),
            cpu.map_or("–".into(), |c| format!("{} P={}", c.label(), p(c))),
            cpu.map_or("–".into(), |c| secs(c.median_s)),
            gpu.map_or("not run".into(), |g| secs(g.median_s)),
            match (cpu, gpu) {
                (Some(c), Some(g)) => ratio(Some(c.median_s / g.median_s)),
                _ => "–".into(),
            },
        ]);
    }
    t.notes.push("CPU / GPU above 1: the GPU is faster.".into());
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
        ("step ms", Align::Right),
        ("comm ms/step", Align::Right),
        ("comm %", Align::Right),
        ("speedup", Align::Right),
        ("efficiency", Align::Right),
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
            ms(c.step_s),
            ms(c.comm_step_s),
            percent(c.comm_share),
            ratio(c.speedup),
            ratio(c.efficiency),
            c.runs.to_string(),
        ]);
    }
    if let Some(c) = cells.first() {
        t.notes.push(format!(
            "N = {}; one rank per emulated host (a network namespace each, joined by a bridge); link: tcp unshaped, or \
             tcp-R with every host's outgoing traffic shaped to R by tc's token bucket; no latency is added. Medians \
             over runs of the mean step (rank 0, {} epochs of {} steps); comm: rank 0's time in the collectives; \
             speedup over the sequential cell of the same size.",
            c.n, c.epochs, c.iters
        ));
    }
    notes(&mut t, agg, &cells);
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
        ("time s", Align::Right),
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
            secs(c.median_s),
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
    }
}
