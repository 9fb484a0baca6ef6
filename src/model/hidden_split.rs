//! Model parallelism's arithmetic: the hidden layer split over P ranks, each holding H/P
//! hidden units (its rows of theta1, its columns of theta2, and a copy of theta2's bias
//! column). Per step, for all N rows:
//!
//! ```text
//! A1_r = sigmoid(X W1_r^T + b1_r)       Z2_r = A1_r W2_r^T         (rank r, local)
//! Z2 = sum_r Z2_r + b2                                            (one allreduce of N x 10)
//! cost, D2 = sigmoid(Z2) - Y                                      (every rank, the same)
//! G2_r = [colsum D2 | D2^T A1_r]        G1_r = [colsum D1_r | D1_r^T X],
//! D1_r = (D2 W2_r) * A1_r * (1 - A1_r)                            (rank r, local)
//! ```
//!
//! so the step is the full-batch step of the whole network, and the only numbers that
//! cross ranks are Z2's N x 10 partial sums, whatever H is. Each rank's products are the
//! portable kernel's ([`super::kernel::gemm`]): the fused kernel runs a block of rows
//! through both layers at once, and the sum over ranks has to come between them. A1 of
//! every row is kept from the forward pass to the backward one (N x H/P per rank).
//!
//! One rank (P = 1) computes exactly what the `gemm` kernel computes in one process, in
//! the same order: the same bits.

use std::ops::Range;

use super::kernel::gemm::{BLOCK_ROWS, Block, backward, forward};
use super::kernel::output::{PassStats, output_layer};
use super::{OUTPUTS, Params, THETA1_COLS};
use crate::data::SamplesView;
use crate::real::Real;

/// The hidden units of each of `ranks` ranks: contiguous, the first `hidden % ranks` one
/// larger (as the rows are split in data parallelism).
pub fn units(hidden: usize, ranks: usize) -> Vec<Range<usize>> {
    crate::data::partition(hidden, ranks)
}

/// A rank's part of `full`: theta1's rows `units`, and theta2's bias column with its
/// columns of `units`, as a network of `units.len()` hidden units.
pub fn slice<T: Real>(full: &Params<T>, units: &Range<usize>) -> Params<T> {
    let (h, local) = (full.hidden(), units.len());
    let mut data = full.theta1()[units.start * THETA1_COLS..units.end * THETA1_COLS].to_vec();
    for row in full.theta2().chunks_exact(h + 1) {
        data.push(row[0]);
        data.extend_from_slice(&row[1 + units.start..1 + units.end]);
    }
    Params::from_flat(local, data).expect("a slice has the size of its units")
}

/// The whole network from every rank's part, in rank order (`parts[r]` holds `units[r]`);
/// theta2's bias column is rank 0's copy.
pub fn assemble<T: Real>(parts: &[Params<T>]) -> Params<T> {
    let hidden: usize = parts.iter().map(Params::hidden).sum();
    let mut data: Vec<T> = parts.iter().flat_map(|p| p.theta1().iter().copied()).collect();
    for o in 0..OUTPUTS {
        data.push(parts[0].theta2()[o * (parts[0].hidden() + 1)]);
        for p in parts {
            let row = &p.theta2()[o * (p.hidden() + 1)..(o + 1) * (p.hidden() + 1)];
            data.extend_from_slice(&row[1..]);
        }
    }
    Params::from_flat(hidden, data).expect("the parts add up to the network")
}

/// One rank's activations over all the rows of a pass.
#[derive(Debug, Clone)]
pub struct SliceWorkspace<T> {
    hidden: usize,
    /// A1 of each block of [`BLOCK_ROWS`] rows, column-major within its block.
    a1: Vec<T>,
    /// D1 of one block (the backward pass goes block by block).
    d1: Vec<T>,
}

impl<T: Real> SliceWorkspace<T> {
    /// Room for `rows` rows of a slice of `hidden` units.
    pub fn new(hidden: usize, rows: usize) -> Self {
        Self { hidden, a1: vec![T::ZERO; rows * hidden], d1: vec![T::ZERO; BLOCK_ROWS * hidden] }
    }

    /// The row blocks of `rows` rows: (first row, rows in the block).
    fn blocks(rows: usize) -> impl Iterator<Item = (usize, usize)> {
        (0..rows).step_by(BLOCK_ROWS).map(move |start| (start, BLOCK_ROWS.min(rows - start)))
    }

    /// The forward pass of this rank's units over `x`: writes its part of Z2 (rows x 10,
    /// row-major, without the output bias) into `z2` and keeps A1 for [`Self::backward`].
    pub fn partial_logits(&mut self, part: &Params<T>, x: SamplesView<'_, T>, z2: &mut [T]) {
        let h = part.hidden();
        assert_eq!(h, self.hidden, "workspace built for another slice");
        assert!(self.a1.len() >= x.len() * h && z2.len() == x.len() * OUTPUTS, "buffers for another row count");
        for (start, rows) in Self::blocks(x.len()) {
            let mut block = Block {
                xb: &x.features[start * x.dim..(start + rows) * x.dim],
                rows,
                a1: &mut self.a1[start * h..(start + rows) * h],
                z2: &mut z2[start * OUTPUTS..(start + rows) * OUTPUTS],
            };
            forward(part, &mut block);
        }
    }

