//! The sequential trainer: full-batch (or mini-batch) gradient descent on one process.

use std::time::Instant;

use super::{EpochRecord, TrainConfig, TrainError};
use crate::data::{Samples, SamplesView};
use crate::model::Params;
use crate::model::kernel::PassStats;
use crate::model::threaded::ThreadedKernel;
use crate::real::Real;
use crate::rng::SplitMix64;

/// What a run returns besides the records: the trained weights.
pub struct Trained<T> {
    pub params: Params<T>,
    pub step_costs: Vec<f64>,
    pub epochs: Vec<EpochRecord>,
}

/// Draws mini-batches: consecutive slices of a seeded permutation of the rows, a fresh
/// permutation whenever fewer than `batch` rows are left in the current one.
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

    /// Row indices of the next batch.
    pub fn next_batch(&mut self) -> &[u32] {
        if self.next + self.batch > self.order.len() {
            self.rng.shuffle(&mut self.order);
            self.next = 0;
        }
        self.next += self.batch;
        &self.order[self.next - self.batch..self.next]
    }
}

/// Copies rows `indices` of `src` into `dst` (reusing its buffers).
pub fn gather<T: Real>(src: SamplesView<'_, T>, indices: &[u32], dst: &mut Samples<T>) {
    dst.features.clear();
    dst.labels.clear();
    for &i in indices {
        let i = i as usize;
        dst.features.extend_from_slice(&src.features[i * src.dim..(i + 1) * src.dim]);
        dst.labels.push(src.labels[i]);
    }
}

fn mean_cost(stats: PassStats) -> f64 {
    stats.cost_sum / stats.samples as f64
}

fn accuracy(stats: PassStats) -> f64 {
    stats.correct as f64 / stats.samples as f64
}

/// Trains from `init` on `train`, reporting per epoch; `test` is evaluated after each epoch
/// when it is not empty. `progress` receives each finished epoch (for stderr reporting).
pub fn train<T: Real>(
    config: &TrainConfig,
    init: &Params<T>,
    train: &Samples<T>,
    test: &Samples<T>,
    mut progress: impl FnMut(&EpochRecord),
) -> Result<Trained<T>, TrainError> {
    let mut params = init.clone();
    let mut grad = Params::zeros(config.hidden);
    let mut kernel = ThreadedKernel::new(config.hidden, config.threads);
    let mut batches = config.batch_size.map(|b| {
        (BatchStream::new(train.len(), b, config.seed), Samples { features: vec![], labels: vec![], dim: train.dim })
    });
    let mut step_costs = Vec::with_capacity(config.epochs * config.iters);
    let mut epochs = Vec::with_capacity(config.epochs);
    let mut iteration = 0;

    for epoch in 1..=config.epochs {
        let epoch_start = Instant::now();
        let mut compute_s = 0.0;
        for _ in 0..config.iters {
            iteration += 1;
            let step_start = Instant::now();
            let data = match batches.as_mut() {
                Some((stream, batch)) => {
                    gather(train.as_view(), stream.next_batch(), batch);
                    batch.as_view()
                }
                None => train.as_view(),
            };
            let stats = kernel.gradient(&params, data, &mut grad);
            let cost = mean_cost(stats);
            if !cost.is_finite() {
                return Err(TrainError::NonFiniteCost { iteration, cost });
            }
            params.descend(&grad, T::from_f64(config.lr / stats.samples as f64));
            compute_s += step_start.elapsed().as_secs_f64();
            step_costs.push(cost);
        }

        let eval_start = Instant::now();
        let train_stats = kernel.evaluate(&params, train.as_view());
        let cost = mean_cost(train_stats);
        if !cost.is_finite() {
            return Err(TrainError::NonFiniteCost { iteration, cost });
        }
        let test_stats = (!test.is_empty()).then(|| kernel.evaluate(&params, test.as_view()));
        let eval_s = eval_start.elapsed().as_secs_f64();
        let record = EpochRecord {
            epoch,
            iterations: config.iters,
            compute_s,
            eval_s,
            wall_s: epoch_start.elapsed().as_secs_f64(),
            cost,
            train_acc: accuracy(train_stats),
            test_cost: test_stats.map(mean_cost),
            test_acc: test_stats.map(accuracy),
        };
        progress(&record);
        epochs.push(record);
    }
    Ok(Trained { params, step_costs, epochs })
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
}
