//! The fused CPU step for x86-64 CPUs with AVX-512 or AVX2 and FMA: every product of the step
//! computed by register-tiled loops over one block of rows at a time, reading the data
//! block in its own row-major layout. The GEMM library must copy ("pack") each block of X
//! into its own layout before every product, twice per step; here X is read as it lies,
//! once from memory per step, the bias and sigmoid run on a tile while it is still in
//! registers, and the small products of the output layer are tiles too (through `gemm`
//! they cost several times their arithmetic in call and packing overhead).
//!
//! The loops are plain Rust over constant-size tiles with `mul_add`, vectorised by the
//! compiler; the same code serves f32 and f64 and both instruction sets ([`Isa`]): it is
//! inlined into one entry point per set (`run_avx2`, `run_avx512`), compiled with that set
//! enabled (checked at run time), with tiles as many lanes wide as its registers.
//! [`super::gemm`] (the portable path) runs where AVX2/FMA is missing, and checks this one
//! in the tests.
//!
//! Per block of rows, with the register tile of each product (for f32; f64 has half the
//! lanes):
//!
//! | product | tile |
//! | --- | --- |
//! | `A1 = sigmoid(Xb W1^T + b1)` | 6 rows x 16 units: X broadcast, a W1^T panel from L1 |
//! | the last `H mod 8` units, if at most 2 | 4 rows x 2 units, along the features |
//! | `Z2 = A1 W2^T` | 6 rows x 16 lanes for the 10 outputs |
//! | `G2 += D2^T A1` | 5 outputs x 16 units |
//! | `D1 = (D2 W2) * A1 * (1 - A1)` | 6 rows x 16 units, the bias gradient on the way |
//! | `G1 += D1^T Xb` | 6 units x 16 features: a strip of X from L1 |
//!
//! While a block is computed, the next block of X is prefetched into L2: without it the
//! first pass over each block waited on memory (4 of the 37 ms of the forward product at
//! N = 70,000, H = 48, f32, on the reference machine).

use std::sync::OnceLock;

use super::output::{PassStats, output_layer, sigmoid};
use crate::data::SamplesView;
use crate::model::{OUTPUTS, Params, THETA1_COLS};
use crate::real::Real;

/// Rows per block: a 128-row strip of 16 features (8 KiB in f32) and the block's deltas
/// (128 x H) stay in the L1 cache during the backward product. (The `gemm` kernel, which
/// streams through its own packing, uses 256.)
pub const BLOCK_ROWS: usize = 128;
/// Rows of one register tile. A tile is 6 rows x 2 vectors: 12 accumulators, 2 vector
/// loads and 1 broadcast, 15 of AVX2's 16 registers (the shape of `gemm`'s own kernel).
const MR: usize = 6;
/// Hidden units past the last whole vector that go to the dot-product tile: computing
/// them in a zero-padded vector panel costs a whole vector per row and feature (for
/// H = 50 in f32, 8 columns' work for 2, a tenth of the forward product); more than two
/// would not leave the dot tile its registers.
const DOT_MAX_UNITS: usize = 2;
/// Rows of a dot-product tile: 4 rows x 2 units = 8 accumulators.
const DOT_ROWS: usize = 4;
/// Outputs of one `G2` tile (two tiles cover the 10).
const G2_OUTPUTS: usize = OUTPUTS / 2;
/// Bytes in a cache line.
const CACHE_LINE: usize = 64;

/// The instruction set the tiles are compiled for: the same Rust loops, vectorised by the
/// compiler for 256-bit (AVX2) or 512-bit (AVX-512) registers, with the workspace laid out
/// in that many lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// x86-64 with AVX2 and FMA: 16 registers of 256 bits.
    Avx2,
    /// x86-64 with AVX-512 F and VL (and AVX2, FMA): 32 registers of 512 bits.
    Avx512,
}

