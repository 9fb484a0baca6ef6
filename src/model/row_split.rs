//! The kernel over T threads: the rows are cut into T contiguous chunks, each thread adds
//! its chunk's gradient into its own buffer, and the buffers are summed in thread order.
//! The result therefore depends on T but never on scheduling: same T, same bits.

use rayon::prelude::*;

use super::Params;
use super::exact_sum::{ExactSum, OutOfRange};
use super::kernel::{self, KernelKind, PassStats, Workspace};
use crate::data::{SamplesView, partition};
use crate::real::Real;

/// Per-thread scratch and gradient buffers, allocated once per run.
pub struct ThreadedKernel<T> {
    kind: KernelKind,
    workspaces: Vec<Workspace<T>>,
    partials: Vec<Params<T>>,
    /// The exact reduction's per-thread block gradient, and per-thread sums for each length
    /// asked for (the gradient's, the evaluation's one cost), allocated on first use.
    exact_grads: Vec<Params<T>>,
    exact_sums: Vec<Vec<ExactSum>>,
}

impl<T: Real> ThreadedKernel<T> {
    /// `threads` workers on rayon's global pool (sized by [`crate::thread_pools::configure`]),
    /// with the kernel [`KernelKind::choose`] picks for calls of about `rows` rows.
    pub fn new(hidden: usize, threads: usize, rows: usize) -> Self {
        Self::with_kind(hidden, threads, KernelKind::choose(hidden, rows / threads.max(1)))
    }

    /// With a chosen kernel (benchmarks and tests compare them).
    pub fn with_kind(hidden: usize, threads: usize, kind: KernelKind) -> Self {
        assert!(threads >= 1);
        Self {
            kind,
            workspaces: (0..threads).map(|_| Workspace::for_kind(hidden, kind)).collect(),
            partials: (0..threads.saturating_sub(1)).map(|_| Params::zeros(hidden)).collect(),
            exact_grads: vec![],
            exact_sums: vec![],
        }
    }

    /// The kernel (and instruction set) every thread runs.
    pub fn kind(&self) -> KernelKind {
        self.kind
    }

    pub fn threads(&self) -> usize {
        self.workspaces.len()
    }

    /// Overwrites `grad_sum` with the gradient summed over all rows of `x`.
    pub fn gradient(&mut self, params: &Params<T>, x: SamplesView<'_, T>, grad_sum: &mut Params<T>) -> PassStats {
        grad_sum.fill_zero();
        if self.threads() == 1 {
            return kernel::forward_backward(params, x, Some(grad_sum), &mut self.workspaces[0]);
        }
        let chunks = partition(x.len(), self.threads());
        let (first_ws, other_ws) = self.workspaces.split_first_mut().expect("threads >= 1");
        let mut stats = PassStats::default();
        let mut rest: Vec<PassStats> = vec![];
        rayon::join(
            || stats = kernel::forward_backward(params, x.rows(chunks[0].clone()), Some(grad_sum), first_ws),
            || {
                rest = other_ws
                    .par_iter_mut()
                    .zip(self.partials.par_iter_mut())
                    .zip(chunks[1..].par_iter())
                    .map(|((ws, g), range)| {
                        g.fill_zero();
                        kernel::forward_backward(params, x.rows(range.clone()), Some(g), ws)
                    })
                    .collect()
            },
        );
        for (partial, s) in self.partials.iter().zip(rest) {
            grad_sum.add_assign(partial);
            stats.merge(s);
        }
        stats
    }

    /// Cost and accuracy over all rows of `x`, no gradient.
    pub fn evaluate(&mut self, params: &Params<T>, x: SamplesView<'_, T>) -> PassStats {
        let chunks = partition(x.len(), self.threads());
        self.workspaces
            .par_iter_mut()
            .zip(chunks.par_iter())
            .map(|(ws, range)| kernel::forward_backward(params, x.rows(range.clone()), None, ws))
            .collect::<Vec<_>>()
            .into_iter()
            .fold(PassStats::default(), |mut acc, s| {
                acc.merge(s);
                acc
            })
    }

