//! The study's data: all 70,000 MNIST images (`DPSTUDY_MNIST_FULL_DIR`), pooled train
//! first, PCA-reduced to 400 features; then a short run on the study's 60,000/10,000 split.

use crate::common;

use dpstudy::data::{DataKind, DataSource, Pool, mnist};

/// `data prepare` on the whole pool into a fresh cache (the PCA runs here, not a cached
/// copy), then five full-batch steps on the first 60,000 images, tested on the last 10,000.
///
/// Measured on the development machine (AMD EPYC, AVX2): explained variance of the 400
/// components 0.995851 (`data prepare` prints 0.9959); the PCA and the five steps took 8 s.
/// The snapshot holds the numbers to 6 significant digits (costs) and 4 decimals
/// (accuracies), so that other CPUs' summation order cannot move them.
#[test]
fn prepare_and_train_on_all_70000_images() {
    let Some(dir) = common::mnist_full_dir() else { return };
    let cache = tempfile::tempdir().unwrap();
    let out = common::dpstudy(&[
        "data",
        "prepare",
        "--data-dir",
        dir.to_str().unwrap(),
        "--cache-dir",
        cache.path().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "data prepare failed:\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("prepared MNIST train+test (70000 images): 70000 samples x 400 features"), "{stdout}");

    let mut config = common::config(DataKind::Mnist, &dir, cache.path());
    config.samples = Some(60_000);
    config.test_samples = 10_000;
    config.hidden = 50;
    config.epochs = 1;
    config.iters = 5;
    let run = dpstudy::train::run_local(&config, |_| {}).unwrap();
    let result = &run.result;
    assert_eq!(result.data_source, DataSource::Mnist { pool: "train+test".into(), pool_size: 70_000, verified: true });
    let variance = result.explained_variance_ratio.unwrap();
    assert!(stdout.contains(&format!("explained variance {variance:.4}")), "{stdout}");
    let last = result.final_epoch();
    let text = format!(
        "explained variance of 400 components: {variance:.6}\ncosts: {}\ntrain accuracy {:.4}, test cost {:.5}, test accuracy {:.4}\n",
        result.step_costs.iter().map(|c| format!("{c:.5}")).collect::<Vec<_>>().join(" "),
        last.train_acc,
        last.test_cost.unwrap(),
        last.test_acc.unwrap()
    );
    insta::assert_snapshot!("full_mnist_prepare_and_five_steps", text);
}

/// With all four files in the data directory, each pool reads exactly its images: a profile
/// on the test pool (quick) reads the 10,000 test images, not the first training images.
#[test]
fn each_pool_reads_exactly_its_images_whatever_else_the_directory_holds() {
    let Some(dir) = common::mnist_full_dir() else { return };
    for (pool, description, images) in
        [(Pool::Test, "test", 10_000), (Pool::Train, "train", 60_000), (Pool::All, "train+test", 70_000)]
    {
        let raw = mnist::load_pool(&dir, true, pool).unwrap();
        assert_eq!((raw.description.as_str(), raw.len()), (description, images), "pool {pool}");
    }
    let cache = tempfile::tempdir().unwrap();
    let out = common::dpstudy(&[
        "reproduce",
        "--profile",
        "quick",
        "--tables",
        "T1",
        "--dry-run",
        "--data-dir",
        dir.to_str().unwrap(),
        "--cache-dir",
        cache.path().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("data: MNIST test (10000 images)"), "{stdout}");
    // Another pool than the profile's is refused, naming both.
    let out = common::dpstudy(&["reproduce", "--pool", "all", "--dry-run", "--data-dir", dir.to_str().unwrap()]);
    common::assert_fails_with(&out, &["--pool all", "profile `quick` reads pool `test`"]);
}

/// A pool whose files are not in the directory fails naming the missing file.
#[test]
fn a_pool_without_its_files_names_the_missing_one() {
    let Some(test_only) = common::mnist_dir() else { return };
    let e = mnist::load_pool(&test_only, true, Pool::Train).unwrap_err().to_string();
    assert!(e.contains("pool `train` needs train-images-idx3-ubyte.gz") && e.contains("dpstudy data fetch"), "{e}");
    let out = common::dpstudy(&["data", "info", "--pool", "all", "--data-dir", test_only.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("prepared: no usable data: pool `all` needs train-images-idx3-ubyte.gz"), "{stdout}");
}