impl Isa {
    /// Whether this CPU runs tiles of this instruction set. This is the condition the
    /// kernel's `unsafe` code relies on, and nothing else: which kernel the user asked for
    /// is [`super::KernelChoice`]'s question.
    pub fn supported(self) -> bool {
        static SUPPORTED: OnceLock<(bool, bool)> = OnceLock::new();
        let (avx2, avx512) = *SUPPORTED.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
                let avx512 = avx2 && is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl");
                (avx2, avx512)
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                (false, false)
            }
        });
        match self {
            Isa::Avx2 => avx2,
            Isa::Avx512 => avx512,
        }
    }

    /// The widest this CPU runs, if any.
    pub fn best() -> Option<Self> {
        [Isa::Avx512, Isa::Avx2].into_iter().find(|isa| isa.supported())
    }

    /// Bytes of one vector register.
    fn vector_bytes(self) -> usize {
        match self {
            Isa::Avx2 => 32,
            Isa::Avx512 => 64,
        }
    }

    /// SIMD lanes of `T` in one register.
    fn lanes<T: Real>(self) -> usize {
        self.vector_bytes() / std::mem::size_of::<T>()
    }

    /// The 10 outputs rounded up to whole vectors (AVX2: 16 in f32, 12 in f64; AVX-512: 16
    /// in both): the width of a `Z2` tile and the row stride of the packed W2^T.
    fn outputs_padded<T: Real>(self) -> usize {
        OUTPUTS.div_ceil(self.lanes::<T>()) * self.lanes::<T>()
    }
}

/// Whether this CPU can run the fused tiles at all (AVX2 and FMA at least).
pub fn cpu_supported() -> bool {
    Isa::Avx2.supported()
}

/// Scratch space for one thread, laid out for one instruction set.
#[derive(Debug, Clone)]
pub struct Workspace<T> {
    isa: Isa,
    hidden: usize,
    /// Hidden units computed by the vector panels of the forward product (whole vectors);
    /// the units after them (at most [`DOT_MAX_UNITS`]) go to the dot-product tile.
    vector_units: usize,
    /// Hidden units rounded up to whole vectors: the row stride of `a1` and `d1`.
    padded: usize,
    /// W1^T in column panels, repacked each call (80 KiB in f32): the panel of a column tile
    /// (units `j0 .. j0 + width`) is `FEATURES x width`, row-major and contiguous, zero in
    /// the padding, so that it stays in L1 while the tiles of one block pass over it. Read
    /// from a `FEATURES x padded` W1^T instead, the rows straddle cache lines and a panel's
    /// lines overflow a 32 KiB L1: the f32 step at N = 70,000, H = 50 took 108 ms instead
    /// of 81 on the reference machine. Over-allocated by a cache line so that the panels
    /// can start on one.
    w1p: Vec<T>,
    /// Hidden biases, zero in the padding.
    b1: Vec<T>,
    /// W2^T, `hidden x outputs_padded`, zero past the 10 outputs.
    w2t: Vec<T>,
    /// W2 without its bias column, `10 x padded`, zero in the padding.
    w2p: Vec<T>,
    /// Activations and deltas of one block, row-major `BLOCK_ROWS x padded`; the padding
    /// columns hold finite values (0, or sigmoid(0) where a padded panel computes them),
    /// which the zeros of `w2t`/`w2p` cancel.
    a1: Vec<T>,
    d1: Vec<T>,
    /// Pre-activations, then deltas, of the outputs of one block, `BLOCK_ROWS x 10`.
    z2: Vec<T>,
    /// Gradient sums of one call, added to the caller's gradient at its end: `D2^T A1`
    /// (`10 x padded`), the column sums of D1 (`padded`) and of D2 (10).
    g2_sum: Vec<T>,
    b1_sum: Vec<T>,
    b2_sum: [T; OUTPUTS],
}

impl<T: Real> Workspace<T> {
    /// A workspace for tiles of `isa` (which must run here: the kernel asserts it).
    pub fn new(hidden: usize, isa: Isa) -> Self {
        let lanes = isa.lanes::<T>();
        let padded = hidden.div_ceil(lanes) * lanes;
        let left = hidden % lanes;
        let vector_units = if left <= DOT_MAX_UNITS { hidden - left } else { padded };
        let features = THETA1_COLS - 1;
        Self {
            isa,
            hidden,
            vector_units,
            padded,
            w1p: vec![T::ZERO; features * vector_units + CACHE_LINE / std::mem::size_of::<T>()],
            b1: vec![T::ZERO; padded],
            w2t: vec![T::ZERO; hidden * isa.outputs_padded::<T>()],
            w2p: vec![T::ZERO; OUTPUTS * padded],
            a1: vec![T::ZERO; BLOCK_ROWS * padded],
            d1: vec![T::ZERO; BLOCK_ROWS * padded],
            z2: vec![T::ZERO; BLOCK_ROWS * OUTPUTS],
            g2_sum: vec![T::ZERO; OUTPUTS * padded],
            b1_sum: vec![T::ZERO; padded],
            b2_sum: [T::ZERO; OUTPUTS],
        }
    }
}

