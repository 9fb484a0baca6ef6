//! PCA from 784 pixels to 400 components, then per-feature standardisation.
//!
//! Method: centre the pool, form the covariance `C = Xc^T Xc / (n - 1)` block by block with
//! the `gemm` crate (the pool never exists as one f64 matrix), take the symmetric
//! eigendecomposition of `C` with nalgebra, keep the eigenvectors of the `k` largest
//! eigenvalues, project, and scale each component to zero mean and unit (population)
//! variance, as scikit-learn's `StandardScaler` does. Eigenvector signs are fixed (largest
//! absolute entry positive) so the result does not depend on the eigen-solver's whims.

use serde::{Deserialize, Serialize};

use crate::linalg::{self, Layout};

/// Rows per block when streaming the pool through the covariance and projection.
const BLOCK_ROWS: usize = 2048;

/// The settings that determine the preprocessing; part of the cache key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PcaSettings {
    pub input_dim: usize,
    pub components: usize,
    /// Pixels are multiplied by this before PCA (1/255 maps them to [0, 1]).
    pub pixel_scale: f64,
    pub method: String,
    pub standardise: String,
}

impl PcaSettings {
    pub fn study(input_dim: usize) -> Self {
        Self {
            input_dim,
            components: super::FEATURES,
            pixel_scale: 1.0 / 255.0,
            method:
                "covariance (n-1) + symmetric eigendecomposition (nalgebra), largest |entry| of each component positive"
                    .into(),
            standardise: "zero mean, unit population variance per component".into(),
        }
    }
}

/// The fitted, projected and standardised result.
#[derive(Debug, Clone)]
pub struct PcaOutput {
    /// `n x components`, row-major, standardised.
    pub features: Vec<f64>,
    /// The `components` largest eigenvalues of the covariance, descending.
    pub eigenvalues: Vec<f64>,
    /// Their sum over the sum of all eigenvalues.
    pub explained_variance_ratio: f64,
}

/// A source of rows as f64, read block by block.
pub trait RowSource: Sync {
    fn rows(&self) -> usize;
    fn dim(&self) -> usize;
    /// Writes rows `start..start + out.len() / dim` into `out`.
    fn fill(&self, start: usize, out: &mut [f64]);
}

/// Raw pixels, scaled.
pub struct PixelRows<'a> {
    pub pixels: &'a [u8],
    pub dim: usize,
    pub scale: f64,
}

impl RowSource for PixelRows<'_> {
    fn rows(&self) -> usize {
        self.pixels.len() / self.dim
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn fill(&self, start: usize, out: &mut [f64]) {
        let src = &self.pixels[start * self.dim..start * self.dim + out.len()];
        for (o, &p) in out.iter_mut().zip(src) {
            *o = f64::from(p) * self.scale;
        }
    }
}

/// A dense f64 matrix (tests and small inputs).
pub struct DenseRows<'a> {
    pub data: &'a [f64],
    pub dim: usize,
}

impl RowSource for DenseRows<'_> {
    fn rows(&self) -> usize {
        self.data.len() / self.dim
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn fill(&self, start: usize, out: &mut [f64]) {
        out.copy_from_slice(&self.data[start * self.dim..start * self.dim + out.len()]);
    }
}

/// Visits the source in centred blocks: `visit(first_row, block)`.
fn for_each_centred_block(src: &dyn RowSource, mean: &[f64], mut visit: impl FnMut(usize, &[f64])) {
    let d = src.dim();
    let mut block = vec![0.0; BLOCK_ROWS * d];
    for start in (0..src.rows()).step_by(BLOCK_ROWS) {
        let rows = BLOCK_ROWS.min(src.rows() - start);
        let buf = &mut block[..rows * d];
        src.fill(start, buf);
        for row in buf.chunks_exact_mut(d) {
            for (x, m) in row.iter_mut().zip(mean) {
                *x -= m;
            }
        }
        visit(start, buf);
    }
}

