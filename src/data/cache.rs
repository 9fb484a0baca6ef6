//! The prepared-data cache: the PCA-reduced, standardised pool as safetensors, beside a
//! JSON manifest of everything that determined it.
//!
//! The cache is reused only when the stored manifest's key (input checksums, pool size and
//! order, PCA settings, format version) equals the key of the files present now; anything
//! else rebuilds it. Both files are written atomically, the manifest last, so a manifest
//! never describes a half-written tensor file.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::Context;
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::mnist::{self, InputFile, PIXELS};
use super::pca::{self, PcaSettings};
use super::{DataConfig, DataError, DataSource, FEATURES, Features, Prepared, checksum};
use crate::real::Real;
use crate::util::files;

/// Bump when the preprocessing changes in a way the key does not capture.
const FORMAT_VERSION: u32 = 1;

/// What determines the prepared data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheKey {
    pub format_version: u32,
    pub inputs: Vec<InputFile>,
    pub pool: String,
    pub pool_size: usize,
    pub pool_order: String,
    /// False when the files were read with `--no-verify`.
    pub verified: bool,
    pub pca: PcaSettings,
}

/// The manifest stored beside the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(flatten)]
    pub key: CacheKey,
    pub explained_variance_ratio: f64,
    /// The 400 largest eigenvalues of the pixel covariance (pixels scaled to [0, 1]).
    pub eigenvalues: Vec<f64>,
    pub tensors_file: String,
    pub tensors_sha256: String,
    pub created_by: String,
}

/// The prepared pool and the manifest that describes it.
pub struct Loaded {
    pub prepared: Prepared,
    pub manifest: Manifest,
    pub manifest_path: PathBuf,
    /// Whether the cache was reused (false: it was built now).
    pub reused: bool,
}

/// Rows a caller needs, and the flag that asked for them (for the error message).
#[derive(Debug, Clone, Copy)]
pub struct Required {
    pub rows: usize,
    pub flag: &'static str,
    /// The request was `--test-samples` alone: the rows are those test rows and at least one
    /// more to train on (the default `--samples` takes the rest).
    pub test_rows_only: bool,
}

impl Required {
    /// `rows` rows, asked for by `flag`.
    pub fn rows(rows: usize, flag: &'static str) -> Self {
        Self { rows, flag, test_rows_only: false }
    }

    /// `--test-samples test` with the default `--samples` (every row before the test rows):
    /// at least one row must be left to train on.
    pub fn test_rows_and_one_more(test: usize) -> Self {
        Self { rows: test + 1, flag: "--test-samples", test_rows_only: true }
    }

    /// The error for a pool of `available` rows (`what`) that cannot serve this request,
    /// in the terms the user asked in.
    pub fn unmet(&self, available: usize, what: String) -> DataError {
        if self.test_rows_only {
            return DataError::NothingLeftToTrain { test: self.rows - 1, available, what };
        }
        DataError::NotEnoughSamples { flag: self.flag, requested: self.rows, available, what }
    }
}

/// File stem of a cache entry: unique per key.
fn stem(key: &CacheKey) -> String {
    let digest = checksum::sha256_hex(serde_json::to_string(key).expect("key serialises").as_bytes());
    format!("prepared-{}-{}-{}", key.pool.replace('+', "-"), key.pool_size, &digest[..12])
}

fn read_manifest(path: &Path) -> Option<Manifest> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn key_for(raw: &mnist::RawPool) -> CacheKey {
    CacheKey {
        format_version: FORMAT_VERSION,
        inputs: raw.inputs.clone(),
        pool: raw.description.clone(),
        pool_size: raw.len(),
        pool_order: "train then test, file order".into(),
        verified: raw.verified,
        pca: PcaSettings::study(PIXELS),
    }
}

fn paths(cache_dir: &Path, key: &CacheKey) -> (PathBuf, PathBuf) {
    let stem = stem(key);
    (cache_dir.join(format!("{stem}.json")), cache_dir.join(format!("{stem}.safetensors")))
}

/// The cache entry matching the files in `data_dir`, if one exists (no preprocessing).
pub fn find(data: &DataConfig) -> anyhow::Result<Option<(PathBuf, Manifest)>> {
    let key = key_for(&mnist::load_pool(&data.dir, data.verify, data.pool)?);
    let (manifest_path, _) = paths(&data.cache_dir, &key);
    Ok(read_manifest(&manifest_path).filter(|m| m.key == key).map(|m| (manifest_path, m)))
}