/// Forward (and, with `grad`, backward) pass over `x`; the contract of
/// [`super::forward_backward`]. Panics on a CPU that lacks the workspace's instruction set.
pub fn forward_backward<T: Real>(
    params: &Params<T>,
    x: SamplesView<'_, T>,
    grad: Option<&mut Params<T>>,
    ws: &mut Workspace<T>,
) -> PassStats {
    assert!(ws.isa.supported(), "fused kernel for {:?} called on a CPU without it", ws.isa);
    assert_eq!(ws.hidden, params.hidden(), "workspace built for another hidden size");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has the instruction set the entry point enables (asserted above).
    // Const arguments: two vectors, one vector, the padded outputs, rows of a Z2 tile (12
    // accumulators, 6 for AVX-512's one vector of f32 outputs).
    unsafe {
        match (ws.isa, ws.isa.lanes::<T>()) {
            (Isa::Avx2, 8) => run_avx2::<T, 16, 8, 16, 6>(params, x, grad, ws),
            (Isa::Avx2, _) => run_avx2::<T, 8, 4, 12, 4>(params, x, grad, ws),
            (Isa::Avx512, 16) => run_avx512::<T, 32, 16, 16, 6>(params, x, grad, ws),
            (Isa::Avx512, _) => run_avx512::<T, 16, 8, 16, 6>(params, x, grad, ws),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!()
}

/// The step compiled for AVX2 and FMA: [`run`] and every phase and tile inlined into it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<T: Real, const W2: usize, const W1: usize, const OW: usize, const ZR: usize>(
    params: &Params<T>,
    x: SamplesView<'_, T>,
    grad: Option<&mut Params<T>>,
    ws: &mut Workspace<T>,
) -> PassStats {
    // SAFETY: the caller checked AVX2 and FMA; `run`'s contract is the caller's.
    unsafe { run::<T, W2, W1, OW, ZR>(params, x, grad, ws) }
}

/// The same step compiled for AVX-512: the same loops over vectors twice as wide.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn run_avx512<T: Real, const W2: usize, const W1: usize, const OW: usize, const ZR: usize>(
    params: &Params<T>,
    x: SamplesView<'_, T>,
    grad: Option<&mut Params<T>>,
    ws: &mut Workspace<T>,
) -> PassStats {
    // SAFETY: the caller checked AVX-512 F and VL, AVX2 and FMA; as above.
    unsafe { run::<T, W2, W1, OW, ZR>(params, x, grad, ws) }
}

/// Calls `$f::<T, R, W>` for the tile shape `(rows, width)`: `rows` one of the listed
/// literals and `width` `$w2` (two vectors) or `$w1` (one).
macro_rules! dispatch_tile {
    ($f:ident::<$t:ty>[$($n:literal),+; $w2:ident, $w1:ident]($rows:expr, $width:expr)($($arg:expr),*)) => {{
        let (rows, width) = ($rows, $width);
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
        match rows {
            $($n => rows!($n),)+
            _ => unreachable!("no tile of {rows} rows"),
        }
    }};
}

/// The width of the next column tile: `full` (two vectors of `vector` lanes), or what is
/// left, in whole vectors.
fn tile_width(left: usize, full: usize, vector: usize) -> usize {
    if left >= full { full } else { left.div_ceil(vector) * vector }
}

/// Spreads software prefetches of the next block of X over the calls of a block's
/// forward product, so that the block is in L2 when its turn comes.
struct Prefetch {
    next: *const u8,
    lines: usize,
    per_call: usize,
    done: usize,
}

impl Prefetch {
    fn new<T>(next: &[T], calls: usize) -> Self {
        let lines = std::mem::size_of_val(next) / CACHE_LINE;
        Self { next: next.as_ptr().cast(), lines, per_call: lines.div_ceil(calls.max(1)), done: 0 }
    }

    /// Issues the prefetches of one call.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn step(&mut self) {
        use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
        let end = (self.done + self.per_call).min(self.lines);
        for line in self.done..end {
            // SAFETY: a prefetch never faults, and `line` lies inside `next` anyway.
            unsafe { _mm_prefetch(self.next.add(line * CACHE_LINE).cast(), _MM_HINT_T1) };
        }
        self.done = end;
    }
}

