//! How a step's locally computed gradient becomes the update: alone (one process), or
//! combined across MPI ranks. The descent loop ([`super::descent`]) is the same for every
//! mode; only this part differs.

use std::time::Instant;

use crate::model::Params;
use crate::model::exact_sum::ExactSum;
use crate::model::kernel::PassStats;
use crate::real::Real;

/// Where one rank's time went in one epoch, in seconds. Phases are separated by barriers,
/// so waiting for a slower rank is never counted as communication.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RankTimes {
    pub rank: usize,
    /// Forward and backward pass over the rank's rows.
    pub compute_s: f64,
    /// Waiting at the barrier before the collective: the load imbalance between ranks.
    pub wait_s: f64,
    /// The collectives themselves (0 for a single process).
    pub comm_s: f64,
    /// Applying the update to the weights.
    pub update_s: f64,
    /// Measuring cost and accuracy after the epoch (not part of training proper).
    pub eval_s: f64,
    /// The whole epoch on this rank.
    pub wall_s: f64,
}

impl RankTimes {
    /// Fields in a fixed order, for sending through a collective.
    pub const FIELDS: usize = 6;

    pub fn to_array(self) -> [f64; Self::FIELDS] {
        [self.compute_s, self.wait_s, self.comm_s, self.update_s, self.eval_s, self.wall_s]
    }

    pub fn from_array(rank: usize, a: &[f64]) -> Self {
        Self { rank, compute_s: a[0], wait_s: a[1], comm_s: a[2], update_s: a[3], eval_s: a[4], wall_s: a[5] }
    }
}

/// Combines local gradient sums and applies the update.
pub trait GradientSync<T: Real> {
    /// This process's rank (0 for a single process).
    fn rank(&self) -> usize;
    /// Turns `grad` (this rank's gradient sum) and `local` stats into the global update of
    /// `params` with learning rate `lr`; returns the global stats. Adds the time of the
    /// wait, the communication and the update to `times`.
    fn step(
        &mut self,
        params: &mut Params<T>,
        grad: &Params<T>,
        local: PassStats,
        lr: f64,
        times: &mut RankTimes,
    ) -> PassStats;
    /// Sums evaluation stats over the ranks.
    fn reduce_stats(&mut self, local: PassStats) -> PassStats;
    /// The step of the exact reduction: `sums` (this rank's gradient values, then its cost,
    /// kept exactly) summed over the ranks as integers, written into `grad` (scratch) and
    /// applied; the global stats' cost is the exact one.
    fn step_exact(
        &mut self,
        params: &mut Params<T>,
        sums: &mut ExactSum,
        grad: &mut Params<T>,
        local: PassStats,
        lr: f64,
        times: &mut RankTimes,
    ) -> PassStats;
    /// Sums evaluation stats over the ranks, the cost (`cost`, one exact value) exactly.
    fn reduce_stats_exact(&mut self, cost: &mut ExactSum, local: PassStats) -> PassStats;
    /// Every rank's per-epoch phase times, on rank 0 (indexed by rank); `None` elsewhere.
    fn gather_times(&mut self, local: &[RankTimes]) -> Option<Vec<Vec<RankTimes>>>;
}

/// One process: the local gradient is the global one.
pub struct Local;

impl<T: Real> GradientSync<T> for Local {
    fn rank(&self) -> usize {
        0
    }

    fn step(
        &mut self,
        params: &mut Params<T>,
        grad: &Params<T>,
        local: PassStats,
        lr: f64,
        times: &mut RankTimes,
    ) -> PassStats {
        let t = Instant::now();
        params.descend_mean(grad, lr, local.samples);
        times.update_s += t.elapsed().as_secs_f64();
        local
    }

    fn reduce_stats(&mut self, local: PassStats) -> PassStats {
        local
    }

    fn step_exact(
        &mut self,
        params: &mut Params<T>,
        sums: &mut ExactSum,
        grad: &mut Params<T>,
        local: PassStats,
        lr: f64,
        times: &mut RankTimes,
    ) -> PassStats {
        let t = Instant::now();
        // A NaN cost (a block beyond the exact range) stops the run after this step.
        if local.cost_sum.is_finite() {
            apply_exact(params, sums, grad, lr, local.samples);
        }
        times.update_s += t.elapsed().as_secs_f64();
        local
    }

    fn reduce_stats_exact(&mut self, _cost: &mut ExactSum, local: PassStats) -> PassStats {
        local
    }

    fn gather_times(&mut self, local: &[RankTimes]) -> Option<Vec<Vec<RankTimes>>> {
        Some(vec![local.to_vec()])
    }
}

/// Writes the exact gradient sums (all of `sums` but the last value, the cost) into `grad`
/// and takes the step: the same few float operations on the same integers, on any rank.
pub fn apply_exact<T: Real>(params: &mut Params<T>, sums: &ExactSum, grad: &mut Params<T>, lr: f64, samples: usize) {
    sums.write(0, grad.as_mut_slice());
    params.descend_mean(grad, lr, samples);
}
