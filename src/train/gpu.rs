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
use crate::model::gpu_options::GpuOptions;
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

/// Sets up the CUDA runtime for the trainer as `options` say (the optimisations `Pool` and
/// `Events` of [`crate::model::gpu_options::Optimization`]), before any of its buffers
/// exist; nothing to do on the CPU.
fn tune(device: &Device, options: &GpuOptions) -> anyhow::Result<()> {
    #[cfg(feature = "cuda")]
    if let Device::Cuda(cuda) = device {
        use crate::model::gpu_options::Optimization;
        use candle_core::cuda_backend::cudarc::driver::sys;
        if options.is_on(Optimization::Events) {
            // SAFETY: candle issues all work of this process on the device's one stream, so
            // no buffer needs events to order its uses across streams.
            unsafe { cuda.disable_event_tracking() };
        }
        if options.is_on(Optimization::Pool) {
            let stream = cuda.cuda_stream();
            let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
            let mut keep_all = u64::MAX;
            // SAFETY: plain driver calls on the device's default pool; the value pointer is a
            // u64, as CU_MEMPOOL_ATTR_RELEASE_THRESHOLD takes.
            unsafe {
                sys::cuDeviceGetDefaultMemPool(&mut pool, stream.context().cu_device())
                    .result()
                    .map_err(|e| anyhow::anyhow!("--mode gpu: the device's memory pool: {e:?}"))?;
                sys::cuMemPoolSetAttribute(
                    pool,
                    sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                    (&mut keep_all as *mut u64).cast(),
                )
                .result()
                .map_err(|e| anyhow::anyhow!("--mode gpu: the memory pool's release threshold: {e:?}"))?;
            }
        }
    }
    let _ = (device, options);
    Ok(())
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
/// Trains on the GPU, with the optimisations `DPSTUDY_GPU_OFF` leaves on.
pub fn run(config: &TrainConfig, progress: impl FnMut(&EpochRecord)) -> anyhow::Result<TrainingRun> {
    let options = GpuOptions::from_env()?;
    let device = device()?;
    tune(&device, &options)?;
    train_on_device(config, &device, &options, progress)
}

/// Trains `config` on `device` with the tensor form of the network; the record has the
/// same shape as the CPU modes' (one rank; its compute, update and evaluation times).
pub fn train_on_device(
    config: &TrainConfig,
    device: &Device,
    options: &GpuOptions,
    progress: impl FnMut(&EpochRecord),
) -> anyhow::Result<TrainingRun> {
    if let Some(b) = config.batch_size {
        anyhow::bail!("--batch-size {b}: --mode gpu trains full-batch only, as the study");
    }
    let inputs = Inputs::load(config)?;
    match inputs.config.dtype {
        Dtype::F32 => train_typed::<f32>(&inputs, device, options, progress),
        Dtype::F64 => train_typed::<f64>(&inputs, device, options, progress),
    }
}

fn scalar(t: &candle_core::Tensor) -> candle_core::Result<f64> {
    t.to_dtype(DType::F64)?.to_scalar::<f64>()
}

fn train_typed<T: Real>(
    inputs: &Inputs,
    device: &Device,
    options: &GpuOptions,
    mut progress: impl FnMut(&EpochRecord),
) -> anyhow::Result<TrainingRun> {
    let config = &inputs.config;
    let (train, test) = inputs.split::<T>()?;
    let data = DeviceData::new(&train, device, options)?;
    let test_data = if test.is_empty() { None } else { Some(DeviceData::new(&test, device, options)?) };
    let mut params = DeviceParams::new(&inputs.init.cast::<T>(), device, options)?;
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
    let final_params = params.to_params::<T>()?;
    Ok(inputs.result(
        Trained { params: final_params, step_costs, epochs, kernel: None },
        vec![super::this_host()],
        started,
    ))
}