/// The step over `x`, block by block: each phase below is one product of the block (the
/// table in the module's doc). Everything from here down is inlined into the entry point of
/// an instruction set ([`run_avx2`], [`run_avx512`]) and compiled for it.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn run<T: Real, const W2: usize, const W1: usize, const OW: usize, const ZR: usize>(
    params: &Params<T>,
    x: SamplesView<'_, T>,
    mut grad: Option<&mut Params<T>>,
    ws: &mut Workspace<T>,
) -> PassStats {
    let (h, d, hv) = (ws.hidden, x.dim, ws.vector_units);
    assert_eq!(d, THETA1_COLS - 1, "samples of the wrong width");
    assert_eq!(d % W1, 0, "the feature count must fill whole vectors");
    assert_eq!(OW, ws.isa.outputs_padded::<T>());
    let (theta1, theta2) = (params.theta1(), params.theta2());
    let w1p = pack_weights::<T, W2, W1, OW>(theta1, theta2, ws);
    if grad.is_some() {
        ws.g2_sum.fill(T::ZERO);
        ws.b1_sum.fill(T::ZERO);
        ws.b2_sum = [T::ZERO; OUTPUTS];
    }
    let mut stats = PassStats { samples: x.len(), ..PassStats::default() };

    for start in (0..x.len()).step_by(BLOCK_ROWS) {
        let rows = BLOCK_ROWS.min(x.len() - start);
        let xb = x.features[start * d..(start + rows) * d].as_ptr();
        let labels = &x.labels[start..start + rows];
        let next = &x.features[(start + rows) * d..((start + rows + BLOCK_ROWS) * d).min(x.features.len())];
        let mut prefetch = Prefetch::new(next, hv.div_ceil(W2) * rows.div_ceil(MR));
        // SAFETY: every call of the block reads `rows` rows of `d` features from `xb`, the
        // packed panels of `hv` units from `w1p`, and a workspace built for `h` units.
        unsafe {
            hidden_panels::<T, W2, W1>(xb, rows, w1p, ws, &mut prefetch);
            hidden_dot_units::<T, W1>(xb, rows, theta1, ws);
            output_products::<T, OW, ZR>(rows, ws);
        }
        output_layer(&mut ws.z2[..rows * OUTPUTS], labels, theta2, h, &mut stats);
        let Some(grad) = grad.as_deref_mut() else { continue };
        // SAFETY: as above; `grad` is the gradient of `h` units.
        unsafe {
            output_weight_sums::<T, W2, W1>(rows, ws);
            hidden_deltas::<T, W2, W1>(rows, ws);
            hidden_weight_sums::<T, W2, W1>(xb, rows, grad.split_mut().0, ws);
        }
    }
    if let Some(grad) = grad {
        add_call_sums(grad, ws);
    }
    stats
}

/// `A1 = sigmoid(Xb W1^T + b1)` for the units of the vector panels, panel by panel.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn hidden_panels<T: Real, const W2: usize, const W1: usize>(
    xb: *const T,
    rows: usize,
    w1p: *const T,
    ws: &mut Workspace<T>,
    prefetch: &mut Prefetch,
) {
    let (d, hp, hv) = (THETA1_COLS - 1, ws.padded, ws.vector_units);
    let mut j0 = 0;
    while j0 < hv {
        let width = tile_width(hv - j0, W2, W1);
        let mut i0 = 0;
        while i0 < rows {
            let mr = MR.min(rows - i0);
            prefetch.step();
            // SAFETY: rows i0..i0+mr of xb, the panel at j0 (d x width), columns
            // j0..j0+width of b1 and of a1's rows.
            unsafe {
                dispatch_tile!(forward_tile::<T>[6, 5, 4, 3, 2, 1; W2, W1](mr, width)(
                    xb.add(i0 * d),
                    d,
                    w1p.add(j0 * d),
                    ws.b1.as_ptr().add(j0),
                    hp,
                    ws.a1.as_mut_ptr().add(i0 * hp + j0)
                ));
            }
            i0 += mr;
        }
        j0 += width;
    }
}

/// The last units of A1, from W1's own rows (none where a padded panel took them).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn hidden_dot_units<T: Real, const W1: usize>(xb: *const T, rows: usize, theta1: &[T], ws: &mut Workspace<T>) {
    let (d, h, hp, hv) = (THETA1_COLS - 1, ws.hidden, ws.padded, ws.vector_units);
    let dot_units = h.saturating_sub(hv);
    if dot_units == 0 {
        return;
    }
    let mut i0 = 0;
    while i0 < rows {
        let mr = DOT_ROWS.min(rows - i0);
        // SAFETY: rows i0..i0+mr of xb; rows hv..h of theta1 (401 wide); columns hv..h of
        // b1 and of a1's rows.
        unsafe {
            let args = (
                xb.add(i0 * d),
                d,
                theta1.as_ptr().add(hv * THETA1_COLS + 1),
                ws.b1.as_ptr().add(hv),
                hp,
                ws.a1.as_mut_ptr().add(i0 * hp + hv),
            );
            macro_rules! dot {
                ($r:literal) => {
                    if dot_units == 2 {
                        forward_dot_tile::<T, $r, 2, W1>(args)
                    } else {
                        forward_dot_tile::<T, $r, 1, W1>(args)
                    }
                };
            }
            match mr {
                4 => dot!(4),
                3 => dot!(3),
                2 => dot!(2),
                _ => dot!(1),
            }
        }
        i0 += mr;
    }
}

