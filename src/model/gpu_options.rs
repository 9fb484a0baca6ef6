//! The GPU path's optimisations, one by one, so that a GPU run can measure what each buys
//! (`artifact/gpu/run-on-device.sh` turns them off in turn). All are on unless the
//! environment variable `DPSTUDY_GPU_OFF` names them, comma-separated; none changes what is
//! computed beyond the order of floating-point sums, which the parity checks bound.

use std::collections::BTreeSet;

use crate::data::FEATURES;

/// The environment variable that turns optimisations off.
pub const OFF_VAR: &str = "DPSTUDY_GPU_OFF";

/// One optimisation of the GPU path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Optimization {
    /// CUDA's memory pool keeps what it frees. Its default release threshold (0) returns
    /// the memory to the driver at every synchronisation, and the trainer synchronises
    /// every step (it reads the cost), so each step mapped its buffers again.
    Pool,
    /// No CUDA events per buffer use. cudarc records them to order several streams; candle
    /// issues everything on one stream, so they only cost host time per operation.
    Events,
    /// The inputs' bias column and features padded with zero columns to [`ALIGNED_COLUMNS`],
    /// so the two large GEMMs read rows at 32-byte multiples: with 401 columns cuBLAS
    /// cannot use its aligned kernels (nor, in f64, the tensor-core ones).
    Align,
    /// The hidden layer's error (the product with the output weights, K = 10, and the
    /// sigmoid's derivative) in one kernel instead of a GEMM and 3 passes, and the output
    /// layer's cost and error in one kernel instead of about 12 (see `model::tensor_ops`).
    Fuse,
}

impl Optimization {
    pub const ALL: [Optimization; 4] = [Self::Pool, Self::Events, Self::Align, Self::Fuse];

    /// Its name in `DPSTUDY_GPU_OFF`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pool => "pool",
            Self::Events => "events",
            Self::Align => "align",
            Self::Fuse => "fuse",
        }
    }
}

/// Input columns with [`Optimization::Align`]: the bias and 400 features, then 7 zeros.
pub const ALIGNED_COLUMNS: usize = 408;
// 8 columns: 32 bytes in f32, 64 in f64.
const _: () = assert!(ALIGNED_COLUMNS > FEATURES && ALIGNED_COLUMNS.is_multiple_of(8));

/// Which optimisations are on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GpuOptions {
    off: BTreeSet<Optimization>,
}

impl GpuOptions {
    /// Everything on.
    pub fn all() -> Self {
        Self::default()
    }

    /// From a `DPSTUDY_GPU_OFF` value such as `"pool,fuse"` (empty: everything on).
    pub fn with_off(list: &str) -> anyhow::Result<Self> {
        let mut off = BTreeSet::new();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some(o) = Optimization::ALL.into_iter().find(|o| o.name() == name) else {
                let known: Vec<_> = Optimization::ALL.iter().map(|o| o.name()).collect();
                anyhow::bail!("{OFF_VAR}={list}: unknown optimisation `{name}` (known: {})", known.join(", "));
            };
            off.insert(o);
        }
        Ok(Self { off })
    }

    /// From the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var(OFF_VAR) {
            Ok(list) => Self::with_off(&list),
            Err(std::env::VarError::NotPresent) => Ok(Self::all()),
            Err(e) => anyhow::bail!("{OFF_VAR}: {e}"),
        }
    }

    pub fn is_on(&self, o: Optimization) -> bool {
        !self.off.contains(&o)
    }

    /// Columns of the inputs (bias included) on the device.
    pub fn input_columns(&self) -> usize {
        if self.is_on(Optimization::Align) { ALIGNED_COLUMNS } else { FEATURES + 1 }
    }

    /// What is off, for logs and file names ("all on" when nothing is).
    pub fn describe(&self) -> String {
        if self.off.is_empty() {
            "all on".into()
        } else {
            let names: Vec<_> = self.off.iter().map(|o| o.name()).collect();
            format!("off: {}", names.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_turn_optimisations_off_and_unknown_ones_are_refused() {
        let o = GpuOptions::with_off(" pool, fuse ,").unwrap();
        assert!(!o.is_on(Optimization::Pool) && !o.is_on(Optimization::Fuse));
        assert!(o.is_on(Optimization::Events) && o.is_on(Optimization::Align));
        assert_eq!(o.describe(), "off: pool,fuse");
        assert_eq!(GpuOptions::with_off("").unwrap(), GpuOptions::all());
        assert_eq!(GpuOptions::all().input_columns(), ALIGNED_COLUMNS);
        assert_eq!(GpuOptions::with_off("align").unwrap().input_columns(), 401);
        let err = GpuOptions::with_off("pool,tf32").unwrap_err().to_string();
        assert!(err.contains("DPSTUDY_GPU_OFF=pool,tf32") && err.contains("`tf32`") && err.contains("align"), "{err}");
    }
}
