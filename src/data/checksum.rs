//! The four MNIST files and their published SHA-256 checksums.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::DataError;

/// One of the four published MNIST files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MnistFile {
    /// The published (gzip-compressed) file name.
    pub gz_name: &'static str,
    /// SHA-256 of the published `.gz` file.
    pub gz_sha256: &'static str,
    /// Size in bytes of the published `.gz` file.
    pub gz_bytes: u64,
    /// SHA-256 of the decompressed IDX file, for users who keep the files inflated.
    pub raw_sha256: &'static str,
}

impl MnistFile {
    /// The file name without `.gz`.
    pub fn raw_name(&self) -> &'static str {
        self.gz_name.trim_end_matches(".gz")
    }
}

// Checksums of the .gz files: as published with the data (see ../shared/data/README.md).
// Checksums of the decompressed files: the test pair computed here from the verified .gz
// files; the train pair as recorded by several independent public projects (all agree).
pub const TRAIN_IMAGES: MnistFile = MnistFile {
    gz_name: "train-images-idx3-ubyte.gz",
    gz_sha256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    gz_bytes: 9_912_422,
    raw_sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
};
pub const TRAIN_LABELS: MnistFile = MnistFile {
    gz_name: "train-labels-idx1-ubyte.gz",
    gz_sha256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    gz_bytes: 28_881,
    raw_sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
};
pub const TEST_IMAGES: MnistFile = MnistFile {
    gz_name: "t10k-images-idx3-ubyte.gz",
    gz_sha256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    gz_bytes: 1_648_877,
    raw_sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
};
pub const TEST_LABELS: MnistFile = MnistFile {
    gz_name: "t10k-labels-idx1-ubyte.gz",
    gz_sha256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    gz_bytes: 4_542,
    raw_sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
};

/// All four, in pool order (train first, as the original study pooled them).
pub const ALL: [MnistFile; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// Lower-case hex SHA-256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks `bytes` (the content of `path`) against `expected`.
pub fn verify(path: &Path, bytes: &[u8], expected: &str) -> Result<String, DataError> {
    let actual = sha256_hex(bytes);
    if actual != expected {
        return Err(DataError::Checksum { path: path.to_path_buf(), expected: expected.to_string(), actual });
    }
    Ok(actual)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_input() {
        // FIPS 180-2 example "abc".
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn mismatch_names_file_and_both_sums() {
        let err = verify(Path::new("/x/t10k-labels-idx1-ubyte.gz"), b"abc", TEST_LABELS.gz_sha256).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("t10k-labels-idx1-ubyte.gz"), "{msg}");
        assert!(msg.contains(TEST_LABELS.gz_sha256) && msg.contains("ba7816bf"), "{msg}");
    }
}
