//! A cost model of one full-batch step, fitted to the measurements, and what it says beyond
//! them (issue 16, part 3). The model, per step:
//!
//! ```text
//! step(N, P) = a_H + c_H N / P  +  comm(bytes)        comm = alpha + bytes / beta
//! ```
//!
//! - compute: `a_H + c_H N` fitted by least squares to the sequential cells of each H (any
//!   table: every table's step is the same work per sample); a rank's share is N / P.
//! - communication: `alpha + bytes / beta` per (sync, transport, P), fitted to rank 0's
//!   time in the collectives per step over the cells' gradient sizes (bytes = 8 x the
//!   weights of H, f64 as every profile): shared memory from T3/T6, TCP links from T8.
//!
//! Every MPI cell with both fits is then predicted and set beside its measurement. The
//! extrapolation to P ranks uses the standard costs of the two collectives on P ranks (ring
//! allreduce: 2 (P - 1) alpha + 2 (P - 1) / P bytes / beta; gather then broadcast through
//! rank 0: 2 (P - 1) (alpha + bytes / beta)), which the 2-rank fits cannot test: it is a
//! model, labelled as one wherever it is shown.

use crate::cluster::Link;
use crate::model::Params;
use crate::report::aggregate::CellStats;
use crate::report::figures::{Chart, Series, point};
use crate::report::table::{Align, Table};
use crate::train::{Mode, SyncKind};

/// Bytes of the gradient of a network with `hidden` units (f64).
pub fn gradient_bytes(hidden: usize) -> f64 {
    8.0 * Params::<f64>::len_for(hidden) as f64
}

/// `(intercept, slope)` of the least-squares line through `points`, if at least two x differ.
pub fn least_squares(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if points.len() < 2 || sxx <= 0.0 {
        return None;
    }
    let slope = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx;
    Some((my - slope * mx, slope))
}

/// The least-squares line through `points` with a fixed part of zero or more: when the
/// free line's intercept is negative (a fixed cost below zero means the sizes did not
/// separate the fixed part from the noise), the line through the origin instead.
pub fn nonnegative_line(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let (intercept, slope) = least_squares(points)?;
    if intercept >= 0.0 {
        return Some((intercept, slope));
    }
    let sxx: f64 = points.iter().map(|p| p.0 * p.0).sum();
    Some((0.0, points.iter().map(|p| p.0 * p.1).sum::<f64>() / sxx))
}

/// Largest relative error of `f` over `points`.
fn max_relative_error(points: &[(f64, f64)], f: impl Fn(f64) -> f64) -> f64 {
    points.iter().map(|&(x, y)| ((f(x) - y) / y).abs()).fold(0.0, f64::max)
}

/// The sequential step of H hidden units: `fixed_s + per_sample_s N`.
#[derive(Debug, Clone, PartialEq)]
pub struct ComputeFit {
    pub hidden: usize,
    pub fixed_s: f64,
    pub per_sample_s: f64,
    /// Cells fitted, and the largest relative error of the line over them.
    pub points: usize,
    pub max_rel_error: f64,
}

impl ComputeFit {
    pub fn step_s(&self, samples: f64) -> f64 {
        self.fixed_s + self.per_sample_s * samples
    }
}

/// Where the ranks' collectives run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Transport {
    /// All ranks on one host: Open MPI's shared-memory transport.
    SharedMemory,
    /// One rank per (emulated) host, over this link.
    Link(Link),
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::SharedMemory => f.write_str("shared memory"),
            Transport::Link(link) => write!(f, "{link}"),
        }
    }
}

/// A collective's time per step: `latency_s + bytes / bytes_per_s`.
#[derive(Debug, Clone, PartialEq)]
pub struct CommFit {
    pub sync: SyncKind,
    pub transport: Transport,
    pub ranks: usize,
    pub latency_s: f64,
    pub bytes_per_s: f64,
    pub points: usize,
    pub max_rel_error: f64,
}

impl CommFit {
    pub fn comm_s(&self, bytes: f64) -> f64 {
        self.latency_s + bytes / self.bytes_per_s
    }
}

/// Compute fits, one per H with sequential cells at two sizes or more.
pub fn fit_compute(cells: &[&CellStats]) -> Vec<ComputeFit> {
    let mut hidden: Vec<usize> = cells.iter().filter(|c| c.mode == Mode::Seq).map(|c| c.hidden).collect();
    hidden.sort_unstable();
    hidden.dedup();
    hidden
        .into_iter()
        .filter_map(|h| {
            let points: Vec<(f64, f64)> = cells
                .iter()
                .filter(|c| c.mode == Mode::Seq && c.hidden == h && c.step_s.is_finite())
                .map(|c| (c.n as f64, c.step_s))
                .collect();
            let (fixed_s, per_sample_s) = nonnegative_line(&points)?;
            let max_rel_error = max_relative_error(&points, |n| fixed_s + per_sample_s * n);
            Some(ComputeFit { hidden: h, fixed_s, per_sample_s, points: points.len(), max_rel_error })
        })
        .collect()
}

