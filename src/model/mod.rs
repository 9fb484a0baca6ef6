//! The study's network, in one place: 400 inputs, one sigmoid hidden layer of H units, 10
//! sigmoid outputs, bias columns (theta1: H x 401, theta2: 10 x (H+1)), cost = binary
//! cross-entropy summed over the outputs and averaged over the samples, one-hot labels.
//!
//! - [`Params`]: both weight matrices in one flat buffer (theta1 then theta2, row-major), so
//!   a gradient is one buffer too and a data-parallel sync is one collective.
//! - [`init`]: the shared initial weights, drawn once from a seed and stored as safetensors.
//! - [`kernel`]: the CPU forward/backward over blocks of rows (the hot path): the fused
//!   kernel, the portable `gemm` one, and the output layer they share.
//! - [`tensor`]: the same step as candle tensor operations, for the GPU.
//! - [`tensor_ops`]: two operations of that step in one pass each (a CUDA kernel on the GPU).
//! - [`gpu_options`]: the GPU path's optimisations, each of which a GPU run can turn off.
//! - [`row_split`]: the kernel over T threads, with a fixed reduction order.
//! - [`hidden_split`]: model parallelism's arithmetic: a rank's slice of the hidden layer.
//! - [`exact_sum`]: the exact reduction: global blocks of rows, summed as fixed-point
//!   integers, the same bits for any split.
//! - [`reference`]: the same cost and gradient through candle's autograd, as a check.
//! - [`gemm_layout`]: the one matmul of the tensor code, refusing on every device the
//!   operands CUDA would refuse.

pub mod exact_sum;
pub mod gemm_layout;
pub mod gpu_options;
pub mod hidden_split;
pub mod init;
pub mod kernel;
pub mod reference;
pub mod row_split;
pub mod tensor;
pub mod tensor_ops;

use candle_core::{Device, Tensor};

use crate::data::{CLASSES, FEATURES};
use crate::real::Real;

/// Columns of theta1: a bias plus the features.
pub const THETA1_COLS: usize = FEATURES + 1;
/// Rows of theta2: one per class.
pub const OUTPUTS: usize = CLASSES;

/// One-hot label matrix (n x 10) as a tensor on `device`: the targets of the tensor step
/// ([`tensor`]) and of the autograd check ([`reference`]), which share nothing else.
pub fn one_hot<T: Real>(labels: &[u8], device: &Device) -> candle_core::Result<Tensor> {
    let mut y = vec![T::ZERO; labels.len() * CLASSES];
    for (i, &l) in labels.iter().enumerate() {
        y[i * CLASSES + usize::from(l)] = T::ONE;
    }
    Tensor::from_vec(y, (labels.len(), CLASSES), device)
}

/// Floating-point operations of one full-batch step on `n` samples with `hidden` units:
/// forward X W1^T and the output layer, backward D2 W2, D2^T A1 and D1^T X (multiply-adds
/// counted as 2). The bias columns and elementwise work are left out.
pub fn step_flops(n: usize, hidden: usize) -> f64 {
    let (n, h, d, o) = (n as f64, hidden as f64, FEATURES as f64, OUTPUTS as f64);
    2.0 * n * (2.0 * h * d + 3.0 * h * o)
}

/// The network's weights (or a gradient of the same shape).
#[derive(Debug, Clone, PartialEq)]
pub struct Params<T> {
    hidden: usize,
    /// theta1 (hidden x 401) then theta2 (10 x (hidden + 1)), both row-major.
    data: Vec<T>,
}

impl<T: Real> Params<T> {
    /// Element count of a network with `hidden` units.
    pub fn len_for(hidden: usize) -> usize {
        hidden * THETA1_COLS + OUTPUTS * (hidden + 1)
    }

    pub fn zeros(hidden: usize) -> Self {
        Self { hidden, data: vec![T::ZERO; Self::len_for(hidden)] }
    }

    /// From a flat buffer laid out as [`Params::as_slice`] returns it.
    pub fn from_flat(hidden: usize, data: Vec<T>) -> anyhow::Result<Self> {
        anyhow::ensure!(
            data.len() == Self::len_for(hidden),
            "flat parameter buffer of {} elements, expected {} for hidden = {hidden}",
            data.len(),
            Self::len_for(hidden)
        );
        Ok(Self { hidden, data })
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }

    pub fn theta1(&self) -> &[T] {
        &self.data[..self.hidden * THETA1_COLS]
    }

    pub fn theta2(&self) -> &[T] {
        &self.data[self.hidden * THETA1_COLS..]
    }

    pub fn split_mut(&mut self) -> (&mut [T], &mut [T]) {
        self.data.split_at_mut(self.hidden * THETA1_COLS)
    }

    /// Converts the element type (f64 -> f32 rounds to nearest).
    pub fn cast<U: Real>(&self) -> Params<U> {
        Params { hidden: self.hidden, data: self.data.iter().map(|&v| U::from_f64(v.to_f64())).collect() }
    }

    pub fn fill_zero(&mut self) {
        self.data.fill(T::ZERO);
    }

    /// `self += other`, elementwise.
    pub fn add_assign(&mut self, other: &Self) {
        for (a, &b) in self.data.iter_mut().zip(&other.data) {
            *a += b;
        }
    }

    /// The study's update from a gradient *summed* over `samples` samples:
    /// `self -= lr / samples * grad_sum`. Every mode steps through here.
    pub fn descend_mean(&mut self, grad_sum: &Self, lr: f64, samples: usize) {
        self.descend(grad_sum, T::from_f64(lr / samples as f64));
    }

    /// Gradient-descent update `self -= scale * grad`.
    pub fn descend(&mut self, grad: &Self, scale: T) {
        for (w, &g) in self.data.iter_mut().zip(&grad.data) {
            *w -= scale * g;
        }
    }

    /// The two matrices as candle tensors: theta1 (H x 401) and theta2 (10 x (H+1)).
    pub fn to_tensors(&self, device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
        let t1 = Tensor::from_slice(self.theta1(), (self.hidden, THETA1_COLS), device)?;
        let t2 = Tensor::from_slice(self.theta2(), (OUTPUTS, self.hidden + 1), device)?;
        Ok((t1, t2))
    }

    /// From candle tensors of the shapes [`Params::to_tensors`] produces.
    pub fn from_tensors(theta1: &Tensor, theta2: &Tensor) -> anyhow::Result<Self> {
        let hidden = theta1.dims().first().copied().unwrap_or(0);
        anyhow::ensure!(
            theta1.dims() == [hidden, THETA1_COLS] && theta2.dims() == [OUTPUTS, hidden + 1],
            "theta1 {:?} and theta2 {:?} are not [H, {THETA1_COLS}] and [{OUTPUTS}, H + 1]",
            theta1.dims(),
            theta2.dims()
        );
        let mut data = theta1.to_dtype(T::DTYPE)?.flatten_all()?.to_vec1::<T>()?;
        data.extend(theta2.to_dtype(T::DTYPE)?.flatten_all()?.to_vec1::<T>()?);
        Ok(Self { hidden, data })
    }

    /// Largest elementwise relative difference, `|a - b| / max(|a|, |b|, floor)`.
    pub fn max_relative_diff(&self, other: &Self, floor: f64) -> f64 {
        self.data
            .iter()
            .zip(&other.data)
            .map(|(&a, &b)| {
                let (a, b) = (a.to_f64(), b.to_f64());
                (a - b).abs() / a.abs().max(b.abs()).max(floor)
            })
            .fold(0.0, f64::max)
    }
}
