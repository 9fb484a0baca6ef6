//! The prepared-data cache: the PCA-reduced, standardised pool as safetensors, beside a
//! JSON manifest of everything that determined it.
//!
//! The cache is reused only when the stored manifest's key (input checksums, pool size and
//! order, PCA settings, format version) equals the key of the files present now; anything
//! else rebuilds it. Both files are written atomically, the manifest last, so a manifest
//! never describes a half-written tensor file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::mnist::{self, InputFile, PIXELS};
use super::pca::{self, PcaSettings};
use super::{DataConfig, DataError, DataSource, FEATURES, Prepared, checksum};
use crate::fsutil;

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
    let key = key_for(&mnist::load_pool(&data.dir, data.verify)?);
    let (manifest_path, _) = paths(&data.cache_dir, &key);
    Ok(read_manifest(&manifest_path).filter(|m| m.key == key).map(|m| (manifest_path, m)))
}

/// Loads the prepared pool for the MNIST files in `data.dir`, from `data.cache_dir` when a
/// matching entry exists, otherwise by running the preprocessing and storing the result.
/// `force` rebuilds even when a matching entry exists. `required` rows are checked against
/// the pool before any work is done, so a request that cannot be met leaves nothing behind.
pub fn load_or_prepare(data: &DataConfig, force: bool, required: Option<Required>) -> anyhow::Result<Loaded> {
    let raw = mnist::load_pool(&data.dir, data.verify)?;
    if let Some(req) = required.filter(|r| r.rows > raw.len()) {
        return Err(DataError::NotEnoughSamples {
            flag: req.flag,
            requested: req.rows,
            available: raw.len(),
            what: format!("MNIST {} in {}", raw.description, data.dir.display()),
        }
        .into());
    }
    let key = key_for(&raw);
    let (manifest_path, tensors_path) = paths(&data.cache_dir, &key);
    let source = DataSource::Mnist { pool: raw.description.clone(), pool_size: raw.len(), verified: raw.verified };

    if !force {
        if let Some(manifest) = read_manifest(&manifest_path).filter(|m| m.key == key) {
            match load_tensors(&tensors_path, &manifest, raw.len()) {
                Ok((features, labels)) => {
                    let prepared = Prepared {
                        features,
                        labels,
                        source,
                        explained_variance_ratio: Some(manifest.explained_variance_ratio),
                    };
                    return Ok(Loaded { prepared, manifest, manifest_path, reused: true });
                }
                Err(e) => eprintln!("warning: rebuilding the prepared-data cache: {e:#}"),
            }
        }
    }

    let out =
        pca::fit_transform(&pca::PixelRows { pixels: &raw.pixels, dim: PIXELS, scale: key.pca.pixel_scale }, FEATURES)?;
    let tensors: HashMap<String, Tensor> = HashMap::from([
        ("features".to_string(), Tensor::from_slice(&out.features, (raw.len(), FEATURES), &Device::Cpu)?),
        ("labels".to_string(), Tensor::from_slice(&raw.labels, raw.len(), &Device::Cpu)?),
    ]);
    fsutil::write_atomic_with(&tensors_path, |tmp| candle_core::safetensors::save(&tensors, tmp).map_err(Into::into))?;
    let manifest = Manifest {
        key,
        explained_variance_ratio: out.explained_variance_ratio,
        eigenvalues: out.eigenvalues,
        tensors_file: tensors_path.file_name().unwrap().to_string_lossy().into_owned(),
        tensors_sha256: file_sha256(&tensors_path)?,
        created_by: format!("dpstudy {}", env!("CARGO_PKG_VERSION")),
    };
    fsutil::write_atomic(&manifest_path, &serde_json::to_vec_pretty(&manifest)?)?;
    let prepared = Prepared {
        features: out.features,
        labels: raw.labels,
        source,
        explained_variance_ratio: Some(out.explained_variance_ratio),
    };
    Ok(Loaded { prepared, manifest, manifest_path, reused: false })
}

fn file_sha256(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(checksum::sha256_hex(&bytes))
}

/// Reads the cached tensors and checks them against the manifest.
fn load_tensors(path: &Path, manifest: &Manifest, rows: usize) -> Result<(Vec<f64>, Vec<u8>), DataError> {
    let fail = |reason: String| DataError::Cache { path: path.to_path_buf(), reason };
    let sha = file_sha256(path).map_err(|e| fail(format!("{e:#}")))?;
    if sha != manifest.tensors_sha256 {
        return Err(fail("tensor file does not match its manifest's checksum".into()));
    }
    let tensors = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| fail(e.to_string()))?;
    let get = |name: &str| tensors.get(name).ok_or_else(|| fail(format!("no tensor `{name}`")));
    let features = get("features")?;
    let labels = get("labels")?;
    if features.dims() != [rows, FEATURES] || labels.dims() != [rows] {
        return Err(fail(format!(
            "shapes {:?} / {:?}, expected [{rows}, {FEATURES}] / [{rows}]",
            features.dims(),
            labels.dims()
        )));
    }
    let features = features.flatten_all().and_then(|t| t.to_vec1::<f64>()).map_err(|e| fail(e.to_string()))?;
    let labels = labels.to_vec1::<u8>().map_err(|e| fail(e.to_string()))?;
    Ok((features, labels))
}
