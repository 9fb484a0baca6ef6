//! The paper's figures as data: one function per figure turns the aggregated cells into a
//! [`Chart`] (series of points with optional ranges), chosen by the table's kind. Drawing
//! them is [`draw`]'s business; writing the files is `report`'s.

pub mod draw;
mod labels;

use super::aggregate::{Aggregate, CellStats};
use super::study_tables::{crossover_pairs, weak_baseline};
use crate::experiment::manifest::TableKind;
use crate::stats::Estimate;
use crate::train::Mode;

/// One point; `range` (in y) and `x_range` (in x) are drawn as error bars, `note` as a
/// label beside it (the P of an ensembles point, which its axes do not show).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub range: Option<(f64, f64)>,
    pub x_range: Option<(f64, f64)>,
    pub note: Option<String>,
}

/// How a series' points and line look beside its colour, so that two series that differ
/// in one property (H in the epoch-time figure) differ in shape, not in hue alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Look {
    /// Solid line, filled circles.
    #[default]
    Solid,
    /// Dashed line, filled triangles.
    Dashed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<Point>,
    /// Reference lines (ideal speedup, ...) are dashed and grey.
    pub reference: bool,
    /// Series with the same colour key share a colour (`None`: a colour of its own).
    pub colour_key: Option<String>,
    pub look: Look,
}

impl Series {
    pub(crate) fn new(label: String, points: Vec<Point>) -> Self {
        Self { label, points, reference: false, colour_key: None, look: Look::Solid }
    }

    pub(crate) fn reference(label: &str, points: Vec<Point>) -> Self {
        Self { reference: true, ..Self::new(label.into(), points) }
    }
}

/// A figure as data.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File stem: `fig-T1-time-vs-size`.
    pub stem: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    /// The x axis counts something (P): label whole numbers only.
    pub integer_x: bool,
    /// A linear y axis starts at zero (times, whose proportions the eye compares); other
    /// linear axes start just below their data.
    pub y_from_zero: bool,
    pub series: Vec<Series>,
    /// Shown instead of axes when there is nothing to plot (for example: no GPU).
    pub message: Option<String>,
    /// The legend goes to the upper right, where the figure's points are not (a ratio that
    /// falls with N).
    pub legend_upper_right: bool,
}

impl Chart {
    pub(crate) fn new(stem: &str, title: &str, x_label: &str, y_label: &str) -> Self {
        Self {
            stem: stem.into(),
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_x: false,
            log_y: false,
            integer_x: false,
            y_from_zero: false,
            series: vec![],
            message: None,
            legend_upper_right: false,
        }
    }

    pub(crate) fn has_points(&self) -> bool {
        self.series.iter().any(|s| !s.reference && !s.points.is_empty())
    }

    /// The smallest and largest finite x of any point or error bar.
    pub fn x_extent(&self) -> (f64, f64) {
        extent(self.series.iter().flat_map(|s| {
            s.points.iter().flat_map(|p| [p.x].into_iter().chain(p.x_range.map(|r| r.0)).chain(p.x_range.map(|r| r.1)))
        }))
    }

    /// The smallest and largest finite y of any point or error bar.
    pub fn y_extent(&self) -> (f64, f64) {
        extent(self.series.iter().flat_map(|s| {
            s.points.iter().flat_map(|p| [p.y].into_iter().chain(p.range.map(|r| r.0)).chain(p.range.map(|r| r.1)))
        }))
    }
}

