//! The CPU forward and backward pass over blocks of rows, on slices: the entry point
//! [`forward_backward`], the output layer both implementations share, and the portable
//! implementation with the `gemm` crate (the GEMM candle's CPU backend uses). On x86-64
//! with AVX2 and FMA the [`fused`] kernel runs instead (`DPSTUDY_KERNEL=gemm` forces this
//! one); both compute the same sums in a different order.
//!
//! Per block of rows (small enough that the block of X, its hidden activations and deltas
//! stay in cache while it is used):
//!
//! ```text
//! A1 = sigmoid(Xb W1^T + b1)           Z2 = A1 W2^T + b2
//! cost += sum_k softplus(Z2) - Z2[label]   (= binary cross-entropy with one-hot labels)
//! D2 = sigmoid(Z2) - Y                 G2 += [colsum D2 | D2^T A1]
//! D1 = (D2 W2) * A1 * (1 - A1)         G1 += [colsum D1 | D1^T Xb]
//! ```
//!
//! X is read once per step; no gradient is formed for X; nothing is allocated per call.
//! The gradient is accumulated as a *sum* over samples: the caller divides by the global
//! sample count, which lets data-parallel ranks add their sums before dividing.
//! The cost uses the softplus form, `-log(sigmoid(z)) = softplus(-z)`, which equals the
//! textbook `-y log a - (1 - y) log(1 - a)` but never takes the log of a rounded-off 0.

use gemm::Parallelism;

use super::{OUTPUTS, Params, THETA1_COLS, fused};
use crate::data::SamplesView;
use crate::real::Real;

/// Rows per block: 256 rows of 400 f64 features are 800 KiB.
pub const ROW_BLOCK: usize = 256;

/// Scratch space for one thread, for whichever kernel runs on this CPU.
#[derive(Debug, Clone)]
pub enum Workspace<T> {
    Fused(fused::Workspace<T>),
    Gemm(GemmWorkspace<T>),
}

/// Which implementation of the step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelKind {
    /// [`fused`]: x86-64 with AVX2 and FMA.
    Fused,
    /// `gemm` for every product: anywhere.
    Gemm,
}

impl KernelKind {
    /// The fused kernel where this CPU runs it (`DPSTUDY_KERNEL=gemm` forces the portable one).
    pub fn detect() -> Self {
        if fused::available() { Self::Fused } else { Self::Gemm }
    }

    /// The faster kernel for `hidden` units and `rows` rows per call, as measured by
    /// `dpstudy bench` (artifact/bench): the fused kernel wins for the study's H <= 50 on
    /// full batches and on mini-batches of 256, and up to H = 128 on full batches; it
    /// repacks W1 on every call and its tiles suit small H, so the `gemm` kernel wins for
    /// H = 400 (in f64; in f32 they are within a few per cent) and for mini-batches at
    /// H = 128 and beyond.
    pub fn choose(hidden: usize, rows: usize) -> Self {
        const FUSED_ANY_ROWS_MAX_HIDDEN: usize = 64;
        const FUSED_MAX_HIDDEN: usize = 128;
        const FUSED_MIN_ROWS: usize = 2048;
        let fused_wins = hidden <= FUSED_ANY_ROWS_MAX_HIDDEN || (hidden <= FUSED_MAX_HIDDEN && rows >= FUSED_MIN_ROWS);
        match Self::detect() {
            Self::Fused if fused_wins => Self::Fused,
            _ => Self::Gemm,
        }
    }
}

impl<T: Real> Workspace<T> {
    /// A workspace for the kernel [`KernelKind::detect`] picks.
    pub fn new(hidden: usize) -> Self {
        Self::for_kind(hidden, KernelKind::detect())
    }

    /// A workspace for `kind` (which must be runnable here).
    pub fn for_kind(hidden: usize, kind: KernelKind) -> Self {
        match kind {
            KernelKind::Fused => Self::Fused(fused::Workspace::new(hidden)),
            KernelKind::Gemm => Self::Gemm(GemmWorkspace::new(hidden)),
        }
    }
}

