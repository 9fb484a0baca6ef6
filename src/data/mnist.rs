//! Locating, verifying and pooling the MNIST files present in a directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checksum::{self, MnistFile};
use super::pool::{Part, Pool};
use super::{DataError, idx};

/// Pixels per image.
pub const PIXELS: usize = 28 * 28;

/// One verified input file, recorded in the cache manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    pub name: String,
    pub sha256: String,
}

/// The raw pool: images as `count x 784` bytes and their labels, train first.
#[derive(Debug, Clone)]
pub struct RawPool {
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
    /// Which partitions are in the pool, e.g. `train+test` or `test`.
    pub description: String,
    pub inputs: Vec<InputFile>,
    /// Whether every file matched its published checksum.
    pub verified: bool,
}

impl RawPool {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Finds `file` in `dir`, compressed (`name.gz`) or raw (`name`).
pub fn find(dir: &Path, file: &MnistFile) -> Option<PathBuf> {
    [file.gz_name, file.raw_name()].into_iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// Reads a file, checks its SHA-256 (the `.gz` sum for gzip content, the raw sum otherwise)
/// unless `verify` is off, and returns the decompressed bytes.
fn read_checked(path: &Path, file: &MnistFile, verify: bool) -> Result<(Vec<u8>, InputFile), DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let expected = if bytes.starts_with(&[0x1f, 0x8b]) { file.gz_sha256 } else { file.raw_sha256 };
    let sha256 = if verify { checksum::verify(path, &bytes, expected)? } else { checksum::sha256_hex(&bytes) };
    let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
    Ok((idx::decompress_if_gzip(path, bytes)?, InputFile { name, sha256 }))
}

/// Loads the image/label pairs of `pool` from `dir`, train first, each file checked against
/// the published SHA-256 unless `verify` is off (for other data in MNIST's format). A named
/// pool reads exactly its pairs, whatever else `dir` holds, and fails naming a missing file;
/// [`Pool::Present`] reads every pair present.
///
/// Present means at least one of a pair's two files exists; the other must then exist too.
pub fn load_pool(dir: &Path, verify: bool, pool: Pool) -> Result<RawPool, DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingFile {
            path: dir.to_path_buf(),
            hint: "data directory does not exist; pass --data-dir or run `dpstudy data fetch`".into(),
        });
    }
    let pairs = [
        (Part::Train, checksum::TRAIN_IMAGES, checksum::TRAIN_LABELS),
        (Part::Test, checksum::TEST_IMAGES, checksum::TEST_LABELS),
    ];
    let mut raw =
        RawPool { pixels: vec![], labels: vec![], description: String::new(), inputs: vec![], verified: verify };
    let mut parts = vec![];
    for (part, images_file, labels_file) in pairs {
        let wanted = pool.parts().is_none_or(|parts| parts.contains(&part));
        if !wanted {
            continue;
        }
        let (images_path, labels_path) = match (find(dir, &images_file), find(dir, &labels_file)) {
            (None, None) if pool == Pool::Present => continue,
            (Some(i), Some(l)) => (i, l),
            (images, _) if pool != Pool::Present => {
                let file = if images.is_none() { images_file.gz_name } else { labels_file.gz_name };
                return Err(DataError::PoolIncomplete { dir: dir.to_path_buf(), pool, file });
            }
            (found, _) => {
                let (missing, partner) =
                    if found.is_some() { (labels_file, images_file) } else { (images_file, labels_file) };
                return Err(DataError::MissingFile {
                    path: dir.join(missing.gz_name),
                    hint: format!("{} is present but its partner is not (gzip or raw)", partner.gz_name),
                });
            }
        };
        let (image_bytes, image_input) = read_checked(&images_path, &images_file, verify)?;
        let (label_bytes, label_input) = read_checked(&labels_path, &labels_file, verify)?;
        let images = idx::parse_images(&images_path, &image_bytes)?;
        let labels = idx::parse_labels(&labels_path, &label_bytes)?;
        if images.pixels_per_image != PIXELS {
            return Err(DataError::BadImageSize { path: images_path, pixels: images.pixels_per_image });
        }
        if images.count != labels.len() {
            return Err(DataError::CountMismatch {
                images: images_path,
                labels: labels_path,
                n_images: images.count,
                n_labels: labels.len(),
            });
        }
        raw.pixels.extend_from_slice(&images.pixels);
        raw.labels.extend_from_slice(&labels);
        raw.inputs.extend([image_input, label_input]);
        parts.push(part.as_str());
    }
    if parts.is_empty() {
        return Err(DataError::NoData { dir: dir.to_path_buf() });
    }
    raw.description = parts.join("+");
    Ok(raw)
}
