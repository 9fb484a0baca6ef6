//! The kernel over T threads: the rows are cut into T contiguous chunks, each thread adds
//! its chunk's gradient into its own buffer, and the buffers are summed in thread order.
//! The result therefore depends on T but never on scheduling: same T, same bits.

use rayon::prelude::*;

use super::Params;
use super::kernel::{self, KernelKind, PassStats, Workspace};
use crate::data::{SamplesView, partition};
use crate::real::Real;

/// Per-thread scratch and gradient buffers, allocated once per run.
pub struct ThreadedKernel<T> {
    kind: KernelKind,
    workspaces: Vec<Workspace<T>>,
    partials: Vec<Params<T>>,
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
}
