//! A member's predicted probabilities: the network's 10 sigmoid outputs per row, in f64.
//! What the combiners read; the training kernels never materialise them (they fuse the
//! output layer with the cost), so this is a plain forward pass through [`crate::linalg`].

use crate::data::{FEATURES, SamplesView};
use crate::linalg::{Layout, gemm};
use crate::model::{OUTPUTS, Params, THETA1_COLS};
use crate::real::Real;

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The outputs (rows x 10, row-major) of `params` on the rows of `x`.
pub fn probabilities<T: Real>(params: &Params<f64>, x: SamplesView<'_, T>) -> Vec<f64> {
    let (m, h) = (x.len(), params.hidden());
    let features: Vec<f64> = x.features.iter().map(|v| v.to_f64()).collect();
    let (theta1, theta2) = (params.theta1(), params.theta2());
    // Z1 = X W1^T, W1 = theta1 without its bias column (column 0), read in place.
    let mut a1 = vec![0.0; m * h];
    gemm(
        &mut a1,
        Layout::row_major(m, h),
        false,
        (&features, Layout::row_major(m, FEATURES)),
        (&theta1[1..], Layout::strided(FEATURES, h, 1, THETA1_COLS)),
        1,
    );
    for row in a1.chunks_exact_mut(h.max(1)) {
        for (j, z) in row.iter_mut().enumerate() {
            *z = sigmoid(*z + theta1[j * THETA1_COLS]);
        }
    }
    let mut out = vec![0.0; m * OUTPUTS];
    gemm(
        &mut out,
        Layout::row_major(m, OUTPUTS),
        false,
        (&a1, Layout::row_major(m, h)),
        (&theta2[1..], Layout::strided(h, OUTPUTS, 1, h + 1)),
        1,
    );
    for row in out.chunks_exact_mut(OUTPUTS) {
        for (k, z) in row.iter_mut().enumerate() {
            *z = sigmoid(*z + theta2[k * (h + 1)]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::threaded::ThreadedKernel;

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
