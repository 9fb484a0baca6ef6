//! `dpstudy bench`: the median time of one training step at the study's largest size, and
//! the GFLOP/s it achieves beside a square GEMM of the same machine, timed in the same run.
//!
//! Every kernel this CPU runs (the fused one and the portable `gemm` one) and the GEMM are
//! timed alternately, repetition by repetition, so that whatever else the (shared, noisy)
//! machine is doing falls on all of them alike; the ratios are the figures to trust, the
//! seconds are this machine's.

pub mod scaling;
pub mod triad;

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::synthetic;
use crate::data::{Samples, SamplesView};
use crate::linalg::{self, Layout};
use crate::model::exact_sum::{ExactBlocks, ExactSum};
use crate::model::kernel::KernelKind;
use crate::model::row_split::ThreadedKernel;
use crate::model::{Params, init, step_flops};
use crate::real::{Dtype, Real};
use crate::train::{ConfigError, Machine, Reduction};

/// Side of the reference GEMM.
pub const GEMM_SIZE: usize = 2048;

/// What `dpstudy bench` times.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Rows of synthetic data.
    pub samples: usize,
    /// Hidden sizes to time.
    pub hidden: Vec<usize>,
    /// Also time mini-batch steps of this many rows.
    pub batch_size: Option<usize>,
    /// Timed and untimed repetitions.
    pub reps: usize,
    pub warmup: usize,
    /// Compute threads.
    pub threads: usize,
    /// Consent to more threads than cores (`--oversubscribe`).
    pub oversubscribe: bool,
    /// Element types to time.
    pub dtypes: Vec<Dtype>,
    /// Reductions to time each kernel's full-batch step with (`exact`: the step of
    /// `--reduce exact`, its blocks summed as fixed-point integers).
    pub reductions: Vec<Reduction>,
    /// The sequential / threads / MPI comparison, when asked for.
    pub scaling: Option<scaling::ScalingSpec>,
}

/// Median and extremes of a set of timings, in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// One case's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchRow {
    pub dtype: Dtype,
    pub hidden: usize,
    pub kernel: KernelKind,
    /// The reduction of the step's gradient sums (`float` in records made before it).
    #[serde(default)]
    pub reduce: Reduction,
    /// Mini-batch size (`None`: full batch of all samples).
    pub batch: Option<usize>,
    pub step: Timing,
    pub step_gflop: f64,
    pub step_gflops: f64,
    /// Samples through one step per second (median step).
    pub samples_per_s: f64,
    pub gemm: Timing,
    pub gemm_gflops: f64,
    /// Step GFLOP/s over GEMM GFLOP/s, both medians of the same run.
    pub ratio: f64,
    /// The rate the step reads its data matrix at (its rows x 400 features, once per
    /// step), in GB/s: beside the triad's, how close the step is to being memory-bound.
    pub data_gbs: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    pub samples: usize,
    pub threads: usize,
    pub data: String,
    pub rows: Vec<BenchRow>,
    /// The memory bandwidth of the same run, with one thread and with each thread count
    /// the run uses.
    pub triad: Vec<triad::TriadResult>,
    /// Sequential, threads and MPI step times, when `--scaling P` asked for them.
    pub scaling: Option<scaling::ScalingReport>,
}

impl BenchReport {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "dpstudy bench: N = {}, {} thread(s), data: {}\n{:<6} {:<5} {:<18} {:>6} {:>11} {:>9} {:>9} {:>11} {:>14} {:>6} {:>9}\n",
            self.samples,
            self.threads,
            self.data,
            "dtype",
            "H",
            "kernel",
            "batch",
            "step median",
            "step min",
            "GFLOP/s",
            "samples/s",
            format!("GEMM {GEMM_SIZE}^3"),
            "ratio",
            "data GB/s"
        );
        for r in &self.rows {
            out += &format!(
                "{:<6} {:<5} {:<18} {:>6} {:>9.2}ms {:>7.2}ms {:>9.1} {:>11.3e} {:>9.1} GF/s {:>5.0}% {:>9.2}\n",
                r.dtype.to_string(),
                r.hidden,
                r.label(),
                r.batch.map_or("full".to_string(), |b| b.to_string()),
                r.step.median_s * 1e3,
                r.step.min_s * 1e3,
                r.step_gflops,
                r.samples_per_s,
                r.gemm_gflops,
                100.0 * r.ratio,
                r.data_gbs
            );
        }
        out += &self.memory_lines();
        if let Some(scaling) = &self.scaling {
            out += &scaling.table();
        }
        out
    }
}

