//! Data parallelism against model parallelism: the table of kind `model-parallel`, its
//! figure and its claim read the same pairs, a model-parallel cell (`--mode model`, the
//! hidden units split over the ranks) beside the data-parallel allreduce cell of the same
//! work, P and transport.
//!
//! Per step, data parallelism moves the gradient, `H x 401 + 10 x (H + 1)` numbers
//! whatever N is; the hidden split moves the output layer's inputs, `N x 10` numbers
//! whatever H is. So by the byte count the hidden split moves fewer where
//! `N < (H x 401 + 10 x (H + 1)) / 10`, about 41 H. Which one is *faster* is measured:
//! the two also compute differently (the hidden split with the portable `gemm` products,
//! data parallelism with the kernel its result names), and a measured pair is decided on
//! the interval of its paired time ratio, never on one run.

use super::aggregate::CellStats;
use crate::model::{OUTPUTS, Params};
use crate::stats::Estimate;
use crate::train::{Mode, SyncKind};

/// Numbers data parallelism moves per step: the gradient of H hidden units.
pub fn data_numbers(hidden: usize) -> usize {
    Params::<f64>::len_for(hidden)
}

/// Numbers the hidden split moves per step: the output layer's inputs of N rows.
pub fn model_numbers(samples: usize) -> usize {
    samples * OUTPUTS
}

/// The N below which the hidden split moves fewer numbers per step than data parallelism.
pub fn crossover_n(hidden: usize) -> f64 {
    data_numbers(hidden) as f64 / OUTPUTS as f64
}

/// Which way of splitting a step was faster, decided on the interval of the pair's ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Winner {
    Model,
    Data,
    /// The interval covers 1 (or there is none): more runs would tell.
    Neither,
}

impl Winner {
    pub fn as_str(self) -> &'static str {
        match self {
            Winner::Model => "model",
            Winner::Data => "data",
            Winner::Neither => "neither (CI spans 1)",
        }
    }
}

/// A model-parallel cell and the data-parallel allreduce cell of the same work, P and
/// transport.
#[derive(Debug, Clone, Copy)]
pub struct Pair<'a> {
    pub data: &'a CellStats,
    pub model: &'a CellStats,
}

impl Pair<'_> {
    /// Whether the hidden split moves fewer numbers per step (the byte count's prediction).
    pub fn model_moves_less(&self) -> bool {
        model_numbers(self.model.n) < data_numbers(self.model.hidden)
    }

    /// The data-parallel time over the model-parallel one, round by round: above 1 the
    /// hidden split is faster.
    pub fn model_speedup(&self) -> Option<Estimate> {
        self.data.time_ratio(self.model)
    }

    /// The time of the one that moves more numbers over the other's: above 1 the byte count
    /// picked the faster one.
    pub fn fewer_numbers_speedup(&self) -> Option<Estimate> {
        if self.model_moves_less() { self.model_speedup() } else { self.model.time_ratio(self.data) }
    }

    pub fn winner(&self) -> Winner {
        match self.model_speedup() {
            Some(e) if e.n >= 2 && e.low > 1.0 => Winner::Model,
            Some(e) if e.n >= 2 && e.high < 1.0 => Winner::Data,
            _ => Winner::Neither,
        }
    }

    /// The link between the ranks, as the tables name it.
    pub fn transport(&self) -> String {
        self.model.link.map_or("shared memory".into(), |l| l.to_string())
    }
}

/// Every pair in `cells` with more than one rank, ordered by H, transport (fastest first),
/// P and N.
pub fn pairs<'a>(cells: &[&'a CellStats]) -> Vec<Pair<'a>> {
    let mut out: Vec<Pair<'a>> = cells
        .iter()
        .filter(|m| m.mode == Mode::Model && m.ranks > 1)
        .filter_map(|m| {
            let data = cells.iter().find(|d| {
                d.mode == Mode::Mpi
                    && d.sync == Some(SyncKind::Allreduce)
                    && d.work() == m.work()
                    && d.ranks == m.ranks
                    && d.link == m.link
            })?;
            Some(Pair { data, model: m })
        })
        .collect();
    out.sort_by_key(|p| (p.model.hidden, p.model.link.map(|l| l.fastest_first()), p.model.ranks, p.model.n));
    out
}

/// What the measured pairs of one H, transport and P say about the crossover: the largest
/// N where the hidden split won and the smallest where data parallelism won.
pub fn measured_crossover(group: &[Pair<'_>]) -> String {
    let model = group.iter().filter(|p| p.winner() == Winner::Model).map(|p| p.model.n).max();
    let data = group.iter().filter(|p| p.winner() == Winner::Data).map(|p| p.model.n).min();
    match (model, data) {
        (Some(m), Some(d)) if m < d => format!("model faster up to N = {m}, data from N = {d}"),
        (Some(m), Some(d)) => format!("no single crossover (model faster at N = {m}, data at N = {d})"),
        (Some(_), None) => "model faster at every N decided".into(),
        (None, Some(_)) => "data faster at every N decided".into(),
        (None, None) => "undecided at every N".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_count_crossover_is_about_41_h() {
        // The figures: 20,560 numbers at H = 50, 657,610 at H = 1,600.
        assert_eq!(data_numbers(50), 20_560);
        assert_eq!(data_numbers(1600), 657_610);
        assert_eq!(model_numbers(8000), 80_000);
        assert_eq!(crossover_n(50), 2056.0);
        assert_eq!(crossover_n(1600), 65_761.0);
    }
}
