//! The two fits of the cost model, kept apart from what they predict: compute per H from
//! the sequential (and one-rank) cells, and each pattern per (transport, P) from a `commbench`
//! sweep; then the prediction of every MPI training cell, which neither fit has seen.

use super::line::LineFit;
pub use crate::cluster::Transport;
use crate::commbench::{CommBenchRecord, CommOp};
use crate::model::Params;
use crate::model::kernel::KernelKind;
use crate::report::aggregate::CellStats;
use crate::train::{Mode, Reduction};

/// How a step's work is split over ranks, which decides the compute a cell measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Split {
    /// Data parallelism: N / P rows of the sequential step per rank.
    Rows,
    /// Model parallelism (`--mode model`): H / P hidden units per rank, all the rows.
    HiddenUnits,
}

impl Split {
    /// The split of a cell's mode (`None`: a mode the model does not describe).
    pub fn of(mode: Mode) -> Option<Self> {
        match mode {
            Mode::Seq | Mode::Mpi => Some(Split::Rows),
            Mode::Model => Some(Split::HiddenUnits),
            _ => None,
        }
    }

    /// Bytes each rank's collective sums per step, in f64: the gradient (rows), or the
    /// output layer's inputs of every row (hidden units). Under the exact reduction the
    /// gradient travels as fixed-point limbs (three i64 per value) with the cost beside it.
    pub fn bytes(self, samples: usize, hidden: usize, reduce: Reduction) -> f64 {
        match (self, reduce) {
            (Split::Rows, Reduction::Float) => gradient_bytes(hidden),
            (Split::Rows, Reduction::Exact) => {
                8.0 * (crate::model::exact_sum::LIMBS * (Params::<f64>::len_for(hidden) + 1)) as f64
            }
            (Split::HiddenUnits, _) => 8.0 * crate::report::model_vs_data::model_numbers(samples) as f64,
        }
    }
}

/// Bytes of the gradient of a network with `hidden` units (f64).
pub fn gradient_bytes(hidden: usize) -> f64 {
    8.0 * Params::<f64>::len_for(hidden) as f64
}

/// The sweep's sizes a collective's line is fitted to: from 64 KiB (past Open MPI's
/// eager limits, so one protocol; below the study's smallest gradient, 82 KB at H = 25)
/// to the sweep's largest.
pub const FIT_MIN_BYTES: usize = 64 << 10;

/// The sequential step of H hidden units: `fixed + per_sample N`, fitted to the sequential
/// cells of that H whose runs have one shape (epochs x steps): a run of 5 steps carries its
/// first step's warm-up in its mean, a run of 40 steps hardly, so each shape is its own fit.
/// And each kernel: which one runs depends on H and the rows per process
/// ([`KernelKind::choose`]: at H = 1,600 on AVX-512 the portable one below 2,048 rows, the
/// fused one from there), so the time per sample jumps where the kernel changes, and one line
/// through both would put a rank's share on the wrong one.
#[derive(Debug, Clone, PartialEq)]
pub struct ComputeFit {
    /// The split whose compute this is: the rows' (the sequential step, which data
    /// parallelism divides) or the hidden units' (the hidden split's own products).
    pub split: Split,
    pub hidden: usize,
    pub epochs: usize,
    pub iters: usize,
    /// The reduction the cells summed with (the exact one costs a few per cent more).
    pub reduce: Reduction,
    /// The kernel the cells computed with (`None`: results that did not record it).
    pub kernel: Option<KernelKind>,
    pub line: LineFit,
}

impl ComputeFit {
    pub fn fixed_s(&self) -> f64 {
        self.line.intercept
    }

    pub fn per_sample_s(&self) -> f64 {
        self.line.slope
    }

    pub fn step_s(&self, samples: f64) -> f64 {
        self.line.at(samples)
    }
}

/// A pattern's time, `latency + bytes / rate`, fitted to a `commbench` sweep: the two
/// syncs of training, and the ping-pong whose constants the extrapolation builds on.
#[derive(Debug, Clone, PartialEq)]
pub struct CommFit {
    pub op: CommOp,
    pub transport: Transport,
    pub ranks: usize,
    pub line: LineFit,
    /// The sizes fitted, bytes.
    pub min_bytes: usize,
    pub max_bytes: usize,
}