/// `dst (m x n, row-major) += a^T b` for row-major `a (k x m)` and `b (k x n)`.
fn add_at_b(dst: &mut [f64], a: &[f64], b: &[f64], m: usize, n: usize, k: usize) {
    let a_t = Layout::strided(m, k, 1, m);
    linalg::gemm(dst, Layout::row_major(m, n), true, (a, a_t), (b, Layout::row_major(k, n)), 1);
}

/// `dst (m x n) = a b` for row-major `a (m x k)` and `b (k x n)`.
fn set_ab(dst: &mut [f64], a: &[f64], b: &[f64], m: usize, n: usize, k: usize) {
    linalg::gemm(dst, Layout::row_major(m, n), false, (a, Layout::row_major(m, k)), (b, Layout::row_major(k, n)), 1);
}

/// Fits PCA with `components` components on all rows of `src`, projects them and
/// standardises each component.
pub fn fit_transform(src: &dyn RowSource, components: usize) -> anyhow::Result<PcaOutput> {
    let (n, d) = (src.rows(), src.dim());
    anyhow::ensure!(n >= 2, "PCA needs at least 2 rows, got {n}");
    anyhow::ensure!(components <= d, "cannot keep {components} components of {d}-dimensional data");

    // Mean.
    let mut mean = vec![0.0; d];
    for_each_centred_block(src, &vec![0.0; d], |_, block| {
        for row in block.chunks_exact(d) {
            for (m, x) in mean.iter_mut().zip(row) {
                *m += x;
            }
        }
    });
    mean.iter_mut().for_each(|m| *m /= n as f64);

    // Covariance, symmetrised against rounding.
    let mut cov = vec![0.0; d * d];
    for_each_centred_block(src, &mean, |_, block| add_at_b(&mut cov, block, block, d, d, block.len() / d));
    let cov = nalgebra::DMatrix::from_fn(d, d, |i, j| (cov[i * d + j] + cov[j * d + i]) / (2.0 * (n - 1) as f64));

    // Eigenpairs, largest first.
    let eig = nalgebra::SymmetricEigen::new(cov);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]).then(a.cmp(&b)));
    let total: f64 = eig.eigenvalues.iter().map(|&v| v.max(0.0)).sum();
    let eigenvalues: Vec<f64> = order[..components].iter().map(|&i| eig.eigenvalues[i]).collect();
    let kept: f64 = eigenvalues.iter().map(|&v| v.max(0.0)).sum();

    // Components as a row-major d x k matrix with fixed signs.
    let mut basis = vec![0.0; d * components];
    for (c, &i) in order[..components].iter().enumerate() {
        let v = eig.eigenvectors.column(i);
        let pivot = v.iter().copied().fold(0.0_f64, |best, x| if x.abs() > best.abs() { x } else { best });
        let sign = if pivot < 0.0 { -1.0 } else { 1.0 };
        for r in 0..d {
            basis[r * components + c] = sign * v[r];
        }
    }

    // Project.
    let mut features = vec![0.0; n * components];
    for_each_centred_block(src, &mean, |start, block| {
        let rows = block.len() / d;
        set_ab(&mut features[start * components..(start + rows) * components], block, &basis, rows, components, d);
    });

    standardise(&mut features, components);
    Ok(PcaOutput { features, eigenvalues, explained_variance_ratio: if total > 0.0 { kept / total } else { 0.0 } })
}