impl BenchRow {
    /// The kernel, and `+exact` for the exact reduction's step.
    pub fn label(&self) -> String {
        match self.reduce {
            Reduction::Float => self.kernel.as_str().to_string(),
            Reduction::Exact => format!("{}+exact", self.kernel.as_str()),
        }
    }
}

impl BenchReport {
    /// The triad's rates, and for the full-batch step that reads its data fastest, the
    /// number of cores at which streaming the data would take all of the triad's bandwidth.
    fn memory_lines(&self) -> String {
        let mut out = String::new();
        for t in &self.triad {
            out += &format!(
                "memory: triad ({} MiB per array), {} thread(s): best {:.1} GB/s, median {:.1} GB/s\n",
                (triad::TRIAD_ELEMENTS * 8) >> 20,
                t.threads,
                t.best_gbs,
                t.median_gbs
            );
        }
        let fastest = self.rows.iter().filter(|r| r.batch.is_none()).max_by(|a, b| a.data_gbs.total_cmp(&b.data_gbs));
        if let (Some(row), Some(top)) = (fastest, self.triad.iter().max_by(|a, b| a.best_gbs.total_cmp(&b.best_gbs))) {
            let per_core = row.data_gbs / self.threads as f64;
            out += &format!(
                "memory: the {} H = {} {} step reads its data at {:.2} GB/s per core: the triad's best ({:.1} GB/s, {} thread(s)) would feed {:.0} such cores\n",
                row.dtype,
                row.hidden,
                row.kernel.as_str(),
                per_core,
                top.best_gbs,
                top.threads,
                top.best_gbs / per_core
            );
        }
        out
    }
}

impl BenchConfig {
    /// Refuses, naming the flag, what this machine cannot mean to run, before any buffer is
    /// allocated or thread started: more threads than rows, more threads than cores without
    /// `--oversubscribe`, data and GEMM operands beyond its memory.
    pub fn check_resources(&self, machine: Machine) -> Result<(), ConfigError> {
        let beyond =
            |flag, value: usize, reason: String| Err(ConfigError::Beyond { flag, value: value.to_string(), reason });
        if self.threads > self.samples {
            let reason = format!("more threads than the {} rows to split among them", self.samples);
            return beyond("--threads", self.threads, reason);
        }
        if self.threads > machine.cores && !self.oversubscribe {
            let reason = format!(
                "more compute threads than this machine's {} cores: pass --oversubscribe to time them anyway",
                machine.cores
            );
            return beyond("--threads", self.threads, reason);
        }
        for &p in self.scaling.iter().flat_map(|s| &s.parallel) {
            if p == 0 || p > self.samples {
                return beyond("--scaling", p, format!("P must be between 1 and the {} rows", self.samples));
            }
            if p > machine.cores && !self.oversubscribe {
                let reason = format!(
                    "more ranks and threads than this machine's {} cores: pass --oversubscribe to time them anyway",
                    machine.cores
                );
                return beyond("--scaling", p, reason);
            }
        }
        // The rows in f64 and in f32, the GEMM's three f64 operands, and the triad's arrays.
        let bytes = self.samples as u128 * crate::data::FEATURES as u128 * 12
            + 3 * (GEMM_SIZE as u128).pow(2) * 8
            + 3 * triad::TRIAD_ELEMENTS as u128 * 8;
        match machine.memory_bytes {
            Some(memory) if bytes > u128::from(memory) => beyond(
                "--samples",
                self.samples,
                format!(
                    "the benchmark would need about {:.1} GiB, more than this machine's {:.1} GiB of memory",
                    bytes as f64 / (1u64 << 30) as f64,
                    memory as f64 / (1u64 << 30) as f64
                ),
            ),
            _ => Ok(()),
        }
    }
}

