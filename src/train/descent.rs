//! The gradient-descent loop every mode runs: full-batch (the study) or mini-batch steps,
//! epochs of `iters` steps, evaluation after each epoch. How a step's gradient is combined
//! and applied is the [`GradientSync`]'s business, so one loop serves the sequential, the
//! threads and the MPI modes.

use std::ops::Range;
use std::time::Instant;

use super::Reduction;
use super::sync::{GradientSync, RankTimes};
use super::{EpochRecord, TrainConfig, TrainError};
use crate::data::{Samples, SamplesView};
use crate::model::Params;
use crate::model::exact_sum::{ExactBlocks, ExactSum};
use crate::model::kernel::{KernelKind, PassStats};
use crate::model::row_split::ThreadedKernel;
use crate::real::Real;
use crate::rng::SplitMix64;

/// What a run returns besides the records: the trained weights.
pub struct Trained<T> {
    pub params: Params<T>,
    pub step_costs: Vec<f64>,
    pub epochs: Vec<EpochRecord>,
    /// The CPU kernel that computed the steps (`None`: the GPU's tensor step).
    pub kernel: Option<KernelKind>,
}

/// This process's rows of the training set: global rows `range` of `total`.
pub struct Shard<'a, T> {
    pub rows: &'a Samples<T>,
    pub range: Range<usize>,
    pub total: usize,
}

impl<'a, T: Real> Shard<'a, T> {
    /// The whole training set on one process.
    pub fn whole(rows: &'a Samples<T>) -> Self {
        Self { rows, range: 0..rows.len(), total: rows.len() }
    }
}

/// Draws mini-batches of global row indices: consecutive slices of a seeded permutation, a
/// fresh permutation whenever fewer than `batch` rows are left in the current one. Every
/// rank draws the same stream, so the global batch is the same for any number of ranks.
pub struct BatchStream {
    order: Vec<u32>,
    next: usize,
    batch: usize,
    rng: SplitMix64,
}

impl BatchStream {
    pub fn new(rows: usize, batch: usize, seed: u64) -> Self {
        let mut stream = Self {
            order: (0..rows as u32).collect(),
            next: 0,
            batch,
            rng: SplitMix64::for_purpose(seed, "mini-batch"),
        };
        stream.rng.shuffle(&mut stream.order);
        stream
    }

    /// Global row indices of the next batch.
    pub fn next_batch(&mut self) -> &[u32] {
        if self.next + self.batch > self.order.len() {
            self.rng.shuffle(&mut self.order);
            self.next = 0;
        }
        self.next += self.batch;
        &self.order[self.next - self.batch..self.next]
    }
}

/// Copies the rows of the global batch `indices` that this shard holds into `dst`.
pub fn gather_local<T: Real>(shard: &Shard<'_, T>, indices: &[u32], dst: &mut Samples<T>) {
    let src = shard.rows.as_view();
    dst.features.clear();
    dst.labels.clear();
    for &i in indices {
        let i = i as usize;
        if shard.range.contains(&i) {
            let local = i - shard.range.start;
            dst.features.extend_from_slice(&src.features[local * src.dim..(local + 1) * src.dim]);
            dst.labels.push(src.labels[local]);
        }
    }
}

pub(super) fn mean_cost(stats: PassStats) -> f64 {
    stats.cost_sum / stats.samples as f64
}

/// The mean cost, or the error that stops a diverged run at `iteration`.
pub(super) fn finite_cost(stats: PassStats, iteration: usize) -> Result<f64, TrainError> {
    super::finite(mean_cost(stats), iteration)
}

pub(super) fn accuracy(stats: PassStats) -> f64 {
    stats.correct as f64 / stats.samples as f64
}

