//! The one door to the `gemm` crate: `dst (=|+=) lhs * rhs` on slices, with every shape
//! and stride checked against the slices' lengths before the unchecked call. The PCA, the
//! portable training kernel and the benchmark's reference GEMM all go through it, so the
//! crate's raw-pointer interface is used in exactly one `unsafe` block.

use crate::real::Real;

/// Where the elements of an `rows x cols` matrix lie in a slice: element `(i, j)` at
/// `i * row_stride + j * col_stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl Layout {
    /// Rows one after the other.
    pub fn row_major(rows: usize, cols: usize) -> Self {
        Self { rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// Columns one after the other.
    pub fn col_major(rows: usize, cols: usize) -> Self {
        Self { rows, cols, row_stride: 1, col_stride: rows }
    }

    /// Any strides (a transposed view, a sub-matrix of a wider one).
    pub fn strided(rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> Self {
        Self { rows, cols, row_stride, col_stride }
    }

    /// The elements a slice must hold for every index of the matrix to lie inside it
    /// (saturating: a layout too large to address fails the length check).
    pub fn span(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            return 0;
        }
        (self.rows - 1)
            .saturating_mul(self.row_stride)
            .saturating_add((self.cols - 1).saturating_mul(self.col_stride))
            .saturating_add(1)
    }
}

/// `dst = lhs * rhs`, or `dst += lhs * rhs` when `accumulate`, on `threads` threads (1: the
/// calling thread only).
///
/// Panics if the shapes do not chain (`dst` m x n, `lhs` m x k, `rhs` k x n) or if a
/// layout reaches past its slice. `dst` cannot overlap `lhs` or `rhs`: it is borrowed
/// mutably while they are borrowed.
pub fn gemm<T: Real>(
    dst: &mut [T],
    dst_layout: Layout,
    accumulate: bool,
    (lhs, lhs_layout): (&[T], Layout),
    (rhs, rhs_layout): (&[T], Layout),
    threads: usize,
) {
    let (m, n, k) = (dst_layout.rows, dst_layout.cols, lhs_layout.cols);
    assert!(
        lhs_layout.rows == m && rhs_layout.rows == k && rhs_layout.cols == n,
        "gemm: shapes do not chain: dst {m} x {n}, lhs {} x {k}, rhs {} x {}",
        lhs_layout.rows,
        rhs_layout.rows,
        rhs_layout.cols
    );
    for (name, len, layout) in
        [("dst", dst.len(), dst_layout), ("lhs", lhs.len(), lhs_layout), ("rhs", rhs.len(), rhs_layout)]
    {
        assert!(
            layout.span() <= len,
            "gemm: {name} {layout:?} needs {} elements, the slice holds {len}",
            layout.span()
        );
    }
    if m == 0 || n == 0 {
        return;
    }
    let stride = |s: usize| isize::try_from(s).expect("gemm: stride beyond isize");
    let parallelism = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // SAFETY: the asserts above put every index `i * row_stride + j * col_stride` of the
    // m x n destination, the m x k lhs and the k x n rhs inside its slice (the spans), the
    // strides fit in isize, and `dst` does not alias `lhs` or `rhs` (one is borrowed
    // mutably). With `accumulate` false the crate does not read `dst`, so its old values
    // need not be initialised numbers either. (k = 0 is a valid empty sum.)
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            stride(dst_layout.col_stride),
            stride(dst_layout.row_stride),
            accumulate,
            lhs.as_ptr(),
            stride(lhs_layout.col_stride),
            stride(lhs_layout.row_stride),
            rhs.as_ptr(),
            stride(rhs_layout.col_stride),
            stride(rhs_layout.row_stride),
            // dst = alpha * dst + beta * lhs * rhs (alpha is not read unless accumulating).
            if accumulate { T::ONE } else { T::ZERO },
            T::ONE,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The product by the definition, for checking.
    fn naive(a: &[f64], la: Layout, b: &[f64], lb: Layout) -> Vec<f64> {
        let mut out = vec![0.0; la.rows * lb.cols];
        for i in 0..la.rows {
            for j in 0..lb.cols {
                out[i * lb.cols + j] = (0..la.cols)
                    .map(|p| a[i * la.row_stride + p * la.col_stride] * b[p * lb.row_stride + j * lb.col_stride])
                    .sum();
            }
        }
        out
    }

    #[test]
    fn products_of_row_major_column_major_and_strided_views_match_the_definition() {
        let a: Vec<f64> = (0..12).map(|v| v as f64 - 5.0).collect();
        let b: Vec<f64> = (0..20).map(|v| 0.5 * v as f64).collect();
        let (la, lb) = (Layout::row_major(3, 4), Layout::col_major(4, 5));
        let mut dst = vec![0.0; 15];
        gemm(&mut dst, Layout::row_major(3, 5), false, (&a, la), (&b, lb), 1);
        assert_eq!(dst, naive(&a, la, &b, lb));
        // Accumulating adds the product again.
        gemm(&mut dst, Layout::row_major(3, 5), true, (&a, la), (&b, lb), 1);
        let twice: Vec<f64> = naive(&a, la, &b, lb).iter().map(|v| 2.0 * v).collect();
        assert_eq!(dst, twice);
        // A transposed view: a^T (4 x 3) read from a with strides (1, 4).
        let at = Layout::strided(4, 3, 1, 4);
        let mut dst = vec![0.0; 9];
        gemm(&mut dst, Layout::row_major(3, 3), false, (&a, la), (&a, at), 1);
        assert_eq!(dst, naive(&a, la, &a, at));
    }

    #[test]
    #[should_panic(expected = "rhs")]
    fn a_layout_past_its_slice_is_refused() {
        let a = vec![1.0; 6];
        let mut dst = vec![0.0; 4];
        gemm(
            &mut dst,
            Layout::row_major(2, 2),
            false,
            (&a, Layout::row_major(2, 3)),
            (&a[..5], Layout::row_major(3, 2)),
            1,
        );
    }

    #[test]
    #[should_panic(expected = "do not chain")]
    fn shapes_that_do_not_chain_are_refused() {
        let a = vec![1.0; 6];
        let mut dst = vec![0.0; 4];
        gemm(&mut dst, Layout::row_major(2, 2), false, (&a, Layout::row_major(2, 3)), (&a, Layout::row_major(2, 3)), 1);
    }
}