/// Runs the benchmark for every requested element type and hidden size (the command has
/// checked the request against this machine first: [`BenchConfig::check_resources`]).
pub fn run(args: &BenchConfig) -> anyhow::Result<BenchReport> {
    anyhow::ensure!(args.reps >= 1, "--reps must be at least 1");
    anyhow::ensure!(args.samples >= 1, "--samples must be at least 1");
    anyhow::ensure!(args.hidden.iter().all(|&h| h >= 1), "--hidden must be at least 1");
    anyhow::ensure!(
        args.batch_size.is_none_or(|b| (1..=args.samples).contains(&b)),
        "--batch-size must be in 1..=--samples"
    );
    let seed = 1;
    let data = synthetic::generate(args.samples, seed);
    let data_label = data.source.to_string();
    let mut rows = vec![];
    for &dtype in &args.dtypes {
        for &hidden in &args.hidden {
            let init = init::draw(hidden, seed);
            for batch in [None, args.batch_size].into_iter().collect::<std::collections::BTreeSet<_>>() {
                rows.extend(match dtype {
                    Dtype::F32 => bench_case::<f32>(args, &data, &init, batch)?,
                    Dtype::F64 => bench_case::<f64>(args, &data, &init, batch)?,
                });
            }
        }
    }
    drop(data);
    let parallel = args.scaling.iter().flat_map(|s| s.parallel.clone());
    let triad = triad::measure_all([1, args.threads].into_iter().chain(parallel));
    let scaling = args.scaling.clone().map(scaling::run).transpose()?;
    Ok(BenchReport { samples: args.samples, threads: args.threads, data: data_label, rows, triad, scaling })
}

