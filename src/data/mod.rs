//! From MNIST files on disk to the study's data: verified, pooled, PCA-reduced to 400
//! features, standardised, cached, and cut into the subsets the trainers use.
//!
//! ```text
//! IDX (.gz or raw) --sha256--> pool n x 784 u8 (train first, then test)
//!   --PCA 400 + standardise--> prepared (cached: safetensors + manifest.json)
//!   --first N / last M--> train and test samples in f32 or f64
//! ```

pub mod cache;
pub mod checksum;
pub mod fetch;
pub mod idx;
pub mod mnist;
pub mod pca;
pub mod pool;
pub mod synthetic;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::real::Real;
pub use pool::Pool;

/// Number of features after PCA, as in the study.
pub const FEATURES: usize = 400;
/// Number of classes (digits).
pub const CLASSES: usize = 10;
/// Where the MNIST files are looked for when no directory is given.
pub const DEFAULT_DATA_DIR: &str = "data/mnist";
/// Synthetic rows generated when no sample count is given: the study's largest size.
pub const DEFAULT_SYNTHETIC_ROWS: usize = 70_000;

/// Everything that can be wrong with the data, each naming the file or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("missing file {path}: {hint}")]
    MissingFile { path: PathBuf, hint: String },
    #[error(
        "no MNIST files in {dir}: expected train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, \
         t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (or the test pair alone, gzip or \
         raw); run `dpstudy data fetch --data-dir {dir}` or copy them there"
    )]
    NoData { dir: PathBuf },
    #[error(
        "pool `{pool}` needs {file} (gzip or raw) in {dir}, which is not there: get the MNIST files with `dpstudy \
         data fetch --data-dir {dir}`"
    )]
    PoolIncomplete { dir: PathBuf, pool: Pool, file: &'static str },
    #[error("{path}: wrong magic number 0x{found:08x}, expected 0x{expected:08x} (not an IDX file of this kind)")]
    BadMagic { path: PathBuf, found: u32, expected: u32 },
    #[error("{path}: truncated, the header promises {expected_bytes} bytes but the file holds {found_bytes}")]
    Truncated { path: PathBuf, expected_bytes: usize, found_bytes: usize },
    #[error("{path}: {found_bytes} bytes where the header promises {expected_bytes}")]
    TrailingBytes { path: PathBuf, expected_bytes: usize, found_bytes: usize },
    #[error("{path}: corrupt gzip stream: {source}")]
    CorruptGzip { path: PathBuf, source: std::io::Error },
    #[error("{path}: label {value} at index {index} is not a digit 0-9")]
    BadLabel { path: PathBuf, index: usize, value: u8 },
    #[error("{path}: images of {pixels} pixels, expected 784 (28 x 28)")]
    BadImageSize { path: PathBuf, pixels: usize },
    #[error(
        "{path}: SHA-256 mismatch: expected {expected}, found {actual} (corrupt or not the published file; delete it and fetch again)"
    )]
    Checksum { path: PathBuf, expected: String, actual: String },
    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels")]
    CountMismatch { images: PathBuf, labels: PathBuf, n_images: usize, n_labels: usize },
    #[error("{flag} {requested} is more than the {available} samples available ({what})")]
    NotEnoughSamples { flag: &'static str, requested: usize, available: usize, what: String },
    #[error(
        "--test-samples {test} leaves no row to train on: the pool holds {available} ({what}), and without --samples \
         the training rows are the ones before the last {test}; ask for fewer test rows, or for --samples N with N + \
         {test} at most {available}"
    )]
    NothingLeftToTrain { test: usize, available: usize, what: String },
    #[error("prepared-data cache {path}: {reason}")]
    Cache { path: PathBuf, reason: String },
}

impl DataError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::MissingFile { path: path.to_path_buf(), hint: "no such file".into() }
        } else {
            DataError::Io { path: path.to_path_buf(), source }
        }
    }
}

/// Where a dataset came from; every output that used data records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DataSource {
    /// Real MNIST: the pool of the files present (train first, then test); `verified` is
    /// false for files read with `--no-verify`.
    Mnist { pool: String, pool_size: usize, verified: bool },
    /// Synthetic data of the same shape; timings only, never accuracy claims.
    Synthetic { seed: u64 },
}