fn transport_of(c: &CellStats) -> Transport {
    c.link.map_or(Transport::SharedMemory, Transport::Link)
}

/// Communication fits, one per (sync, transport, P > 1) with cells of two H or more.
pub fn fit_comm(cells: &[&CellStats]) -> Vec<CommFit> {
    let mut keys: Vec<(SyncKind, Transport, usize)> = cells
        .iter()
        .filter(|c| c.mode == Mode::Mpi && c.ranks > 1)
        .filter_map(|c| Some((c.sync?, transport_of(c), c.ranks)))
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|(sync, transport, ranks)| {
            let points: Vec<(f64, f64)> = cells
                .iter()
                .filter(|c| c.mode == Mode::Mpi && c.sync == Some(sync) && transport_of(c) == transport)
                .filter(|c| c.ranks == ranks && c.comm_step_s.is_finite())
                .map(|c| (gradient_bytes(c.hidden), c.comm_step_s))
                .collect();
            let (latency_s, seconds_per_byte) = nonnegative_line(&points)?;
            // A slope of zero or less: the sizes did not separate the cost from the noise.
            (seconds_per_byte > 0.0).then(|| CommFit {
                sync,
                transport,
                ranks,
                latency_s,
                bytes_per_s: 1.0 / seconds_per_byte,
                points: points.len(),
                max_rel_error: max_relative_error(&points, |b| latency_s + b * seconds_per_byte),
            })
        })
        .collect()
}

/// One MPI cell, measured and predicted.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub cell: String,
    pub measured_step_s: f64,
    pub predicted_step_s: f64,
}

impl Prediction {
    pub fn relative_error(&self) -> f64 {
        (self.predicted_step_s - self.measured_step_s) / self.measured_step_s
    }
}

/// Every MPI cell that both fits cover, predicted.
pub fn predict(cells: &[&CellStats], compute: &[ComputeFit], comm: &[CommFit]) -> Vec<Prediction> {
    cells
        .iter()
        .filter(|c| c.mode == Mode::Mpi && c.ranks > 1 && c.step_s.is_finite())
        .filter_map(|c| {
            let fit = compute.iter().find(|f| f.hidden == c.hidden)?;
            let sync = c.sync?;
            let link = comm.iter().find(|f| f.sync == sync && f.transport == transport_of(c) && f.ranks == c.ranks)?;
            let predicted = fit.step_s(c.n as f64 / c.ranks as f64) + link.comm_s(gradient_bytes(c.hidden));
            Some(Prediction { cell: c.cell.clone(), measured_step_s: c.step_s, predicted_step_s: predicted })
        })
        .collect()
}

/// A collective's cost on P ranks from its two-rank latency and bandwidth.
pub fn collective_s(sync: SyncKind, ranks: usize, latency_s: f64, bytes_per_s: f64, bytes: f64) -> f64 {
    let p = ranks as f64;
    if ranks <= 1 {
        return 0.0;
    }
    match sync {
        SyncKind::Allreduce => 2.0 * (p - 1.0) * latency_s + 2.0 * (p - 1.0) / p * bytes / bytes_per_s,
        SyncKind::GatherBcast => 2.0 * (p - 1.0) * (latency_s + bytes / bytes_per_s),
    }
}

/// The model's speedup at P ranks over one: `step(1) / step(P)`.
pub fn speedup(compute: &ComputeFit, samples: f64, ranks: usize, comm_s: f64) -> f64 {
    compute.step_s(samples) / (compute.step_s(samples / ranks as f64) + comm_s)
}

/// The P (a power of two up to `max_ranks`) of the largest modelled speedup, and that speedup.
pub fn best_ranks(max_ranks: usize, speedup_at: impl Fn(usize) -> f64) -> (usize, f64) {
    powers_of_two(max_ranks)
        .map(|p| (p, speedup_at(p)))
        .fold((1, 1.0), |best, (p, s)| if s > best.1 { (p, s) } else { best })
}

/// An interconnect of the extrapolation: a collective's latency and bandwidth between two
/// ranks, and where the figures come from.
#[derive(Debug, Clone, PartialEq)]
pub struct Interconnect {
    pub name: String,
    pub latency_s: f64,
    pub bytes_per_s: f64,
    pub source: String,
}