impl CommFit {
    pub fn latency_s(&self) -> f64 {
        self.line.intercept
    }

    pub fn bytes_per_s(&self) -> f64 {
        1.0 / self.line.slope
    }

    pub fn comm_s(&self, bytes: f64) -> f64 {
        self.line.at(bytes)
    }
}

/// A cell's compute per step, if it measures one process's whole step: a sequential cell,
/// or an MPI (or hidden-split) cell of one rank without its (one-rank) collective.
fn compute_step_s(c: &CellStats) -> Option<f64> {
    let step = match (c.mode, c.ranks) {
        (Mode::Seq, _) => c.step_s,
        (Mode::Mpi | Mode::Model, 1) => c.step_s - if c.comm_step_s.is_finite() { c.comm_step_s } else { 0.0 },
        _ => return None,
    };
    (step.is_finite() && step > 0.0).then_some(step)
}

/// Compute fits, one per (split, H, epochs, steps, reduction, kernel) with sequential (or
/// one-rank MPI) cells: a line over N where they have two sizes, through the origin where
/// one (its interval the cell's own).
pub fn fit_compute(cells: &[&CellStats]) -> Vec<ComputeFit> {
    type Shape = (Split, usize, usize, usize, Reduction, Option<&'static str>);
    fn shape(c: &CellStats) -> Option<Shape> {
        Some((Split::of(c.mode)?, c.hidden, c.epochs, c.iters, c.reduce, c.kernel.map(KernelKind::as_str)))
    }
    let mut shapes: Vec<Shape> =
        cells.iter().filter(|c| compute_step_s(c).is_some()).filter_map(|c| shape(c)).collect();
    shapes.sort_unstable();
    shapes.dedup();
    shapes
        .into_iter()
        .filter_map(|key| {
            let (split, hidden, epochs, iters, reduce, _) = key;
            let mine: Vec<&&CellStats> = cells.iter().filter(|c| shape(c) == Some(key)).collect();
            let kernel = mine.first()?.kernel;
            let points: Vec<(f64, f64)> = mine.iter().filter_map(|c| Some((c.n as f64, compute_step_s(c)?))).collect();
            let distinct = points.iter().any(|p| p.0 != points[0].0);
            let line = match mine.iter().find(|c| compute_step_s(c).is_some()).and_then(|c| c.step()) {
                Some(e) if !distinct && points.len() == 1 && e.n >= 2 => {
                    let scale = points[0].1 / e.value;
                    LineFit::through_point(points[0].0, points[0].1, (e.low * scale, e.high * scale))?
                }
                _ => LineFit::of(&points)?,
            };
            Some(ComputeFit { split, hidden, epochs, iters, reduce, kernel, line })
        })
        .collect()
}

/// The compute fit for a cell: of its split and H, the one of its reduction, kernel and run
/// shape; failing the shape, the one of its reduction and kernel with the most points; then
/// its kernel's, then (results without kernels, or a kernel no one-rank cell ran) its H's.
fn compute_for<'a>(compute: &'a [ComputeFit], c: &CellStats) -> Option<&'a ComputeFit> {
    let split = Split::of(c.mode)?;
    let of_h: Vec<&'a ComputeFit> = compute.iter().filter(|f| f.split == split && f.hidden == c.hidden).collect();
    let pick = |keep: &dyn Fn(&ComputeFit) -> bool| -> Option<&'a ComputeFit> {
        let fits: Vec<&'a ComputeFit> = of_h.iter().copied().filter(|f| keep(f)).collect();
        let same_shape = fits.iter().copied().find(|f| (f.epochs, f.iters) == (c.epochs, c.iters));
        same_shape.or_else(|| fits.iter().copied().max_by_key(|f| f.line.points))
    };
    pick(&|f| f.kernel == c.kernel && f.reduce == c.reduce)
        .or_else(|| pick(&|f| f.kernel == c.kernel))
        .or_else(|| pick(&|_| true))
}