    /// The exact reduction's pass ([`crate::model::exact_sum`]): each of `blocks` (row
    /// ranges of `x`, whole global blocks) computed on its own by one thread, its gradient
    /// sum and cost (with `grad`; only the cost without) added exactly into `sums`: the
    /// gradient's values first, the cost last. The bits of `sums` depend on the blocks
    /// alone, not on the threads. A block value beyond the exact range (a diverged run)
    /// makes the returned cost NaN, which stops the run on every rank alike.
    pub fn exact_pass(
        &mut self,
        params: &Params<T>,
        x: SamplesView<'_, T>,
        blocks: &[std::ops::Range<usize>],
        grad: bool,
        sums: &mut ExactSum,
    ) -> PassStats {
        let hidden = params.hidden();
        let len = sums.len();
        let threads = self.threads();
        if self.exact_grads.len() != threads {
            self.exact_grads = (0..threads).map(|_| Params::zeros(hidden)).collect();
        }
        let slot = match self.exact_sums.iter().position(|sums| sums[0].len() == len) {
            Some(slot) => slot,
            None => {
                self.exact_sums.push((0..threads).map(|_| ExactSum::new(len)).collect());
                self.exact_sums.len() - 1
            }
        };
        let shares = partition(blocks.len(), self.threads());
        let results: Vec<Result<PassStats, OutOfRange>> = self
            .workspaces
            .par_iter_mut()
            .zip(self.exact_grads.par_iter_mut().zip(self.exact_sums[slot].par_iter_mut()))
            .zip(shares.par_iter())
            .map(|((ws, (g, sum)), share)| {
                sum.clear();
                let mut stats = PassStats::default();
                for block in &blocks[share.clone()] {
                    let block_stats = if grad {
                        g.fill_zero();
                        let s = kernel::forward_backward(params, x.rows(block.clone()), Some(g), ws);
                        sum.add(0, g.as_slice())?;
                        s
                    } else {
                        kernel::forward_backward(params, x.rows(block.clone()), None, ws)
                    };
                    sum.add(len - 1, &[block_stats.cost_sum])?;
                    stats.merge(block_stats);
                }
                Ok(stats)
            })
            .collect();
        sums.clear();
        let mut stats = PassStats::default();
        let mut in_range = true;
        for (result, sum) in results.into_iter().zip(&self.exact_sums[slot]) {
            match result {
                Ok(s) => stats.merge(s),
                Err(_) => in_range = false,
            }
            sums.merge(sum);
        }
        stats.cost_sum = if in_range { sums.value(len - 1) } else { f64::NAN };
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::exact_sum::ExactBlocks;
    use crate::model::init;

    /// The exact pass's sums over `rows` synthetic rows with `threads` threads and `kind`.
    fn exact_sums(rows: usize, hidden: usize, threads: usize, kind: KernelKind) -> ExactSum {
        let data = crate::data::synthetic::generate(rows, 3).rows::<f64>(0..rows).unwrap();
        let params = init::draw(hidden, 5);
        let mut kernel = ThreadedKernel::with_kind(hidden, threads, kind);
        let mut sums = ExactSum::new(Params::<f64>::len_for(hidden) + 1);
        let blocks = ExactBlocks::for_rows(rows).ranges();
        kernel.exact_pass(&params, data.as_view(), &blocks, true, &mut sums);
        sums
    }

    #[test]
    fn the_exact_pass_is_the_same_bits_for_any_thread_count_and_kernel_run() {
        // 50 rows: fewer than the 64 blocks (one row each), and 70 threads: more threads than
        // blocks; 1000 rows: blocks of 15 and 16 rows. H = 19 leaves a ragged tail in every
        // kernel's tiles. Each kernel is checked against itself: their bits differ.
        for rows in [50, 1000] {
            for kind in KernelKind::runnable() {
                let one = exact_sums(rows, 19, 1, kind);
                for threads in [2, 3, 70] {
                    assert!(exact_sums(rows, 19, threads, kind) == one, "{rows} rows, {kind:?}, {threads} threads");
                }
            }
        }
    }
}
