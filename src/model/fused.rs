//! The fused CPU step for x86-64 CPUs with AVX2 and FMA: the two large products of the
//! step, `Xb W1^T` (forward) and `D1^T Xb` (backward), computed by register-tiled loops
//! that read the data block in its own row-major layout. The GEMM library must copy
//! ("pack") each block of X into its own layout before every product, twice per step;
//! here X is read as it lies, once from memory per step, and the bias and sigmoid run
//! on the tile while it is still in registers.
//!
//! The loops are plain Rust over constant-size tiles with `mul_add`, compiled with AVX2
//! and FMA enabled (checked at run time) and vectorised by the compiler; the same code
//! serves f32 and f64. The small products of the output layer stay with `gemm`.
//! [`super::kernel`] (the `gemm` path) runs where AVX2/FMA is missing, and checks this one
//! in the tests.

use std::sync::OnceLock;

use super::kernel::{PassStats, gemm_into, output_layer, sigmoid};
use super::{OUTPUTS, Params, THETA1_COLS};
use crate::data::SamplesView;
use crate::real::Real;

/// Rows per block: a 128-row strip of 16 features (8 KiB in f32) and the block's deltas
/// (128 x H) stay in the 48 KiB L1 cache during the backward product.
pub const BLOCK_ROWS: usize = 128;
/// Rows of one register tile. A tile is 6 rows x 2 vectors: 12 accumulators, 2 vector
/// loads and 1 broadcast, 15 of AVX2's 16 registers (the shape of `gemm`'s own kernel).
const MR: usize = 6;

