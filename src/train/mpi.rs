//! Data-parallel training over MPI processes (Open MPI through the `mpi` crate).
//!
//! Rank 0 loads the prepared data and the initial weights, broadcasts the weights and
//! scatters P contiguous shards of the training rows (sizes as numpy's `array_split`), so
//! ranks on other hosts need no copy of the data. Each rank computes the gradient *sum*
//! over its shard; the sync combines the sums and divides by the global sample count, so
//! the step is the exact full-batch step for any P, even or uneven.
//!
//! Every rank must be started with the same flags; a mismatch is detected (hash of the
//! configuration, all-gathered) before any data moves.

use std::time::Instant;

use anyhow::Context;
use mpi::collective::SystemOperation;
use mpi::datatype::Partition;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use super::sync::{GradientSync, RankTimes};
use super::watchdog::{self, RankIdentity, Watchdog};
use super::{EpochRecord, Inputs, Reduction, SyncKind, TrainConfig, TrainingRun, descent};
use crate::data::{FEATURES, Samples, partition};
use crate::launch::{INSTALL_HINT, find_on_path, launched_by_mpirun};
use crate::model::Params;
use crate::model::exact_sum::{ExactBlocks, ExactSum};
use crate::model::kernel::{KernelKind, PassStats};
use crate::real::{Dtype, Real};

/// An element type the trainers run in that MPI's collectives can also carry (f32, f64).
pub trait MpiReal: Real + Equivalence {}

impl<T: Real + Equivalence> MpiReal for T {}

/// The error of a rank that stopped because another rank failed, or because of an error
/// every rank saw alike: rank 0 reports it, the others stay quiet.
#[derive(Debug, thiserror::Error)]
#[error("stopped: the error is reported by rank 0 or by the rank that failed")]
pub struct ReportedElsewhere;

/// Fails unless this process runs under `mpirun`, saying how to get there (`mode`: the
/// `--mode` that needs it).
pub fn require_launcher(mode: super::Mode) -> anyhow::Result<()> {
    if launched_by_mpirun() {
        return Ok(());
    }
    match find_on_path("mpirun") {
        None => anyhow::bail!("--mode {mode} needs Open MPI, and mpirun is not on PATH: {INSTALL_HINT}"),
        Some(mpirun) => anyhow::bail!(
            "--mode {mode} must be started by mpirun, e.g. `{} -np 2 dpstudy train --mode {mode} ...`",
            mpirun.display()
        ),
    }
}

/// Makes a local result collective: if any rank failed, every rank returns an error (the
/// failing rank its own, the others [`ReportedElsewhere`]), so no rank waits forever.
pub(super) fn agree<T>(world: &SimpleCommunicator, local: anyhow::Result<T>) -> anyhow::Result<T> {
    let failed = i32::from(local.is_err());
    let mut any = 0;
    world.all_reduce_into(&failed, &mut any, SystemOperation::max());
    match local {
        Err(e) => Err(e),
        Ok(_) if any != 0 => Err(ReportedElsewhere.into()),
        Ok(v) => Ok(v),
    }
}

/// Checks that every rank got the same configuration.
pub(super) fn check_same_config(world: &SimpleCommunicator, config: &TrainConfig) -> anyhow::Result<()> {
    let digest = crate::data::checksum::sha256_hex(&serde_json::to_vec(config)?);
    let hash = u64::from_str_radix(&digest[..16], 16).expect("hex");
    let mut all = vec![0u64; world.size() as usize];
    world.all_gather_into(&hash, &mut all[..]);
    match all.iter().position(|&h| h != all[0]) {
        None => Ok(()),
        Some(_) if world.rank() != 0 => Err(ReportedElsewhere.into()),
        Some(r) => anyhow::bail!(
            "rank {r} was started with a different configuration from rank 0: every rank of an MPI run \
             must get the same `dpstudy train` flags"
        ),
    }
}

/// Trains on the ranks of `mpirun`. Returns the run on rank 0 and `None` on the others.
///
/// Every error after MPI starts is collective (all ranks learn of it), so each rank prints
/// its own error, if it has one, and then waits for all the others before it returns: a
/// quiet rank that exited first would make `mpirun` kill the rank still printing.
pub fn run(config: &TrainConfig, progress: impl FnMut(&EpochRecord)) -> anyhow::Result<Option<TrainingRun>> {
    collective_run(config, |world| match config.dtype {
        Dtype::F32 => run_typed::<f32>(world, config, progress),
        Dtype::F64 => run_typed::<f64>(world, config, progress),
    })
}

