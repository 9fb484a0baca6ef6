//! Matrix products that every candle backend accepts.
//!
//! candle's CPU backend multiplies operands of any strides; its CUDA backend hands them to
//! cuBLAS, which reads a matrix only as row-major or as transposed (column-major), with one
//! leading dimension. An operand such as a column slice of a wider matrix (row stride larger
//! than its width) is refused there with "matmul is only supported for contiguous tensors".
//! The GPU trainer's first run on a GPU failed on exactly that while every CPU test passed
//! (issue 15). [`matmul`] applies the CUDA rule on every device, so a test on the CPU fails
//! on any operand a GPU would refuse.

use candle_core::Tensor;

/// How a 2-D operand lies in memory, as cuBLAS sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GemmLayout {
    /// Rows one after another: the column stride is 1 and the row stride the width.
    RowMajor,
    /// Columns one after another (a transposed row-major matrix).
    ColumnMajor,
}

/// The layout of a `rows x cols` matrix with strides `(row_stride, col_stride)`, if cuBLAS
/// can read it; a dimension of size 1 may have any stride (it is never stepped over).
pub fn gemm_layout((rows, cols): (usize, usize), (row_stride, col_stride): (usize, usize)) -> Option<GemmLayout> {
    if (col_stride == 1 || cols == 1) && (row_stride == cols || rows == 1) {
        Some(GemmLayout::RowMajor)
    } else if (row_stride == 1 || rows == 1) && (col_stride == rows || cols == 1) {
        Some(GemmLayout::ColumnMajor)
    } else {
        None
    }
}

/// Checks one operand; the error names it, its shape and its strides.
fn check(role: &str, t: &Tensor) -> candle_core::Result<()> {
    let (rows, cols) = t.dims2().map_err(|e| e.context(format!("matmul: the {role} operand must be 2-D")))?;
    let stride = t.stride();
    if gemm_layout((rows, cols), (stride[0], stride[1])).is_none() {
        candle_core::bail!(
            "matmul: the {role} operand ({rows} x {cols}, strides {stride:?}) is neither row-major nor \
             column-major; CUDA's matmul would refuse it: make it contiguous first"
        );
    }
    Ok(())
}

/// `lhs x rhs`, refused on every device when CUDA's matmul would refuse it.
pub fn matmul(lhs: &Tensor, rhs: &Tensor) -> candle_core::Result<Tensor> {
    check("left", lhs)?;
    check("right", rhs)?;
    lhs.matmul(rhs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    fn matrix(rows: usize, cols: usize) -> Tensor {
        Tensor::arange(0f64, (rows * cols) as f64, &Device::Cpu).unwrap().reshape((rows, cols)).unwrap()
    }

    #[test]
    fn row_major_and_transposed_operands_pass() {
        let a = matrix(4, 3);
        assert_eq!(gemm_layout((4, 3), (3, 1)), Some(GemmLayout::RowMajor));
        assert_eq!(gemm_layout((3, 4), (1, 3)), Some(GemmLayout::ColumnMajor));
        let at = a.t().unwrap();
        let product = matmul(&at, &a).unwrap();
        assert_eq!(product.dims(), &[3, 3]);
        assert_eq!(
            product.to_vec2::<f64>().unwrap(),
            at.contiguous().unwrap().matmul(&a).unwrap().to_vec2::<f64>().unwrap()
        );
        // A row slice keeps the row stride of its parent: still row-major.
        matmul(&a.narrow(0, 1, 2).unwrap(), &matrix(3, 2)).unwrap();
        // A dimension of size 1 may have any stride...
        assert_eq!(gemm_layout((1, 4), (7, 1)), Some(GemmLayout::RowMajor));
        matmul(&a.narrow(0, 2, 1).unwrap(), &matrix(3, 2)).unwrap();
    }

    /// ...but a column cut out of a wider matrix is no vector to cuBLAS through candle: its
    /// other stride must still match (candle 0.11's gemm_config refuses both of these).
    #[test]
    fn a_strided_vector_is_refused_too() {
        let a = matrix(4, 3);
        assert!(matmul(&a.narrow(1, 2, 1).unwrap(), &matrix(1, 2)).is_err());
        assert!(matmul(&a.narrow(1, 2, 1).unwrap().t().unwrap(), &matrix(4, 2)).is_err());
    }

    /// The operand of issue 15: the output weights without their bias column.
    #[test]
    fn a_column_slice_is_refused_as_cuda_refuses_it() {
        let theta2 = matrix(10, 51);
        let w2 = theta2.narrow(1, 1, 50).unwrap();
        assert_eq!(w2.stride(), &[51, 1]);
        let d2 = Tensor::zeros((100, 10), DType::F64, &Device::Cpu).unwrap();
        let err = matmul(&d2, &w2).unwrap_err().to_string();
        assert!(err.contains("right operand (10 x 50, strides [51, 1])") && err.contains("CUDA"), "{err}");
        // candle's CPU backend itself multiplies it: the check is what makes the CPU refuse.
        d2.matmul(&w2).unwrap();
        matmul(&d2, &w2.contiguous().unwrap()).unwrap();
        // Transposed, the slice is refused as well.
        assert!(matmul(&w2.t().unwrap(), &matrix(10, 3)).is_err());
    }

    #[test]
    fn operands_must_be_matrices() {
        let v = Tensor::zeros(5, DType::F64, &Device::Cpu).unwrap();
        assert!(matmul(&v, &matrix(5, 2)).unwrap_err().to_string().contains("left operand must be 2-D"));
    }
}
