//! The stacked meta-learner: a multinomial logistic regression (softmax over the 10
//! classes) whose inputs are the members' probabilities side by side (10 P features and a
//! bias), fitted by dpstudy itself on the validation rows with full-batch gradient descent
//! on the mean cross-entropy. Deterministic: zero initial weights, a fixed step count, and
//! a step size from the data (below).

use crate::linalg::{Layout, gemm};
use crate::model::OUTPUTS;

/// Gradient steps of the fit.
pub const STEPS: usize = 500;

/// A fitted stacker: weights `OUTPUTS x (1 + inputs)`, bias first, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Stacker {
    inputs: usize,
    weights: Vec<f64>,
}

/// The members' probabilities of the same rows side by side, with a leading 1 for the bias:
/// rows x (1 + 10 P).
fn design(members: &[Vec<f64>]) -> (Vec<f64>, usize) {
    let rows = members[0].len() / OUTPUTS;
    let cols = 1 + OUTPUTS * members.len();
    let mut x = Vec::with_capacity(rows * cols);
    for i in 0..rows {
        x.push(1.0);
        for m in members {
            x.extend_from_slice(&m[i * OUTPUTS..(i + 1) * OUTPUTS]);
        }
    }
    (x, cols)
}

/// `softmax(X W^T)` into `z` (rows x 10) for the design matrix `x` (rows x `cols`) and
/// `weights` (10 x `cols`, row-major).
fn class_probabilities(x: &[f64], cols: usize, weights: &[f64], z: &mut [f64]) {
    let rows = x.len() / cols;
    gemm(
        z,
        Layout::row_major(rows, OUTPUTS),
        false,
        (x, Layout::row_major(rows, cols)),
        (weights, Layout::col_major(cols, OUTPUTS)),
        1,
    );
    softmax_rows(z);
}

/// Row-wise softmax in place (shifted by the row's maximum).
fn softmax_rows(z: &mut [f64]) {
    for row in z.chunks_exact_mut(OUTPUTS) {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        row.iter_mut().for_each(|v| *v /= sum);
    }
}

impl Stacker {
    /// Fits on the members' probabilities of the validation rows and their labels.
    ///
    /// The step size is 1/L with L = max_i |x_i|^2 / 2, a bound on the curvature of the mean
    /// softmax cross-entropy (the softmax's Jacobian has norm at most 1/2), so every step
    /// descends, whatever P and the probabilities are.
    pub fn fit(members: &[Vec<f64>], labels: &[u8]) -> Self {
        let (x, cols) = design(members);
        let rows = labels.len();
        assert_eq!(x.len(), rows * cols, "the members' probabilities and the labels cover the same rows");
        let largest = x.chunks_exact(cols).map(|r| r.iter().map(|v| v * v).sum::<f64>()).fold(0.0, f64::max);
        let step = 2.0 / largest.max(1.0);
        let mut weights = vec![0.0; OUTPUTS * cols];
        let mut z = vec![0.0; rows * OUTPUTS];
        let mut grad = vec![0.0; OUTPUTS * cols];
        for _ in 0..STEPS {
            // P = softmax(X W^T); grad = (P - Y)^T X / rows.
            class_probabilities(&x, cols, &weights, &mut z);
            for (row, &label) in z.chunks_exact_mut(OUTPUTS).zip(labels) {
                row[usize::from(label)] -= 1.0;
            }
            gemm(
                &mut grad,
                Layout::row_major(OUTPUTS, cols),
                false,
                (&z, Layout::col_major(OUTPUTS, rows)),
                (&x, Layout::row_major(rows, cols)),
                1,
            );
            let scale = step / rows as f64;
            for (w, g) in weights.iter_mut().zip(&grad) {
                *w -= scale * g;
            }
        }
        Self { inputs: cols - 1, weights }
    }

    /// The stacker's class probabilities (rows x 10) for the members' probabilities of
    /// some rows.
    pub fn predict(&self, members: &[Vec<f64>]) -> Vec<f64> {
        let (x, cols) = design(members);
        assert_eq!(cols - 1, self.inputs, "the stacker was fitted on {} members", self.inputs / OUTPUTS);
        let mut z = vec![0.0; x.len() / cols * OUTPUTS];
        class_probabilities(&x, cols, &self.weights, &mut z);
        z
    }
}

#[cfg(test)]
mod tests {
    use super::super::combine::{accuracy, argmax_rows, average};
    use super::*;

    /// A member that is right about `good` classes and says class 0 for the others.
    fn member(labels: &[u8], good: &[u8]) -> Vec<f64> {
        labels
            .iter()
            .flat_map(|&l| {
                let said = if good.contains(&l) { l } else { 0 };
                (0..OUTPUTS as u8).map(move |k| if k == said { 0.7 } else { 0.03 })
            })
            .collect()
    }

    #[test]
    fn the_stacker_learns_which_member_to_trust_for_which_class() {
        // Member A knows classes 0-4 (and says 0 otherwise), member B knows 5-9 (and says
        // 0 otherwise): averaging gets the ambiguous rows wrong, the stacker learns that B
        // saying 0 means "ask A" and A saying 0 means "ask B".
        let labels: Vec<u8> = (0..200).map(|i| (i % 10) as u8).collect();
        let a = member(&labels, &[0, 1, 2, 3, 4]);
        let b = member(&labels, &[5, 6, 7, 8, 9]);
        let members = vec![a, b];
        let averaged = accuracy(&argmax_rows(&average(&members)), &labels);
        let stacker = Stacker::fit(&members, &labels);
        let stacked = accuracy(&argmax_rows(&stacker.predict(&members)), &labels);
        assert_eq!(stacked, 1.0, "the stacker separates every class (average: {averaged})");
        assert!(averaged < 1.0);
        // Deterministic: the same fit twice.
        assert_eq!(Stacker::fit(&members, &labels), stacker);
        let probs = stacker.predict(&members);
        assert!(probs.chunks_exact(OUTPUTS).all(|r| (r.iter().sum::<f64>() - 1.0).abs() < 1e-12));
    }
}