/// The frame of a job on the ranks of `mpirun` (data-parallel or ensemble): starts MPI,
/// checks that every rank got `config`, runs `body`, and reports an error once (see [`run`]).
pub(super) fn collective_run<R>(
    config: &TrainConfig,
    body: impl FnOnce(&SimpleCommunicator) -> anyhow::Result<R>,
) -> anyhow::Result<R> {
    require_launcher(config.mode)?;
    let universe = mpi::initialize().context("MPI initialisation failed (was MPI already initialised?)")?;
    let world = universe.world();
    let result = check_same_config(&world, config).and_then(|()| body(&world));
    match result {
        Ok(run) => Ok(run),
        Err(e) => {
            // Training errors (a non-finite cost) are seen by every rank alike: rank 0 says it.
            let quiet = e.is::<ReportedElsewhere>() || (world.rank() != 0 && e.is::<super::TrainError>());
            if !quiet {
                eprintln!("error: {e:#}");
            }
            world.barrier();
            Err(ReportedElsewhere.into())
        }
    }
}

/// What rank 0 prepares before any data moves (here and in [`super::model_parallel`]).
pub(super) struct RootSetup<T> {
    pub inputs: Inputs,
    pub train: Samples<T>,
    pub test: Samples<T>,
}

/// Loads (rank 0), agrees, broadcasts the weights, scatters the shards, and trains.
fn run_typed<T: MpiReal>(
    world: &SimpleCommunicator,
    config: &TrainConfig,
    progress: impl FnMut(&EpochRecord),
) -> anyhow::Result<Option<TrainingRun>> {
    let (rank, size) = (world.rank() as usize, world.size() as usize);

    // Rank 0 loads and checks everything; the others learn of any failure.
    let setup = (rank == 0).then(|| {
        let inputs = Inputs::load(config)?;
        let n = inputs.samples;
        if size > n {
            anyhow::bail!(
                "{size} MPI ranks for {n} training samples: every rank needs at least one sample (use \
                 fewer ranks or more --samples)"
            );
        }
        let blocks = ExactBlocks::for_rows(n).count();
        if config.reduce == Reduction::Exact && size > blocks {
            anyhow::bail!(
                "--reduce exact: {size} MPI ranks for {blocks} blocks of rows; every rank needs a whole block \
                 (at most {blocks} ranks for {n} samples)"
            );
        }
        let (train, test) = inputs.split::<T>()?;
        Ok(RootSetup { inputs, train, test })
    });
    let setup = agree(world, setup.transpose())?;

    let root = world.process_at_rank(0);
    let mut samples = setup.as_ref().map_or(0, |s| s.inputs.samples as u64);
    root.broadcast_into(&mut samples);
    let samples = samples as usize;
    let mut config = config.clone();
    config.samples = Some(samples);
    let mut init = setup.as_ref().map_or_else(|| Params::zeros(config.hidden), |s| s.inputs.init.clone());
    root.broadcast_into(init.as_mut_slice());

    let parts = match config.reduce {
        Reduction::Float => partition(samples, size),
        // Whole global blocks per rank; rank 0 checked above that there are enough.
        Reduction::Exact => ExactBlocks::for_rows(samples).partition(size).expect("checked on rank 0"),
    };
    let mine = parts[rank].clone();
    let mut shard =
        Samples { features: vec![T::ZERO; mine.len() * FEATURES], labels: vec![0u8; mine.len()], dim: FEATURES };
    // Message sizes are C ints: 70,000 x 400 elements fit easily; far larger data would not.
    let counts = |per_row: usize| -> (Vec<i32>, Vec<i32>) {
        let int = |v: usize| i32::try_from(v).expect("shard too large for one MPI message");
        (parts.iter().map(|r| int(r.len() * per_row)).collect(), parts.iter().map(|r| int(r.start * per_row)).collect())
    };
    let (inputs, test) = match setup {
        Some(RootSetup { inputs, train, test }) => {
            let (c, d) = counts(FEATURES);
            root.scatter_varcount_into_root(&Partition::new(&train.features[..], c, d), &mut shard.features[..]);
            let (c, d) = counts(1);
            root.scatter_varcount_into_root(&Partition::new(&train.labels[..], c, d), &mut shard.labels[..]);
            (Some(inputs), test) // `train` is dropped here: rank 0 keeps its shard and the test rows
        }
        None => {
            root.scatter_varcount_into(&mut shard.features[..]);
            root.scatter_varcount_into(&mut shard.labels[..]);
            (None, Samples { features: vec![], labels: vec![], dim: FEATURES })
        }
    };

    let timeout = watchdog::timeout_from_env();
    let timeout = agree(world, timeout)?;
    // Every rank gathers the host names, watchdog or not: a collective must be called by all.
    let hosts = host_names(world);
    let watchdog = timeout.map(|t| Watchdog::start(RankIdentity { rank, hosts: hosts.clone() }, t));
    let mut sync = MpiSync::new(world, config.sync.unwrap_or(SyncKind::Allreduce), config.hidden, watchdog.as_ref());
    let local_shard = descent::Shard { rows: &shard, range: mine, total: samples };
    if config.reduce == Reduction::Exact {
        check_same_kernel(world, descent::kernel_for(&config, &local_shard))?;
    }
    world.barrier();
    let started = Instant::now();
    let trained = descent::train(&config, &init.cast::<T>(), local_shard, &test, &mut sync, progress)?;
    Ok(inputs.map(|i| i.result(trained, hosts, started)))
}