impl Interconnect {
    /// The modelled speedup of `sync` on `ranks` ranks of this interconnect.
    pub fn speedup(&self, compute: &ComputeFit, sync: SyncKind, samples: f64, ranks: usize) -> f64 {
        let comm = collective_s(sync, ranks, self.latency_s, self.bytes_per_s, gradient_bytes(compute.hidden));
        speedup(compute, samples, ranks, comm)
    }
}

/// 1, 2, 4, ... up to `max_ranks`.
fn powers_of_two(max_ranks: usize) -> impl Iterator<Item = usize> {
    std::iter::successors(Some(1usize), move |p| (p * 2 <= max_ranks).then_some(p * 2))
}

/// The three interconnects of the extrapolation: this machine's shared memory (fitted, if
/// the run has the cells), 1 GbE and 100 Gb/s InfiniBand-class (public figures).
pub fn interconnects(shared_memory: Option<&CommFit>) -> Vec<Interconnect> {
    let mut out = Vec::new();
    if let Some(f) = shared_memory {
        out.push(Interconnect {
            name: "shared memory (fitted)".into(),
            latency_s: f.latency_s,
            bytes_per_s: f.bytes_per_s,
            source: format!("this run's {} fit on {} ranks", f.sync, f.ranks),
        });
    }
    out.push(Interconnect {
        name: "1 GbE (TCP)".into(),
        latency_s: 50e-6,
        bytes_per_s: 1e9 / 8.0,
        source: "line rate; MPI over TCP on gigabit Ethernet has small-message latencies of tens of microseconds \
                 (Ismail et al., Point-to-Point Communication on Gigabit Ethernet and InfiniBand Networks, CCIS 254, 2011)"
            .into(),
    });
    out.push(Interconnect {
        name: "100 Gb/s InfiniBand-class".into(),
        latency_s: 1.5e-6,
        bytes_per_s: 100e9 / 8.0,
        source: "line rate; osu_latency about 1.1 us on InfiniBand (QLogic InfiniPath OFED manual, Benchmark 1), \
                 1.9 us on 40 Gb/s Ethernet with OS bypass (Squyres, Cisco blog, MPI over 40Gb Ethernet, 2014)"
            .into(),
    });
    out
}

/// Data sizes of the extrapolation: the study's 70,000 images, and 100 and 10,000 times more.
pub const EXTRAPOLATED_SAMPLES: [f64; 3] = [70_000.0, 7_000_000.0, 700_000_000.0];
/// The largest P of the extrapolation.
pub const MAX_RANKS: usize = 1024;

/// The fits of a set of cells and their predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub compute: Vec<ComputeFit>,
    pub comm: Vec<CommFit>,
    pub predictions: Vec<Prediction>,
}

impl Model {
    pub fn of(cells: &[&CellStats]) -> Self {
        let compute = fit_compute(cells);
        let comm = fit_comm(cells);
        let predictions = predict(cells, &compute, &comm);
        Self { compute, comm, predictions }
    }

    /// The compute fit the extrapolation uses: the study's H = 50 if fitted, else the first.
    fn study_compute(&self) -> Option<&ComputeFit> {
        self.compute.iter().find(|f| f.hidden == 50).or(self.compute.first())
    }

    fn shared_memory(&self) -> Option<&CommFit> {
        self.comm.iter().find(|f| f.transport == Transport::SharedMemory && f.sync == SyncKind::Allreduce)
    }

    /// The largest relative error of any prediction.
    pub fn worst_prediction(&self) -> Option<&Prediction> {
        self.predictions.iter().max_by(|a, b| a.relative_error().abs().total_cmp(&b.relative_error().abs()))
    }

    /// M1 (the fitted constants), M2 (every prediction beside its measurement), M3 (the
    /// extrapolation); each only where the cells allow it.
    pub fn tables(&self) -> Vec<Table> {
        let mut out = vec![self.fits_table()];
        if !self.predictions.is_empty() {
            out.push(self.predictions_table());
        }
        out.extend(self.extrapolation_table());
        out
    }