fn extent(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// The sync of an MPI cell, by name (empty for other modes).
fn sync_name(c: &CellStats) -> String {
    c.sync.map(|s| s.to_string()).unwrap_or_default()
}

pub(crate) fn point(x: f64, y: f64) -> Point {
    Point { x, y, range: None, x_range: None, note: None }
}

/// A median at `x` with its confidence interval as the error bar (`y` scaled by `scale`);
/// a NaN point (not drawn) without one.
fn estimate_point(x: f64, e: Option<Estimate>, scale: f64) -> Point {
    match e {
        Some(e) => Point { range: (e.n >= 2).then_some((scale * e.low, scale * e.high)), ..point(x, scale * e.value) },
        None => point(x, f64::NAN),
    }
}

/// What every timing figure's bars are.
const BARS: &str = "median, bars: 95% CI (below 6 runs: the range)";

/// Adds `p` to the series labelled `label`, starting it if there is none.
fn add_point(series: &mut Vec<Series>, label: String, p: Point) {
    match series.iter_mut().find(|s| s.label == label) {
        Some(s) => s.points.push(p),
        None => series.push(Series::new(label, vec![p])),
    }
}

/// A dashed line at y = 1 across the chart's x range (a ratio's break-even), if it has points.
fn line_at_one(chart: &mut Chart, label: &str) {
    if chart.has_points() {
        let (lo, hi) = chart.x_extent();
        chart.series.push(Series::reference(label, vec![point(lo, 1.0), point(hi, 1.0)]));
    }
}

/// Groups cells into series by `label`, points ordered by x.
fn series_by(
    cells: &[&CellStats],
    label: impl Fn(&CellStats) -> String,
    point: impl Fn(&CellStats) -> Point,
) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for c in cells {
        let l = label(c);
        let p = point(c);
        if !(p.x.is_finite() && p.y.is_finite()) {
            continue;
        }
        add_point(&mut out, l, p);
    }
    for s in &mut out {
        s.points.sort_by(|a, b| a.x.total_cmp(&b.x));
    }
    out
}

fn mode_p(c: &CellStats) -> String {
    let dagger = if c.oversubscribed { "†" } else { "" };
    if c.p() > 1 { format!("{} P={}{dagger}", c.label(), c.p()) } else { c.label() }
}

fn time_vs_size(agg: &Aggregate, id: &str) -> Chart {
    let cells: Vec<&CellStats> = agg.table(id).collect();
    let mut chart = Chart::new(
        &format!("fig-{id}-time-vs-size"),
        "Total training time by data size",
        "training samples N",
        &format!("time (s), {BARS}"),
    );
    chart.y_from_zero = true;
    chart.series = series_by(&cells, mode_p, |c| estimate_point(c.n as f64, c.time, 1.0));
    chart
}

fn epoch_time(agg: &Aggregate, id: &str) -> Chart {
    let cells: Vec<&CellStats> = agg.table(id).collect();
    let mut chart = Chart::new(
        &format!("fig-{id}-epoch-time"),
        "Time per epoch by data size",
        "training samples N",
        &format!("time per epoch (s), {BARS}"),
    );
    chart.y_from_zero = true;
    chart.series = series_by(
        &cells,
        |c| format!("{} H={}", mode_p(c), c.hidden),
        |c| estimate_point(c.n as f64, c.time, 1.0 / c.epochs as f64),
    );
    // The mode is the colour; H is the line and the marker (solid circles for the largest
    // H, dashed triangles for the others).
    let largest_h = cells.iter().map(|c| c.hidden).max().unwrap_or(0);
    for (series, cell) in chart.series.iter_mut().filter_map(|s| {
        let cell = cells.iter().find(|c| format!("{} H={}", mode_p(c), c.hidden) == s.label)?;
        Some((s, cell))
    }) {
        series.colour_key = Some(mode_p(cell));
        series.look = if cell.hidden == largest_h { Look::Solid } else { Look::Dashed };
    }
    chart
}

/// The ideal line from P = 1 (where it is 1) to the largest P of `cells`, where it is
/// `at_top(P)`.
fn ideal_line(cells: &[&CellStats], at_top: impl Fn(f64) -> f64) -> Series {
    let top = cells.iter().map(|c| c.p()).max().unwrap_or(1) as f64;
    Series::reference("ideal", vec![point(1.0, 1.0), point(top, at_top(top))])
}

fn speedup(agg: &Aggregate, id: &str) -> Chart {
    let cells: Vec<&CellStats> = agg.table(id).filter(|c| c.mode != Mode::Seq).collect();
    let mut chart = Chart::new(
        &format!("fig-{id}-speedup"),
        "Strong scaling: speedup over sequential",
        "P (ranks or threads)",
        &format!("speedup, {BARS}"),
    );
    chart.integer_x = true;
    chart.series = series_by(&cells, |c| c.label(), |c| estimate_point(c.p() as f64, c.speedup, 1.0));
    chart.series.push(ideal_line(&cells, |p| p));
    chart
}

