//! `dpstudy bench`: the median time of one training step at the study's largest size, and
//! the GFLOP/s it achieves beside a square GEMM of the same machine, timed in the same run.
//!
//! The step and the GEMM are timed alternately, repetition by repetition, so that whatever
//! else the (shared, noisy) machine is doing falls on both alike; the ratio is the figure
//! to trust, the seconds are this machine's.

pub mod scaling;

use std::time::Instant;

use serde::Serialize;

use crate::cli::BenchArgs;
use crate::data::synthetic;
use crate::model::threaded::ThreadedKernel;
use crate::model::{Params, init, step_flops};
use crate::real::{Dtype, Real};

/// Side of the reference GEMM.
pub const GEMM_SIZE: usize = 2048;

/// Median and extremes of a set of timings, in seconds.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    pub median_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    pub samples: usize,
}

impl Timing {
    pub fn of(mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        let median_s = if n % 2 == 1 { samples[n / 2] } else { 0.5 * (samples[n / 2 - 1] + samples[n / 2]) };
        Self { median_s, min_s: samples[0], max_s: samples[n - 1], samples: n }
    }
}

/// One element type's figures.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    pub dtype: Dtype,
    pub step: Timing,
    pub step_gflop: f64,
    pub step_gflops: f64,
    pub gemm: Timing,
    pub gemm_gflops: f64,
    /// Step GFLOP/s over GEMM GFLOP/s, both medians of the same run.
    pub ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub samples: usize,
    pub hidden: usize,
    pub threads: usize,
    pub data: String,
    pub rows: Vec<BenchRow>,
    /// Sequential, threads and MPI step times, when `--scaling P` asked for them.
    pub scaling: Option<scaling::ScalingReport>,
}

impl BenchReport {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "dpstudy bench: N = {}, H = {}, {} thread(s), full-batch step, data: {}\n\
             {:<5} {:>12} {:>10} {:>10} {:>9} {:>14} {:>7}\n",
            self.samples,
            self.hidden,
            self.threads,
            self.data,
            "dtype",
            "step median",
            "step min",
            "GFLOP/step",
            "GFLOP/s",
            format!("GEMM {GEMM_SIZE}^3"),
            "ratio"
        );
        for r in &self.rows {
            out += &format!(
                "{:<5} {:>10.1}ms {:>8.1}ms {:>10.2} {:>9.1} {:>9.1} GF/s {:>6.0}%\n",
                r.dtype.to_string(),
                r.step.median_s * 1e3,
                r.step.min_s * 1e3,
                r.step_gflop,
                r.step_gflops,
                r.gemm_gflops,
                100.0 * r.ratio
            );
        }
        if let Some(scaling) = &self.scaling {
            out += &scaling.table();
        }
        out
    }
}

/// Runs the benchmark for every requested element type.
pub fn run(args: &BenchArgs) -> anyhow::Result<BenchReport> {
    anyhow::ensure!(args.reps >= 1, "--reps must be at least 1");
    anyhow::ensure!(args.samples >= 1, "--samples must be at least 1");
    anyhow::ensure!(args.hidden >= 1, "--hidden must be at least 1");
    let seed = 1;
    let data = synthetic::generate(args.samples, seed);
    let init = init::draw(args.hidden, seed);
    let data_label = data.source.to_string();
    let rows = args
        .dtype
        .iter()
        .map(|dtype| match dtype {
            Dtype::F32 => bench_dtype::<f32>(args, &data, &init),
            Dtype::F64 => bench_dtype::<f64>(args, &data, &init),
        })
        .collect();
    drop(data);
    let scaling = match args.scaling {
        None => None,
        Some(p) => {
            let spec = scaling::ScalingSpec {
                parallel: p,
                samples: args.samples,
                hidden: args.hidden,
                dtype: args.dtype[0],
                epochs: args.scaling_epochs,
                iters: args.scaling_iters,
                rounds: args.scaling_rounds,
                launcher: crate::launch::MpiLauncher {
                    extra_args: args.mpirun_args.split_whitespace().map(String::from).collect(),
                    oversubscribe: args.oversubscribe,
                },
            };
            Some(scaling::run(spec)?)
        }
    };
    Ok(BenchReport {
        samples: args.samples,
        hidden: args.hidden,
        threads: args.threads,
        data: data_label,
        rows,
        scaling,
    })
}

fn bench_dtype<T: Real>(args: &BenchArgs, data: &crate::data::Prepared, init: &Params<f64>) -> BenchRow {
    let samples = data.rows::<T>(0..args.samples);
    let mut params = init.cast::<T>();
    let mut grad = Params::zeros(args.hidden);
    let mut kernel = ThreadedKernel::new(args.hidden, args.threads);
    let mut gemm = GemmCase::<T>::new(GEMM_SIZE, args.threads);
    // Tiny learning rate: the weights move (no dead-code shortcuts) but stay near the start.
    let scale = T::from_f64(1e-3 / args.samples as f64);
    let (mut steps, mut gemms) = (vec![], vec![]);
    for rep in 0..args.warmup + args.reps {
        let t = Instant::now();
        kernel.gradient(&params, samples.as_view(), &mut grad);
        params.descend(&grad, scale);
        let step_s = t.elapsed().as_secs_f64();
        let gemm_s = gemm.time();
        if rep >= args.warmup {
            steps.push(step_s);
            gemms.push(gemm_s);
        }
    }
    let (step, gemm) = (Timing::of(steps), Timing::of(gemms));
    let step_gflop = step_flops(args.samples, args.hidden) / 1e9;
    let step_gflops = step_gflop / step.median_s;
    let gemm_gflops = 2.0 * (GEMM_SIZE as f64).powi(3) / 1e9 / gemm.median_s;
    BenchRow {
        dtype: if T::DTYPE == candle_core::DType::F32 { Dtype::F32 } else { Dtype::F64 },
        step,
        step_gflop,
        step_gflops,
        gemm,
        gemm_gflops,
        ratio: step_gflops / gemm_gflops,
    }
}

/// A square `n^3` GEMM with the `gemm` crate, the machine's reference rate.
struct GemmCase<T> {
    n: usize,
    a: Vec<T>,
    b: Vec<T>,
    c: Vec<T>,
    threads: usize,
}

impl<T: Real> GemmCase<T> {
    fn new(n: usize, threads: usize) -> Self {
        let fill = |k: usize| (0..n * n).map(|i| T::from_f64(((i * k) % 17) as f64 / 17.0 - 0.5)).collect::<Vec<T>>();
        Self { n, a: fill(3), b: fill(5), c: vec![T::ZERO; n * n], threads }
    }

    fn time(&mut self) -> f64 {
        let n = self.n;
        let parallelism =
            if self.threads > 1 { gemm::Parallelism::Rayon(self.threads) } else { gemm::Parallelism::None };
        let t = Instant::now();
        // SAFETY: a, b and c are n x n, row-major.
        unsafe {
            gemm::gemm(
                n,
                n,
                n,
                self.c.as_mut_ptr(),
                1,
                n as isize,
                false,
                self.a.as_ptr(),
                1,
                n as isize,
                self.b.as_ptr(),
                1,
                n as isize,
                T::ZERO,
                T::ONE,
                false,
                false,
                false,
                parallelism,
            );
        }
        t.elapsed().as_secs_f64()
    }
}
