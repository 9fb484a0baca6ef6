//! Two fused operations of the tensor step ([`super::tensor`]), each one pass over its
//! operands where candle's own operations take several:
//!
//! - [`HiddenError`]: `(d2 w2) * a * (1 - a)`, the output errors back-propagated through
//!   the output weights and the hidden sigmoid (candle: a GEMM with K = 10 that writes an
//!   n x H product, then a multiply, an affine and a multiply, each a pass over n x H).
//! - [`OutputLayer`]: from the output pre-activations `z` and targets `y`, the errors
//!   `sigmoid(z) - y` and the cost terms `softplus(z) - y z` (candle: about 12 operations).
//!
//! On the GPU they are the kernels of `tensor_ops.cu`; on the CPU the same formulas in Rust, so
//! the tests of the tensor step check the formulas on machines without a GPU. Operands
//! must be contiguous and of matching shapes; anything else is refused on every device.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use crate::model::OUTPUTS;
use crate::real::Real;

/// `d2.apply_op3_no_bwd(&w2, &a, &HiddenError)`: `(d2 w2) * a * (1 - a)` for `d2` (n x 10),
/// `w2` (10 x H) and `a` (n x H).
pub struct HiddenError;

/// `z.apply_op2_no_bwd(&y, &OutputLayer)`: a `(2, n, 10)` tensor, the errors then the cost
/// terms (see [`output_deltas_and_costs`]).
pub struct OutputLayer;

/// The errors `sigmoid(z) - y` and the cost sum `sum softplus(z) - y z` of the output layer.
pub fn output_deltas_and_costs(z: &Tensor, y: &Tensor) -> Result<(Tensor, Tensor)> {
    let both = z.apply_op2_no_bwd(y, &OutputLayer)?;
    Ok((both.get(0)?, both.get(1)?.sum_all()?))
}

/// The element range of a contiguous operand.
fn range(name: &str, l: &Layout) -> Result<(usize, usize)> {
    l.contiguous_offsets().ok_or_else(|| {
        candle_core::Error::Msg(format!("{name}: operands must be contiguous (strides {:?})", l.stride()))
    })
}

/// `n` and `H` of [`HiddenError`]'s operands, which must be n x 10, 10 x H and n x H.
fn hidden_error_dims(d2: &Layout, w2: &Layout, a: &Layout) -> Result<(usize, usize)> {
    match (d2.dims(), w2.dims(), a.dims()) {
        (&[n, OUTPUTS], &[OUTPUTS, h], &[n2, h2]) if n == n2 && h == h2 => Ok((n, h)),
        (d, w, a) => {
            candle_core::bail!("hidden_error: operands of shapes {d:?}, {w:?}, {a:?}; need n x 10, 10 x H, n x H")
        }
    }
}

fn hidden_error_cpu<T: Real>(d2: &[T], w2: &[T], a: &[T], hidden: usize) -> Vec<T> {
    let mut out = vec![T::ZERO; a.len()];
    for ((d, a), out) in d2.chunks_exact(OUTPUTS).zip(a.chunks_exact(hidden)).zip(out.chunks_exact_mut(hidden)) {
        for (j, (&a, out)) in a.iter().zip(out).enumerate() {
            let back = d.iter().enumerate().fold(T::ZERO, |acc, (k, &d)| d.mul_add(w2[k * hidden + j], acc));
            *out = (back * a) * (T::ONE - a);
        }
    }
    out
}

fn output_deltas_and_costs_cpu<T: Real>(z: &[T], y: &[T]) -> Vec<T> {
    let mut out = vec![T::ZERO; 2 * z.len()];
    let (errors, costs) = out.split_at_mut(z.len());
    for (((&z, &y), err), cost) in z.iter().zip(y).zip(errors).zip(costs) {
        let e = (T::ZERO - z.abs()).exp();
        let inv = T::ONE / (T::ONE + e);
        *err = (if z >= T::ZERO { inv } else { e * inv }) - y;
        *cost = ((if z > T::ZERO { z } else { T::ZERO }) + e.ln_1p_unit()) - y * z;
    }
    out
}

fn dtype_error<R>(name: &str) -> Result<R> {
    candle_core::bail!("{name}: operands of dtypes other than f32 or f64, or of several dtypes")
}