/// Under the exact reduction every rank must compute its blocks with the same kernel, as the
/// bits depend on it: ranks on hosts of different CPUs, or with different `DPSTUDY_KERNEL`,
/// could pick different ones. Collective; rank 0 reports a mismatch.
fn check_same_kernel(world: &SimpleCommunicator, kind: KernelKind) -> anyhow::Result<()> {
    let code = KernelKind::ALL.iter().position(|&k| k == kind).expect("every kernel is listed") as u8;
    let mut all = vec![0u8; world.size() as usize];
    world.all_gather_into(&code, &mut all[..]);
    match all.iter().position(|&c| c != all[0]) {
        None => Ok(()),
        Some(_) if world.rank() != 0 => Err(ReportedElsewhere.into()),
        Some(r) => anyhow::bail!(
            "--reduce exact: rank {r} computes with the {} kernel and rank 0 with {}; the exact reduction's bits \
             depend on the kernel, so every rank must run the same one (hosts of one CPU kind, or the same \
             DPSTUDY_KERNEL on every host: mpirun -x DPSTUDY_KERNEL=fused-avx2 ...)",
            KernelKind::ALL[all[r] as usize].as_str(),
            kind.as_str()
        ),
    }
}

/// Every rank's host name, in rank order: for the watchdog's message and the result's `hosts`.
pub(super) fn host_names(world: &SimpleCommunicator) -> Vec<String> {
    const LEN: usize = 64;
    let name = mpi::environment::processor_name().unwrap_or_else(|_| "unknown".into());
    let mut mine = [0u8; LEN];
    let bytes = name.as_bytes();
    mine[..bytes.len().min(LEN)].copy_from_slice(&bytes[..bytes.len().min(LEN)]);
    let mut all = vec![0u8; LEN * world.size() as usize];
    world.all_gather_into(&mine[..], &mut all[..]);
    all.chunks_exact(LEN)
        .map(|c| String::from_utf8_lossy(&c[..c.iter().position(|&b| b == 0).unwrap_or(LEN)]).into_owned())
        .collect()
}

/// The two ways of combining gradients across ranks.
struct MpiSync<'a, T> {
    world: &'a SimpleCommunicator,
    kind: SyncKind,
    /// Watches every collective of the training loop (None: `DPSTUDY_COLLECTIVE_TIMEOUT=0`).
    watchdog: Option<&'a Watchdog>,
    /// Steps taken, for the watchdog's message.
    steps: u64,
    /// The summed gradient.
    total: Params<T>,
    /// Rank 0's receive buffer for gather-bcast: every rank's gradient, in rank order.
    gathered: Vec<T>,
    /// The exact reduction's summed limbs, and rank 0's gathered ones (allocated on first use).
    exact_total: Vec<i64>,
    exact_gathered: Vec<i64>,
}