/// Whether the fused kernel runs here: x86-64 with AVX2 and FMA, unless
/// `DPSTUDY_KERNEL=gemm` asks for the portable path (for comparison).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        if std::env::var("DPSTUDY_KERNEL").as_deref() == Ok("gemm") {
            return false;
        }
        #[cfg(target_arch = "x86_64")]
        {
            is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// SIMD lanes of `T` in a 256-bit register.
fn lanes<T: Real>() -> usize {
    32 / std::mem::size_of::<T>()
}

/// Scratch space for one thread.
#[derive(Debug, Clone)]
pub struct Workspace<T> {
    hidden: usize,
    /// Hidden units rounded up to whole SIMD vectors.
    padded: usize,
    /// W1^T, `FEATURES x padded`, zero in the padding; repacked each call (80 KiB).
    w1t: Vec<T>,
    /// Hidden biases, zero in the padding.
    b1: Vec<T>,
    /// Activations and deltas of one block, row-major `BLOCK_ROWS x padded`.
    a1: Vec<T>,
    d1: Vec<T>,
    z2: Vec<T>,
}

impl<T: Real> Workspace<T> {
    pub fn new(hidden: usize) -> Self {
        let padded = hidden.div_ceil(lanes::<T>()) * lanes::<T>();
        let features = THETA1_COLS - 1;
        Self {
            hidden,
            padded,
            w1t: vec![T::ZERO; features * padded],
            b1: vec![T::ZERO; padded],
            a1: vec![T::ZERO; BLOCK_ROWS * padded],
            d1: vec![T::ZERO; BLOCK_ROWS * padded],
            z2: vec![T::ZERO; BLOCK_ROWS * OUTPUTS],
        }
    }
}

/// Forward (and, with `grad`, backward) pass over `x`; the contract of
/// [`super::kernel::forward_backward`], which calls this when [`available`].
pub fn forward_backward<T: Real>(
    params: &Params<T>,
    x: SamplesView<'_, T>,
    grad: Option<&mut Params<T>>,
    ws: &mut Workspace<T>,
) -> PassStats {
    assert!(available(), "fused kernel called on a CPU without AVX2/FMA");
    assert_eq!(ws.hidden, params.hidden(), "workspace built for another hidden size");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AVX2 and FMA are present (asserted above).
    unsafe {
        if lanes::<T>() == 8 { run::<T, 16, 8>(params, x, grad, ws) } else { run::<T, 8, 4>(params, x, grad, ws) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!()
}

/// Calls `$f::<T, R, W>` for the tile shape `(mr, width)`: `mr` in 1..=6 rows and `width`
/// `$w2` (two vectors) or `$w1` (one).
macro_rules! dispatch_tile {
    ($f:ident::<$t:ty>[$w2:ident, $w1:ident]($mr:expr, $width:expr)($($arg:expr),*)) => {{
        let (mr, width) = ($mr, $width);
        macro_rules! rows {
            ($r:literal) => {
                if width == $w2 {
                    $f::<$t, $r, $w2>($($arg),*)
                } else {
                    debug_assert_eq!(width, $w1);
                    $f::<$t, $r, $w1>($($arg),*)
                }
            };
        }
        match mr {
            6 => rows!(6),
            5 => rows!(5),
            4 => rows!(4),
            3 => rows!(3),
            2 => rows!(2),
            _ => rows!(1),
        }
    }};
}

/// The width of the next column tile: `full` (two vectors of `vector` lanes), or what is
/// left, in whole vectors.
fn tile_width(left: usize, full: usize, vector: usize) -> usize {
    if left >= full { full } else { left.div_ceil(vector) * vector }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run<T: Real, const W2: usize, const W1: usize>(
    params: &Params<T>,
    x: SamplesView<'_, T>,
    mut grad: Option<&mut Params<T>>,
    ws: &mut Workspace<T>,
) -> PassStats {
    let (h, hp, d) = (ws.hidden, ws.padded, x.dim);
    assert_eq!(d, THETA1_COLS - 1, "samples of the wrong width");
    assert_eq!(d % lanes::<T>(), 0, "the feature count must fill whole vectors");
    let (theta1, theta2) = (params.theta1(), params.theta2());
    for j in 0..h {
        ws.b1[j] = theta1[j * THETA1_COLS];
        for k in 0..d {
            ws.w1t[k * hp + j] = theta1[j * THETA1_COLS + 1 + k];
        }
    }
    let mut stats = PassStats { samples: x.len(), ..PassStats::default() };

    for start in (0..x.len()).step_by(BLOCK_ROWS) {
        let rows = BLOCK_ROWS.min(x.len() - start);
        let xb = x.features[start * d..(start + rows) * d].as_ptr();
        let labels = &x.labels[start..start + rows];

        // A1 = sigmoid(Xb W1^T + b1), row-major rows x hp.
        let mut j0 = 0;
        while j0 < hp {
            let width = tile_width(hp - j0, W2, W1);
            let mut i0 = 0;
            while i0 < rows {
                let mr = MR.min(rows - i0);
                // SAFETY: rows i0..i0+mr of xb, columns j0..j0+width of w1t/b1/a1 exist.
                unsafe {
                    dispatch_tile!(forward_tile::<T>[W2, W1](mr, width)(
                        xb.add(i0 * d),
                        d,
                        ws.w1t.as_ptr().add(j0),
                        ws.b1.as_ptr().add(j0),
                        hp,
                        ws.a1.as_mut_ptr().add(i0 * hp + j0)
                    ));
                }
                i0 += mr;
            }
            j0 += width;
        }

        // Output layer: Z2 = A1 W2^T + b2, cost, accuracy, D2 (gemm: 10 x H is small).
        let (a1, z2, d1) = (&ws.a1[..rows * hp], &mut ws.z2[..rows * OUTPUTS], &mut ws.d1[..rows * hp]);
        // SAFETY: z2 is rows x 10, a1 rows x hp (h used), theta2 10 x (h + 1).
        unsafe {
            gemm_into(
                (rows, OUTPUTS, h),
                (z2.as_mut_ptr(), OUTPUTS, 1),
                false,
                (a1.as_ptr(), hp, 1),
                (theta2.as_ptr().add(1), 1, h + 1),
                T::ONE,
            );
        }
        output_layer(z2, labels, theta2, h, &mut stats);

        let Some(grad) = grad.as_deref_mut() else { continue };
        let (g1, g2) = grad.split_mut();
        // G2 += [colsum D2 | D2^T A1]; D1 = (D2 W2) * A1 * (1 - A1).
        for row in z2.chunks_exact(OUTPUTS) {
            for (o, &v) in row.iter().enumerate() {
                g2[o * (h + 1)] += v;
            }
        }
        // SAFETY: as above; d1 is rows x hp (h written).
        unsafe {
            gemm_into(
                (OUTPUTS, h, rows),
                (g2.as_mut_ptr().add(1), h + 1, 1),
                true,
                (z2.as_ptr(), 1, OUTPUTS),
                (a1.as_ptr(), hp, 1),
                T::ONE,
            );
            gemm_into(
                (rows, h, OUTPUTS),
                (d1.as_mut_ptr(), hp, 1),
                false,
                (z2.as_ptr(), OUTPUTS, 1),
                (theta2.as_ptr().add(1), h + 1, 1),
                T::ONE,
            );
        }
        for (drow, arow) in d1.chunks_exact_mut(hp).zip(a1.chunks_exact(hp)) {
            for (dv, &av) in drow[..h].iter_mut().zip(&arow[..h]) {
                *dv *= av * (T::ONE - av);
            }
            for (j, &dv) in drow[..h].iter().enumerate() {
                g1[j * THETA1_COLS] += dv;
            }
        }

        // G1[:, 1..] += D1^T Xb: feature strips outside, so a strip of Xb stays in L1
        // while every tile of hidden units passes over it.
        let mut k0 = 0;
        while k0 < d {
            let width = tile_width(d - k0, W2, W1);
            let mut j0 = 0;
            while j0 < h {
                let mr = MR.min(h - j0);
                // SAFETY: rows 0..rows of d1 (hp wide) and xb (d wide); g1 is h x 401.
                unsafe {
                    dispatch_tile!(backward_tile::<T>[W2, W1](mr, width)(
                        d1.as_ptr().add(j0),
                        hp,
                        xb.add(k0),
                        d,
                        rows,
                        g1.as_mut_ptr().add(j0 * THETA1_COLS + 1 + k0)
                    ));
                }
                j0 += mr;
            }
            k0 += width;
        }
    }
    stats
}

/// `a1[r][c] = sigmoid(b[c] + sum_k x[r][k] w1t[k][c])` for an `R x W` tile.
///
/// # Safety
/// `x` must hold `R` rows of `d` elements (stride `d`), `w1t` `d` rows of at least `W`
/// elements (stride `hp`), `b` `W` elements, `a1` `R` rows of `W` (stride `hp`).
#[inline(always)]
unsafe fn forward_tile<T: Real, const R: usize, const W: usize>(
    x: *const T,
    d: usize,
    w1t: *const T,
    b: *const T,
    hp: usize,
    a1: *mut T,
) {
    let mut acc = [[T::ZERO; W]; R];
    for k in 0..d {
        // SAFETY: within the bounds the caller promises.
        let w = unsafe { std::ptr::read_unaligned(w1t.add(k * hp) as *const [T; W]) };
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let xv = unsafe { *x.add(r * d + k) };
            for c in 0..W {
                acc_r[c] = xv.mul_add(w[c], acc_r[c]);
            }
        }
    }
    let bias = unsafe { std::ptr::read_unaligned(b as *const [T; W]) };
    for (r, acc_r) in acc.iter().enumerate() {
        let mut out = [T::ZERO; W];
        for c in 0..W {
            out[c] = sigmoid(acc_r[c] + bias[c]);
        }
        unsafe { std::ptr::write_unaligned(a1.add(r * hp) as *mut [T; W], out) };
    }
}

/// `g[r][c] += sum_i d1[i][r] x[i][c]` for an `R x W` tile of G1, over `rows` rows.
///
/// # Safety
/// `d1` must hold `rows` rows with `R` elements each (stride `hp`), `x` `rows` rows with
/// `W` elements each (stride `d`), `g` `R` rows of `W` elements (stride 401).
#[inline(always)]
unsafe fn backward_tile<T: Real, const R: usize, const W: usize>(
    d1: *const T,
    hp: usize,
    x: *const T,
    d: usize,
    rows: usize,
    g: *mut T,
) {
    let mut acc = [[T::ZERO; W]; R];
    for i in 0..rows {
        // SAFETY: within the bounds the caller promises.
        let xv = unsafe { std::ptr::read_unaligned(x.add(i * d) as *const [T; W]) };
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let dv = unsafe { *d1.add(i * hp + r) };
            for c in 0..W {
                acc_r[c] = dv.mul_add(xv[c], acc_r[c]);
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        let row = unsafe { g.add(r * THETA1_COLS) };
        let mut cur = unsafe { std::ptr::read_unaligned(row as *const [T; W]) };
        for c in 0..W {
            cur[c] += acc_r[c];
        }
        unsafe { std::ptr::write_unaligned(row as *mut [T; W], cur) };
    }
}
