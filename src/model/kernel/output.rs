//! The output layer of a block of rows, which both kernels share (the products before
//! it differ, the per-row softplus cost, accuracy and output deltas do not), and the sums
//! a pass reports.

use crate::model::OUTPUTS;
use crate::real::Real;

/// Sums over the samples a pass visited.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PassStats {
    /// Sum over samples of the per-sample cost (divide by the sample count for the cost).
    pub cost_sum: f64,
    /// Samples whose largest output is at their label.
    pub correct: usize,
    pub samples: usize,
}

impl PassStats {
    pub fn merge(&mut self, other: PassStats) {
        self.cost_sum += other.cost_sum;
        self.correct += other.correct;
        self.samples += other.samples;
    }
}

#[inline(always)]
pub(super) fn sigmoid<T: Real>(z: T) -> T {
    T::ONE / (T::ONE + (T::ZERO - z).exp())
}

/// The output layer of a block, shared by both kernels: adds the biases to `z2` (rows x
/// 10), adds the block's cost and correct predictions to `stats`, and replaces `z2` by
/// the output deltas `D2 = sigmoid(Z2) - Y`.
///
/// Four rows at a time (40 outputs, whole SIMD vectors in f32 and f64) go through one
/// branch-free pass the compiler vectorises; the label-dependent parts stay per row.
#[inline(always)]
pub(crate) fn output_layer<T: Real>(z2: &mut [T], labels: &[u8], theta2: &[T], hidden: usize, stats: &mut PassStats) {
    const ROWS: usize = 4;
    const N: usize = ROWS * OUTPUTS;
    let h1 = hidden + 1;
    let done = z2.len() / N * ROWS;
    let bias: [T; N] = std::array::from_fn(|e| theta2[(e % OUTPUTS) * h1]);
    let mut chunks = z2.chunks_exact_mut(N);
    for (chunk, labels) in (&mut chunks).zip(labels.chunks_exact(ROWS)) {
        let chunk: &mut [T; N] = chunk.try_into().expect("chunks_exact");
        for (z, b) in chunk.iter_mut().zip(&bias) {
            *z += *b;
        }
        let mut label_z = [T::ZERO; ROWS];
        for (r, &label) in labels.iter().enumerate() {
            let row = &chunk[r * OUTPUTS..(r + 1) * OUTPUTS];
            stats.correct += usize::from(argmax(row) == usize::from(label));
            label_z[r] = row[usize::from(label)];
        }
        // e = e^-|z|: softplus(z) = max(z, 0) + ln(1 + e); sigmoid(z) = 1 / (1 + e) for
        // z >= 0 and e / (1 + e) otherwise. One exp serves both.
        let mut softplus = [T::ZERO; N];
        for (z, sp) in chunk.iter_mut().zip(softplus.iter_mut()) {
            let e = (T::ZERO - z.abs()).exp();
            let positive = if *z > T::ZERO { *z } else { T::ZERO };
            *sp = positive + e.ln_1p_unit();
            let inv = T::ONE / (T::ONE + e);
            *z = if *z >= T::ZERO { inv } else { e * inv };
        }
        for (r, &label) in labels.iter().enumerate() {
            let row_cost = softplus[r * OUTPUTS..(r + 1) * OUTPUTS].iter().fold(0.0, |acc, &v| acc + v.to_f64());
            stats.cost_sum += row_cost - label_z[r].to_f64();
            chunk[r * OUTPUTS + usize::from(label)] -= T::ONE;
        }
    }
    for (row, &label) in chunks.into_remainder().chunks_exact_mut(OUTPUTS).zip(&labels[done..]) {
        output_row(row, label, theta2, h1, stats);
    }
}

/// [`output_layer`] for one row (the rows after the last group of four).
#[inline(always)]
fn output_row<T: Real>(row: &mut [T], label: u8, theta2: &[T], h1: usize, stats: &mut PassStats) {
    for (o, z) in row.iter_mut().enumerate() {
        *z += theta2[o * h1];
    }
    let label = usize::from(label);
    stats.correct += usize::from(argmax(row) == label);
    let mut cost = -row[label].to_f64();
    for (o, z) in row.iter_mut().enumerate() {
        let e = (T::ZERO - z.abs()).exp();
        let positive = if *z > T::ZERO { *z } else { T::ZERO };
        cost += (positive + e.ln_1p_unit()).to_f64();
        let inv = T::ONE / (T::ONE + e);
        *z = if *z >= T::ZERO { inv } else { e * inv } - if o == label { T::ONE } else { T::ZERO };
    }
    stats.cost_sum += cost;
}

/// Index of the first largest entry.
#[inline(always)]
fn argmax<T: Real>(row: &[T]) -> usize {
    let mut best = 0;
    for (o, &z) in row.iter().enumerate().skip(1) {
        if z > row[best] {
            best = o;
        }
    }
    best
}
