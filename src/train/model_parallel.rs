//! Model parallelism over MPI processes (`--mode model`): the hidden layer split over the
//! ranks ([`crate::model::hidden_split`]), one allreduce of the output layer's N x 10
//! pre-activations per step, and the same full-batch gradient descent as every other mode.
//!
//! Data parallelism moves the gradient every step, H x 401 + 10 x (H + 1) numbers whatever
//! N is; this moves N x 10 numbers whatever H is, so it communicates less where N is below
//! about 41 H. The price: every rank needs every row. Rank 0 loads the data and broadcasts
//! the training and test rows and the initial weights; each rank keeps its slice of the
//! weights, and rank 0 gathers the slices into the trained network at the end.
//!
//! The records are data parallelism's (compute, wait, communication and update per rank);
//! the faults end the job the same way (the collective frame of [`super::mpi`], the
//! watchdog on every collective).

use std::time::Instant;

use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use super::descent::{Trained, accuracy, attach_rank_times, finite_cost, mean_cost};
use super::mpi::{MpiReal, RootSetup, agree, collective_run, gather_rank_times, host_names};
use super::sync::RankTimes;
use super::watchdog::{self, RankIdentity, Watchdog};
use super::{EpochRecord, Inputs, TrainConfig, TrainError, TrainingRun};
use crate::data::{FEATURES, Samples};
use crate::model::hidden_split::{self, SliceWorkspace};
use crate::model::kernel::{KernelKind, PassStats};
use crate::model::{OUTPUTS, Params};
use crate::real::{Dtype, Real};

/// Trains on the ranks of `mpirun`. Returns the run on rank 0 and `None` on the others.
pub fn run(config: &TrainConfig, progress: impl FnMut(&EpochRecord)) -> anyhow::Result<Option<TrainingRun>> {
    collective_run(config, |world| match config.dtype {
        Dtype::F32 => run_typed::<f32>(world, config, progress),
        Dtype::F64 => run_typed::<f64>(world, config, progress),
    })
}

/// Loads (rank 0), agrees, broadcasts the rows and the weights, trains each rank's slice,
/// and gathers the slices on rank 0.
fn run_typed<T: MpiReal>(
    world: &SimpleCommunicator,
    config: &TrainConfig,
    progress: impl FnMut(&EpochRecord),
) -> anyhow::Result<Option<TrainingRun>> {
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    let setup = (rank == 0).then(|| {
        let inputs = Inputs::load(config)?;
        if size > config.hidden {
            anyhow::bail!(
                "{size} MPI ranks for {} hidden units: --mode model gives every rank at least one hidden unit \
                 (use fewer ranks or a larger --hidden)",
                config.hidden
            );
        }
        let (train, test) = inputs.split::<T>()?;
        Ok(RootSetup { inputs, train, test })
    });
    let setup = agree(world, setup.transpose())?;

    let root = world.process_at_rank(0);
    let mut rows = setup.as_ref().map_or([0u64; 2], |s| [s.train.len() as u64, s.test.len() as u64]);
    root.broadcast_into(&mut rows[..]);
    let (samples, test_rows) = (rows[0] as usize, rows[1] as usize);
    let mut config = config.clone();
    config.samples = Some(samples);
    let mut init = setup.as_ref().map_or_else(|| Params::zeros(config.hidden), |s| s.inputs.init.clone());
    root.broadcast_into(init.as_mut_slice());
    let (inputs, mut train, mut test) = match setup {
        Some(RootSetup { inputs, train, test }) => (Some(inputs), train, test),
        None => (None, empty_rows(samples), empty_rows(test_rows)),
    };
    // Message sizes are C ints: 70,000 x 400 elements fit easily; far larger data would not.
    assert!(train.features.len() <= i32::MAX as usize, "the training rows are too many for one MPI message");
    // Every rank knows both row counts, so all skip an empty set alike (Open MPI refuses
    // the dangling pointer of an empty buffer).
    for rows in [&mut train, &mut test].into_iter().filter(|r| !r.is_empty()) {
        root.broadcast_into(&mut rows.features[..]);
        root.broadcast_into(&mut rows.labels[..]);
    }

    let units = hidden_split::units(config.hidden, size);
    let part = hidden_split::slice(&init.cast::<T>(), &units[rank]);
    let timeout = agree(world, watchdog::timeout_from_env())?;
    let hosts = host_names(world);
    let watchdog = timeout.map(|t| Watchdog::start(RankIdentity { rank, hosts: hosts.clone() }, t));
    let mut comm = Collectives { world, watchdog: watchdog.as_ref(), steps: 0 };
    world.barrier();
    let started = Instant::now();
    let Descended { part, step_costs, mut epochs } = descend(&config, part, (&train, &test), &mut comm, progress)?;
    let all_times = {
        let _armed = comm.watch("gather of the timings");
        gather_rank_times(world, &epochs.iter().map(|e| *e.root()).collect::<Vec<_>>())
    };
    let whole = {
        let _armed = comm.watch("gather of the weights");
        gather_parts(world, &part, &units)
    };
    Ok(inputs.zip(whole).zip(all_times).map(|((inputs, params), all)| {
        attach_rank_times(&mut epochs, &all);
        let trained = Trained { params, step_costs, epochs, kernel: Some(KernelKind::Gemm) };
        inputs.result(trained, hosts, started)
    }))
}