impl CustomOp3 for HiddenError {
    fn name(&self) -> &'static str {
        "hidden_error"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, hidden) = hidden_error_dims(l1, l2, l3)?;
        let ((a0, a1), (b0, b1), (c0, c1)) =
            (range(self.name(), l1)?, range(self.name(), l2)?, range(self.name(), l3)?);
        let out = match (s1, s2, s3) {
            (CpuStorage::F32(d), CpuStorage::F32(w), CpuStorage::F32(a)) => {
                CpuStorage::F32(hidden_error_cpu(&d[a0..a1], &w[b0..b1], &a[c0..c1], hidden))
            }
            (CpuStorage::F64(d), CpuStorage::F64(w), CpuStorage::F64(a)) => {
                CpuStorage::F64(hidden_error_cpu(&d[a0..a1], &w[b0..b1], &a[c0..c1], hidden))
            }
            _ => return dtype_error(self.name()),
        };
        Ok((out, l3.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (n, hidden) = hidden_error_dims(l1, l2, l3)?;
        let out = cuda::launch(self.name(), &[(s1, l1), (s2, l2), (s3, l3)], n * hidden, &[n * hidden, hidden])?;
        Ok((out, l3.shape().clone()))
    }
}

impl CustomOp2 for OutputLayer {
    fn name(&self) -> &'static str {
        "output_layer"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        Self::same_shape(l1, l2)?;
        let ((a0, a1), (b0, b1)) = (range(self.name(), l1)?, range(self.name(), l2)?);
        let out = match (s1, s2) {
            (CpuStorage::F32(z), CpuStorage::F32(y)) => {
                CpuStorage::F32(output_deltas_and_costs_cpu(&z[a0..a1], &y[b0..b1]))
            }
            (CpuStorage::F64(z), CpuStorage::F64(y)) => {
                CpuStorage::F64(output_deltas_and_costs_cpu(&z[a0..a1], &y[b0..b1]))
            }
            _ => return dtype_error(self.name()),
        };
        Ok((out, Self::shape(l1)))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        Self::same_shape(l1, l2)?;
        let n = l1.shape().elem_count();
        let out = cuda::launch(self.name(), &[(s1, l1), (s2, l2)], 2 * n, &[n])?;
        Ok((out, Self::shape(l1)))
    }
}

impl OutputLayer {
    fn same_shape(l1: &Layout, l2: &Layout) -> Result<()> {
        if l1.shape() != l2.shape() {
            candle_core::bail!("output_layer: operands of shapes {:?} and {:?}", l1.shape(), l2.shape());
        }
        Ok(())
    }

    /// Two stacked copies of the operands' shape.
    fn shape(l: &Layout) -> Shape {
        let mut dims = vec![2];
        dims.extend_from_slice(l.dims());
        Shape::from(dims)
    }
}

#[cfg(feature = "cuda")]
mod cuda {
    use candle_core::backend::BackendStorage;
    use candle_core::cuda_backend::cudarc::driver::{CudaView, DeviceRepr, LaunchConfig, PushKernelArg};
    use candle_core::cuda_backend::{CudaDType, WrapErr};
    use candle_core::{CudaDevice, CudaStorage, DType, Layout, Result};

    /// `tensor_ops.cu` as PTX, compiled by build.rs.
    const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/tensor_ops.ptx"));
    const MODULE: &str = "dpstudy_tensor_ops";

    /// Runs kernel `{name}_{f32|f64}` with one thread per element of `threads`: its
    /// arguments are the operands, a new buffer of `out_len` elements, then `scalars` as
    /// 32-bit unsigned integers (the kernels index with them).
    pub fn launch(
        name: &str,
        operands: &[(&CudaStorage, &Layout)],
        out_len: usize,
        scalars: &[usize],
    ) -> Result<CudaStorage> {
        let dtypes: Vec<DType> = operands.iter().map(|(s, _)| s.dtype()).collect();
        match dtypes.as_slice() {
            [DType::F32, rest @ ..] if rest.iter().all(|d| *d == DType::F32) => {
                typed::<f32>(&format!("{name}_f32"), operands, out_len, scalars)
            }
            [DType::F64, rest @ ..] if rest.iter().all(|d| *d == DType::F64) => {
                typed::<f64>(&format!("{name}_f64"), operands, out_len, scalars)
            }
            _ => super::dtype_error(name),
        }
    }