impl<'a, T: MpiReal> MpiSync<'a, T> {
    fn new(world: &'a SimpleCommunicator, kind: SyncKind, hidden: usize, watchdog: Option<&'a Watchdog>) -> Self {
        let len = Params::<T>::len_for(hidden);
        let gathered_len =
            if kind == SyncKind::GatherBcast && world.rank() == 0 { len * world.size() as usize } else { 0 };
        Self {
            world,
            kind,
            watchdog,
            steps: 0,
            total: Params::zeros(hidden),
            gathered: vec![T::ZERO; gathered_len],
            exact_total: vec![],
            exact_gathered: vec![],
        }
    }

    /// Arms the watchdog for one collective (until the guard is dropped).
    fn watch(&self, what: &'static str) -> Option<watchdog::Armed<'a>> {
        self.watchdog.map(|w| w.arm(what, self.steps))
    }

    fn allreduce_stats(&self, local: PassStats) -> PassStats {
        // Counts travel as f64: exact below 2^53.
        let send = [local.cost_sum, local.correct as f64, local.samples as f64];
        let mut sum = [0.0; 3];
        self.world.all_reduce_into(&send[..], &mut sum[..], SystemOperation::sum());
        PassStats { cost_sum: sum[0], correct: sum[1] as usize, samples: sum[2] as usize }
    }
}

impl<T: MpiReal> MpiSync<'_, T> {
    /// Sums `sums` over the ranks as integers, in place: one allreduce, or a gather to rank
    /// 0 summed there in rank order (the original's pattern; the sum is the same bits).
    /// Returns whether this rank holds the total (every rank, or rank 0).
    fn sum_exact(&mut self, sums: &mut ExactSum) -> bool {
        let len = sums.limbs().len();
        match self.kind {
            SyncKind::Allreduce => {
                self.exact_total.resize(len, 0);
                self.world.all_reduce_into(sums.limbs(), &mut self.exact_total[..], SystemOperation::sum());
                sums.limbs_mut().copy_from_slice(&self.exact_total);
                true
            }
            SyncKind::GatherBcast => {
                let root = self.world.process_at_rank(0);
                if self.world.rank() != 0 {
                    root.gather_into(sums.limbs());
                    return false;
                }
                self.exact_gathered.resize(len * self.world.size() as usize, 0);
                root.gather_into_root(sums.limbs(), &mut self.exact_gathered[..]);
                let total = sums.limbs_mut();
                total.copy_from_slice(&self.exact_gathered[..len]);
                for other in self.exact_gathered[len..].chunks_exact(len) {
                    for (t, &g) in total.iter_mut().zip(other) {
                        *t += g;
                    }
                }
                true
            }
        }
    }
}