/// Loads the prepared pool for the MNIST files in `data.dir`, from `data.cache_dir` when a
/// matching entry exists, otherwise by running the preprocessing and storing the result.
/// `force` rebuilds even when a matching entry exists. `required` rows are checked against
/// the pool before any work is done, so a request that cannot be met leaves nothing behind.
pub fn load_or_prepare(data: &DataConfig, force: bool, required: Option<Required>) -> anyhow::Result<Loaded> {
    let raw = mnist::load_pool(&data.dir, data.verify, data.pool)?;
    if let Some(req) = required.filter(|r| r.rows > raw.len()) {
        return Err(req.unmet(raw.len(), format!("MNIST {} in {}", raw.description, data.dir.display())).into());
    }
    let key = key_for(&raw);
    let (manifest_path, tensors_path) = paths(&data.cache_dir, &key);
    let source = DataSource::Mnist { pool: raw.description.clone(), pool_size: raw.len(), verified: raw.verified };

    if !force && let Some(manifest) = read_manifest(&manifest_path).filter(|m| m.key == key) {
        match open_tensors(&tensors_path, &manifest, raw.len()) {
            Ok((file, labels)) => {
                let prepared = Prepared {
                    features: Features::File(file),
                    labels,
                    source,
                    explained_variance_ratio: Some(manifest.explained_variance_ratio),
                };
                return Ok(Loaded { prepared, manifest, manifest_path, reused: true });
            }
            Err(e) => eprintln!("warning: rebuilding the prepared-data cache: {e:#}"),
        }
    }

    let out =
        pca::fit_transform(&pca::PixelRows { pixels: &raw.pixels, dim: PIXELS, scale: key.pca.pixel_scale }, FEATURES)?;
    let tensors: HashMap<String, Tensor> = HashMap::from([
        ("features".to_string(), Tensor::from_slice(&out.features, (raw.len(), FEATURES), &Device::Cpu)?),
        ("labels".to_string(), Tensor::from_slice(&raw.labels, raw.len(), &Device::Cpu)?),
    ]);
    files::write_atomic_with(&tensors_path, |tmp| candle_core::safetensors::save(&tensors, tmp).map_err(Into::into))?;
    let manifest = Manifest {
        key,
        explained_variance_ratio: out.explained_variance_ratio,
        eigenvalues: out.eigenvalues,
        tensors_file: tensors_path.file_name().unwrap().to_string_lossy().into_owned(),
        tensors_sha256: file_sha256(&tensors_path)?,
        created_by: format!("dpstudy {}", env!("CARGO_PKG_VERSION")),
    };
    files::write_atomic(&manifest_path, &serde_json::to_vec_pretty(&manifest)?)?;
    let prepared = Prepared {
        features: Features::Memory(out.features),
        labels: raw.labels,
        source,
        explained_variance_ratio: Some(out.explained_variance_ratio),
    };
    Ok(Loaded { prepared, manifest, manifest_path, reused: false })
}

/// SHA-256 of a file, streamed (the file is never held whole in memory).
fn file_sha256(path: &Path) -> anyhow::Result<String> {
    use sha2::Digest;
    let mut file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The f64 `features` tensor of a cache file, read by row ranges.
#[derive(Debug, Clone)]
pub struct TensorFile {
    path: PathBuf,
    /// Byte offset of row 0.
    data_start: u64,
}

/// Rows read from the file per chunk (3.2 MB).
const READ_ROWS: usize = 1024;

impl TensorFile {
    /// Appends rows `range`, converted to `T`, to `out`.
    pub fn read_rows<T: Real>(&self, range: Range<usize>, out: &mut Vec<T>) -> Result<(), DataError> {
        let fail = |e: std::io::Error| DataError::Cache { path: self.path.clone(), reason: e.to_string() };
        let row_bytes = FEATURES * 8;
        let mut file = std::fs::File::open(&self.path).map_err(fail)?;
        file.seek(SeekFrom::Start(self.data_start + (range.start * row_bytes) as u64)).map_err(fail)?;
        let mut buf = vec![0u8; READ_ROWS * row_bytes];
        let mut left = range.len();
        while left > 0 {
            let rows = left.min(READ_ROWS);
            let chunk = &mut buf[..rows * row_bytes];
            file.read_exact(chunk).map_err(fail)?;
            out.extend(chunk.chunks_exact(8).map(|b| T::from_f64(f64::from_le_bytes(b.try_into().unwrap()))));
            left -= rows;
        }
        Ok(())
    }
}

/// Opens a cache file written by [`load_or_prepare`]: checks it against the manifest's
/// checksum and the expected shapes, reads the labels, and locates the features.
fn open_tensors(path: &Path, manifest: &Manifest, rows: usize) -> Result<(TensorFile, Vec<u8>), DataError> {
    let fail = |reason: String| DataError::Cache { path: path.to_path_buf(), reason };
    let sha = file_sha256(path).map_err(|e| fail(format!("{e:#}")))?;
    if sha != manifest.tensors_sha256 {
        return Err(fail("tensor file does not match its manifest's checksum".into()));
    }
    // safetensors: an 8-byte little-endian header length, a JSON header, then the data.
    let mut file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|e| fail(e.to_string()))?;
    let header_len = u64::from_le_bytes(len);
    if header_len > 1 << 20 {
        return Err(fail(format!("header of {header_len} bytes")));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header).map_err(|e| fail(e.to_string()))?;
    let header: serde_json::Value = serde_json::from_slice(&header).map_err(|e| fail(e.to_string()))?;
    let entry = |name: &str, dtype: &str, shape: serde_json::Value| -> Result<(u64, u64), DataError> {
        let t = &header[name];
        if t["dtype"] != dtype || t["shape"] != shape {
            return Err(fail(format!("tensor `{name}` is {} {}, expected {dtype} {shape}", t["dtype"], t["shape"])));
        }
        let offsets = (t["data_offsets"][0].as_u64(), t["data_offsets"][1].as_u64());
        match offsets {
            (Some(b), Some(e)) => Ok((8 + header_len + b, 8 + header_len + e)),
            _ => Err(fail(format!("tensor `{name}` has no data offsets"))),
        }
    };
    let (features_start, _) = entry("features", "F64", serde_json::json!([rows, FEATURES]))?;
    let (labels_start, labels_end) = entry("labels", "U8", serde_json::json!([rows]))?;
    let mut labels = vec![0u8; (labels_end - labels_start) as usize];
    file.seek(SeekFrom::Start(labels_start)).map_err(|e| fail(e.to_string()))?;
    file.read_exact(&mut labels).map_err(|e| fail(e.to_string()))?;
    Ok((TensorFile { path: path.to_path_buf(), data_start: features_start }, labels))
}