/// Forward pass over `x`, and, when `grad` is given, the backward pass adding the gradient
/// sums into it. Returns the cost sum and the count of correct predictions. Runs the
/// fused kernel where the CPU has AVX2 and FMA, the `gemm` kernel elsewhere.
pub fn forward_backward<T: Real>(
    params: &Params<T>,
    x: SamplesView<'_, T>,
    grad: Option<&mut Params<T>>,
    ws: &mut Workspace<T>,
) -> PassStats {
    match ws {
        Workspace::Fused(ws) => fused::forward_backward(params, x, grad, ws),
        Workspace::Gemm(ws) => forward_backward_gemm(params, x, grad, ws),
    }
}

/// Scratch space of the `gemm` kernel: activations and deltas of one block.
#[derive(Debug, Clone)]
pub struct GemmWorkspace<T> {
    hidden: usize,
    a1: Vec<T>,
    d1: Vec<T>,
    z2: Vec<T>,
}

impl<T: Real> GemmWorkspace<T> {
    pub fn new(hidden: usize) -> Self {
        Self {
            hidden,
            a1: vec![T::ZERO; ROW_BLOCK * hidden],
            d1: vec![T::ZERO; ROW_BLOCK * hidden],
            z2: vec![T::ZERO; ROW_BLOCK * OUTPUTS],
        }
    }
}

/// Sums over the samples a pass visited.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PassStats {
    /// Sum over samples of the per-sample cost (divide by the sample count for the cost).
    pub cost_sum: f64,
    /// Samples whose largest output is at their label.
    pub correct: usize,
    pub samples: usize,
}

impl PassStats {
    pub fn merge(&mut self, other: PassStats) {
        self.cost_sum += other.cost_sum;
        self.correct += other.correct;
        self.samples += other.samples;
    }
}

#[inline(always)]
pub(crate) fn sigmoid<T: Real>(z: T) -> T {
    T::ONE / (T::ONE + (T::ZERO - z).exp())
}

/// The output layer of a block, shared by both kernels: adds the biases to `z2` (rows x
/// 10), adds the block's cost and correct predictions to `stats`, and replaces `z2` by
/// the output deltas `D2 = sigmoid(Z2) - Y`.
///
/// Four rows at a time (40 outputs, whole SIMD vectors in f32 and f64) go through one
/// branch-free pass the compiler vectorises; the label-dependent parts stay per row.
#[inline(always)]
pub(crate) fn output_layer<T: Real>(z2: &mut [T], labels: &[u8], theta2: &[T], hidden: usize, stats: &mut PassStats) {
    const ROWS: usize = 4;
    const N: usize = ROWS * OUTPUTS;
    let h1 = hidden + 1;
    let done = z2.len() / N * ROWS;
    let bias: [T; N] = std::array::from_fn(|e| theta2[(e % OUTPUTS) * h1]);
    let mut chunks = z2.chunks_exact_mut(N);
    for (chunk, labels) in (&mut chunks).zip(labels.chunks_exact(ROWS)) {
        let chunk: &mut [T; N] = chunk.try_into().expect("chunks_exact");
        for (z, b) in chunk.iter_mut().zip(&bias) {
            *z += *b;
        }
        let mut label_z = [T::ZERO; ROWS];
        for (r, &label) in labels.iter().enumerate() {
            let row = &chunk[r * OUTPUTS..(r + 1) * OUTPUTS];
            stats.correct += usize::from(argmax(row) == usize::from(label));
            label_z[r] = row[usize::from(label)];
        }
        // e = e^-|z|: softplus(z) = max(z, 0) + ln(1 + e); sigmoid(z) = 1 / (1 + e) for
        // z >= 0 and e / (1 + e) otherwise. One exp serves both.
        let mut softplus = [T::ZERO; N];
        for (z, sp) in chunk.iter_mut().zip(softplus.iter_mut()) {
            let e = (T::ZERO - z.abs()).exp();
            let positive = if *z > T::ZERO { *z } else { T::ZERO };
            *sp = positive + e.ln_1p_unit();
            let inv = T::ONE / (T::ONE + e);
            *z = if *z >= T::ZERO { inv } else { e * inv };
        }
        for (r, &label) in labels.iter().enumerate() {
            let row_cost = softplus[r * OUTPUTS..(r + 1) * OUTPUTS].iter().fold(0.0, |acc, &v| acc + v.to_f64());
            stats.cost_sum += row_cost - label_z[r].to_f64();
            chunk[r * OUTPUTS + usize::from(label)] -= T::ONE;
        }
    }
    for (row, &label) in chunks.into_remainder().chunks_exact_mut(OUTPUTS).zip(&labels[done..]) {
        output_row(row, label, theta2, h1, stats);
    }
}