/// Times one step (full batch, or one mini-batch of `batch` rows gathered from a seeded
/// permutation, as the trainer does) with every kernel this CPU runs, and the reference
/// GEMM, all interleaved repetition by repetition.
fn bench_case<T: Real>(
    args: &BenchConfig,
    data: &crate::data::Prepared,
    init: &Params<f64>,
    batch: Option<usize>,
) -> anyhow::Result<Vec<BenchRow>> {
    let hidden = init.hidden();
    let samples = data.rows::<T>(0..args.samples)?;
    // Every kernel with every reduction asked for (the exact one on full batches only).
    let cases: Vec<(KernelKind, Reduction)> = KernelKind::runnable()
        .into_iter()
        .flat_map(|k| args.reductions.iter().map(move |&r| (k, r)))
        .filter(|&(_, r)| r == Reduction::Float || batch.is_none())
        .collect();
    let mut kernels: Vec<ThreadedKernel<T>> =
        cases.iter().map(|&(k, _)| ThreadedKernel::with_kind(hidden, args.threads, k)).collect();
    let blocks = ExactBlocks::for_rows(args.samples).ranges();
    let mut sums = ExactSum::new(Params::<T>::len_for(hidden) + 1);
    let mut stream = batch.map(|b| crate::train::descent::BatchStream::new(args.samples, b, 1));
    let mut batch_rows = Samples { features: vec![], labels: vec![], dim: samples.dim };
    let mut params = init.cast::<T>();
    let mut grad = Params::zeros(hidden);
    let mut gemm = GemmCase::<T>::new(GEMM_SIZE, args.threads);
    // Tiny learning rate: the weights move (no dead-code shortcuts) but stay near the start.
    let rows = batch.unwrap_or(args.samples);
    let scale = T::from_f64(1e-3 / rows as f64);
    let mut steps = vec![vec![]; cases.len()];
    let mut gemms = vec![];
    for rep in 0..args.warmup + args.reps {
        for ((kernel, times), &(_, reduce)) in kernels.iter_mut().zip(&mut steps).zip(&cases) {
            let t = Instant::now();
            let view = match stream.as_mut() {
                Some(stream) => {
                    let whole = crate::train::descent::Shard::whole(&samples);
                    crate::train::descent::gather_local(&whole, stream.next_batch(), &mut batch_rows);
                    batch_rows.as_view()
                }
                None => samples.as_view(),
            };
            gradient(kernel, reduce, (&params, view), (&blocks, &mut sums), &mut grad);
            params.descend(&grad, scale);
            if rep >= args.warmup {
                times.push(t.elapsed().as_secs_f64());
            }
        }
        let gemm_s = gemm.time();
        if rep >= args.warmup {
            gemms.push(gemm_s);
        }
    }
    let gemm = Timing::of(gemms);
    let gemm_gflops = 2.0 * (GEMM_SIZE as f64).powi(3) / 1e9 / gemm.median_s;
    let step_gflop = step_flops(rows, hidden) / 1e9;
    Ok(cases
        .into_iter()
        .zip(steps)
        .map(|((kernel, reduce), times)| {
            let step = Timing::of(times);
            let step_gflops = step_gflop / step.median_s;
            let data_gbs = (rows * crate::data::FEATURES * std::mem::size_of::<T>()) as f64 / step.median_s / 1e9;
            BenchRow {
                data_gbs,
                dtype: Dtype::of::<T>(),
                hidden,
                kernel,
                reduce,
                batch,
                samples_per_s: rows as f64 / step.median_s,
                step,
                step_gflop,
                step_gflops,
                gemm: gemm.clone(),
                gemm_gflops,
                ratio: step_gflops / gemm_gflops,
            }
        })
        .collect())
}

/// The gradient of one step into `grad`: the kernel's own sum, or the exact reduction's
/// blocks (`blocks`, summed in `sums`) written out as the trainer does.
fn gradient<T: Real>(
    kernel: &mut ThreadedKernel<T>,
    reduce: Reduction,
    (params, view): (&Params<T>, SamplesView<'_, T>),
    (blocks, sums): (&[std::ops::Range<usize>], &mut ExactSum),
    grad: &mut Params<T>,
) {
    match reduce {
        Reduction::Float => {
            kernel.gradient(params, view, grad);
        }
        Reduction::Exact => {
            kernel.exact_pass(params, view, blocks, true, sums);
            sums.write(0, grad.as_mut_slice());
        }
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
        let square = Layout::row_major(self.n, self.n);
        let t = Instant::now();
        linalg::gemm(&mut self.c, square, false, (&self.a, square), (&self.b, square), self.threads);
        t.elapsed().as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asking(samples: usize, threads: usize, oversubscribe: bool) -> BenchConfig {
        BenchConfig {
            samples,
            hidden: vec![50],
            batch_size: None,
            reps: 1,
            warmup: 0,
            threads,
            oversubscribe,
            dtypes: vec![Dtype::F32],
            reductions: vec![Reduction::Float],
            scaling: None,
        }
    }

    #[test]
    fn runaway_requests_are_refused_naming_the_flag() {
        let machine = Machine { cores: 2, memory_bytes: Some(8 << 30) };
        let message = |c: BenchConfig| c.check_resources(machine).unwrap_err().to_string();
        assert!(
            message(asking(10_000, 100_000, true)).starts_with("--threads 100000: more threads than the 10000 rows")
        );
        assert!(message(asking(70_000, 3, false)).contains("--oversubscribe"));
        assert!(asking(70_000, 3, true).check_resources(machine).is_ok());
        assert!(message(asking(2_000_000_000, 1, false)).starts_with("--samples 2000000000: the benchmark would need"));
        assert!(asking(70_000, 2, false).check_resources(machine).is_ok());
    }
}