impl DataSource {
    /// The label of raw.csv's `data_source` column and of tables.
    pub fn label(&self) -> SourceLabel {
        match self {
            DataSource::Mnist { verified, .. } => SourceLabel::of_kind(DataKind::Mnist, *verified),
            DataSource::Synthetic { .. } => SourceLabel::Synthetic,
        }
    }
}

impl std::fmt::Display for DataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataSource::Mnist { pool, pool_size, verified: true } => write!(f, "MNIST {pool} ({pool_size} images)"),
            DataSource::Mnist { pool, pool_size, verified: false } => {
                write!(f, "MNIST-format {pool} ({pool_size} images, UNVERIFIED: checksums not checked)")
            }
            DataSource::Synthetic { seed } => write!(f, "SYNTHETIC data (seed {seed}), not MNIST"),
        }
    }
}

/// Where the pool's feature rows live. Rows are produced in the training element type on
/// demand ([`Prepared::rows`]), so a run holds only the rows it trains on, in the type it
/// trains in, never the whole pool in f64 beside them.
#[derive(Debug, Clone)]
pub enum Features {
    /// In memory, row-major f64 (freshly computed).
    Memory(Vec<f64>),
    /// The `features` tensor of a safetensors file (the cache), read row range by row range.
    File(cache::TensorFile),
    /// Generated from a seed.
    Synthetic(synthetic::Synthetic),
}

/// The preprocessed pool: `len()` rows of [`FEATURES`] standardised features, and labels.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub features: Features,
    pub labels: Vec<u8>,
    pub source: DataSource,
    /// Share of the pixel variance the 400 components keep (MNIST only).
    pub explained_variance_ratio: Option<f64>,
}

impl Prepared {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Rows `range` of the pool as a sample matrix in element type `T`.
    pub fn rows<T: Real>(&self, range: std::ops::Range<usize>) -> Result<Samples<T>, DataError> {
        let mut features = Vec::with_capacity(range.len() * FEATURES);
        match &self.features {
            Features::Memory(all) => {
                features.extend(all[range.start * FEATURES..range.end * FEATURES].iter().map(|&v| T::from_f64(v)))
            }
            Features::File(file) => file.read_rows(range.clone(), &mut features)?,
            Features::Synthetic(generator) => generator.fill(range.clone(), &self.labels, &mut features),
        }
        Ok(Samples { features, labels: self.labels[range].to_vec(), dim: FEATURES })
    }

    /// The study's split: the first `train` rows to train on, the last `test` rows to test.
    pub fn split<T: Real>(&self, train: usize, test: usize) -> Result<(Samples<T>, Samples<T>), DataError> {
        let available = self.len();
        if train + test > available {
            let flag = if test == 0 { "--samples" } else { "--samples + --test-samples" };
            return Err(DataError::NotEnoughSamples {
                flag,
                requested: train + test,
                available,
                what: self.source.to_string(),
            });
        }
        Ok((self.rows(0..train)?, self.rows(available - test..available)?))
    }
}

/// A row-major sample matrix (`len() x dim`) and its labels, in the training element type.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples<T> {
    pub features: Vec<T>,
    pub labels: Vec<u8>,
    pub dim: usize,
}

impl<T: Copy> Samples<T> {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn as_view(&self) -> SamplesView<'_, T> {
        SamplesView { features: &self.features, labels: &self.labels, dim: self.dim }
    }
}

/// A borrowed block of rows: what the kernels read.
#[derive(Debug, Clone, Copy)]
pub struct SamplesView<'a, T> {
    pub features: &'a [T],
    pub labels: &'a [u8],
    pub dim: usize,
}