/// [`output_layer`] for one row (the rows after the last group of four).
#[inline(always)]
fn output_row<T: Real>(row: &mut [T], label: u8, theta2: &[T], h1: usize, stats: &mut PassStats) {
    for (o, z) in row.iter_mut().enumerate() {
        *z += theta2[o * h1];
    }
    let label = usize::from(label);
    stats.correct += usize::from(argmax(row) == label);
    let mut cost = -row[label].to_f64();
    for (o, z) in row.iter_mut().enumerate() {
        let e = (T::ZERO - z.abs()).exp();
        let positive = if *z > T::ZERO { *z } else { T::ZERO };
        cost += (positive + e.ln_1p_unit()).to_f64();
        let inv = T::ONE / (T::ONE + e);
        *z = if *z >= T::ZERO { inv } else { e * inv } - if o == label { T::ONE } else { T::ZERO };
    }
    stats.cost_sum += cost;
}

/// `dst (m x n, row stride dst_rs) (=|+=) lhs (m x k) * rhs (k x n)`, every operand given by
/// its pointer and (row stride, column stride).
///
/// # Safety
/// Every index `i * rs + j * cs` inside the given shapes must lie inside its allocation.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) unsafe fn gemm_into<T: 'static + Copy>(
    (m, n, k): (usize, usize, usize),
    dst: (*mut T, usize, usize),
    accumulate: bool,
    lhs: (*const T, usize, usize),
    rhs: (*const T, usize, usize),
    one: T,
) {
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.0,
            dst.2 as isize,
            dst.1 as isize,
            accumulate,
            lhs.0,
            lhs.2 as isize,
            lhs.1 as isize,
            rhs.0,
            rhs.2 as isize,
            rhs.1 as isize,
            one,
            one,
            false,
            false,
            false,
            Parallelism::None,
        )
    }
}