fn efficiency(agg: &Aggregate, id: &str) -> Chart {
    let cells: Vec<&CellStats> = agg.table(id).filter(|c| c.mode != Mode::Seq).collect();
    let mut chart = Chart::new(
        &format!("fig-{id}-efficiency"),
        "Strong scaling: efficiency",
        "P (ranks or threads)",
        &format!("speedup / P, {BARS}"),
    );
    chart.integer_x = true;
    chart.series = series_by(&cells, |c| c.label(), |c| estimate_point(c.p() as f64, c.efficiency, 1.0));
    chart.series.push(ideal_line(&cells, |_| 1.0));
    chart
}

fn comm_share(agg: &Aggregate, id: &str) -> Chart {
    let cells: Vec<&CellStats> = agg.table(id).filter(|c| c.mode == Mode::Mpi).collect();
    let mut chart = Chart::new(
        &format!("fig-{id}-comm-share"),
        "Communication share of training time (MPI)",
        "P (ranks)",
        "share of time (%)",
    );
    chart.integer_x = true;
    chart.series =
        series_by(&cells, |c| format!("{} comm", sync_name(c)), |c| point(c.p() as f64, 100.0 * c.comm_share));
    chart.series.extend(series_by(
        &cells,
        |c| format!("{} wait", sync_name(c)),
        |c| point(c.p() as f64, 100.0 * c.wait_share),
    ));
    chart
}

fn weak_scaling(agg: &Aggregate, id: &str) -> Chart {
    let cells: Vec<&CellStats> = agg.table(id).collect();
    let mut chart = Chart::new(
        &format!("fig-{id}-weak-scaling"),
        "Weak scaling: N/P fixed",
        "P (ranks or threads)",
        &format!("weak efficiency, {BARS}"),
    );
    chart.integer_x = true;
    chart.series = series_by(
        &cells,
        |c| c.label(),
        |c| estimate_point(c.p() as f64, weak_baseline(&cells, c).and_then(|b| b.time_ratio(c)), 1.0),
    );
    chart.series.push(ideal_line(&cells, |_| 1.0));
    chart
}

fn sync_patterns(agg: &Aggregate, id: &str) -> Chart {
    let cells: Vec<&CellStats> = agg.table(id).collect();
    let mut chart = Chart::new(
        &format!("fig-{id}-sync-patterns"),
        "Allreduce versus gather-broadcast",
        "hidden units H",
        &format!("time per step (ms), {BARS}"),
    );
    chart.log_x = true;
    chart.log_y = true;
    chart.series = series_by(
        &cells,
        |c| format!("{} P={}", sync_name(c), c.p()),
        |c| estimate_point(c.hidden as f64, c.step(), 1e3),
    );
    chart
}

fn gpu_crossover(agg: &Aggregate, id: &str) -> Chart {
    let cells: Vec<&CellStats> = agg.table(id).collect();
    let mut chart = Chart::new(
        &format!("fig-{id}-gpu-crossover"),
        "GPU versus the fastest CPU mode",
        "training samples N",
        &format!("CPU time / GPU time (above 1: GPU faster), {BARS}"),
    );
    // Ratios from below 1 to tens: on a log axis the crossover at 1 stays visible.
    chart.log_x = true;
    chart.log_y = true;
    let pairs = crossover_pairs(&cells);
    let mut series: Vec<Series> = Vec::new();
    for (h, n, cpu, gpu) in pairs {
        if let (Some(c), Some(g)) = (cpu, gpu) {
            add_point(&mut series, format!("H={h}"), estimate_point(n as f64, c.unpaired_time_ratio(g), 1.0));
        }
    }
    chart.series = series;
    line_at_one(&mut chart, "parity");
    if !chart.has_points() {
        let reason = agg.gaps_of(id).find(|g| g.mode == Mode::Gpu).map_or("no GPU cells".into(), |g| g.reason.clone());
        chart.message = Some(format!("Not run: {reason}"));
    }
    chart
}

/// Where an unshaped link sits on the bandwidth axis when the run has no sweep of it to
/// say what it carries: above every shaped rate the tables use (the x label says so).
pub const UNSHAPED_AT_GBIT: f64 = 100.0;