/// Trains from `init` on this process's `shard`, combining gradients through `sync`.
/// `test` (rank 0's held-out rows; empty elsewhere) is evaluated after each epoch.
/// `progress` receives each epoch's record as it finishes (rank 0's times only); the
/// returned records hold every rank's times on rank 0.
pub fn train<T: Real, S: GradientSync<T>>(
    config: &TrainConfig,
    init: &Params<T>,
    shard: Shard<'_, T>,
    test: &Samples<T>,
    sync: &mut S,
    mut progress: impl FnMut(&EpochRecord),
) -> Result<Trained<T>, TrainError> {
    let mut params = init.clone();
    let mut grad = Params::zeros(config.hidden);
    let mut exact = (config.reduce == Reduction::Exact).then(|| Exact::new::<T>(config, &shard, test));
    let mut kernel = ThreadedKernel::with_kind(config.hidden, config.threads, kernel_for(config, &shard));
    let mut batches = config.batch_size.map(|b| {
        (
            BatchStream::new(shard.total, b, config.seed),
            Samples { features: vec![], labels: vec![], dim: shard.rows.dim },
        )
    });
    let mut step_costs = Vec::with_capacity(config.epochs * config.iters);
    let mut epochs = Vec::with_capacity(config.epochs);
    let mut rank_times = Vec::with_capacity(config.epochs);
    let mut iteration = 0;

    for epoch in 1..=config.epochs {
        let epoch_start = Instant::now();
        let mut times = RankTimes { rank: sync.rank(), ..RankTimes::default() };
        for _ in 0..config.iters {
            iteration += 1;
            let compute_start = Instant::now();
            let data: SamplesView<'_, T> = match batches.as_mut() {
                Some((stream, batch)) => {
                    gather_local(&shard, stream.next_batch(), batch);
                    batch.as_view()
                }
                None => shard.rows.as_view(),
            };
            let global = match exact.as_mut() {
                Some(e) => {
                    let local = kernel.exact_pass(&params, data, &e.train_blocks, true, &mut e.grad_sums);
                    times.compute_s += compute_start.elapsed().as_secs_f64();
                    sync.step_exact(&mut params, &mut e.grad_sums, &mut grad, local, config.lr, &mut times)
                }
                None => {
                    let local = kernel.gradient(&params, data, &mut grad);
                    times.compute_s += compute_start.elapsed().as_secs_f64();
                    sync.step(&mut params, &grad, local, config.lr, &mut times)
                }
            };
            step_costs.push(finite_cost(global, iteration)?);
        }

        let eval_start = Instant::now();
        let (train_stats, test_stats) = evaluate(&mut kernel, &params, (&shard, test), sync, exact.as_mut());
        let cost = finite_cost(train_stats, iteration)?;
        times.eval_s = eval_start.elapsed().as_secs_f64();
        times.wall_s = epoch_start.elapsed().as_secs_f64();
        let test = test_stats.map(|s| (mean_cost(s), accuracy(s)));
        let record = EpochRecord::one_process(epoch, config.iters, (cost, accuracy(train_stats)), test, times);
        progress(&record);
        epochs.push(record);
        rank_times.push(times);
    }

    if let Some(all) = sync.gather_times(&rank_times) {
        attach_rank_times(&mut epochs, &all);
    }
    Ok(Trained { params, step_costs, epochs, kernel: Some(kernel.kind()) })
}

/// Puts every rank's times (`all[rank][epoch]`, as rank 0 gathered them) into the epochs'
/// records, with the spread of their compute times.
pub fn attach_rank_times(epochs: &mut [EpochRecord], all: &[Vec<RankTimes>]) {
    for (e, record) in epochs.iter_mut().enumerate() {
        record.ranks = all.iter().map(|per_rank| per_rank[e]).collect();
        let compute = record.ranks.iter().map(|r| r.compute_s);
        record.compute_spread_s = compute.clone().fold(f64::MIN, f64::max) - compute.fold(f64::MAX, f64::min);
    }
}

