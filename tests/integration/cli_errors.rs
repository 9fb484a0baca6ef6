//! Bad input: a clear error naming the file, flag or value, a non-zero exit, and no cache
//! or result file left behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::common::{assert_fails_with, dpstudy, entries};
use dpstudy::data::idx::{IMAGES_MAGIC, LABELS_MAGIC, encode};

const TEST_IMAGES: &str = "t10k-images-idx3-ubyte.gz";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte.gz";

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A data dir with `n_images` 28x28 images and `n_labels` labels, gzip-compressed.
fn fixture(dir: &Path, n_images: u32, n_labels: u32) {
    let pixels: Vec<u8> = (0..n_images as usize * 784).map(|i| (i * 7 % 251) as u8).collect();
    let labels: Vec<u8> = (0..n_labels as u8).map(|i| i % 10).collect();
    std::fs::write(dir.join(TEST_IMAGES), gzip(&encode(IMAGES_MAGIC, &[n_images, 28, 28], &pixels))).unwrap();
    std::fs::write(dir.join(TEST_LABELS), gzip(&encode(LABELS_MAGIC, &[n_labels], &labels))).unwrap();
}

struct Case {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    cache: PathBuf,
    out: PathBuf,
}

impl Case {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir(&data).unwrap();
        Self { data, cache: tmp.path().join("cache"), out: tmp.path().join("result.json"), _tmp: tmp }
    }

    /// `dpstudy train` on this case's directories plus `extra` arguments.
    fn train(&self, extra: &[&str]) -> std::process::Output {
        let mut args = vec![
            "train",
            "--data-dir",
            self.data.to_str().unwrap(),
            "--cache-dir",
            self.cache.to_str().unwrap(),
            "--out",
            self.out.to_str().unwrap(),
            "--epochs",
            "1",
            "--iters",
            "2",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        dpstudy(&args)
    }

    fn assert_nothing_written(&self) {
        assert!(!self.out.exists(), "a result file was written");
        assert!(entries(&self.cache).iter().all(|e| e.starts_with("init-")), "cache: {:?}", entries(&self.cache));
        assert!(entries(&self.cache).iter().all(|e| !e.ends_with(".tmp")));
    }
}

#[test]
fn missing_data_directory() {
    let case = Case::new();
    std::fs::remove_dir(&case.data).unwrap();
    assert_fails_with(&case.train(&[]), &["data directory does not exist", case.data.to_str().unwrap()]);
    case.assert_nothing_written();
}

#[test]
fn empty_data_directory_says_how_to_get_the_files() {
    let case = Case::new();
    assert_fails_with(&case.train(&[]), &["no MNIST files in", "dpstudy data fetch"]);
    case.assert_nothing_written();
}

#[test]
fn missing_label_file() {
    let case = Case::new();
    fixture(&case.data, 5, 5);
    std::fs::remove_file(case.data.join(TEST_LABELS)).unwrap();
    assert_fails_with(&case.train(&[]), &["missing file", TEST_LABELS]);
    case.assert_nothing_written();
}

#[test]
fn checksum_mismatch() {
    let case = Case::new();
    fixture(&case.data, 5, 5);
    assert_fails_with(
        &case.train(&[]),
        &[TEST_IMAGES, "SHA-256 mismatch", dpstudy::data::checksum::TEST_IMAGES.gz_sha256],
    );
    case.assert_nothing_written();
}

#[test]
fn wrong_magic_number() {
    let case = Case::new();
    fixture(&case.data, 5, 5);
    std::fs::copy(case.data.join(TEST_LABELS), case.data.join(TEST_IMAGES)).unwrap();
    assert_fails_with(&case.train(&["--no-verify"]), &[TEST_IMAGES, "wrong magic number 0x00000801"]);
    case.assert_nothing_written();
}

#[test]
fn truncated_file() {
    let case = Case::new();
    let pixels = vec![0u8; 3 * 784];
    let mut file = encode(IMAGES_MAGIC, &[3, 28, 28], &pixels);
    file.truncate(file.len() - 100);
    fixture(&case.data, 3, 3);
    std::fs::write(case.data.join(TEST_IMAGES), gzip(&file)).unwrap();
    assert_fails_with(&case.train(&["--no-verify"]), &[TEST_IMAGES, "truncated", "2368", "2268"]);
    case.assert_nothing_written();
}

#[test]
fn image_label_count_mismatch() {
    let case = Case::new();
    fixture(&case.data, 5, 4);
    assert_fails_with(&case.train(&["--no-verify"]), &[TEST_IMAGES, "5 images", TEST_LABELS, "4 labels"]);
    case.assert_nothing_written();
}

#[test]
fn corrupt_gzip_stream() {
    let case = Case::new();
    fixture(&case.data, 5, 5);
    let mut gz = std::fs::read(case.data.join(TEST_IMAGES)).unwrap();
    let len = gz.len();
    gz[len / 2..].iter_mut().for_each(|b| *b ^= 0x5a);
    std::fs::write(case.data.join(TEST_IMAGES), gz).unwrap();
    assert_fails_with(&case.train(&["--no-verify"]), &[TEST_IMAGES, "corrupt gzip"]);
    case.assert_nothing_written();
}