/// What the run's sweep of the unshaped link measured: the largest allreduce bus bandwidth
/// between two hosts, in Gbit/s (`None`: no such sweep).
fn unshaped_gbit(agg: &Aggregate) -> Option<f64> {
    use crate::cluster::{Link, Transport};
    agg.commbench
        .iter()
        .filter(|r| r.transport == Some(Transport::Link(Link::Tcp)))
        .flat_map(|r| r.rows_of(crate::commbench::op::CommOp::Allreduce))
        .map(|row| 8.0 * row.busbw_gbs)
        .filter(|g| g.is_finite() && *g > 0.0)
        .reduce(f64::max)
}

fn network(agg: &Aggregate, id: &str) -> Chart {
    let cells: Vec<&CellStats> = agg.table(id).filter(|c| c.mode == Mode::Mpi && c.link.is_some()).collect();
    let measured = unshaped_gbit(agg);
    let unshaped_at = measured.unwrap_or(UNSHAPED_AT_GBIT);
    let x_label = match measured {
        Some(g) => format!("link bandwidth, Gbit/s (unshaped TCP at its measured {g:.1})"),
        None => format!("link bandwidth, Gbit/s (unshaped TCP, not measured, drawn at {UNSHAPED_AT_GBIT})"),
    };
    let mut chart = Chart::new(
        &format!("fig-{id}-network"),
        "Parallel efficiency by link between the hosts",
        &x_label,
        &format!("efficiency (speedup / P), {BARS}"),
    );
    chart.log_x = true;
    chart.series = series_by(
        &cells,
        |c| format!("H={} {} P={}", c.hidden, sync_name(c), c.p()),
        |c| {
            let x = c.link.and_then(|l| l.gbit_per_s()).unwrap_or(unshaped_at);
            estimate_point(x, c.efficiency, 1.0)
        },
    );
    if chart.has_points() {
        let (lo, hi) = chart.x_extent();
        chart.series.push(Series::reference("ideal", vec![point(lo, 1.0), point(hi, 1.0)]));
    }
    chart
}

/// Test accuracy against training time: one point per configuration of an ensembles table,
/// each series joined in order of P: the data-parallel model, the same with P times the
/// steps, the ensembles' average and stacked predictions and their best member, and the
/// bagged ensembles' average (the vote, within a point of the average, is in the table).
fn ensembles(agg: &Aggregate, id: &str) -> Chart {
    let mut cells: Vec<&CellStats> = agg.table(id).collect();
    cells.sort_by_key(|c| c.p());
    let mut chart = Chart::new(
        &format!("fig-{id}-ensembles"),
        "Test accuracy against training time: one model or an ensemble",
        "training time, s (median, bars: 95% CI, or the range below 6 runs); labels: P, † oversubscribed",
        "test accuracy",
    );
    let mut series: Vec<Series> = Vec::new();
    let mut add = |label: String, c: &CellStats, y: Option<f64>| {
        let Some(y) = y.filter(|y| y.is_finite()) else { return };
        let Some(time) = c.time.filter(|t| t.value.is_finite()) else { return };
        let note = format!("P={}{}", c.p(), if c.oversubscribed { "†" } else { "" });
        let p =
            Point { x_range: (time.n >= 2).then_some((time.low, time.high)), note: Some(note), ..point(time.value, y) };
        add_point(&mut series, label, p);
    };
    for c in &cells {
        match c.mode {
            Mode::Ensemble => {
                if c.bagging {
                    add("bagging: average".into(), c, c.average_test_acc);
                } else {
                    add("ensemble: average".into(), c, c.average_test_acc);
                    add("ensemble: stacked".into(), c, c.stacked_test_acc);
                    add("ensemble: best member".into(), c, c.best_member_test_acc);
                }
            }
            _ if super::study_tables::equal_budget(&cells, c) => {
                add(format!("{} (P x steps)", c.label()), c, c.final_test_acc)
            }
            _ => add(c.label(), c, c.final_test_acc),
        }
    }
    chart.series = series;
    chart
}