/// The kernel a run's steps use. Under the float reduction, the faster one for the rows each
/// thread computes per step; under the exact one, the faster one for the whole training set,
/// which no split changes (every rank and thread count picks the same kernel, which the
/// exact reduction's bits depend on).
pub fn kernel_for<T: Real>(config: &TrainConfig, shard: &Shard<'_, T>) -> KernelKind {
    match config.reduce {
        Reduction::Exact => KernelKind::choose(config.hidden, shard.total),
        Reduction::Float => {
            let rows = config.batch_size.map_or(shard.rows.len(), |b| b * shard.rows.len() / shard.total.max(1));
            KernelKind::choose(config.hidden, rows / config.threads.max(1))
        }
    }
}

/// Cost and accuracy on the training rows (over every rank) and on `test` (this process's
/// held-out rows; none elsewhere), under the run's reduction.
fn evaluate<T: Real, S: GradientSync<T>>(
    kernel: &mut ThreadedKernel<T>,
    params: &Params<T>,
    (shard, test): (&Shard<'_, T>, &Samples<T>),
    sync: &mut S,
    exact: Option<&mut Exact>,
) -> (PassStats, Option<PassStats>) {
    match exact {
        Some(e) => {
            let local = kernel.exact_pass(params, shard.rows.as_view(), &e.train_blocks, false, &mut e.cost);
            let train = sync.reduce_stats_exact(&mut e.cost, local);
            let test = (!test.is_empty())
                .then(|| kernel.exact_pass(params, test.as_view(), &e.test_blocks, false, &mut e.cost));
            (train, test)
        }
        None => (
            sync.reduce_stats(kernel.evaluate(params, shard.rows.as_view())),
            (!test.is_empty()).then(|| kernel.evaluate(params, test.as_view())),
        ),
    }
}

/// The exact reduction's blocks and sums for one run (see [`crate::model::exact_sum`]).
struct Exact {
    /// This shard's blocks, relative to its first row, and the test rows' blocks.
    train_blocks: Vec<Range<usize>>,
    test_blocks: Vec<Range<usize>>,
    /// The gradient's values then the cost; one cost for the evaluations.
    grad_sums: ExactSum,
    cost: ExactSum,
}

impl Exact {
    fn new<T: Real>(config: &TrainConfig, shard: &Shard<'_, T>, test: &Samples<T>) -> Self {
        let blocks = ExactBlocks::for_rows(shard.total);
        Self {
            train_blocks: blocks.within(&shard.range),
            test_blocks: ExactBlocks::for_rows(test.len()).ranges(),
            grad_sums: ExactSum::new(Params::<T>::len_for(config.hidden) + 1),
            cost: ExactSum::new(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_each_permutation_before_reshuffling() {
        let mut s = BatchStream::new(10, 3, 5);
        let mut seen: Vec<u32> = (0..3).flat_map(|_| s.next_batch().to_vec()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 9, "three batches of one permutation are disjoint");
        assert_eq!(s.next_batch().len(), 3, "the fourth batch starts a new permutation");
    }

    #[test]
    fn shards_together_hold_each_batch_exactly_once() {
        let data = crate::data::synthetic::generate(10, 1).rows::<f64>(0..10).unwrap();
        let parts: Vec<Samples<f64>> = crate::data::partition(10, 3)
            .into_iter()
            .map(|r| Samples {
                features: data.features[r.start * data.dim..r.end * data.dim].to_vec(),
                labels: data.labels[r].to_vec(),
                dim: data.dim,
            })
            .collect();
        let ranges = crate::data::partition(10, 3);
        let batch: Vec<u32> = BatchStream::new(10, 4, 2).next_batch().to_vec();
        let mut rows = 0;
        for (part, range) in parts.iter().zip(ranges) {
            let shard = Shard { rows: part, range, total: 10 };
            let mut dst = Samples { features: vec![], labels: vec![], dim: data.dim };
            gather_local(&shard, &batch, &mut dst);
            rows += dst.len();
        }
        assert_eq!(rows, 4);
    }
}