    fn typed<T: CudaDType + DeviceRepr>(
        kernel: &str,
        operands: &[(&CudaStorage, &Layout)],
        out_len: usize,
        scalars: &[usize],
    ) -> Result<CudaStorage> {
        let small = |v: usize| u32::try_from(v).map_err(|_| candle_core::Error::Msg(format!("{kernel}: {v} elements")));
        let scalars = scalars.iter().map(|&v| small(v)).collect::<Result<Vec<u32>>>()?;
        let threads = scalars[0];
        let device: &CudaDevice = &operands[0].0.device;
        let views = operands
            .iter()
            .map(|(s, l)| {
                let (start, end) = super::range(kernel, l)?;
                Ok(T::as_cuda_slice(s)?.slice(start..end))
            })
            .collect::<Result<Vec<CudaView<T>>>>()?;
        let func = device.get_or_load_custom_func(kernel, MODULE, PTX)?;
        // SAFETY: the kernel writes every element of `out` before anything reads it.
        let out = unsafe { device.alloc::<T>(out_len)? };
        let mut builder = func.builder();
        for view in &views {
            builder.arg(view);
        }
        builder.arg(&out);
        for scalar in &scalars {
            builder.arg(scalar);
        }
        // SAFETY: the argument list matches the kernel's: the operands' pointers, the output's,
        // then the unsigned ints.
        unsafe { builder.launch(LaunchConfig::for_num_elems(threads)) }.w()?;
        Ok(T::wrap_cuda_slice(out, device.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    fn tensor(values: &[f64], cols: usize, dtype: DType) -> Tensor {
        Tensor::from_slice(values, (values.len() / cols, cols), &Device::Cpu).unwrap().to_dtype(dtype).unwrap()
    }

    fn as_f64(t: &Tensor) -> Vec<f64> {
        t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        as_f64(a).iter().zip(as_f64(b)).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
    }

    #[test]
    fn the_output_layer_equals_candles_operations() {
        let z_values: Vec<f64> =
            (0..20).map(|i| [-40.0, -3.5, -0.25, 0.0, 0.3, 2.0, 7.5, 40.0][i % 8] + i as f64 * 0.01).collect();
        let y_values: Vec<f64> = (0..20).map(|i| f64::from(u8::from(i % 10 == 3))).collect();
        for dtype in [DType::F64, DType::F32] {
            let tol = if dtype == DType::F64 { 1e-15 } else { 1e-6 };
            let (z, y) = (tensor(&z_values, 10, dtype), tensor(&y_values, 10, dtype));
            let (errors, cost) = output_deltas_and_costs(&z, &y).unwrap();
            let expected_errors = (candle_nn::ops::sigmoid(&z).unwrap() - &y).unwrap();
            assert!(max_diff(&errors, &expected_errors) <= tol, "{dtype:?}");
            let expected_cost: f64 =
                z_values.iter().zip(&y_values).map(|(&z, y)| z.max(0.0) + (-z.abs()).exp().ln_1p() - y * z).sum();
            let cost = cost.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap();
            assert!((cost - expected_cost).abs() <= tol * expected_cost, "{dtype:?}: {cost} vs {expected_cost}");
        }
    }

    #[test]
    fn the_hidden_error_equals_the_product_and_the_sigmoids_derivative() {
        let (n, hidden) = (3, 4);
        let d2: Vec<f64> = (0..n * OUTPUTS).map(|i| (i as f64 * 0.37).sin()).collect();
        let w2: Vec<f64> = (0..OUTPUTS * hidden).map(|i| (i as f64 * 0.11).cos()).collect();
        let a: Vec<f64> = (0..n * hidden).map(|i| 1.0 / (1.0 + (-(i as f64) * 0.3 + 1.0).exp())).collect();
        for dtype in [DType::F64, DType::F32] {
            let tol = if dtype == DType::F64 { 1e-15 } else { 1e-6 };
            let (d2, w2, a) = (tensor(&d2, OUTPUTS, dtype), tensor(&w2, hidden, dtype), tensor(&a, hidden, dtype));
            let fused = d2.apply_op3_no_bwd(&w2, &a, &HiddenError).unwrap();
            let back = d2.matmul(&w2).unwrap();
            let expected = ((back * &a).unwrap() * a.affine(-1.0, 1.0).unwrap()).unwrap();
            assert_eq!(fused.dims(), [n, hidden]);
            assert!(max_diff(&fused, &expected) <= tol, "{dtype:?}: {}", max_diff(&fused, &expected));
        }
    }

    #[test]
    fn strided_mismatched_or_mixed_operands_are_refused() {
        let z = tensor(&[0.5; 20], 10, DType::F64);
        let wide = tensor(&[0.5; 40], 20, DType::F64);
        let err = wide.narrow(1, 0, 10).unwrap().apply_op2_no_bwd(&z, &OutputLayer).unwrap_err().to_string();
        assert!(err.contains("output_layer: operands must be contiguous"), "{err}");
        let err = z.apply_op2_no_bwd(&z.narrow(0, 0, 1).unwrap(), &OutputLayer).unwrap_err().to_string();
        assert!(err.contains("output_layer: operands of shapes"), "{err}");
        let err = z.apply_op2_no_bwd(&z.to_dtype(DType::F32).unwrap(), &OutputLayer).unwrap_err().to_string();
        assert!(err.contains("dtype"), "{err}");
        let w2 = tensor(&[0.5; 30], 3, DType::F64);
        let a = tensor(&[0.5; 8], 4, DType::F64);
        let err = z.apply_op3_no_bwd(&w2, &a, &HiddenError).unwrap_err().to_string();
        assert!(err.contains("hidden_error: operands of shapes [2, 10], [10, 3], [2, 4]"), "{err}");
    }
}
