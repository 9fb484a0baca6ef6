//! `--mode gpu`: the study's network on one GPU through candle's CUDA backend.
//!
//! The trainer is device-generic ([`train_on_device`]): it runs the tensor form of the
//! network ([`crate::model::tensor`]) on whatever `Device` it is given. `--mode gpu` gives
//! it `Device::Cuda(0)`; the tests give it `Device::Cpu` and compare it with the CPU
//! trainer, so this code is checked on machines without a GPU. Data and weights stay on the
//! device for the whole run; the clock starts once they are there, and the device is
//! synchronised before every clock read.
//!
//! Whether a GPU can be used is asked once ([`availability`]) so that `reproduce` can mark
//! GPU cells "not run" with the reason instead of failing them one by one.

use std::time::Instant;

use candle_core::{DType, Device};

use super::descent::Trained;
use super::sync::RankTimes;
use super::{EpochRecord, Inputs, TrainConfig, TrainingRun};
use crate::model::tensor::{DeviceData, DeviceParams};
use crate::real::{Dtype, Real};

/// Why `--mode gpu` cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpuUnavailable {
    #[error(
        "--mode gpu: this dpstudy was built without the `cuda` feature; rebuild with \
         `cargo build --release --features cuda` (see artifact/gpu/build.sh)"
    )]
    NotBuilt,
    #[error("--mode gpu: no GPU found ({0})")]
    NoDevice(String),
}

/// The CUDA device `--mode gpu` trains on, or why there is none.
pub fn device() -> Result<Device, GpuUnavailable> {
    #[cfg(feature = "cuda")]
    {
        Device::new_cuda(0).map_err(|e| GpuUnavailable::NoDevice(format!("{e}")))
    }
    #[cfg(not(feature = "cuda"))]
    {
        Err(GpuUnavailable::NotBuilt)
    }
}

/// A description of the GPU this process would train on, or why there is none.
pub fn availability() -> Result<String, GpuUnavailable> {
    device()?;
    let name = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader", "--id=0"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty());
    Ok(name.map_or("CUDA device 0".into(), |n| format!("CUDA device 0: {n}")))
}

/// Trains on the GPU.
pub fn run(config: &TrainConfig, progress: impl FnMut(&EpochRecord)) -> anyhow::Result<TrainingRun> {
    let device = device()?;
    train_on_device(config, &device, progress)
}

/// Trains `config` on `device` with the tensor form of the network; the record has the
/// same shape as the CPU modes' (one rank; its compute, update and evaluation times).
pub fn train_on_device(
    config: &TrainConfig,
    device: &Device,
    progress: impl FnMut(&EpochRecord),
) -> anyhow::Result<TrainingRun> {
    if let Some(b) = config.batch_size {
        anyhow::bail!("--batch-size {b}: --mode gpu trains full-batch only, as the study");
    }
    let inputs = Inputs::load(config)?;
    match inputs.config.dtype {
        Dtype::F32 => train_typed::<f32>(&inputs, device, progress),
        Dtype::F64 => train_typed::<f64>(&inputs, device, progress),
    }
}

fn scalar(t: &candle_core::Tensor) -> candle_core::Result<f64> {
    t.to_dtype(DType::F64)?.to_scalar::<f64>()
}

fn train_typed<T: Real>(
    inputs: &Inputs,
    device: &Device,
    mut progress: impl FnMut(&EpochRecord),
) -> anyhow::Result<TrainingRun> {
    let config = &inputs.config;
    let (train, test) = inputs.split::<T>()?;
    let data = DeviceData::new(&train, device)?;
    let test_data = if test.is_empty() { None } else { Some(DeviceData::new(&test, device)?) };
    let mut params = DeviceParams::new(&inputs.init.cast::<T>(), device)?;
    drop((train, test));
    device.synchronize()?;

    let started = Instant::now();
    let n = data.n;
    let mut step_costs = Vec::with_capacity(config.epochs * config.iters);
    let mut epochs = Vec::with_capacity(config.epochs);
    let mut iteration = 0;
    for epoch in 1..=config.epochs {
        let epoch_start = Instant::now();
        let mut times = RankTimes::default();
        for _ in 0..config.iters {
            iteration += 1;
            let compute_start = Instant::now();
            let (cost_sum, g1, g2) = params.cost_and_gradient_sum(&data)?;
            // Reading the cost waits for the pass: the device is synchronised here.
            let cost = scalar(&cost_sum)? / n as f64;
            times.compute_s += compute_start.elapsed().as_secs_f64();
            step_costs.push(super::finite(cost, iteration)?);
            let update_start = Instant::now();
            params.descend(&g1, &g2, config.lr, n)?;
            device.synchronize()?;
            times.update_s += update_start.elapsed().as_secs_f64();
        }
        let eval_start = Instant::now();
        let (cost, train_acc) = params.evaluate(&data)?;
        let train_scores = (super::finite(cost, iteration)?, train_acc);
        let test_scores = test_data.as_ref().map(|t| params.evaluate(t)).transpose()?;
        device.synchronize()?;
        times.eval_s = eval_start.elapsed().as_secs_f64();
        times.wall_s = epoch_start.elapsed().as_secs_f64();
        let record = EpochRecord::one_process(epoch, config.iters, train_scores, test_scores, times);
        progress(&record);
        epochs.push(record);
    }
    let final_params = crate::model::Params::<T>::from_tensors(&params.theta1, &params.theta2)?;
    Ok(inputs.result(Trained { params: final_params, step_costs, epochs }, vec![super::this_host()], started))
}
