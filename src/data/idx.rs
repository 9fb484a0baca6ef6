//! Reader for the IDX format MNIST ships in (LeCun's `idx3-ubyte` / `idx1-ubyte`).
//!
//! Layout: a big-endian magic number `0x0000_08_DD` (0x08 = unsigned byte, DD = number of
//! dimensions), then DD big-endian u32 sizes, then the bytes. We accept gzip-compressed or
//! raw files and tell them apart by the gzip magic bytes, not by the name.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::DataError;

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// A decoded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Images as rows of `rows * cols` pixels.
#[derive(Debug, Clone)]
pub struct Images {
    pub count: usize,
    pub pixels_per_image: usize,
    pub pixels: Vec<u8>,
}

/// Returns the file's bytes, inflated if it is gzip-compressed.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|source| DataError::io(path, source))?;
    decompress_if_gzip(path, raw)
}

pub(crate) fn decompress_if_gzip(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>, DataError> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|source| DataError::CorruptGzip { path: path.to_path_buf(), source })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses an IDX byte array and checks its magic number and length.
pub fn parse(path: &Path, bytes: &[u8], expected_magic: u32) -> Result<IdxArray, DataError> {
    let path_buf = || PathBuf::from(path);
    let header_u32 =
        |i: usize| -> Option<u32> { bytes.get(4 * i..4 * i + 4).map(|b| u32::from_be_bytes(b.try_into().unwrap())) };
    let magic = header_u32(0).ok_or_else(|| DataError::Truncated {
        path: path_buf(),
        expected_bytes: 4,
        found_bytes: bytes.len(),
    })?;
    if magic != expected_magic {
        return Err(DataError::BadMagic { path: path_buf(), found: magic, expected: expected_magic });
    }
    let ndims = (magic & 0xff) as usize;
    let header_len = 4 + 4 * ndims;
    let mut dims = Vec::with_capacity(ndims);
    for i in 0..ndims {
        let d = header_u32(1 + i).ok_or_else(|| DataError::Truncated {
            path: path_buf(),
            expected_bytes: header_len,
            found_bytes: bytes.len(),
        })?;
        dims.push(d as usize);
    }
    let body_len: usize = dims.iter().product();
    let expected_bytes = header_len + body_len;
    if bytes.len() < expected_bytes {
        return Err(DataError::Truncated { path: path_buf(), expected_bytes, found_bytes: bytes.len() });
    }
    if bytes.len() > expected_bytes {
        return Err(DataError::TrailingBytes { path: path_buf(), expected_bytes, found_bytes: bytes.len() });
    }
    Ok(IdxArray { dims, data: bytes[header_len..].to_vec() })
}

/// Parses decompressed images (3 dimensions: count, rows, cols).
pub fn parse_images(path: &Path, bytes: &[u8]) -> Result<Images, DataError> {
    let arr = parse(path, bytes, IMAGES_MAGIC)?;
    Ok(Images { count: arr.dims[0], pixels_per_image: arr.dims[1] * arr.dims[2], pixels: arr.data })
}

/// Parses decompressed labels (1 dimension) and checks every label is a digit.
pub fn parse_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    let arr = parse(path, bytes, LABELS_MAGIC)?;
    if let Some((index, &value)) = arr.data.iter().enumerate().find(|&(_, &l)| l > 9) {
        return Err(DataError::BadLabel { path: path.to_path_buf(), index, value });
    }
    Ok(arr.data)
}

/// Reads an images file, gzip or raw.
pub fn read_images(path: &Path) -> Result<Images, DataError> {
    parse_images(path, &read_maybe_gzip(path)?)
}

/// Reads a labels file, gzip or raw.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    parse_labels(path, &read_maybe_gzip(path)?)
}

/// Encodes an IDX file; used by tests to build fixtures and by nothing else.
pub fn encode(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn reads_raw_and_gzip_images_alike() {
        let dir = tempfile::tempdir().unwrap();
        let pixels: Vec<u8> = (0..2 * 3 * 2).collect();
        let file = encode(IMAGES_MAGIC, &[2, 3, 2], &pixels);
        for (name, bytes) in [("raw", file.clone()), ("gz", gzip(&file))] {
            let images = read_images(&write(dir.path(), name, &bytes)).unwrap();
            assert_eq!((images.count, images.pixels_per_image), (2, 6));
            assert_eq!(images.pixels, pixels);
        }
    }

    #[test]
    fn wrong_magic_names_the_file_and_both_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "labels-as-images", &encode(LABELS_MAGIC, &[3], &[1, 2, 3]));
        let err = read_images(&p).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::BadMagic { found: LABELS_MAGIC, .. }), "{msg}");
        assert!(msg.contains("labels-as-images") && msg.contains("0x00000801") && msg.contains("0x00000803"), "{msg}");
    }

    #[test]
    fn truncated_body_and_header_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = encode(IMAGES_MAGIC, &[2, 2, 2], &[0; 8]);
        file.truncate(file.len() - 3);
        let err = read_images(&write(dir.path(), "short", &file)).unwrap_err();
        assert!(matches!(err, DataError::Truncated { expected_bytes: 24, found_bytes: 21, .. }), "{err}");
        let err = read_images(&write(dir.path(), "tiny", &[0, 0, 8])).unwrap_err();
        assert!(matches!(err, DataError::Truncated { .. }), "{err}");
        assert!(err.to_string().contains("tiny"));
    }

    #[test]
    fn corrupt_gzip_stream_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut gz = gzip(&encode(LABELS_MAGIC, &[100], &[1; 100]));
        let mid = gz.len() / 2;
        gz.truncate(mid);
        let err = read_labels(&write(dir.path(), "broken.gz", &gz)).unwrap_err();
        assert!(matches!(err, DataError::CorruptGzip { .. }), "{err}");
        assert!(err.to_string().contains("broken.gz"));
    }

    #[test]
    fn label_out_of_range_and_trailing_bytes_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_labels(&write(dir.path(), "l", &encode(LABELS_MAGIC, &[2], &[3, 12]))).unwrap_err();
        assert!(matches!(err, DataError::BadLabel { index: 1, value: 12, .. }), "{err}");
        let mut file = encode(LABELS_MAGIC, &[2], &[3, 4]);
        file.push(0);
        let err = read_labels(&write(dir.path(), "t", &file)).unwrap_err();
        assert!(matches!(err, DataError::TrailingBytes { .. }), "{err}");
    }
}