/// Scales each column of a row-major `? x cols` matrix to zero mean and unit population
/// variance. A constant column is only centred (there is nothing to scale).
pub fn standardise(data: &mut [f64], cols: usize) {
    let n = (data.len() / cols) as f64;
    let mut mean = vec![0.0; cols];
    let mut sq = vec![0.0; cols];
    for row in data.chunks_exact(cols) {
        for (m, x) in mean.iter_mut().zip(row) {
            *m += x;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    for row in data.chunks_exact(cols) {
        for ((s, x), m) in sq.iter_mut().zip(row).zip(&mean) {
            *s += (x - m) * (x - m);
        }
    }
    let scale: Vec<f64> = sq.iter().map(|s| (s / n).sqrt()).map(|sd| if sd > 0.0 { 1.0 / sd } else { 1.0 }).collect();
    for row in data.chunks_exact_mut(cols) {
        for ((x, m), s) in row.iter_mut().zip(&mean).zip(&scale) {
            *x = (*x - m) * s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// Points spread along known orthogonal directions with variances 9, 4 and 1 in 5-D,
    /// rotated by a fixed orthonormal basis. PCA must find those variances and directions.
    fn fixture(n: usize) -> (Vec<f64>, [[f64; 5]; 3]) {
        let s = 0.5_f64.sqrt();
        let dirs = [[s, s, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0], [s, -s, 0.0, 0.0, 0.0]];
        let sds = [3.0, 2.0, 1.0];
        let mut rng = SplitMix64::new(42);
        let mut data = Vec::with_capacity(n * 5);
        for _ in 0..n {
            let coeffs: Vec<f64> = sds.iter().map(|sd| sd * rng.normal()).collect();
            data.extend((0..5).map(|j| 10.0 + (0..3).map(|c| coeffs[c] * dirs[c][j]).sum::<f64>()));
        }
        (data, dirs)
    }

    #[test]
    fn recovers_known_variances_and_directions() {
        let (data, dirs) = fixture(20_000);
        let src = DenseRows { data: &data, dim: 5 };
        let out = fit_transform(&src, 2).unwrap();
        // Sample variances of a 20,000-point normal sample: within 3% of the truth.
        assert!((out.eigenvalues[0] / 9.0 - 1.0).abs() < 0.03, "{:?}", out.eigenvalues);
        assert!((out.eigenvalues[1] / 4.0 - 1.0).abs() < 0.03, "{:?}", out.eigenvalues);
        // The two directions keep (9 + 4) / (9 + 4 + 1) of the variance.
        assert!((out.explained_variance_ratio - 13.0 / 14.0).abs() < 0.01, "{}", out.explained_variance_ratio);
        // Component 1 is the projection on dirs[0]: it correlates ~ +-1 with it.
        let proj: Vec<f64> = data.chunks_exact(5).map(|r| (0..5).map(|j| (r[j] - 10.0) * dirs[0][j]).sum()).collect();
        let comp: Vec<f64> = out.features.chunks_exact(2).map(|r| r[0]).collect();
        let corr = proj.iter().zip(&comp).map(|(a, b)| a * b).sum::<f64>()
            / (proj.iter().map(|a| a * a).sum::<f64>().sqrt() * comp.iter().map(|b| b * b).sum::<f64>().sqrt());
        assert!(corr.abs() > 0.999, "correlation {corr}");
    }

    #[test]
    fn output_is_standardised() {
        let (data, _) = fixture(5_000);
        let out = fit_transform(&DenseRows { data: &data, dim: 5 }, 3).unwrap();
        for c in 0..3 {
            let col: Vec<f64> = out.features.chunks_exact(3).map(|r| r[c]).collect();
            let mean = col.iter().sum::<f64>() / col.len() as f64;
            let var = col.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / col.len() as f64;
            assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12, "component {c}: mean {mean}, var {var}");
        }
    }

    #[test]
    fn pixels_and_dense_rows_agree_and_blocking_is_invisible() {
        // More rows than one block, so the blocked passes are exercised.
        let mut rng = SplitMix64::new(3);
        let n = BLOCK_ROWS + 123;
        let pixels: Vec<u8> = (0..n * 6).map(|_| rng.below(256) as u8).collect();
        let dense: Vec<f64> = pixels.iter().map(|&p| f64::from(p) * (1.0 / 255.0)).collect();
        let a = fit_transform(&PixelRows { pixels: &pixels, dim: 6, scale: 1.0 / 255.0 }, 4).unwrap();
        let b = fit_transform(&DenseRows { data: &dense, dim: 6 }, 4).unwrap();
        assert!(a.features == b.features, "pixel and dense sources differ");
        assert_eq!(a.features.len(), n * 4);
    }

    #[test]
    fn rejects_too_many_components() {
        let data = vec![1.0, 2.0, 3.0, 4.0];
        let err = fit_transform(&DenseRows { data: &data, dim: 2 }, 3).unwrap_err();
        assert!(err.to_string().contains("3 components"), "{err}");
    }
}
