//! The CPU forward and backward pass over blocks of rows, on slices: the entry point
//! [`forward_backward`] dispatches to one of two kernels that compute the same sums in a
//! different order, the [`fused`] one (x86-64, compiled for AVX-512 or for AVX2 and FMA)
//! and the portable [`gemm`] one, which share the [`output`] layer. The arrows run one way:
//! this module uses the kernels, the kernels use `output`, and nothing in them uses this
//! module.
//!
//! Which kernel runs is two questions kept apart: whether this CPU *can* run the fused
//! tiles of an instruction set ([`fused::Isa::supported`], the condition their unsafe code
//! relies on), and which kernel the user *asked* for (`DPSTUDY_KERNEL`, [`KernelChoice`]).
//! [`KernelKind`] names both (`fused-avx512`, `fused-avx2`, `gemm`), and every result
//! records the one that ran.
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

pub mod fused;
pub mod gemm;
pub mod output;

use super::Params;
use crate::data::SamplesView;
use crate::real::Real;

pub use output::PassStats;

/// What `DPSTUDY_KERNEL` asks for: `fused-avx512`, `fused-avx2`, `fused` (the widest
/// fused kernel this CPU runs), `gemm`, or (unset or `auto`) the faster one this CPU runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelChoice {
    Auto,
    Only(KernelKind),
}

/// The environment variable that picks the kernel.
pub const KERNEL_VAR: &str = "DPSTUDY_KERNEL";

/// A `DPSTUDY_KERNEL` that cannot be honoured, named in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelChoiceError {
    #[error(
        "{KERNEL_VAR}={0}: this CPU lacks the instruction set that kernel needs (fused-avx2: AVX2 and FMA; fused-avx512: AVX-512 F and VL too)"
    )]
    Unsupported(&'static str),
    #[error("{KERNEL_VAR}={0}: expected `auto`, `fused`, `fused-avx512`, `fused-avx2` or `gemm`")]
    Unknown(String),
    #[error("{KERNEL_VAR} is not UTF-8")]
    NotUnicode,
}

impl KernelChoice {
    /// `value` as `DPSTUDY_KERNEL` takes it.
    pub fn parse(value: &str) -> Result<Self, KernelChoiceError> {
        let kind = match value {
            "" | "auto" => return Ok(Self::Auto),
            "fused" => KernelKind::best_fused().ok_or(KernelChoiceError::Unsupported("fused"))?,
            "fused-avx512" => KernelKind::FusedAvx512,
            "fused-avx2" => KernelKind::FusedAvx2,
            "gemm" => KernelKind::Gemm,
            other => return Err(KernelChoiceError::Unknown(other.to_string())),
        };
        if kind.runs_here() { Ok(Self::Only(kind)) } else { Err(KernelChoiceError::Unsupported(kind.as_str())) }
    }

    /// The choice in this process's environment, checked; commands call this first so a
    /// bad value stops them with its name before anything runs.
    pub fn from_env() -> Result<Self, KernelChoiceError> {
        match std::env::var(KERNEL_VAR) {
            Ok(value) => Self::parse(&value),
            Err(std::env::VarError::NotPresent) => Ok(Self::Auto),
            Err(std::env::VarError::NotUnicode(_)) => Err(KernelChoiceError::NotUnicode),
        }
    }

    /// The choice of this process, read once (an invalid value counts as `auto` here:
    /// [`KernelChoice::from_env`] has rejected it at the command's start).
    fn current() -> Self {
        static CHOICE: std::sync::OnceLock<KernelChoice> = std::sync::OnceLock::new();
        *CHOICE.get_or_init(|| Self::from_env().unwrap_or(Self::Auto))
    }
}

/// Scratch space for one thread, for whichever kernel runs on this CPU.
#[derive(Debug, Clone)]
pub enum Workspace<T> {
    Fused(fused::Workspace<T>),
    Gemm(gemm::Workspace<T>),
}

/// Which implementation of the step runs, and on which instruction set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KernelKind {
    /// [`fused`] compiled for AVX-512 (F and VL).
    FusedAvx512,
    /// [`fused`] compiled for AVX2 and FMA.
    FusedAvx2,
    /// `gemm` for every product: anywhere.
    Gemm,
}

impl KernelKind {
    /// Every kernel, the widest fused one first.
    pub const ALL: [Self; 3] = [Self::FusedAvx512, Self::FusedAvx2, Self::Gemm];

