//! The two fits of the cost model, compute per H and communication per (sync, transport,
//! P), and the predictions of the MPI cells both cover.

use crate::cluster::Link;
use crate::model::Params;
use crate::report::aggregate::CellStats;
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
}
