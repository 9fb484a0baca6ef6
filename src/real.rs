//! The floating-point element types the trainers run in (f32 and f64).

use std::fmt::Debug;

/// What the CPU kernels need of an element type, on top of candle's `WithDType` (which ties
/// the type to a candle `DType` and converts to and from f64). What MPI's collectives need
/// (`Equivalence`) is asked where they run, in `train::mpi`, not of every numeric routine.
pub trait Real: candle_core::WithDType + Debug + Default {
    const ZERO: Self;
    const ONE: Self;
    /// `ln(1 + x)` for `x` in [0, 1], by the series `2 atanh(x / (2 + x))`: branch-free, so it
    /// vectorises, and accurate to a few ulp also for tiny `x` (where `ln(1 + x)` computed
    /// as a log of the rounded sum would lose everything).
    fn ln_1p_unit(self) -> Self;
    fn abs(self) -> Self;
    fn mul_add(self, a: Self, b: Self) -> Self;
    fn is_finite(self) -> bool;
    /// `e^x` in branch-free arithmetic the compiler can vectorise (the platform `exp` is an
    /// opaque library call per element). Accurate to a few ulp; see the tests.
    fn exp(self) -> Self;
}

/// Round-to-nearest by the add-and-subtract-a-magic-number trick (vectorises on plain
/// SSE2, where `round` is a library call).
macro_rules! round_magic {
    ($x:expr, $magic:expr) => {
        ($x + $magic) - $magic
    };
}

/// The parts of [`Real`] that are the same for f32 and f64; each type adds its own `exp`
/// and `ln_1p_unit` (their constants differ).
macro_rules! impl_real {
    ($t:ty, { $($special:tt)* }) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                <$t>::mul_add(self, a, b)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            $($special)*
        }
    };
}

impl_real!(f32, {
    #[inline(always)]
    fn ln_1p_unit(self) -> Self {
        // s <= 1/3: the terms after s^15/15 are below 2^-24 relative.
        let s = self / (2.0 + self);
        let s2 = s * s;
        let mut p = 1.0 / 15.0_f32;
        for c in [1.0 / 13.0, 1.0 / 11.0, 1.0 / 9.0, 1.0 / 7.0, 1.0 / 5.0, 1.0 / 3.0, 1.0] {
            p = p * s2 + c;
        }
        2.0 * s * p
    }
    /// Cephes `expf`: `x = n ln2 + r`, `|r| <= ln2 / 2`, degree-6 polynomial for `e^r`,
    /// `2^n` put into the exponent bits. Inputs are clamped to the finite range.
    #[inline(always)]
    fn exp(self) -> Self {
        let x = self.clamp(-87.0, 88.0);
        let n = round_magic!(x * std::f32::consts::LOG2_E, 12_582_912.0_f32);
        let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
        let mut p = 1.987_569_1e-4_f32;
        p = p * r + 1.398_199_9e-3;
        p = p * r + 8.333_452e-3;
        p = p * r + 4.166_579_6e-2;
        p = p * r + 1.666_666_5e-1;
        p = p * r + 0.5; // Cephes: 5.0000001201e-1, which rounds to 0.5 in f32
        let er = p * r * r + r + 1.0;
        er * f32::from_bits(((n as i32 + 127) as u32) << 23)
    }
});

impl_real!(f64, {
    #[inline(always)]
    fn ln_1p_unit(self) -> Self {
        // s <= 1/3: the terms after s^35/35 are below 2^-53 relative.
        let s = self / (2.0 + self);
        let s2 = s * s;
        let mut p = 1.0 / 35.0_f64;
        for k in (0..17).rev() {
            p = p * s2 + 1.0 / (2 * k + 1) as f64;
        }
        2.0 * s * p
    }
    /// Cephes `exp`: `x = n ln2 + r`, then the Pade form `e^r = 1 + 2 r P(r^2) / (Q(r^2) -
    /// r P(r^2))`, and `2^n` into the exponent bits. Inputs are clamped to the finite range.
    #[inline(always)]
    fn exp(self) -> Self {
        let x = self.clamp(-708.0, 709.0);
        let n = round_magic!(x * std::f64::consts::LOG2_E, 6_755_399_441_055_744.0_f64);
        let r = x - n * 6.931_457_519_531_25e-1 - n * 1.428_606_820_309_417_2e-6;
        let rr = r * r;
        let px = r * ((1.261_771_930_748_105_9e-4 * rr + 3.029_944_077_074_419_6e-2) * rr + 9.999_999_999_999_999e-1);
        let qx =
            ((3.001_985_051_386_644_5e-6 * rr + 2.524_483_403_496_841e-3) * rr + 2.272_655_482_081_550_3e-1) * rr + 2.0;
        let er = 1.0 + 2.0 * px / (qx - px);
        er * f64::from_bits(((n as i64 + 1023) as u64) << 52)
    }
});

/// The element type chosen on the command line.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    F32,
    F64,
}

impl Dtype {
    /// Bytes of one element.
    pub fn bytes(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }

    /// The `Dtype` of element type `T`.
    pub fn of<T: Real>() -> Self {
        if T::DTYPE == candle_core::DType::F32 { Dtype::F32 } else { Dtype::F64 }
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative error of the fast exp against the platform's correctly-rounded-ish exp.
    fn worst<T: Real>(reference: impl Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
        (0..=200_000)
            .map(|i| lo + (hi - lo) * i as f64 / 200_000.0)
            .map(|x| {
                let got = T::from_f64(x).exp().to_f64();
                let want = reference(T::from_f64(x).to_f64());
                ((got - want) / want).abs()
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn fast_exp_f32_is_within_a_few_ulp() {
        // f32 ulp is 1.19e-7 relative; allow 3 ulp.
        let err = worst::<f32>(|x| (x as f32).exp() as f64, -87.0, 88.0);
        assert!(err < 3.6e-7, "max relative error {err}");
    }

    #[test]
    fn fast_exp_f64_is_within_a_few_ulp() {
        // f64 ulp is 2.2e-16 relative; allow 3 ulp.
        let err = worst::<f64>(f64::exp, -708.0, 709.0);
        assert!(err < 6.7e-16, "max relative error {err}");
    }

    #[test]
    fn ln_1p_unit_is_within_a_few_ulp_also_for_tiny_arguments() {
        let xs = (0..=100_000).map(|i| i as f64 / 100_000.0).chain((1..300).map(|e| 10f64.powi(-e)));
        let (mut e32, mut e64) = (0.0_f64, 0.0_f64);
        for x in xs {
            let want = x.ln_1p();
            if want == 0.0 {
                continue;
            }
            e64 = e64.max((x.ln_1p_unit() - want).abs() / want);
            let x32 = x as f32;
            if x32 > 0.0 && x32.is_normal() {
                let want32 = (x32 as f64).ln_1p();
                e32 = e32.max((x32.ln_1p_unit() as f64 - want32).abs() / want32);
            }
        }
        assert!(e64 < 6.7e-16, "f64 max relative error {e64:e}");
        assert!(e32 < 3.6e-7, "f32 max relative error {e32:e}");
    }

    #[test]
    fn fast_exp_saturates_instead_of_overflowing_to_nan() {
        assert!(Real::exp(1000.0_f64).is_finite() && Real::exp(-1000.0_f64) >= 0.0);
        assert!(Real::exp(200.0_f32).is_finite() && Real::exp(-200.0_f32) >= 0.0);
        assert!(Real::exp(f64::NAN).is_nan());
    }
}