#[test]
fn more_samples_than_the_data_holds() {
    let case = Case::new();
    fixture(&case.data, 20, 20);
    assert_fails_with(&case.train(&["--no-verify", "--samples", "50"]), &["--samples 50", "20 samples"]);
    case.assert_nothing_written();
    assert_fails_with(
        &case.train(&["--no-verify", "--samples", "15", "--test-samples", "10"]),
        &["--samples + --test-samples 25", "20 samples"],
    );
    case.assert_nothing_written();
    // All the rows as test rows, with the default --samples: the error says what was asked
    // (20, not 21) and why it does not fit.
    let out = case.train(&["--no-verify", "--test-samples", "20"]);
    let stderr = assert_fails_with(&out, &["--test-samples 20 leaves no row to train on", "the pool holds 20"]);
    assert!(!stderr.contains("--test-samples 21"), "{stderr}");
    case.assert_nothing_written();
}

/// Requests that cannot be meant are refused before a thread starts or a byte is
/// allocated: more threads than cores without consent, more threads than rows, a layer
/// larger than the memory.
#[test]
fn runaway_requests_are_refused_before_any_work() {
    let case = Case::new();
    let synthetic = ["--data", "synthetic", "--samples", "1000"];
    let threads =
        |t: &'static str, extra: &[&'static str]| case.train(&[&synthetic[..], &["--threads", t], extra].concat());
    assert_fails_with(
        &threads("500", &[]),
        &["--threads 500: 500 compute threads", "more than this machine's", "--oversubscribe"],
    );
    for consent in [&[][..], &["--oversubscribe"]] {
        assert_fails_with(&threads("100000", consent), &["--threads 100000: more threads than the 1000 training rows"]);
    }
    assert_fails_with(
        &case.train(&[&synthetic[..], &["--hidden", "1000000000"]].concat()),
        &["--hidden 1000000000: the run would need about", "GiB of memory"],
    );
    case.assert_nothing_written();
}

#[test]
fn zero_hidden_units() {
    let case = Case::new();
    assert_fails_with(&case.train(&["--data", "synthetic", "--hidden", "0"]), &["--hidden 0", "at least one unit"]);
    case.assert_nothing_written();
}

#[test]
fn bad_learning_rate_and_batch_size() {
    let case = Case::new();
    assert_fails_with(&case.train(&["--data", "synthetic", "--lr=-1"]), &["--lr -1"]);
    assert_fails_with(
        &case.train(&["--data", "synthetic", "--samples", "100", "--batch-size", "101"]),
        &["--batch-size 101", "larger than --samples"],
    );
    case.assert_nothing_written();
}

#[test]
fn diverging_training_stops_and_names_the_iteration() {
    let case = Case::new();
    let out = case.train(&["--data", "synthetic", "--samples", "300", "--dtype", "f32", "--lr", "1e38"]);
    assert_fails_with(&out, &["the cost became", "at iteration 2", "--lr"]);
    assert!(!case.out.exists(), "a result file was written");
}

#[test]
fn unknown_mode_is_rejected_by_the_parser() {
    let out = dpstudy(&["train", "--mode", "quantum"]);
    assert_fails_with(&out, &["invalid value 'quantum'", "--mode"]);
}

#[test]
fn a_good_run_writes_its_result() {
    let case = Case::new();
    let out = case.train(&["--data", "synthetic", "--samples", "300"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&std::fs::read(&case.out).unwrap()).unwrap();
    assert_eq!(result["data_source"]["kind"], "synthetic");
    assert_eq!(result["epochs"].as_array().unwrap().len(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("SYNTHETIC"));
}

#[test]
fn an_unknown_kernel_choice_is_refused_by_name_before_training() {
    let case = Case::new();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dpstudy"))
        .args(["train", "--data", "synthetic", "--samples", "10", "--cache-dir"])
        .arg(&case.cache)
        .arg("--out")
        .arg(&case.out)
        .env("DPSTUDY_KERNEL", "fast")
        .output()
        .unwrap();
    assert_fails_with(&out, &["DPSTUDY_KERNEL=fast", "`auto`, `fused`, `fused-avx512`, `fused-avx2` or `gemm`"]);
    assert!(!case.out.exists() && entries(&case.cache).is_empty(), "nothing is written");
}

#[test]
fn the_kernel_choices_that_name_a_kernel_train() {
    for choice in ["auto", "gemm"] {
        let case = Case::new();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dpstudy"))
            .args(["train", "--data", "synthetic", "--samples", "10", "--epochs", "1", "--iters", "1", "--quiet"])
            .arg("--cache-dir")
            .arg(&case.cache)
            .arg("--out")
            .arg(&case.out)
            .env("DPSTUDY_KERNEL", choice)
            .output()
            .unwrap();
        assert!(out.status.success(), "DPSTUDY_KERNEL={choice}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(case.out.exists());
    }
}

/// `bench` refuses a runaway request at once, naming the flag, instead of starting 100,000
/// threads on 10,000 rows.
#[test]
fn bench_refuses_runaway_threads_before_any_work() {
    let out = dpstudy(&["bench", "--samples", "10000", "--threads", "100000", "--oversubscribe"]);
    assert_fails_with(&out, &["--threads 100000", "more threads than the 10000 rows"]);
    let out = dpstudy(&["bench", "--samples", "10000", "--threads", "4096"]);
    assert_fails_with(&out, &["--threads 4096", "--oversubscribe"]);
}