impl<'a, T> SamplesView<'a, T> {
    /// Contiguous rows `range` of this view.
    pub fn rows(self, range: std::ops::Range<usize>) -> SamplesView<'a, T> {
        SamplesView {
            features: &self.features[range.start * self.dim..range.end * self.dim],
            labels: &self.labels[range],
            dim: self.dim,
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Which data a command runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DataKind {
    /// Real MNIST from `--data-dir` (checksum-verified, PCA-reduced, cached).
    Mnist,
    /// Synthetic data of the same shape, deterministic from `--seed`; for timing only.
    Synthetic,
}

impl DataKind {
    /// The name of the kind as `--data` takes it and `run.json` records it.
    pub fn as_str(self) -> &'static str {
        match self {
            DataKind::Mnist => "mnist",
            DataKind::Synthetic => "synthetic",
        }
    }
}

impl std::fmt::Display for DataKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a reader must know about the data of a measurement before trusting an accuracy:
/// the `data_source` column of `raw.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceLabel {
    /// MNIST whose files matched their published checksums.
    Mnist,
    /// MNIST-format files read with `--no-verify`.
    MnistUnverified,
    /// Synthetic data of the same shape.
    Synthetic,
}

impl SourceLabel {
    /// The label data of `kind` read with (or without) checksum verification gets.
    pub fn of_kind(kind: DataKind, verified: bool) -> Self {
        match (kind, verified) {
            (DataKind::Mnist, true) => SourceLabel::Mnist,
            (DataKind::Mnist, false) => SourceLabel::MnistUnverified,
            (DataKind::Synthetic, _) => SourceLabel::Synthetic,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SourceLabel::Mnist => "mnist",
            SourceLabel::MnistUnverified => "mnist-unverified",
            SourceLabel::Synthetic => "synthetic",
        }
    }
}

impl std::fmt::Display for SourceLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The cache directory when none is given: `$XDG_CACHE_HOME/dpstudy`, else
/// `~/.cache/dpstudy`, else `.cache/dpstudy` in the working directory.
pub fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"))
        .join("dpstudy")
}

/// Which data a run uses and where it lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataConfig {
    pub kind: DataKind,
    /// Directory of the MNIST IDX files.
    pub dir: PathBuf,
    /// Where prepared data and initial weights are cached.
    pub cache_dir: PathBuf,
    /// Check each file against its published SHA-256 (off only for other MNIST-format data).
    pub verify: bool,
    /// Which MNIST images to read (older records, without it, read every pair present).
    #[serde(default)]
    pub pool: Pool,
}

impl DataConfig {
    /// Loads the prepared pool. Synthetic data: `rows` rows generated from `seed` (70,000
    /// when `rows` is `None`). MNIST: the whole pool, from (or into) the cache, after
    /// checking it holds at least `rows` rows.
    pub fn load(&self, rows: Option<cache::Required>, seed: u64) -> anyhow::Result<Prepared> {
        match self.kind {
            DataKind::Mnist => Ok(cache::load_or_prepare(self, false, rows)?.prepared),
            DataKind::Synthetic => Ok(synthetic::generate(rows.map_or(DEFAULT_SYNTHETIC_ROWS, |r| r.rows), seed)),
        }
    }
}

/// Splits `0..n` into `parts` contiguous ranges as numpy's `array_split` does: the first
/// `n % parts` ranges hold one element more than the rest.
pub fn partition(n: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    assert!(parts > 0, "partition into 0 parts");
    let (base, extra) = (n / parts, n % parts);
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let range = start..start + len;
            start += len;
            range
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_matches_numpy_array_split() {
        // np.array_split(np.arange(10), 3) -> sizes [4, 3, 3]
        assert_eq!(partition(10, 3), vec![0..4, 4..7, 7..10]);
        // np.array_split(np.arange(2), 3) -> sizes [1, 1, 0]
        assert_eq!(partition(2, 3), vec![0..1, 1..2, 2..2]);
        assert_eq!(partition(70_000, 4).iter().map(|r| r.len()).collect::<Vec<_>>(), vec![17_500; 4]);
    }

    #[test]
    fn split_takes_first_rows_to_train_and_last_rows_to_test() {
        let p = synthetic::generate(10, 1);
        assert_eq!(p.len(), 10);
        let (train, test) = p.split::<f64>(6, 3).unwrap();
        assert_eq!(train.labels, p.labels[..6]);
        assert_eq!(test.labels, p.labels[7..]);
        let err = p.split::<f32>(8, 3).unwrap_err().to_string();
        assert!(err.contains("--samples + --test-samples 11") && err.contains("10 samples"), "{err}");
    }
}
