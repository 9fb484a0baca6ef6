//! The study's network as candle tensor operations on any device: the forward pass, the
//! cost in its stable softplus form, and the gradient written out (the same formulas as the
//! CPU kernel, [`super::kernel`], which reads the data once per step in blocks; here each
//! product is one device GEMM). The GPU trainer runs this on `Device::Cuda`; the tests run
//! it on `Device::Cpu` against the CPU kernel, so the GPU code is checked without a GPU:
//! every product goes through [`matmul`], which refuses on the CPU what CUDA would refuse.
//!
//! The hidden layer's bias is not a column of ones glued to the activations (an `n x (H+1)`
//! copy every step, as large as the activations themselves): the output layer adds its bias
//! column as a broadcast row and takes its gradient as a column sum. The inputs' bias
//! column stays (one GEMM gives the first layer's weights and bias gradients together), and
//! with [`Optimization::Align`] zero columns follow the features so that rows start at
//! aligned addresses; theta1 carries as many columns, whose weights stay exactly zero (their
//! gradient is a sum of products with zero).

use candle_core::{D, DType, Device, Tensor};

use super::gemm_layout::matmul;
use super::gpu_options::{GpuOptions, Optimization};
use super::tensor_ops::{self, HiddenError};
use super::{Params, THETA1_COLS};
use crate::data::Samples;
use crate::real::Real;

/// `t` (rows x THETA1_COLS) with zero columns appended up to `columns`.
fn pad_columns(t: Tensor, columns: usize) -> candle_core::Result<Tensor> {
    let (rows, cols) = t.dims2()?;
    if columns <= cols {
        return Ok(t);
    }
    let zeros = Tensor::zeros((rows, columns - cols), t.dtype(), t.device())?;
    Tensor::cat(&[&t, &zeros], 1)
}

/// Training or test rows on a device: the inputs with their bias column of ones, the one-hot
/// targets and the labels.
pub struct DeviceData {
    /// n x columns: a column of ones, the 400 features, zeros up to the aligned width (built
    /// once, not per step).
    pub x_bias: Tensor,
    /// n x 10 one-hot.
    pub y: Tensor,
    /// n labels (u32), for accuracy.
    pub labels: Tensor,
    pub n: usize,
}

impl DeviceData {
    pub fn new<T: Real>(rows: &Samples<T>, device: &Device, options: &GpuOptions) -> candle_core::Result<Self> {
        let n = rows.len();
        let x = Tensor::from_slice(&rows.features, (n, rows.dim), device)?;
        let ones = Tensor::ones((n, 1), x.dtype(), device)?;
        let x_bias = pad_columns(Tensor::cat(&[&ones, &x], 1)?, options.input_columns())?;
        let y = super::one_hot::<T>(&rows.labels, device)?;
        let labels = Tensor::from_iter(rows.labels.iter().map(|&l| u32::from(l)), device)?;
        Ok(Self { x_bias, y, labels, n })
    }
}

/// theta1 (H x columns, see [`DeviceData::x_bias`]) and theta2 (10 x (H + 1)) on a device.
#[derive(Clone)]
pub struct DeviceParams {
    pub theta1: Tensor,
    pub theta2: Tensor,
    /// Whether the step uses the fused kernels ([`Optimization::Fuse`]).
    fused: bool,
}

/// The hidden activations and the outputs' pre-activations.
struct Forward {
    a1: Tensor,
    z2: Tensor,
}

impl DeviceParams {
    pub fn new<T: Real>(params: &Params<T>, device: &Device, options: &GpuOptions) -> candle_core::Result<Self> {
        let (theta1, theta2) = params.to_tensors(device)?;
        let theta1 = pad_columns(theta1, options.input_columns())?;
        Ok(Self { theta1, theta2, fused: options.is_on(Optimization::Fuse) })
    }

    /// The weights in the CPU trainer's layout (theta1 without its padding columns).
    pub fn to_params<T: Real>(&self) -> anyhow::Result<Params<T>> {
        Params::from_tensors(&self.theta1.narrow(1, 0, THETA1_COLS)?, &self.theta2)
    }

    /// theta2's bias column (10 x 1) and its weights (10 x H), each contiguous: a column
    /// slice of theta2 is no operand for CUDA's matmul (issue 15). Both are small copies.
    fn output_bias_and_weights(&self) -> candle_core::Result<(Tensor, Tensor)> {
        let hidden = self.theta1.dim(0)?;
        Ok((self.theta2.narrow(1, 0, 1)?.contiguous()?, self.theta2.narrow(1, 1, hidden)?.contiguous()?))
    }

    fn forward(&self, data: &DeviceData, (b2, w2): (&Tensor, &Tensor)) -> candle_core::Result<Forward> {
        let a1 = candle_nn::ops::sigmoid(&matmul(&data.x_bias, &self.theta1.t()?)?)?;
        let z2 = matmul(&a1, &w2.t()?)?.broadcast_add(&b2.t()?)?;
        Ok(Forward { a1, z2 })
    }

