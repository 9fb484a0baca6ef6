//! The GPU trainer. Its code is device-generic, so here it runs on `Device::Cpu` against
//! the CPU trainer on the real MNIST images (the same comparison `artifact/gpu/
//! run-on-device.sh` makes on a GPU). Without the `cuda` feature, `--mode gpu` must say so.

use crate::common;

use crate::common::{assert_fails_with, dpstudy, mnist_dir, shared_cache};
use candle_core::Device;
use dpstudy::data::DataKind;
use dpstudy::model::gpu_options::GpuOptions;
use dpstudy::real::Dtype;
use dpstudy::train::{self, Mode};

/// Largest relative difference of two weight vectors, scaled by the largest weight.
fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max) / scale
}

fn compare(dtype: Dtype, tolerance: f64) {
    let Some(dir) = mnist_dir() else { return };
    let mut config = common::config(DataKind::Mnist, &dir, &shared_cache());
    config.samples = Some(10_000);
    config.hidden = 50;
    config.epochs = 5;
    config.iters = 10;
    config.dtype = dtype;
    let cpu = train::run_local(&config, |_| {}).unwrap();
    config.mode = Mode::Gpu;
    // The fused, aligned step the GPU runs by default, and candle's own operations.
    for options in [GpuOptions::all(), GpuOptions::with_off("align,fuse").unwrap()] {
        let tensor = train::gpu::train_on_device(&config, &Device::Cpu, &options, |_| {}).unwrap();
        same_training(dtype, tolerance, &options, &tensor, &cpu);
    }
}

fn same_training(
    dtype: Dtype,
    tolerance: f64,
    options: &GpuOptions,
    tensor: &train::TrainingRun,
    cpu: &train::TrainingRun,
) {
    let d = rel_diff(tensor.weights.as_slice(), cpu.weights.as_slice());
    let options = options.describe();
    eprintln!(
        "{dtype} ({options}): tensor trainer on the CPU vs CPU trainer, 50 iterations: max relative weight difference {d:e}"
    );
    assert!(d <= tolerance, "{dtype} ({options}): weights after 50 iterations differ by {d:e} (allowed {tolerance:e})");
    for (a, b) in tensor.result.step_costs.iter().zip(&cpu.result.step_costs) {
        assert!((a - b).abs() <= tolerance * b.abs(), "{dtype}: step costs {a} vs {b}");
    }
    let (t, c) = (tensor.result.final_epoch(), cpu.result.final_epoch());
    assert_eq!(t.train_acc, c.train_acc, "{dtype}: the same weights classify alike");
    assert_eq!(tensor.result.epochs.len(), 5);
    assert!(t.root().compute_s > 0.0 && t.root().update_s > 0.0 && t.root().eval_s > 0.0);
}

#[test]
fn device_generic_trainer_equals_the_cpu_trainer_in_f64() {
    compare(Dtype::F64, 1e-9);
}

#[test]
fn device_generic_trainer_equals_the_cpu_trainer_in_f32() {
    compare(Dtype::F32, 1e-3);
}

#[cfg(not(feature = "cuda"))]
#[test]
fn gpu_mode_without_the_cuda_feature_says_so() {
    let out = dpstudy(&["train", "--mode", "gpu", "--data", "synthetic", "--samples", "100"]);
    assert_fails_with(&out, &["--mode gpu", "built without the `cuda` feature", "--features cuda"]);
}