    /// The name `DPSTUDY_KERNEL`, `bench` and the results use.
    pub fn as_str(self) -> &'static str {
        match self {
            KernelKind::FusedAvx512 => "fused-avx512",
            KernelKind::FusedAvx2 => "fused-avx2",
            KernelKind::Gemm => "gemm",
        }
    }

    /// The instruction set of a fused kernel.
    fn isa(self) -> Option<fused::Isa> {
        match self {
            KernelKind::FusedAvx512 => Some(fused::Isa::Avx512),
            KernelKind::FusedAvx2 => Some(fused::Isa::Avx2),
            KernelKind::Gemm => None,
        }
    }

    /// Whether this CPU runs it.
    pub fn runs_here(self) -> bool {
        self.isa().is_none_or(fused::Isa::supported)
    }

    /// The fused kernel of the widest instruction set this CPU runs.
    fn best_fused() -> Option<Self> {
        fused::Isa::best().map(|isa| match isa {
            fused::Isa::Avx512 => KernelKind::FusedAvx512,
            fused::Isa::Avx2 => KernelKind::FusedAvx2,
        })
    }

    /// The kernel this process uses when H and the rows do not matter: the one
    /// `DPSTUDY_KERNEL` names, else the widest fused one this CPU runs.
    pub fn detect() -> Self {
        match KernelChoice::current() {
            KernelChoice::Only(kind) => kind,
            KernelChoice::Auto => Self::best_fused().unwrap_or(Self::Gemm),
        }
    }

    /// Every kernel this CPU can run, the widest fused one first (benchmarks and tests
    /// compare them whatever `DPSTUDY_KERNEL` says).
    pub fn runnable() -> Vec<Self> {
        Self::ALL.into_iter().filter(|k| k.runs_here()).collect()
    }

    /// The faster kernel for `hidden` units and `rows` rows per call, as measured by
    /// `dpstudy bench` (artifact/bench). AVX2: the fused kernel wins for the study's H <= 50
    /// on full batches and on mini-batches of 256, and up to H = 128 on full batches; it
    /// repacks W1 on every call and its tiles suit small H, so the `gemm` kernel wins for
    /// H = 400 (in f64; in f32 they are within a few per cent) and for mini-batches at
    /// H = 128 and beyond. AVX-512 (measured on this study's AMD EPYC, N = 70,000): the fused
    /// kernel wins on full batches at every H from 25 to 1,600 and on mini-batches of 256 up
    /// to H = 128; at H = 400 on mini-batches the two are within 2% (gemm ahead in f64).
    pub fn choose(hidden: usize, rows: usize) -> Self {
        const FUSED_ANY_ROWS_MAX_HIDDEN: usize = 64;
        const FUSED_MAX_HIDDEN: usize = 128;
        const FUSED_MIN_ROWS: usize = 2048;
        let best = Self::best_fused();
        let fused_wins = match best {
            Some(KernelKind::FusedAvx512) => hidden <= FUSED_MAX_HIDDEN || rows >= FUSED_MIN_ROWS,
            _ => hidden <= FUSED_ANY_ROWS_MAX_HIDDEN || (hidden <= FUSED_MAX_HIDDEN && rows >= FUSED_MIN_ROWS),
        };
        match KernelChoice::current() {
            KernelChoice::Only(kind) => kind,
            KernelChoice::Auto if fused_wins => best.unwrap_or(Self::Gemm),
            KernelChoice::Auto => Self::Gemm,
        }
    }
}

impl<T: Real> Workspace<T> {
    /// A workspace for the kernel [`KernelKind::detect`] picks.
    pub fn new(hidden: usize) -> Self {
        Self::for_kind(hidden, KernelKind::detect())
    }

    /// A workspace for `kind` (which must be runnable here: the fused kernel asserts it).
    pub fn for_kind(hidden: usize, kind: KernelKind) -> Self {
        match kind.isa() {
            Some(isa) => Self::Fused(fused::Workspace::new(hidden, isa)),
            None => Self::Gemm(gemm::Workspace::new(hidden)),
        }
    }
}

/// Forward pass over `x`, and, when `grad` is given, the backward pass adding the gradient
/// sums into it. Returns the cost sum and the count of correct predictions. Runs the
/// kernel the workspace was made for.
pub fn forward_backward<T: Real>(
    params: &Params<T>,
    x: SamplesView<'_, T>,
    grad: Option<&mut Params<T>>,
    ws: &mut Workspace<T>,
) -> PassStats {
    match ws {
        Workspace::Fused(ws) => fused::forward_backward(params, x, grad, ws),
        Workspace::Gemm(ws) => gemm::forward_backward(params, x, grad, ws),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_choices_parse_and_unknown_ones_name_the_variable() {
        assert_eq!(KernelChoice::parse("auto"), Ok(KernelChoice::Auto));
        assert_eq!(KernelChoice::parse(""), Ok(KernelChoice::Auto));
        assert_eq!(KernelChoice::parse("gemm"), Ok(KernelChoice::Only(KernelKind::Gemm)));
        for (name, kind) in [("fused-avx512", KernelKind::FusedAvx512), ("fused-avx2", KernelKind::FusedAvx2)] {
            match KernelChoice::parse(name) {
                Ok(choice) => assert!(kind.runs_here() && choice == KernelChoice::Only(kind)),
                Err(e) => assert!(!kind.runs_here() && e.to_string().contains("lacks the instruction set"), "{e}"),
            }
        }
        // `fused`: the widest fused kernel this CPU runs.
        let fused = KernelChoice::parse("fused");
        match KernelKind::best_fused() {
            Some(kind) => assert_eq!(fused, Ok(KernelChoice::Only(kind))),
            None => assert!(fused.unwrap_err().to_string().contains("AVX2")),
        }
        let e = KernelChoice::parse("GEMM").unwrap_err().to_string();
        assert!(e.contains("DPSTUDY_KERNEL=GEMM") && e.contains("`gemm`"), "{e}");
    }

    #[test]
    fn the_runnable_kernels_follow_the_cpu_not_the_choice() {
        let kinds = KernelKind::runnable();
        assert_eq!(kinds.contains(&KernelKind::FusedAvx2), fused::Isa::Avx2.supported());
        assert_eq!(kinds.contains(&KernelKind::FusedAvx512), fused::Isa::Avx512.supported());
        assert!(kinds.contains(&KernelKind::Gemm));
    }
}