    fn fits_table(&self) -> Table {
        let cols = [
            ("term", Align::Left),
            ("of", Align::Left),
            ("fixed", Align::Right),
            ("rate", Align::Right),
            ("cells", Align::Right),
            ("max fit error %", Align::Right),
        ];
        let mut t = Table::new("M1", "model-fits", "Cost model: the constants fitted to the measurements", &cols);
        for f in &self.compute {
            t.push(vec![
                "compute".into(),
                format!("H={}", f.hidden),
                format!("{:.3} ms", 1e3 * f.fixed_s),
                format!("{:.3} us/sample", 1e6 * f.per_sample_s),
                f.points.to_string(),
                format!("{:.1}", 100.0 * f.max_rel_error),
            ]);
        }
        for f in &self.comm {
            t.push(vec![
                format!("{}", f.sync),
                format!("{}, P={}", f.transport, f.ranks),
                format!("{:.1} us", 1e6 * f.latency_s),
                format!("{:.3} Gbit/s", 8.0 * f.bytes_per_s / 1e9),
                f.points.to_string(),
                format!("{:.1}", 100.0 * f.max_rel_error),
            ]);
        }
        t.notes.push(
            "compute: a + c N per step, least squares over the sequential cells of each H (fixed a, rate c); a rank's \
             share is N / P. Collectives: alpha + bytes / beta per step, least squares over the cells' gradient sizes \
             (8 bytes per weight), rank 0's time in the collective (fixed alpha, rate beta)."
                .into(),
        );
        t
    }

    fn predictions_table(&self) -> Table {
        let cols = [
            ("cell", Align::Left),
            ("measured ms", Align::Right),
            ("predicted ms", Align::Right),
            ("error %", Align::Right),
        ];
        let mut t =
            Table::new("M2", "model-predictions", "Cost model: each MPI cell's step, measured and predicted", &cols);
        for p in &self.predictions {
            t.push(vec![
                p.cell.clone(),
                format!("{:.3}", 1e3 * p.measured_step_s),
                format!("{:.3}", 1e3 * p.predicted_step_s),
                format!("{:+.1}", 100.0 * p.relative_error()),
            ]);
        }
        t.notes.push("predicted = a + c N / P + alpha + bytes / beta, with the constants of M1.".into());
        t
    }

    fn extrapolation_table(&self) -> Option<Table> {
        let compute = self.study_compute()?;
        let cols = [
            ("interconnect", Align::Left),
            ("sync", Align::Left),
            ("N", Align::Right),
            ("best P", Align::Right),
            ("speedup there", Align::Right),
            ("speedup at P=1024", Align::Right),
        ];
        let mut t = Table::new(
            "M3",
            "model-extrapolation",
            "MODEL, not measurement: speedup by interconnect and data size, up to 1024 ranks",
            &cols,
        );
        let bytes = gradient_bytes(compute.hidden);
        let nets = interconnects(self.shared_memory());
        for net in &nets {
            for sync in [SyncKind::Allreduce, SyncKind::GatherBcast] {
                for &n in &EXTRAPOLATED_SAMPLES {
                    let at = |p: usize| net.speedup(compute, sync, n, p);
                    let (best, s) = best_ranks(MAX_RANKS, at);
                    t.push(vec![
                        net.name.clone(),
                        sync.to_string(),
                        format!("{n:.0}"),
                        best.to_string(),
                        format!("{s:.1}"),
                        format!("{:.1}", at(MAX_RANKS)),
                    ]);
                }
            }
        }
        t.notes.push(format!(
            "H = {}: compute a + c N / P from M1; collectives on P ranks: ring allreduce 2 (P - 1) alpha + 2 (P - 1) / P \
             bytes / beta, gather then broadcast through rank 0 2 (P - 1) (alpha + bytes / beta), {bytes:.0} bytes. \
             Best P: the power of two up to 1024 with the largest modelled speedup. Interconnects: {}.",
            compute.hidden,
            nets.iter().map(|n| format!("{}: alpha {:.1} us, beta {:.1} Gbit/s ({})", n.name, 1e6 * n.latency_s, 8.0 * n.bytes_per_s / 1e9, n.source)).collect::<Vec<_>>().join("; ")
        ));
        Some(t)
    }

    /// Modelled allreduce speedup against P for every interconnect and data size.
    pub fn chart(&self) -> Option<Chart> {
        let compute = self.study_compute()?;
        let mut chart = Chart::new(
            "fig-M3-model-speedup",
            "MODEL: allreduce speedup by ranks (N = 7e4, 7e6)",
            "P (ranks)",
            "modelled speedup",
        );
        chart.log_x = true;
        chart.log_y = true;

        // The largest size is within a few per cent of ideal on every interconnect (M3 says by
        // how much); six lines keep the palette's colours apart.
        for net in interconnects(self.shared_memory()) {
            for &n in &EXTRAPOLATED_SAMPLES[..2] {
                let points = powers_of_two(MAX_RANKS)
                    .map(|p| point(p as f64, net.speedup(compute, SyncKind::Allreduce, n, p)))
                    .collect();
                chart.series.push(Series { label: format!("{}, N={n:.0e}", net.name), points, reference: false });
            }
        }
        chart.series.push(Series {
            label: "ideal".into(),
            points: vec![point(1.0, 1.0), point(MAX_RANKS as f64, MAX_RANKS as f64)],
            reference: true,
        });
        Some(chart)
    }
}

