//! The portable kernel: every product of the step through the `gemm` crate (the GEMM
//! candle's CPU backend uses), by way of the checked [`crate::linalg::gemm`]. It runs where
//! the fused kernel cannot (no AVX2/FMA), where it is faster (large H), when
//! `DPSTUDY_KERNEL=gemm` asks for it, and as the fused kernel's reference in the tests.

use super::output::{PassStats, output_layer, sigmoid};
use crate::data::SamplesView;
use crate::linalg::{self, Layout};
use crate::model::{OUTPUTS, Params, THETA1_COLS};
use crate::real::Real;

/// Rows per block: 256 rows of 400 f64 features are 800 KiB, which the products' own
/// packing streams through; larger blocks gain nothing, smaller ones pay `gemm`'s
/// per-call overhead more often. (The fused kernel, which keeps tiles in L1, uses 128.)
pub const BLOCK_ROWS: usize = 256;

/// Scratch space of the `gemm` kernel: activations and deltas of one block.
#[derive(Debug, Clone)]
pub struct Workspace<T> {
    hidden: usize,
    a1: Vec<T>,
    d1: Vec<T>,
    z2: Vec<T>,
}

impl<T: Real> Workspace<T> {
    pub fn new(hidden: usize) -> Self {
        Self {
            hidden,
            a1: vec![T::ZERO; BLOCK_ROWS * hidden],
            d1: vec![T::ZERO; BLOCK_ROWS * hidden],
            z2: vec![T::ZERO; BLOCK_ROWS * OUTPUTS],
        }
    }
}

/// Forward (and, with `grad`, backward) pass over `x`; the contract of
/// [`super::forward_backward`].
///
/// A1 and D1 are stored column-major (`a1[j * rows + i]`): gemm's register tile is 16 rows
/// tall, so the block's rows, not the H hidden units, should be the rows it tiles, and the
/// per-unit bias and sigmoid then run over contiguous memory.
pub fn forward_backward<T: Real>(
    params: &Params<T>,
    x: SamplesView<'_, T>,
    mut grad: Option<&mut Params<T>>,
    ws: &mut Workspace<T>,
) -> PassStats {
    let h = params.hidden();
    assert_eq!(ws.hidden, h, "workspace built for another hidden size");
    assert_eq!(x.dim, THETA1_COLS - 1, "samples of the wrong width");
    let mut stats = PassStats { samples: x.len(), ..PassStats::default() };
    for start in (0..x.len()).step_by(BLOCK_ROWS) {
        let rows = BLOCK_ROWS.min(x.len() - start);
        let mut block = Block {
            xb: &x.features[start * x.dim..(start + rows) * x.dim],
            rows,
            a1: &mut ws.a1[..rows * h],
            z2: &mut ws.z2[..rows * OUTPUTS],
        };
        forward(params, &mut block);
        output_layer(block.z2, &x.labels[start..start + rows], params.theta2(), h, &mut stats);
        if let Some(grad) = grad.as_deref_mut() {
            backward(params, &block, &mut ws.d1[..rows * h], grad);
        }
    }
    stats
}

/// One block of rows and its activations: X's rows, A1 (column-major), Z2 (then D2).
/// (The hidden-split trainer, [`crate::model::hidden_split`], keeps these of every block
/// of a step, as the sum of Z2 over the ranks comes between the forward and backward pass.)
pub(crate) struct Block<'a, T> {
    pub xb: &'a [T],
    pub rows: usize,
    pub a1: &'a mut [T],
    pub z2: &'a mut [T],
}

/// `A1 = sigmoid(Xb W1^T + b1)`, then `Z2 = A1 W2^T` (the output layer adds `b2`).
pub(crate) fn forward<T: Real>(params: &Params<T>, block: &mut Block<'_, T>) {
    let (h, rows, d) = (params.hidden(), block.rows, THETA1_COLS - 1);
    let (theta1, theta2) = (params.theta1(), params.theta2());
    // W1^T[k][j] = theta1[j * 401 + 1 + k].
    linalg::gemm(
        block.a1,
        Layout::col_major(rows, h),
        false,
        (block.xb, Layout::row_major(rows, d)),
        (&theta1[1..], Layout::strided(d, h, 1, THETA1_COLS)),
        1,
    );
    for (j, column) in block.a1.chunks_exact_mut(rows).enumerate() {
        let bias = theta1[j * THETA1_COLS];
        for v in column {
            *v = sigmoid(*v + bias);
        }
    }
    // Row-major, rows x 10; W2^T[k][o] = theta2[o * (h + 1) + 1 + k].
    linalg::gemm(
        block.z2,
        Layout::row_major(rows, OUTPUTS),
        false,
        (block.a1, Layout::col_major(rows, h)),
        (&theta2[1..], Layout::strided(h, OUTPUTS, 1, h + 1)),
        1,
    );
}

/// The block's gradient sums, added to `grad`: `G2 += [colsum D2 | D2^T A1]`, then
/// `D1 = (D2 W2) * A1 * (1 - A1)` and `G1 += [colsum D1 | D1^T Xb]`.
pub(crate) fn backward<T: Real>(params: &Params<T>, block: &Block<'_, T>, d1: &mut [T], grad: &mut Params<T>) {
    let (h, rows, d) = (params.hidden(), block.rows, THETA1_COLS - 1);
    let (h1, theta2) = (h + 1, params.theta2());
    let (a1, z2, xb) = (&*block.a1, &*block.z2, block.xb);
    let (g1, g2) = grad.split_mut();
    for row in z2.chunks_exact(OUTPUTS) {
        for (o, &dz) in row.iter().enumerate() {
            g2[o * h1] += dz;
        }
    }
    // g2 is 10 x (h + 1), written past its bias column; D2^T is z2 (rows x 10) read with
    // strides (1, 10).
    linalg::gemm(
        &mut g2[1..],
        Layout::strided(OUTPUTS, h, h1, 1),
        true,
        (z2, Layout::strided(OUTPUTS, rows, 1, OUTPUTS)),
        (a1, Layout::col_major(rows, h)),
        1,
    );
    // W2[o][j] = theta2[o * (h + 1) + 1 + j].
    linalg::gemm(
        d1,
        Layout::col_major(rows, h),
        false,
        (z2, Layout::row_major(rows, OUTPUTS)),
        (&theta2[1..], Layout::strided(OUTPUTS, h, h1, 1)),
        1,
    );
    for (dv, &a) in d1.iter_mut().zip(a1.iter()) {
        *dv *= a * (T::ONE - a);
    }
    for (j, column) in d1.chunks_exact(rows).enumerate() {
        g1[j * THETA1_COLS] += column.iter().fold(T::ZERO, |acc, &dv| acc + dv);
    }
    // g1 is h x 401, written past its bias column; D1^T (h x rows) is d1 read row-major.
    linalg::gemm(
        &mut g1[1..],
        Layout::strided(h, d, THETA1_COLS, 1),
        true,
        (d1, Layout::row_major(h, rows)),
        (xb, Layout::row_major(rows, d)),
        1,
    );
}