    /// Cost summed over samples and outputs: `sum softplus(z) - y z`, i.e. the binary
    /// cross-entropy of `sigmoid(z)` without taking the log of a rounded probability.
    fn cost_sum(z2: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
        let softplus = (z2.relu()? + (z2.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
        (softplus - (y * z2)?)?.sum_all()
    }

    /// The output errors `sigmoid(z2) - y` and the cost sum.
    fn output_deltas_and_costs(&self, z2: &Tensor, y: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        if self.fused {
            tensor_ops::output_deltas_and_costs(z2, y)
        } else {
            Ok(((candle_nn::ops::sigmoid(z2)? - y)?, Self::cost_sum(z2, y)?))
        }
    }

    /// `(d2 w2) * a1 * (1 - a1)`: the error at the hidden layer's pre-activations.
    fn hidden_error(&self, d2: &Tensor, w2: &Tensor, a1: &Tensor) -> candle_core::Result<Tensor> {
        if self.fused {
            d2.apply_op3_no_bwd(w2, a1, &HiddenError)
        } else {
            (matmul(d2, w2)? * a1)? * a1.affine(-1.0, 1.0)?
        }
    }

    /// The cost sum (a scalar tensor) and the gradient sums of theta1 and theta2 over `data`.
    pub fn cost_and_gradient_sum(&self, data: &DeviceData) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let (b2, w2) = self.output_bias_and_weights()?;
        let f = self.forward(data, (&b2, &w2))?;
        let (d2, cost) = self.output_deltas_and_costs(&f.z2, &data.y)?;
        // theta2's gradient: the bias column is the sum of d2 over the samples.
        let g2_bias = d2.sum_keepdim(0)?.t()?;
        let g2 = Tensor::cat(&[&g2_bias, &matmul(&d2.t()?, &f.a1)?], 1)?;
        let d1 = self.hidden_error(&d2, &w2, &f.a1)?;
        let g1 = matmul(&d1.t()?, &data.x_bias)?;
        Ok((cost, g1, g2))
    }

    /// `theta -= lr / n * g`.
    pub fn descend(&mut self, g1: &Tensor, g2: &Tensor, lr: f64, n: usize) -> candle_core::Result<()> {
        let step = -lr / n as f64;
        self.theta1 = (&self.theta1 + g1.affine(step, 0.0)?)?;
        self.theta2 = (&self.theta2 + g2.affine(step, 0.0)?)?;
        Ok(())
    }

    /// Mean cost and accuracy over `data`.
    pub fn evaluate(&self, data: &DeviceData) -> candle_core::Result<(f64, f64)> {
        let (b2, w2) = self.output_bias_and_weights()?;
        let f = self.forward(data, (&b2, &w2))?;
        let cost = Self::cost_sum(&f.z2, &data.y)?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        let predicted = f.z2.argmax(D::Minus1)?;
        let correct = predicted.eq(&data.labels)?.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
        Ok((cost / data.n as f64, correct / data.n as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernel::{PassStats, Workspace};

    /// Every combination of the optimisations that change the step's arithmetic.
    fn layouts() -> Vec<GpuOptions> {
        ["", "align", "fuse", "align,fuse"].into_iter().map(|off| GpuOptions::with_off(off).unwrap()).collect()
    }

    #[test]
    fn the_tensor_gradient_equals_the_cpu_kernel() {
        for options in layouts() {
            gradient_equals_the_cpu_kernel(&options);
        }
    }

    fn gradient_equals_the_cpu_kernel(options: &GpuOptions) {
        let data = crate::data::synthetic::generate(300, 3).rows::<f64>(0..300).unwrap();
        let params = crate::model::init::draw(13, 7);
        let device = Device::Cpu;
        let on_device = DeviceData::new(&data, &device, options).unwrap();
        let p = DeviceParams::new(&params, &device, options).unwrap();
        let (cost, g1, g2) = p.cost_and_gradient_sum(&on_device).unwrap();
        assert_eq!(g1.dims(), [13, options.input_columns()]);
        let padding = g1.narrow(1, THETA1_COLS, options.input_columns() - THETA1_COLS).unwrap();
        assert_eq!(padding.abs().unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap(), 0.0, "{options:?}");
        let tensor_grad = Params::<f64>::from_tensors(&g1.narrow(1, 0, THETA1_COLS).unwrap(), &g2).unwrap();

        let mut grad = Params::zeros(13);
        let mut ws = Workspace::<f64>::new(13);
        let stats: PassStats =
            crate::model::kernel::forward_backward(&params, data.as_view(), Some(&mut grad), &mut ws);
        let cost_value = cost.to_scalar::<f64>().unwrap();
        assert!(
            (cost_value - stats.cost_sum).abs() <= 1e-10 * stats.cost_sum.abs(),
            "{options:?}: {cost_value} {}",
            stats.cost_sum
        );
        let scale = grad.as_slice().iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (a, b) in tensor_grad.as_slice().iter().zip(grad.as_slice()) {
            assert!((a - b).abs() <= 1e-10 * scale, "{options:?}: {a} vs {b}");
        }
    }
}