/// `dpstudy model DIR... --out OUT`: the model of the cells of several results directories
/// (a cell id seen twice is taken from the first directory), its tables and figure written
/// into `OUT/tables` and `OUT/figures` (and into `paper_dir` too when given).
pub fn model_command(
    dirs: &[std::path::PathBuf],
    out: &std::path::Path,
    paper_dir: Option<&std::path::Path>,
) -> anyhow::Result<Model> {
    let mut cells: Vec<CellStats> = Vec::new();
    for dir in dirs {
        let agg = crate::report::aggregate::aggregate_dir(dir)?;
        for c in agg.cells {
            if !cells.iter().any(|k| k.cell == c.cell) {
                cells.push(c);
            }
        }
    }
    let refs: Vec<&CellStats> = cells.iter().collect();
    let model = Model::of(&refs);
    anyhow::ensure!(
        !model.compute.is_empty() || !model.comm.is_empty(),
        "{}: no sequential cells at two sizes and no MPI cells at two hidden sizes: nothing to fit (run T1, T3, T6 or T8)",
        dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    let mut targets = vec![out.to_path_buf()];
    targets.extend(paper_dir.map(std::path::Path::to_path_buf));
    let (tables, charts): (Vec<Table>, Vec<Chart>) = (model.tables(), model.chart().into_iter().collect());
    for target in &targets {
        crate::report::write_tables_and_figures(target, &tables, &charts)?;
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_recovers_a_line_and_refuses_a_single_x() {
        let (a, b) = least_squares(&[(1.0, 3.0), (2.0, 5.0), (4.0, 9.0)]).unwrap();
        assert!((a - 1.0).abs() < 1e-12 && (b - 2.0).abs() < 1e-12);
        assert_eq!(least_squares(&[(2.0, 3.0), (2.0, 5.0)]), None);
        assert_eq!(least_squares(&[(2.0, 3.0)]), None);
        // A negative intercept: the line through the origin instead.
        assert_eq!(nonnegative_line(&[(1.0, 3.0), (2.0, 5.0)]), Some((1.0, 2.0)));
        let (a, b) = nonnegative_line(&[(1.0, 1.0), (2.0, 3.0)]).unwrap();
        assert_eq!(a, 0.0);
        assert!((b - 7.0 / 5.0).abs() < 1e-12);
    }

    #[test]
    fn collectives_cost_what_their_textbook_formulas_say() {
        // Two ranks: allreduce sends the gradient once each way; gather-bcast twice through rank 0.
        let (alpha, beta, bytes) = (1e-5, 1e9, 1e6);
        assert!((collective_s(SyncKind::Allreduce, 2, alpha, beta, bytes) - (2e-5 + 1e-3)).abs() < 1e-15);
        assert!((collective_s(SyncKind::GatherBcast, 2, alpha, beta, bytes) - 2.0 * (1e-5 + 1e-3)).abs() < 1e-15);
        // Many ranks: the ring's bandwidth term approaches 2 bytes / beta; gather-bcast's grows with P.
        let ring = collective_s(SyncKind::Allreduce, 1024, 0.0, beta, bytes);
        assert!((ring - 2.0 * 1023.0 / 1024.0 * 1e-3).abs() < 1e-12);
        assert!(collective_s(SyncKind::GatherBcast, 1024, 0.0, beta, bytes) > 2000.0 * 1e-3);
        assert_eq!(collective_s(SyncKind::Allreduce, 1, alpha, beta, bytes), 0.0);
    }

    #[test]
    fn adding_ranks_stops_paying_where_communication_overtakes_the_shrinking_compute() {
        let compute = ComputeFit { hidden: 50, fixed_s: 0.0, per_sample_s: 1e-6, points: 2, max_rel_error: 0.0 };
        // 70,000 samples: 70 ms of compute; 1 ms latency per message pair.
        let at = |p: usize| speedup(&compute, 70_000.0, p, collective_s(SyncKind::Allreduce, p, 1e-3, 1e12, 0.0));
        let (p, s) = best_ranks(1024, at);
        // 0.07 / P + 0.002 (P - 1) is least near P = 6: the best power of two is 4 or 8.
        assert!(p == 4 || p == 8, "{p}");
        assert!(s > 2.0 && s < 8.0, "{s}");
        assert_eq!(best_ranks(1024, |_| 0.5), (1, 1.0), "no P helps: one rank");
    }
}