/// Room for `rows` rows that rank 0 will broadcast.
fn empty_rows<T: Real>(rows: usize) -> Samples<T> {
    Samples { features: vec![T::ZERO; rows * FEATURES], labels: vec![0; rows], dim: FEATURES }
}

/// The collectives of the training loop, each watched by the watchdog.
struct Collectives<'a> {
    world: &'a SimpleCommunicator,
    watchdog: Option<&'a Watchdog>,
    /// Training steps so far, for the watchdog's message.
    steps: u64,
}

impl<'a> Collectives<'a> {
    fn watch(&self, what: &'static str) -> Option<watchdog::Armed<'a>> {
        self.watchdog.map(|w| w.arm(what, self.steps))
    }

    /// Sums every rank's partial logits into `summed` (every rank gets the sum), after a
    /// barrier, so that waiting for a slower rank is counted as waiting, not communication.
    /// `what` names the collective for the watchdog (a training step's, or an evaluation's).
    fn sum_logits<T: MpiReal>(&mut self, what: &'static str, partial: &[T], summed: &mut [T], times: &mut RankTimes) {
        let _armed = self.watch(what);
        let t0 = Instant::now();
        self.world.barrier();
        let t1 = Instant::now();
        self.world.all_reduce_into(partial, summed, SystemOperation::sum());
        times.wait_s += (t1 - t0).as_secs_f64();
        times.comm_s += t1.elapsed().as_secs_f64();
    }
}

/// The descent loop of one rank's slice: `epochs` of `iters` full-batch steps, an
/// evaluation after each epoch. Returns the trained slice, the step costs and the records
/// (this rank's times; rank 0 adds the others').
///
/// Not [`super::descent::train`]: there a step is a local gradient and then a sync; here
/// the communication sits between the forward and the backward pass.
fn descend<T: MpiReal>(
    config: &TrainConfig,
    mut part: Params<T>,
    (train, test): (&Samples<T>, &Samples<T>),
    comm: &mut Collectives<'_>,
    mut progress: impl FnMut(&EpochRecord),
) -> Result<Descended<T>, TrainError> {
    let mut ws = SliceWorkspace::new(part.hidden(), train.len().max(test.len()));
    let mut partial = vec![T::ZERO; train.len().max(test.len()) * OUTPUTS];
    let mut summed = partial.clone();
    let mut grad = Params::zeros(part.hidden());
    let mut step_costs = Vec::with_capacity(config.epochs * config.iters);
    let mut epochs = Vec::with_capacity(config.epochs);
    let mut iteration = 0;
    let logits = train.len() * OUTPUTS;
    for epoch in 1..=config.epochs {
        let epoch_start = Instant::now();
        let mut times = RankTimes { rank: comm.world.rank() as usize, ..RankTimes::default() };
        for _ in 0..config.iters {
            iteration += 1;
            let t0 = Instant::now();
            ws.partial_logits(&part, train.as_view(), &mut partial[..logits]);
            times.compute_s += t0.elapsed().as_secs_f64();
            comm.steps += 1;
            comm.sum_logits("allreduce of the output logits", &partial[..logits], &mut summed[..logits], &mut times);
            let t1 = Instant::now();
            let stats = hidden_split::outputs(&part, &train.labels, &mut summed[..logits]);
            grad.fill_zero();
            ws.backward(&part, train.as_view(), &mut summed[..logits], &mut grad);
            let t2 = Instant::now();
            part.descend_mean(&grad, config.lr, train.len());
            times.compute_s += (t2 - t1).as_secs_f64();
            times.update_s += t2.elapsed().as_secs_f64();
            step_costs.push(finite_cost(stats, iteration)?);
        }
        let eval_start = Instant::now();
        let mut evaluate = |rows: &Samples<T>| {
            let n = rows.len() * OUTPUTS;
            ws.partial_logits(&part, rows.as_view(), &mut partial[..n]);
            comm.sum_logits("evaluation allreduce", &partial[..n], &mut summed[..n], &mut RankTimes::default());
            hidden_split::outputs(&part, &rows.labels, &mut summed[..n])
        };
        let train_stats = evaluate(train);
        let test_stats: Option<PassStats> = (!test.is_empty()).then(|| evaluate(test));
        let cost = finite_cost(train_stats, iteration)?;
        times.eval_s = eval_start.elapsed().as_secs_f64();
        times.wall_s = epoch_start.elapsed().as_secs_f64();
        let test = test_stats.map(|s| (mean_cost(s), accuracy(s)));
        let record = EpochRecord::one_process(epoch, config.iters, (cost, accuracy(train_stats)), test, times);
        if comm.world.rank() == 0 {
            progress(&record);
        }
        epochs.push(record);
    }
    Ok(Descended { part, step_costs, epochs })
}

/// One rank's trained slice, its step costs and its records.
struct Descended<T> {
    part: Params<T>,
    step_costs: Vec<f64>,
    epochs: Vec<EpochRecord>,
}

/// Every rank's slice on rank 0, put together (rank 0: `Some`). Collective.
fn gather_parts<T: MpiReal>(
    world: &SimpleCommunicator,
    part: &Params<T>,
    units: &[std::ops::Range<usize>],
) -> Option<Params<T>> {
    let root = world.process_at_rank(0);
    if world.rank() != 0 {
        root.gather_varcount_into(part.as_slice());
        return None;
    }
    let lens: Vec<usize> = units.iter().map(|u| Params::<T>::len_for(u.len())).collect();
    let int = |v: usize| i32::try_from(v).expect("weights fit one MPI message");
    let counts: Vec<i32> = lens.iter().map(|&l| int(l)).collect();
    let displs: Vec<i32> = lens
        .iter()
        .scan(0, |at, &l| {
            let start = *at;
            *at += l;
            Some(int(start))
        })
        .collect();
    let mut all = vec![T::ZERO; lens.iter().sum()];
    root.gather_varcount_into_root(part.as_slice(), &mut PartitionMut::new(&mut all[..], counts, displs));
    let mut at = 0;
    let parts: Vec<Params<T>> = units
        .iter()
        .map(|u| {
            let len = Params::<T>::len_for(u.len());
            at += len;
            Params::from_flat(u.len(), all[at - len..at].to_vec()).expect("sized by its units")
        })
        .collect();
    Some(hidden_split::assemble(&parts))
}