/// `Z2 = A1 W2^T` (the output layer adds the biases, then computes the cost, the accuracy
/// and D2 in place).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn output_products<T: Real, const OW: usize, const ZR: usize>(rows: usize, ws: &mut Workspace<T>) {
    let (h, hp) = (ws.hidden, ws.padded);
    let (a1, z2) = (&ws.a1[..rows * hp], &mut ws.z2[..rows * OUTPUTS]);
    let mut i0 = 0;
    while i0 < rows {
        let mr = ZR.min(rows - i0);
        // SAFETY: rows i0..i0+mr of a1 (h used) and z2; w2t is h x OW.
        unsafe {
            dispatch_tile!(z2_tile::<T>[6, 5, 4, 3, 2, 1; OW, OW](mr, OW)(
                a1.as_ptr().add(i0 * hp),
                hp,
                h,
                ws.w2t.as_ptr(),
                z2.as_mut_ptr().add(i0 * OUTPUTS)
            ));
        }
        i0 += mr;
    }
}

/// The output weights' gradient sums of the block: `[colsum D2 | D2^T A1]`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn output_weight_sums<T: Real, const W2: usize, const W1: usize>(rows: usize, ws: &mut Workspace<T>) {
    let hp = ws.padded;
    let (a1, z2) = (&ws.a1[..rows * hp], &ws.z2[..rows * OUTPUTS]);
    for row in z2.chunks_exact(OUTPUTS) {
        for (sum, &v) in ws.b2_sum.iter_mut().zip(row) {
            *sum += v;
        }
    }
    for o0 in [0, G2_OUTPUTS] {
        let mut j0 = 0;
        while j0 < hp {
            let width = tile_width(hp - j0, W2, W1);
            // SAFETY: outputs o0..o0+5 of z2's rows, columns j0..j0+width of a1's rows and
            // of g2_sum's rows o0..o0+5 (10 x hp).
            unsafe {
                dispatch_tile!(g2_tile::<T>[5; W2, W1](G2_OUTPUTS, width)(
                    z2.as_ptr().add(o0),
                    rows,
                    a1.as_ptr().add(j0),
                    hp,
                    ws.g2_sum.as_mut_ptr().add(o0 * hp + j0)
                ));
            }
            j0 += width;
        }
    }
}

/// `D1 = (D2 W2) * A1 * (1 - A1)`, and its column sums (the hidden biases' gradient).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn hidden_deltas<T: Real, const W2: usize, const W1: usize>(rows: usize, ws: &mut Workspace<T>) {
    let hp = ws.padded;
    let (a1, z2, d1) = (&ws.a1[..rows * hp], &ws.z2[..rows * OUTPUTS], &mut ws.d1[..rows * hp]);
    let mut j0 = 0;
    while j0 < hp {
        let width = tile_width(hp - j0, W2, W1);
        let mut i0 = 0;
        while i0 < rows {
            let mr = MR.min(rows - i0);
            // SAFETY: rows i0..i0+mr of z2, a1 and d1; columns j0..j0+width of w2p's 10
            // rows, of a1, d1 and b1_sum.
            unsafe {
                dispatch_tile!(d1_tile::<T>[6, 5, 4, 3, 2, 1; W2, W1](mr, width)(
                    z2.as_ptr().add(i0 * OUTPUTS),
                    ws.w2p.as_ptr().add(j0),
                    hp,
                    a1.as_ptr().add(i0 * hp + j0),
                    d1.as_mut_ptr().add(i0 * hp + j0),
                    ws.b1_sum.as_mut_ptr().add(j0)
                ));
            }
            i0 += mr;
        }
        j0 += width;
    }
}