/// Communication fits, one per (pattern, transport, P) of every sweep with a named
/// transport and no wrong result.
pub fn fit_comm(records: &[CommBenchRecord]) -> Vec<CommFit> {
    let mut out = Vec::new();
    for record in records.iter().filter(|r| r.wrong() == 0) {
        let Some(transport) = record.transport else { continue };
        for op in CommOp::ALL {
            let points: Vec<(f64, f64)> = record
                .rows_of(op)
                .filter(|r| r.bytes >= FIT_MIN_BYTES && r.avg_s > 0.0)
                .map(|r| (r.bytes as f64, r.avg_s))
                .collect();
            let Some(line) = LineFit::of(&points) else { continue };
            if line.slope <= 0.0 {
                continue;
            }
            let (min_bytes, max_bytes) =
                points.iter().fold((usize::MAX, 0), |(lo, hi), p| (lo.min(p.0 as usize), hi.max(p.0 as usize)));
            out.push(CommFit { op, transport, ranks: record.ranks, line, min_bytes, max_bytes });
        }
    }
    out.sort_by_key(|a| (a.op, a.transport, a.ranks));
    out
}

/// One MPI cell, measured and predicted, each with its interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub cell: String,
    /// The cell's split: data parallelism's rows, or the hidden split's units.
    pub split: Split,
    pub measured_step_s: f64,
    /// The interval of the measured step's median over the cell's runs (95% from 6 runs;
    /// the range below), where the cell has two runs or more.
    pub measured_interval: Option<(f64, f64)>,
    pub predicted_step_s: f64,
    /// The sum of the two fits' 95% intervals at the cell's N / P and gradient size.
    pub predicted_interval: (f64, f64),
}

impl Prediction {
    pub fn relative_error(&self) -> f64 {
        (self.predicted_step_s - self.measured_step_s) / self.measured_step_s
    }

    /// How far the prediction lies outside the measured interval (the measured step itself
    /// where the cell has one run), over the measured step: zero inside it. What the
    /// measurement's own uncertainty cannot explain.
    pub fn error_beyond_interval(&self) -> f64 {
        let (lo, hi) = self.measured_interval.unwrap_or((self.measured_step_s, self.measured_step_s));
        let outside = if self.predicted_step_s < lo {
            self.predicted_step_s - lo
        } else if self.predicted_step_s > hi {
            self.predicted_step_s - hi
        } else {
            0.0
        };
        outside / self.measured_step_s
    }

    /// Whether the measured interval (or the measured step) meets the predicted interval
    /// (`None`: a fit of one point left the prediction without one).
    pub fn intervals_meet(&self) -> Option<bool> {
        let (lo, hi) = self.measured_interval.unwrap_or((self.measured_step_s, self.measured_step_s));
        let (plo, phi) = self.predicted_interval;
        (!plo.is_nan() && !phi.is_nan()).then_some(lo <= phi && plo <= hi)
    }
}