/// [`forward_backward`] with `gemm` for every product: portable, and the reference the
/// fused kernel is tested against.
pub fn forward_backward_gemm<T: Real>(
    params: &Params<T>,
    x: SamplesView<'_, T>,
    mut grad: Option<&mut Params<T>>,
    ws: &mut GemmWorkspace<T>,
) -> PassStats {
    let h = params.hidden();
    assert_eq!(ws.hidden, h, "workspace built for another hidden size");
    assert_eq!(x.dim, THETA1_COLS - 1, "samples of the wrong width");
    let (theta1, theta2) = (params.theta1(), params.theta2());
    let h1 = h + 1;
    let mut stats = PassStats { samples: x.len(), ..PassStats::default() };

    for start in (0..x.len()).step_by(ROW_BLOCK) {
        let rows = ROW_BLOCK.min(x.len() - start);
        let xb = &x.features[start * x.dim..(start + rows) * x.dim];
        let labels = &x.labels[start..start + rows];
        let a1 = &mut ws.a1[..rows * h];
        let z2 = &mut ws.z2[..rows * OUTPUTS];
        let d1 = &mut ws.d1[..rows * h];

        // A1 and D1 are stored column-major (`a1[j * rows + i]`): gemm's register tile is
        // 16 rows tall, so the block's rows, not the H hidden units, should be the rows it
        // tiles, and the per-unit bias and sigmoid then run over contiguous memory.

        // A1 = sigmoid(Xb W1^T + b1); W1^T[k][j] = theta1[j * 401 + 1 + k].
        // SAFETY: shapes and strides below stay inside a1, xb and theta1 (see the layout).
        unsafe {
            gemm_into(
                (rows, h, x.dim),
                (a1.as_mut_ptr(), 1, rows),
                false,
                (xb.as_ptr(), x.dim, 1),
                (theta1.as_ptr().add(1), 1, THETA1_COLS),
                T::ONE,
            );
        }
        for (j, column) in a1.chunks_exact_mut(rows).enumerate() {
            let bias = theta1[j * THETA1_COLS];
            for v in column {
                *v = sigmoid(*v + bias);
            }
        }

        // Z2 = A1 W2^T + b2 (row-major, rows x 10); W2^T[k][o] = theta2[o * (h + 1) + 1 + k].
        // SAFETY: as above, for z2, a1 and theta2.
        unsafe {
            gemm_into(
                (rows, OUTPUTS, h),
                (z2.as_mut_ptr(), OUTPUTS, 1),
                false,
                (a1.as_ptr(), 1, rows),
                (theta2.as_ptr().add(1), 1, h1),
                T::ONE,
            );
        }
        output_layer(z2, labels, theta2, h, &mut stats);

        let Some(grad) = grad.as_deref_mut() else {
            continue;
        };
        let (g1, g2) = grad.split_mut();

        // G2 += [colsum D2 | D2^T A1].
        for row in z2.chunks_exact(OUTPUTS) {
            for (o, &d) in row.iter().enumerate() {
                g2[o * h1] += d;
            }
        }
        // SAFETY: g2 is 10 x (h + 1); D2^T is read with strides (1, 10) from z2 (rows x 10).
        unsafe {
            gemm_into(
                (OUTPUTS, h, rows),
                (g2.as_mut_ptr().add(1), h1, 1),
                true,
                (z2.as_ptr(), 1, OUTPUTS),
                (a1.as_ptr(), 1, rows),
                T::ONE,
            );
        }
        // D1 = (D2 W2) * A1 * (1 - A1); W2[o][j] = theta2[o * (h + 1) + 1 + j].
        // SAFETY: d1 is rows x h (column-major), z2 rows x 10, theta2 10 x (h + 1).
        unsafe {
            gemm_into(
                (rows, h, OUTPUTS),
                (d1.as_mut_ptr(), 1, rows),
                false,
                (z2.as_ptr(), OUTPUTS, 1),
                (theta2.as_ptr().add(1), h1, 1),
                T::ONE,
            );
        }
        for (d, &a) in d1.iter_mut().zip(a1.iter()) {
            *d *= a * (T::ONE - a);
        }
        // G1 += [colsum D1 | D1^T Xb].
        for (j, column) in d1.chunks_exact(rows).enumerate() {
            g1[j * THETA1_COLS] += column.iter().fold(T::ZERO, |acc, &d| acc + d);
        }
        // SAFETY: g1 is h x 401; D1^T (h x rows) is d1 read row-major with stride rows.
        unsafe {
            gemm_into(
                (h, x.dim, rows),
                (g1.as_mut_ptr().add(1), THETA1_COLS, 1),
                true,
                (d1.as_ptr(), rows, 1),
                (xb.as_ptr(), x.dim, 1),
                T::ONE,
            );
        }
    }
    stats
}

/// Index of the first largest entry.
#[inline(always)]
fn argmax<T: Real>(row: &[T]) -> usize {
    let mut best = 0;
    for (o, &z) in row.iter().enumerate().skip(1) {
        if z > row[best] {
            best = o;
        }
    }
    best
}