/// `G1[:, 1..] += D1^T Xb`: feature strips outside, so a strip of Xb stays in L1 while
/// every tile of hidden units passes over it.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn hidden_weight_sums<T: Real, const W2: usize, const W1: usize>(
    xb: *const T,
    rows: usize,
    g1: &mut [T],
    ws: &Workspace<T>,
) {
    let (d, h, hp) = (THETA1_COLS - 1, ws.hidden, ws.padded);
    let d1 = &ws.d1[..rows * hp];
    let mut k0 = 0;
    while k0 < d {
        let width = tile_width(d - k0, W2, W1);
        let mut j0 = 0;
        while j0 < h {
            let mr = MR.min(h - j0);
            // SAFETY: rows 0..rows of d1 (hp wide) and xb (d wide); g1 is h x 401.
            unsafe {
                dispatch_tile!(backward_tile::<T>[6, 5, 4, 3, 2, 1; W2, W1](mr, width)(
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

/// Adds the call's sums (the biases' gradients and `D2^T A1`) to the caller's gradient.
fn add_call_sums<T: Real>(grad: &mut Params<T>, ws: &Workspace<T>) {
    let (h, hp) = (ws.hidden, ws.padded);
    let (g1, g2) = grad.split_mut();
    for (j, &sum) in ws.b1_sum[..h].iter().enumerate() {
        g1[j * THETA1_COLS] += sum;
    }
    for (o, g2_row) in g2.chunks_exact_mut(h + 1).enumerate() {
        g2_row[0] += ws.b2_sum[o];
        for (g, &sum) in g2_row[1..].iter_mut().zip(&ws.g2_sum[o * hp..o * hp + h]) {
            *g += sum;
        }
    }
}

/// Copies this call's weights into the workspace's tile layouts (zeros stay in the
/// padding) and returns where the W1^T panels start.
fn pack_weights<T: Real, const W2: usize, const W1: usize, const OW: usize>(
    theta1: &[T],
    theta2: &[T],
    ws: &mut Workspace<T>,
) -> *const T {
    let (h, hp, hv) = (ws.hidden, ws.padded, ws.vector_units);
    let d = THETA1_COLS - 1;
    let start = ws.w1p.as_ptr().align_offset(CACHE_LINE);
    let w1p = &mut ws.w1p[start..start + d * hv];
    let mut j0 = 0;
    while j0 < hv {
        let width = tile_width(hv - j0, W2, W1);
        let panel = &mut w1p[j0 * d..(j0 + width) * d];
        for c in 0..width.min(h - j0) {
            let row = &theta1[(j0 + c) * THETA1_COLS + 1..(j0 + c + 1) * THETA1_COLS];
            for (k, &w) in row.iter().enumerate() {
                panel[k * width + c] = w;
            }
        }
        j0 += width;
    }
    for j in 0..h {
        ws.b1[j] = theta1[j * THETA1_COLS];
        for o in 0..OUTPUTS {
            let w = theta2[o * (h + 1) + 1 + j];
            ws.w2t[j * OW + o] = w;
            ws.w2p[o * hp + j] = w;
        }
    }
    w1p.as_ptr()
}

/// `a1[r][c] = sigmoid(b[c] + sum_k x[r][k] w[k][c])` for an `R x W` tile.
///
/// # Safety
/// `x` must hold `R` rows of `d` elements (stride `d`), `w` (a panel) `d` rows of `W`
/// elements (stride `W`), `b` `W` elements, `a1` `R` rows of `W` (stride `hp`).
#[inline(always)]
unsafe fn forward_tile<T: Real, const R: usize, const W: usize>(
    x: *const T,
    d: usize,
    w: *const T,
    b: *const T,
    hp: usize,
    a1: *mut T,
) {
    let mut acc = [[T::ZERO; W]; R];
    for k in 0..d {
        // SAFETY: k < d: row k of the d x W panel `w` the caller promises.
        let w = unsafe { std::ptr::read_unaligned(w.add(k * W) as *const [T; W]) };
        for (r, acc_r) in acc.iter_mut().enumerate() {
            // SAFETY: r < R and k < d: row r, feature k of the R x d rows the caller promises.
            let xv = unsafe { *x.add(r * d + k) };
            for c in 0..W {
                acc_r[c] = xv.mul_add(w[c], acc_r[c]);
            }
        }
    }
    // SAFETY: `b` holds W elements (the caller's promise).
    let bias = unsafe { std::ptr::read_unaligned(b as *const [T; W]) };
    for (r, acc_r) in acc.iter().enumerate() {
        let mut out = [T::ZERO; W];
        for c in 0..W {
            out[c] = sigmoid(acc_r[c] + bias[c]);
        }
        // SAFETY: r < R: row r of the R rows of W elements at stride hp the caller promises.
        unsafe { std::ptr::write_unaligned(a1.add(r * hp) as *mut [T; W], out) };
    }
}

/// `a1[r][c] = sigmoid(b[c] + x[r] . w[c])` for `R` rows and `C` hidden units, with the
/// features along the `L` lanes: for the few units past the vector panels, whose W1 rows
/// are read as they lie in theta1.
///
/// # Safety
/// `x` must hold `R` rows of `d` elements (stride `d`, `d` a multiple of `L`), `w` `C`
/// rows of `d` elements (stride 401), `b` `C` elements, `a1` `R` rows of `C` (stride `hp`).
#[inline(always)]
unsafe fn forward_dot_tile<T: Real, const R: usize, const C: usize, const L: usize>(
    (x, d, w, b, hp, a1): (*const T, usize, *const T, *const T, usize, *mut T),
) {
    let mut acc = [[[T::ZERO; L]; C]; R];
    for k in (0..d).step_by(L) {
        let wv: [[T; L]; C] = std::array::from_fn(|c| {
            // SAFETY: c < C and k + L <= d: inside row c of `w` (stride 401).
            unsafe { std::ptr::read_unaligned(w.add(c * THETA1_COLS + k) as *const [T; L]) }
        });
        for (r, acc_r) in acc.iter_mut().enumerate() {
            // SAFETY: r < R and k + L <= d (d a multiple of L): inside row r of `x`.
            let xv = unsafe { std::ptr::read_unaligned(x.add(r * d + k) as *const [T; L]) };
            for (acc_rc, wv_c) in acc_r.iter_mut().zip(&wv) {
                for l in 0..L {
                    acc_rc[l] = xv[l].mul_add(wv_c[l], acc_rc[l]);
                }
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        for (c, &acc_rc) in acc_r.iter().enumerate() {
            // SAFETY: r < R, c < C: inside row r of `a1` and the C biases of `b`.
            unsafe { *a1.add(r * hp + c) = sigmoid(tree_sum(acc_rc) + *b.add(c)) };
        }
    }
}

/// The lanes' sum, halving the vector each round (what the compiler turns into a few
/// shuffles and adds; a left-to-right sum would be a chain of `L` dependent adds).
#[inline(always)]
fn tree_sum<T: Real, const L: usize>(mut v: [T; L]) -> T {
    let mut n = L;
    while n > 1 {
        n /= 2;
        for i in 0..n {
            v[i] += v[i + n];
        }
    }
    v[0]
}

/// `z2[r][o] = sum_j a1[r][j] w2t[j][o]` over the `h` hidden units for `R` rows, the 10
/// outputs held in `OW` lanes.
///
/// # Safety
/// `a1` must hold `R` rows of `h` elements (stride `hp`), `w2t` `h` rows of `OW` (stride
/// `OW`), `z2` `R` rows of 10 (stride 10).
#[inline(always)]
unsafe fn z2_tile<T: Real, const R: usize, const OW: usize>(
    a1: *const T,
    hp: usize,
    h: usize,
    w2t: *const T,
    z2: *mut T,
) {
    let mut acc = [[T::ZERO; OW]; R];
    for j in 0..h {
        // SAFETY: j < h: row j of `w2t`, OW elements.
        let w = unsafe { std::ptr::read_unaligned(w2t.add(j * OW) as *const [T; OW]) };
        for (r, acc_r) in acc.iter_mut().enumerate() {
            // SAFETY: r < R and j < h: inside row r of `a1`.
            let av = unsafe { *a1.add(r * hp + j) };
            for c in 0..OW {
                acc_r[c] = av.mul_add(w[c], acc_r[c]);
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        // SAFETY: r < R: row r of `z2`, 10 elements, not aliased while `out` lives.
        let out = unsafe { std::slice::from_raw_parts_mut(z2.add(r * OUTPUTS), OUTPUTS) };
        out.copy_from_slice(&acc_r[..OUTPUTS]);
    }
}

/// `g[o][c] += sum_i d2[i][o] a1[i][c]` for `O` outputs and `W` hidden units over `rows`
/// rows.
///
/// # Safety
/// `d2` must hold `rows` rows of `O` elements (stride 10), `a1` `rows` rows of `W`
/// (stride `hp`), `g` `O` rows of `W` (stride `hp`).
#[inline(always)]
unsafe fn g2_tile<T: Real, const O: usize, const W: usize>(
    d2: *const T,
    rows: usize,
    a1: *const T,
    hp: usize,
    g: *mut T,
) {
    let mut acc = [[T::ZERO; W]; O];
    for i in 0..rows {
        // SAFETY: i < rows: row i of `a1`, W elements.
        let a = unsafe { std::ptr::read_unaligned(a1.add(i * hp) as *const [T; W]) };
        for (o, acc_o) in acc.iter_mut().enumerate() {
            // SAFETY: i < rows and o < O <= 10: inside row i of `d2`.
            let dv = unsafe { *d2.add(i * OUTPUTS + o) };
            for c in 0..W {
                acc_o[c] = dv.mul_add(a[c], acc_o[c]);
            }
        }
    }
    // SAFETY: `g` holds O rows of W at stride hp (the caller's promise), add_tile's contract.
    unsafe { add_tile(&acc, g, hp) };
}

/// `g[r][c] += acc[r][c]` for an `R x W` tile stored with row stride `stride`.
///
/// # Safety
/// `g` must hold `R` rows of `W` elements (stride `stride`).
#[inline(always)]
unsafe fn add_tile<T: Real, const R: usize, const W: usize>(acc: &[[T; W]; R], g: *mut T, stride: usize) {
    for (r, acc_r) in acc.iter().enumerate() {
        // SAFETY: r < R: the start of row r of `g`, inside its allocation.
        let row = unsafe { g.add(r * stride) };
        // SAFETY: `row` starts row r < R of `g`, which holds W elements.
        let mut cur = unsafe { std::ptr::read_unaligned(row as *const [T; W]) };
        for c in 0..W {
            cur[c] += acc_r[c];
        }
        // SAFETY: as for the read above: row r of `g`, W elements.
        unsafe { std::ptr::write_unaligned(row as *mut [T; W], cur) };
    }
}

/// `d1[r][c] = (sum_o d2[r][o] w2[o][c]) * a1[r][c] * (1 - a1[r][c])` for an `R x W`
/// tile, adding the tile's column sums to `b1_sum`.
///
/// # Safety
/// `d2` must hold `R` rows of 10 (stride 10), `w2` 10 rows of `W` (stride `hp`), `a1` and
/// `d1` `R` rows of `W` (stride `hp`), `b1_sum` `W` elements.
#[inline(always)]
unsafe fn d1_tile<T: Real, const R: usize, const W: usize>(
    d2: *const T,
    w2: *const T,
    hp: usize,
    a1: *const T,
    d1: *mut T,
    b1_sum: *mut T,
) {
    let mut acc = [[T::ZERO; W]; R];
    for o in 0..OUTPUTS {
        // SAFETY: o < 10: row o of `w2`, W elements.
        let w = unsafe { std::ptr::read_unaligned(w2.add(o * hp) as *const [T; W]) };
        for (r, acc_r) in acc.iter_mut().enumerate() {
            // SAFETY: r < R and o < 10: inside row r of `d2`.
            let dv = unsafe { *d2.add(r * OUTPUTS + o) };
            for c in 0..W {
                acc_r[c] = dv.mul_add(w[c], acc_r[c]);
            }
        }
    }
    // SAFETY: `b1_sum` holds W elements (the caller's promise).
    let mut sum = unsafe { std::ptr::read_unaligned(b1_sum as *const [T; W]) };
    for (r, acc_r) in acc.iter().enumerate() {
        // SAFETY: r < R: row r of `a1`, W elements.
        let a = unsafe { std::ptr::read_unaligned(a1.add(r * hp) as *const [T; W]) };
        let mut out = [T::ZERO; W];
        for c in 0..W {
            out[c] = acc_r[c] * (a[c] * (T::ONE - a[c]));
            sum[c] += out[c];
        }
        // SAFETY: r < R: row r of `d1`, W elements.
        unsafe { std::ptr::write_unaligned(d1.add(r * hp) as *mut [T; W], out) };
    }
    // SAFETY: `b1_sum` holds W elements, as read above.
    unsafe { std::ptr::write_unaligned(b1_sum as *mut [T; W], sum) };
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
        // SAFETY: i < rows: row i of `x`, W elements.
        let xv = unsafe { std::ptr::read_unaligned(x.add(i * d) as *const [T; W]) };
        for (r, acc_r) in acc.iter_mut().enumerate() {
            // SAFETY: i < rows and r < R: inside row i of `d1`.
            let dv = unsafe { *d1.add(i * hp + r) };
            for c in 0..W {
                acc_r[c] = dv.mul_add(xv[c], acc_r[c]);
            }
        }
    }
    // SAFETY: `g` holds R rows of W at stride 401 (the caller's promise), add_tile's contract.
    unsafe { add_tile(&acc, g, THETA1_COLS) };
}
