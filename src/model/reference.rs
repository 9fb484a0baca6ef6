//! The cost and gradient through candle's autograd: an independent statement of the
//! study's network, written the textbook way (bias columns of ones, `log` of the sigmoid
//! outputs), used to check the fast kernel and as the device-generic baseline.

use candle_core::{D, DType, Device, Tensor, Var};

use super::Params;
use super::gemm_layout::matmul;
use crate::data::SamplesView;
use crate::real::Real;

/// Prepends a column of ones (the bias input).
fn with_bias(x: &Tensor) -> candle_core::Result<Tensor> {
    let ones = Tensor::ones((x.dim(0)?, 1), x.dtype(), x.device())?;
    Tensor::cat(&[&ones, x], 1)
}

/// `J = -1/n sum_i sum_k [y log a + (1 - y) log(1 - a)]` for the network's outputs `a`.
pub fn cost(theta1: &Tensor, theta2: &Tensor, x: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
    let n = x.dim(0)? as f64;
    let a1 = candle_nn::ops::sigmoid(&matmul(&with_bias(x)?, &theta1.t()?)?)?;
    let a2 = candle_nn::ops::sigmoid(&matmul(&with_bias(&a1)?, &theta2.t()?)?)?;
    let pos = (y * a2.log()?)?;
    let neg = (y.affine(-1.0, 1.0)? * a2.affine(-1.0, 1.0)?.log()?)?;
    (pos + neg)?.sum(D::Minus1)?.sum_all()? * (-1.0 / n)
}

/// Cost (a float) and its gradient, by autograd, on the CPU.
pub fn cost_and_gradient<T: Real>(params: &Params<T>, x: SamplesView<'_, T>) -> anyhow::Result<(f64, Params<T>)> {
    let device = Device::Cpu;
    let xs = Tensor::from_slice(x.features, (x.len(), x.dim), &device)?;
    let y = super::one_hot::<T>(x.labels, &device)?;
    let (t1, t2) = params.to_tensors(&device)?;
    let (t1, t2) = (Var::from_tensor(&t1)?, Var::from_tensor(&t2)?);
    let j = cost(t1.as_tensor(), t2.as_tensor(), &xs, &y)?;
    let grads = j.backward()?;
    let g1 = grads.get(t1.as_tensor()).expect("theta1 is in the graph");
    let g2 = grads.get(t2.as_tensor()).expect("theta2 is in the graph");
    let value = j.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    Ok((value, Params::from_tensors(g1, g2)?))
}