impl<T: MpiReal> GradientSync<T> for MpiSync<'_, T> {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn step(
        &mut self,
        params: &mut Params<T>,
        grad: &Params<T>,
        local: PassStats,
        lr: f64,
        times: &mut RankTimes,
    ) -> PassStats {
        self.steps += 1;
        let _armed = self.watch(match self.kind {
            SyncKind::Allreduce => "allreduce",
            SyncKind::GatherBcast => "gather-broadcast",
        });
        let t0 = Instant::now();
        self.world.barrier();
        let t1 = Instant::now();
        match self.kind {
            SyncKind::Allreduce => {
                // One collective over theta1 then theta2, as laid out in `Params`.
                self.world.all_reduce_into(grad.as_slice(), self.total.as_mut_slice(), SystemOperation::sum());
                let global = self.allreduce_stats(local);
                let t2 = Instant::now();
                params.descend_mean(&self.total, lr, global.samples);
                let t3 = Instant::now();
                times.wait_s += (t1 - t0).as_secs_f64();
                times.comm_s += (t2 - t1).as_secs_f64();
                times.update_s += (t3 - t2).as_secs_f64();
                global
            }
            SyncKind::GatherBcast => {
                let root = self.world.process_at_rank(0);
                let is_root = self.world.rank() == 0;
                if is_root {
                    root.gather_into_root(grad.as_slice(), &mut self.gathered[..]);
                } else {
                    root.gather_into(grad.as_slice());
                }
                let global = self.allreduce_stats(local);
                let t2 = Instant::now();
                if is_root {
                    // Sum in rank order, starting from rank 0's buffer itself (so P = 1 is exact).
                    let len = grad.as_slice().len();
                    let total = self.total.as_mut_slice();
                    total.copy_from_slice(&self.gathered[..len]);
                    for other in self.gathered[len..].chunks_exact(len) {
                        for (t, &g) in total.iter_mut().zip(other) {
                            *t += g;
                        }
                    }
                    params.descend_mean(&self.total, lr, global.samples);
                }
                let t3 = Instant::now();
                root.broadcast_into(params.as_mut_slice());
                let t4 = Instant::now();
                times.wait_s += (t1 - t0).as_secs_f64();
                // Non-root ranks wait for rank 0's update inside the broadcast: counted as comm.
                times.comm_s += (t2 - t1 + (t4 - t3)).as_secs_f64();
                times.update_s += (t3 - t2).as_secs_f64();
                global
            }
        }
    }

    fn reduce_stats(&mut self, local: PassStats) -> PassStats {
        let _armed = self.watch("evaluation allreduce");
        self.allreduce_stats(local)
    }

    fn step_exact(
        &mut self,
        params: &mut Params<T>,
        sums: &mut ExactSum,
        grad: &mut Params<T>,
        local: PassStats,
        lr: f64,
        times: &mut RankTimes,
    ) -> PassStats {
        self.steps += 1;
        let _armed = self.watch("exact reduction");
        let t0 = Instant::now();
        self.world.barrier();
        let t1 = Instant::now();
        let holds_total = self.sum_exact(sums);
        let global = self.allreduce_stats(local);
        let t2 = Instant::now();
        // A NaN cost of any rank (a block beyond the exact range) stops the run after this step.
        if holds_total && global.cost_sum.is_finite() {
            super::sync::apply_exact(params, sums, grad, lr, global.samples);
        }
        let t3 = Instant::now();
        if self.kind == SyncKind::GatherBcast {
            self.world.process_at_rank(0).broadcast_into(params.as_mut_slice());
        }
        let t4 = Instant::now();
        times.wait_s += (t1 - t0).as_secs_f64();
        times.comm_s += (t2 - t1 + (t4 - t3)).as_secs_f64();
        times.update_s += (t3 - t2).as_secs_f64();
        // The cost: exact where the total is (rank 0 always: only rank 0 records); a NaN of
        // any rank (a block beyond the exact range) reaches every rank through the stats.
        let cost_sum =
            if holds_total && global.cost_sum.is_finite() { sums.value(sums.len() - 1) } else { global.cost_sum };
        PassStats { cost_sum, ..global }
    }

    fn reduce_stats_exact(&mut self, cost: &mut ExactSum, local: PassStats) -> PassStats {
        let _armed = self.watch("evaluation allreduce");
        let len = cost.limbs().len();
        self.exact_total.resize(len.max(self.exact_total.len()), 0);
        self.world.all_reduce_into(cost.limbs(), &mut self.exact_total[..len], SystemOperation::sum());
        cost.limbs_mut().copy_from_slice(&self.exact_total[..len]);
        let global = self.allreduce_stats(local);
        PassStats { cost_sum: if global.cost_sum.is_finite() { cost.value(0) } else { global.cost_sum }, ..global }
    }

    fn gather_times(&mut self, local: &[RankTimes]) -> Option<Vec<Vec<RankTimes>>> {
        let _armed = self.watch("gather of the timings");
        gather_rank_times(self.world, local)
    }
}

/// Every rank's per-epoch phase times on rank 0 (indexed by rank); `None` elsewhere.
/// Collective.
pub(super) fn gather_rank_times(world: &SimpleCommunicator, local: &[RankTimes]) -> Option<Vec<Vec<RankTimes>>> {
    let flat: Vec<f64> = local.iter().flat_map(|t| t.to_array()).collect();
    let root = world.process_at_rank(0);
    if world.rank() != 0 {
        root.gather_into(&flat[..]);
        return None;
    }
    let mut all = vec![0.0; flat.len() * world.size() as usize];
    root.gather_into_root(&flat[..], &mut all[..]);
    let per_rank = all
        .chunks_exact(flat.len())
        .enumerate()
        .map(|(r, chunk)| chunk.chunks_exact(RankTimes::FIELDS).map(|a| RankTimes::from_array(r, a)).collect())
        .collect();
    Some(per_rank)
}
