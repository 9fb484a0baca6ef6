//! A member's predicted probabilities: the network's 10 sigmoid outputs per row, in f64.
//! What the combiners read; the training kernels never materialise them (they fuse the
//! output layer with the cost), so this is a plain forward pass through [`crate::linalg`].

use crate::data::{FEATURES, SamplesView};
use crate::linalg::{Layout, gemm};
use crate::model::{OUTPUTS, Params};
use crate::real::Real;

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// `sigmoid(input W^T + b)` for `input` (rows x k, row-major) and `theta` (outputs x (1 + k),
/// row-major, the bias in column 0, read in place): rows x outputs, row-major.
fn sigmoid_layer(input: &[f64], k: usize, theta: &[f64], outputs: usize) -> Vec<f64> {
    let rows = input.len() / k.max(1);
    let mut out = vec![0.0; rows * outputs];
    gemm(
        &mut out,
        Layout::row_major(rows, outputs),
        false,
        (input, Layout::row_major(rows, k)),
        (&theta[1..], Layout::strided(k, outputs, 1, k + 1)),
        1,
    );
    for row in out.chunks_exact_mut(outputs.max(1)) {
        for (j, z) in row.iter_mut().enumerate() {
            *z = sigmoid(*z + theta[j * (k + 1)]);
        }
    }
    out
}

/// The outputs (rows x 10, row-major) of `params` on the rows of `x`.
pub fn probabilities<T: Real>(params: &Params<f64>, x: SamplesView<'_, T>) -> Vec<f64> {
    let features: Vec<f64> = x.features.iter().map(|v| v.to_f64()).collect();
    let hidden = sigmoid_layer(&features, FEATURES, params.theta1(), params.hidden());
    sigmoid_layer(&hidden, params.hidden(), params.theta2(), OUTPUTS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::row_split::ThreadedKernel;

    #[test]
    fn the_probabilities_give_the_kernels_cost_and_accuracy() {
        let data = crate::data::synthetic::generate(64, 3).rows::<f64>(0..64).unwrap();
        let params = crate::model::init::draw(7, 2);
        let probs = probabilities(&params, data.as_view());
        let stats = ThreadedKernel::new(7, 1, 64).evaluate(&params, data.as_view());
        let predicted = super::super::combine::argmax_rows(&probs);
        let correct = predicted.iter().zip(&data.labels).filter(|(p, l)| p == l).count();
        assert_eq!(correct, stats.correct);
        let cost = super::super::combine::cost(&probs, &data.labels);
        let kernel_cost = stats.cost_sum / 64.0;
        assert!((cost - kernel_cost).abs() <= 1e-12 * kernel_cost, "{cost} vs the kernel's {kernel_cost}");
    }
}