    /// The backward pass of this rank's units: `d2` holds the output deltas of every row
    /// (what [`outputs`] left in Z2); adds this rank's gradient sums into `grad`.
    pub fn backward(&mut self, part: &Params<T>, x: SamplesView<'_, T>, d2: &mut [T], grad: &mut Params<T>) {
        let h = part.hidden();
        for (start, rows) in Self::blocks(x.len()) {
            let block = Block {
                xb: &x.features[start * x.dim..(start + rows) * x.dim],
                rows,
                a1: &mut self.a1[start * h..(start + rows) * h],
                z2: &mut d2[start * OUTPUTS..(start + rows) * OUTPUTS],
            };
            backward(part, &block, &mut self.d1[..rows * h], grad);
        }
    }
}

/// The output layer on the summed Z2 of every row (the same on every rank): adds the
/// bias, returns the cost sum and the correct predictions, and leaves D2 in `z2`. Block
/// by block, as the `gemm` kernel does, so that the sums run in its order.
pub fn outputs<T: Real>(part: &Params<T>, labels: &[u8], z2: &mut [T]) -> PassStats {
    let mut stats = PassStats { samples: labels.len(), ..PassStats::default() };
    for (start, rows) in SliceWorkspace::<T>::blocks(labels.len()) {
        let block = &mut z2[start * OUTPUTS..(start + rows) * OUTPUTS];
        output_layer(block, &labels[start..start + rows], part.theta2(), part.hidden(), &mut stats);
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernel::{self, KernelKind, Workspace};

    fn network(hidden: usize) -> Params<f64> {
        crate::model::init::draw(hidden, 3)
    }

    #[test]
    fn slices_put_back_together_are_the_network() {
        let full = network(7);
        for ranks in 1..=7 {
            let parts: Vec<_> = units(7, ranks).iter().map(|u| slice(&full, u)).collect();
            assert_eq!(
                parts.iter().map(Params::hidden).collect::<Vec<_>>(),
                units(7, ranks).iter().map(|u| u.len()).collect::<Vec<_>>()
            );
            assert_eq!(assemble(&parts), full, "{ranks} ranks");
        }
        // A slice's theta2 row starts with the bias and holds its units' columns.
        let part = slice(&full, &(2..4));
        assert_eq!(part.theta2()[0], full.theta2()[0]);
        assert_eq!(part.theta2()[1..3], full.theta2()[3..5]);
        assert_eq!(part.theta1(), &full.theta1()[2 * THETA1_COLS..4 * THETA1_COLS]);
    }

    /// The step of every rank's slice, the partial logits summed in rank order as an
    /// allreduce would: returns the cost sum and the gradient, assembled.
    fn split_step(full: &Params<f64>, x: SamplesView<'_, f64>, ranks: usize) -> (PassStats, Params<f64>) {
        let parts: Vec<_> = units(full.hidden(), ranks).iter().map(|u| slice(full, u)).collect();
        let mut spaces: Vec<_> = parts.iter().map(|p| SliceWorkspace::new(p.hidden(), x.len())).collect();
        let mut z2 = vec![0.0; x.len() * OUTPUTS];
        let mut partial = z2.clone();
        for (part, ws) in parts.iter().zip(&mut spaces) {
            ws.partial_logits(part, x, &mut partial);
            for (z, p) in z2.iter_mut().zip(&partial) {
                *z += p;
            }
        }
        let mut stats = None;
        let mut grads = vec![];
        for (part, ws) in parts.iter().zip(&mut spaces) {
            let mut d2 = z2.clone();
            let s = outputs(part, x.labels, &mut d2);
            assert!(stats.is_none_or(|t| t == s), "every rank computes the same cost");
            stats = Some(s);
            let mut grad = Params::zeros(part.hidden());
            ws.backward(part, x, &mut d2, &mut grad);
            grads.push(grad);
        }
        (stats.unwrap(), assemble(&grads))
    }

    #[test]
    fn one_rank_is_the_gemm_kernel_bit_for_bit() {
        let data = crate::data::synthetic::generate(700, 5).rows::<f64>(0..700).unwrap();
        let full = network(13);
        let mut grad = Params::zeros(13);
        let mut ws = Workspace::for_kind(13, KernelKind::Gemm);
        let stats = kernel::forward_backward(&full, data.as_view(), Some(&mut grad), &mut ws);
        let (split_stats, split_grad) = split_step(&full, data.as_view(), 1);
        assert_eq!(split_stats, stats);
        assert_eq!(split_grad, grad);
    }

    #[test]
    fn any_split_of_the_units_gives_the_full_gradient() {
        // 700 rows: two whole blocks and a tail; H = 13 divisible by none of the P here.
        let data = crate::data::synthetic::generate(700, 5).rows::<f64>(0..700).unwrap();
        let full = network(13);
        let (stats, grad) = split_step(&full, data.as_view(), 1);
        for ranks in [2, 3, 5, 13] {
            let (s, g) = split_step(&full, data.as_view(), ranks);
            assert_eq!((s.correct, s.samples), (stats.correct, stats.samples));
            assert!((s.cost_sum - stats.cost_sum).abs() <= 1e-12 * stats.cost_sum.abs(), "{ranks} ranks: cost");
            let diff = g.max_relative_diff(&grad, 1e-12);
            assert!(diff < 1e-9, "{ranks} ranks: the gradient differs by {diff:e}");
        }
    }
}