/// Every MPI cell that both fits cover, predicted: compute at 1 / P of the one-process step
/// of its split (data parallelism: N / P rows of the sequential step; the hidden split: H / P
/// units of its own one-rank step, which is the same fit at N / P), the collective at the
/// bytes it sums per step (the gradient; the hidden split's N x 10 logits, by allreduce)
/// from the sweep on its transport and P. Cells with more ranks than cores are left out:
/// their ranks share cores, which a compute of 1 / P per rank does not describe.
pub fn predict(cells: &[&CellStats], compute: &[ComputeFit], comm: &[CommFit]) -> Vec<Prediction> {
    cells
        .iter()
        .filter(|c| matches!(c.mode, Mode::Mpi | Mode::Model))
        .filter(|c| c.ranks > 1 && !c.oversubscribed && c.step_s.is_finite())
        .filter_map(|c| {
            let split = Split::of(c.mode)?;
            let fit = compute_for(compute, c)?;
            let op = match split {
                Split::Rows => CommOp::of_sync(c.sync?),
                Split::HiddenUnits => CommOp::of_sync(crate::train::SyncKind::Allreduce),
            };
            let transport = Transport::of_link(c.link);
            let link = comm.iter().find(|f| f.op == op && f.transport == transport && f.ranks == c.ranks)?;
            let (share, bytes) = (c.n as f64 / c.ranks as f64, split.bytes(c.n, c.hidden, c.reduce));
            let (clo, chi) = fit.line.interval_at(share);
            let (llo, lhi) = link.line.interval_at(bytes);
            let measured_interval = c.step().filter(|e| e.n >= 2).map(|e| (e.low, e.high));
            Some(Prediction {
                cell: c.cell.clone(),
                split,
                measured_step_s: c.step_s,
                measured_interval,
                predicted_step_s: fit.step_s(share) + link.comm_s(bytes),
                predicted_interval: (clo + llo, chi + lhi),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SourceLabel;
    use crate::experiment::plan::Cell;
    use crate::experiment::raw::{RawRow, RunKey, Status};
    use crate::real::Dtype;
    use crate::report::aggregate::Aggregate;
    use crate::train::SyncKind;

    /// Three rounds of a cell at H = 1,600 whose steps take `step_s` on the kernel it
    /// recorded, as raw.csv holds them (one row per rank).
    fn runs(mode: Mode, ranks: usize, n: usize, step_s: f64, kernel: Option<KernelKind>) -> Vec<RawRow> {
        let cell = Cell {
            n,
            hidden: 1600,
            test_n: 0,
            epochs: 1,
            iters: 5,
            mode,
            ranks,
            threads: 1,
            sync: (mode == Mode::Mpi).then_some(SyncKind::Allreduce),
            link: None,
            validation_n: 0,
            bagging: false,
            reduce: Reduction::Float,
        };
        let mut rows = Vec::new();
        for (rep, jitter) in [1.0, 1.01, 0.99].into_iter().enumerate() {
            let key = RunKey {
                profile: "t",
                cell: &cell,
                tables: &["T12".into()],
                dtype: Dtype::F64,
                oversubscribed: false,
                rep,
                warmup: false,
            };
            for rank in 0..ranks {
                let mut row = key.without_result(Status::Ok, "", SourceLabel::Mnist);
                (row.epoch, row.rank, row.iterations) = (Some(1), Some(rank), Some(5));
                (row.train_s, row.comm_s, row.wait_s) = (Some(5.0 * step_s * jitter), Some(0.0), Some(0.0));
                (row.cost, row.train_acc) = (Some(1.0), Some(0.5));
                row.kernel = kernel;
                rows.push(row);
            }
        }
        rows
    }

    /// The one-rank cells of a machine whose portable kernel takes 80 us a sample and whose
    /// fused one 60 (this study's H = 1,600 on AVX-512 switches at 2,048 rows), and a P = 2
    /// cell whose ranks (500 rows each) ran the portable one.
    fn cells(recorded: bool) -> Aggregate {
        let k = |kind| recorded.then_some(kind);
        let mut rows = runs(Mode::Seq, 1, 1000, 0.080, k(KernelKind::Gemm));
        rows.extend(runs(Mode::Mpi, 1, 2000, 0.160, k(KernelKind::Gemm)));
        rows.extend(runs(Mode::Seq, 1, 4000, 0.240, k(KernelKind::FusedAvx512)));
        rows.extend(runs(Mode::Mpi, 2, 1000, 0.040, k(KernelKind::Gemm)));
        Aggregate::of(&rows).unwrap()
    }

    #[test]
    fn a_ranks_share_is_computed_on_the_kernel_its_ranks_ran() {
        let agg = cells(true);
        let all: Vec<&CellStats> = agg.cells.iter().collect();
        let fits = fit_compute(&all);
        assert_eq!(fits.len(), 2, "one fit per kernel: {fits:?}");
        let p2 = all.iter().find(|c| c.ranks == 2).unwrap();
        assert_eq!(p2.kernel, Some(KernelKind::Gemm), "the aggregate keeps the kernel the runs recorded");
        let fit = compute_for(&fits, p2).unwrap();
        assert_eq!((fit.kernel, fit.line.points), (Some(KernelKind::Gemm), 2));
        let predicted = fit.step_s(500.0);
        assert!((predicted - 0.040).abs() < 0.002, "{predicted}");

        // Without the kernels, one line runs through both: its slope is the fused kernel's
        // and its intercept the gap, so the share of 500 rows comes out well above 40 ms.
        let blind = cells(false);
        let all: Vec<&CellStats> = blind.cells.iter().collect();
        let fits = fit_compute(&all);
        assert_eq!(fits.len(), 1);
        let p2 = all.iter().find(|c| c.ranks == 2).unwrap();
        let mixed = compute_for(&fits, p2).unwrap().step_s(500.0);
        assert!(mixed > 0.046, "{mixed}");
    }
}