/// Data against model parallelism: the data-parallel time over the hidden split's, by N,
/// one series per H and link between the ranks; above 1 the hidden split is faster. The
/// byte count's crossover (N = 41 H) is in the table's notes.
fn model_parallel(agg: &Aggregate, id: &str) -> Chart {
    let cells: Vec<&CellStats> = agg.table(id).collect();
    let mut chart = Chart::new(
        &format!("fig-{id}-model-parallel"),
        "Hidden split against data parallelism, by N",
        "N (training rows)",
        "data-parallel time / hidden-split time (bars: 95% CI)",
    );
    chart.log_x = true;
    chart.log_y = true;
    chart.legend_upper_right = true;
    let pairs = super::model_vs_data::pairs(&cells);
    let mut series: Vec<Series> = Vec::new();
    for pair in &pairs {
        let label = format!("H={} {} P={}", pair.model.hidden, pair.transport(), pair.model.p());
        let p = estimate_point(pair.model.n as f64, pair.model_speedup(), 1.0);
        if p.y.is_finite() && p.y > 0.0 {
            add_point(&mut series, label, p);
        }
    }
    chart.series = series;
    line_at_one(&mut chart, "equal");
    chart
}

/// Every figure the tables of `agg` support, by table name.
pub fn charts(agg: &Aggregate, tables: &[(String, TableKind)]) -> Vec<Chart> {
    let mut out = Vec::new();
    for (id, kind) in tables {
        match kind {
            TableKind::TimeVsSize => out.push(time_vs_size(agg, id)),
            TableKind::EpochTime => out.push(epoch_time(agg, id)),
            TableKind::StrongScaling => out.extend(
                [speedup(agg, id), efficiency(agg, id), comm_share(agg, id)].map(|c| Chart { integer_x: true, ..c }),
            ),
            TableKind::WeakScaling => out.push(Chart { integer_x: true, ..weak_scaling(agg, id) }),
            TableKind::SyncPatterns => out.push(sync_patterns(agg, id)),
            TableKind::GpuCrossover => out.push(gpu_crossover(agg, id)),
            TableKind::Network => out.push(network(agg, id)),
            TableKind::Ensembles => out.push(ensembles(agg, id)),
            TableKind::ModelParallel => out.push(model_parallel(agg, id)),
            // The parity table's figures are numbers of equal value, the determinism table's
            // hashes: a table says it better.
            TableKind::Parity | TableKind::Determinism => {}
        }
    }
    for chart in &mut out {
        if chart.message.is_none() && !chart.has_points() {
            chart.message = Some("No measurements for this figure (see the table's notes).".into());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Link, Transport};
    use crate::commbench::op::CommOp;
    use crate::commbench::record::{CommBenchRecord, Row};

    fn sweep(transport: Transport, busbw_gbs: &[f64]) -> CommBenchRecord {
        let rows = busbw_gbs
            .iter()
            .enumerate()
            .map(|(i, &b)| Row {
                op: CommOp::Allreduce,
                bytes: 1 << (10 + i),
                iters: 10,
                min_s: 1e-3,
                avg_s: 1e-3,
                max_s: 1e-3,
                algbw_gbs: b,
                busbw_gbs: b,
                wrong: 0,
            })
            .collect();
        CommBenchRecord {
            format: 1,
            command: vec![],
            git_revision: String::new(),
            transport: Some(transport),
            ranks: 2,
            hosts: vec![],
            warmup: 1,
            budget_s: 1.0,
            rows,
        }
    }

    /// The unshaped link sits where its sweep measured it, not at a made-up rate; shaped
    /// links and shared memory do not count.
    #[test]
    fn the_unshaped_link_is_drawn_at_its_measured_rate() {
        let mut agg = Aggregate::of(&[]).unwrap();
        assert_eq!(unshaped_gbit(&agg), None);
        agg.commbench = vec![
            sweep(Transport::SharedMemory, &[5.0]),
            sweep(Transport::Link(Link::TcpShaped { mbit_per_s: 100 }), &[0.0125]),
            sweep(Transport::Link(Link::Tcp), &[0.2, 0.825, 0.7]),
        ];
        let measured = unshaped_gbit(&agg).unwrap();
        assert!((measured - 6.6).abs() < 1e-9, "{measured}");
    }
}
