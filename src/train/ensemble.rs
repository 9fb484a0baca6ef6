//! The ensemble mode: each of the `mpirun -np P` ranks trains its own member
//! ([`crate::ensemble`]) on the whole training set (or its own bootstrap sample), with no
//! communication while training; then every member predicts the validation and test rows,
//! rank 0 gathers the probabilities and combines them.
//!
//! Rank 0 loads the data and every member's initial weights and broadcasts them, so ranks
//! on other hosts need no copy of the data (as in the data-parallel mode).
//!
//! The job's clock is rank 0's, as in every mode: its last epoch also counts the wait for
//! the slowest member (`wait_s`), the gathers (`comm_s`) and combining (`update_s`), so the
//! ensemble's training time is the time until the combined prediction exists. The members'
//! predictions count as evaluation (`eval_s`), as every mode's end-of-epoch evaluation does.

use std::time::Instant;

use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use super::mpi::{MpiReal, agree, host_names};
use super::{EpochRecord, Inputs, MemberScores, TrainConfig, TrainingRun, descent, sync};
use crate::data::{FEATURES, Samples};
use crate::ensemble::combine::{self, Combiner};
use crate::ensemble::stacking::Stacker;
use crate::ensemble::{self as ens, CombinerOutcome, EnsembleOutcome, EnsembleRecipe, MemberOutcome, predict};
use crate::model::{Params, init};
use crate::real::Dtype;

/// Trains the members on the ranks of `mpirun`. Returns the run on rank 0, `None` elsewhere.
pub fn run(config: &TrainConfig, progress: impl FnMut(&EpochRecord)) -> anyhow::Result<Option<TrainingRun>> {
    let Some(recipe) = config.ensemble.clone() else {
        anyhow::bail!("--mode ensemble needs its recipe (at least --validation-samples)");
    };
    super::mpi::collective_run(config, |world| match config.dtype {
        Dtype::F32 => run_typed::<f32>(world, config, &recipe, progress),
        Dtype::F64 => run_typed::<f64>(world, config, &recipe, progress),
    })
}

/// What rank 0 loads before anything moves.
struct RootSetup<T> {
    inputs: Inputs,
    train: Samples<T>,
    validation: Samples<T>,
    test: Samples<T>,
    inits: Vec<Params<f64>>,
}

/// Broadcasts `rows` from rank 0 (`rows` is filled in on the others; `len` rows).
fn broadcast_rows<T: MpiReal>(world: &SimpleCommunicator, rows: &mut Samples<T>, len: usize) {
    rows.features.resize(len * FEATURES, T::ZERO);
    rows.labels.resize(len, 0);
    let root = world.process_at_rank(0);
    root.broadcast_into(&mut rows.features[..]);
    root.broadcast_into(&mut rows.labels[..]);
}

fn empty<T>() -> Samples<T> {
    Samples { features: vec![], labels: vec![], dim: FEATURES }
}

fn run_typed<T: MpiReal>(
    world: &SimpleCommunicator,
    config: &TrainConfig,
    recipe: &EnsembleRecipe,
    mut progress: impl FnMut(&EpochRecord),
) -> anyhow::Result<Option<TrainingRun>> {
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    let members = recipe.members(size, config.hidden, config.lr, config.seed);
    let mut received = receive::<T>(world, config, &members)?;
    let hosts = host_names(world);

    let train = std::mem::replace(&mut received.train, empty());
    let (mut trained, started) = train_member(world, config, recipe, members[rank], train, &received, |e| {
        if rank == 0 {
            progress(e)
        }
    })?;

    let gathered = predict_and_gather(world, &mut trained, &received);
    let (Some(inputs), Some(gathered)) = (received.inputs.as_ref(), gathered) else {
        return Ok(None);
    };

    // Rank 0 combines; the time counts as its update, and so as the ensemble's training.
    let t_combine = Instant::now();
    let per_member =
        |all: &[f64], rows: usize| -> Vec<Vec<f64>> { all.chunks_exact(rows * 10).map(<[f64]>::to_vec).collect() };
    let (validation, test) = (&received.validation, &received.test);
    let val_probs = per_member(&gathered.validation, validation.len());
    let test_probs = per_member(&gathered.test, test.len());
    let combiners = combine_all(&val_probs, &test_probs, &validation.labels, &test.labels);
    let combine_s = t_combine.elapsed().as_secs_f64();

    let per_rank = unflatten(&gathered.records, size, config.epochs);
    merge_rank_records(&mut trained.epochs, &per_rank);
    let last = trained.epochs.last_mut().expect("at least one epoch");
    last.ranks[0].update_s += combine_s;
    last.ranks[0].wall_s += combine_s;
    let members_out = members
        .iter()
        .zip(&per_rank)
        .zip(val_probs.iter().zip(&test_probs))
        .map(|((member, epochs), (val, test_p))| {
            let scores = [(val, &validation.labels), (test_p, &test.labels)]
                .map(|(probs, labels)| combine::accuracy(&combine::argmax_rows(probs), labels));
            member_outcome(*member, recipe.bagging, epochs, scores)
        })
        .collect();
    let mut run = inputs.result(trained, hosts, started);
    run.result.init_weights = init::default_path(&config.data.cache_dir, members[0].hidden, members[0].seed);
    let validation_samples = validation.len();
    run.result.ensemble = Some(EnsembleOutcome { validation_samples, members: members_out, combiners, combine_s });
    run.result.total_train_s = started.elapsed().as_secs_f64();
    Ok(Some(run))
}

/// Trains this rank's member alone on `train` (or its bootstrap sample), its clock
/// starting after the barrier every member passes. A member that fails (diverges) tells the
/// others at the next collective, after they finish.
fn train_member<T: MpiReal>(
    world: &SimpleCommunicator,
    config: &TrainConfig,
    recipe: &EnsembleRecipe,
    member: ens::Member,
    train: Samples<T>,
    received: &Received<T>,
    progress: impl FnMut(&EpochRecord),
) -> anyhow::Result<(descent::Trained<T>, Instant)> {
    let member_config = TrainConfig {
        samples: Some(train.len()),
        hidden: member.hidden,
        lr: member.lr,
        seed: member.seed,
        ..config.clone()
    };
    let rows = if recipe.bagging { ens::bootstrap(&train, member.seed) } else { train };
    world.barrier();
    let started = Instant::now();
    let init = received.init.cast::<T>();
    let shard = descent::Shard::whole(&rows);
    let trained = descent::train(&member_config, &init, shard, &received.test, &mut sync::Local, progress);
    // Rank 0 reports the errors every rank sees alike; a member's divergence only its own
    // rank sees, so it is reworded as that member's (not a `TrainError`, which only rank 0
    // would print).
    let trained = trained.map_err(|e| {
        anyhow::anyhow!(
            "ensemble member {} (rank {}, H = {}, lr = {}, seed {}): {e}",
            member.index,
            world.rank(),
            member.hidden,
            member.lr,
            member.seed
        )
    });
    Ok((agree(world, trained)?, started))
}

/// What every rank holds once rank 0 has sent it: the rows, and this rank's member's
/// initial weights (rank 0 also keeps its inputs, from which it writes the result).
struct Received<T> {
    inputs: Option<Inputs>,
    train: Samples<T>,
    validation: Samples<T>,
    test: Samples<T>,
    init: Params<f64>,
}

/// Rank 0 loads; then the sizes, the rows, and each member's initial weights (rank 0 sends
/// rank r its own) reach every rank.
fn receive<T: MpiReal>(
    world: &SimpleCommunicator,
    config: &TrainConfig,
    members: &[ens::Member],
) -> anyhow::Result<Received<T>> {
    let rank = world.rank() as usize;
    let setup = (rank == 0).then(|| {
        let inputs = Inputs::load(config)?;
        let (train, test) = inputs.split::<T>()?;
        let validation = inputs.validation::<T>()?;
        let inits = members
            .iter()
            .map(|m| {
                init::load_or_create(&init::default_path(&config.data.cache_dir, m.hidden, m.seed), m.hidden, m.seed)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(RootSetup { inputs, train, validation, test, inits })
    });
    let setup = agree(world, setup.transpose())?;
    let root = world.process_at_rank(0);
    let mut sizes =
        setup.as_ref().map_or([0u64; 3], |s| [s.train.len(), s.validation.len(), s.test.len()].map(|v| v as u64));
    root.broadcast_into(&mut sizes[..]);
    let [n, v, m] = sizes.map(|s| s as usize);
    let (inputs, mut train, mut validation, mut test, inits) = match setup {
        Some(s) => (Some(s.inputs), s.train, s.validation, s.test, s.inits),
        None => (None, empty(), empty(), empty(), vec![]),
    };
    broadcast_rows(world, &mut train, n);
    broadcast_rows(world, &mut validation, v);
    broadcast_rows(world, &mut test, m);
    let mut init = Params::zeros(members[rank].hidden);
    if rank == 0 {
        init = inits[0].clone();
        for (r, w) in inits.iter().enumerate().skip(1) {
            world.process_at_rank(r as i32).send(w.as_slice());
        }
    } else {
        root.receive_into(init.as_mut_slice());
    }
    Ok(Received { inputs, train, validation, test, init })
}

/// What rank 0 gathers from every member: the probabilities of the validation and test
/// rows, member after member, and the epoch records, flattened.
struct Gathered {
    validation: Vec<f64>,
    test: Vec<f64>,
    records: Vec<f64>,
}

/// Every member predicts the validation and test rows (evaluation); the wait for the
/// slowest member; the gathers, timed into the last epoch. `Some` on rank 0.
fn predict_and_gather<T: MpiReal>(
    world: &SimpleCommunicator,
    trained: &mut descent::Trained<T>,
    received: &Received<T>,
) -> Option<Gathered> {
    let weights = trained.params.cast::<f64>();
    let t_eval = Instant::now();
    let mine = [
        predict::probabilities(&weights, received.validation.as_view()),
        predict::probabilities(&weights, received.test.as_view()),
    ];
    let eval_s = t_eval.elapsed().as_secs_f64();
    let t_wait = Instant::now();
    world.barrier();
    let wait_s = t_wait.elapsed().as_secs_f64();
    let t_comm = Instant::now();
    let [validation, test] = mine.map(|p| gather(world, &p));
    let comm_s = t_comm.elapsed().as_secs_f64();
    let last = trained.epochs.last_mut().expect("at least one epoch");
    let times = &mut last.ranks[0];
    times.eval_s += eval_s;
    times.wait_s += wait_s;
    times.comm_s += comm_s;
    times.wall_s += eval_s + wait_s + comm_s;
    let rank = world.rank() as usize;
    for e in &mut trained.epochs {
        e.ranks[0].rank = rank;
    }
    let records = gather(world, &flatten(&trained.epochs));
    Some(Gathered { validation: validation?, test: test?, records: records? })
}

/// Every rank's times and scores into rank 0's epoch records.
fn merge_rank_records(epochs: &mut [EpochRecord], per_rank: &[Vec<(sync::RankTimes, MemberScores)>]) {
    for (e, record) in epochs.iter_mut().enumerate() {
        record.ranks = per_rank.iter().map(|r| r[e].0).collect();
        record.members = per_rank.iter().map(|r| r[e].1).collect();
        let compute = record.ranks.iter().map(|r| r.compute_s);
        record.compute_spread_s = compute.clone().fold(f64::MIN, f64::max) - compute.fold(f64::MAX, f64::min);
    }
}

/// A member's outcome from its rank's epochs and its validation and test accuracies. Its
/// training time is its epochs without evaluation, and without the wait and the gathers its
/// last epoch ends with.
fn member_outcome(
    member: ens::Member,
    bagging: bool,
    epochs: &[(sync::RankTimes, MemberScores)],
    [validation_acc, test_acc]: [f64; 2],
) -> MemberOutcome {
    let (times, scores) = epochs.last().expect("at least one epoch");
    MemberOutcome {
        member,
        bagging,
        train_s: epochs.iter().map(|(t, _)| t.wall_s - t.eval_s).sum::<f64>() - times.wait_s - times.comm_s,
        cost: scores.cost,
        validation_acc,
        test_acc,
        test_cost: scores.test_cost.unwrap_or(f64::NAN),
    }
}

/// Every combiner's scores.
fn combine_all(val: &[Vec<f64>], test: &[Vec<f64>], val_labels: &[u8], test_labels: &[u8]) -> Vec<CombinerOutcome> {
    let stacker = Stacker::fit(val, val_labels);
    Combiner::ALL
        .iter()
        .map(|&combiner| {
            let (val_pred, test_pred, test_cost) = match combiner {
                Combiner::Average => {
                    let t = combine::average(test);
                    (
                        combine::argmax_rows(&combine::average(val)),
                        combine::argmax_rows(&t),
                        Some(combine::cost(&t, test_labels)),
                    )
                }
                Combiner::Vote => (combine::vote(val), combine::vote(test), None),
                Combiner::Stacked => {
                    let t = stacker.predict(test);
                    (
                        combine::argmax_rows(&stacker.predict(val)),
                        combine::argmax_rows(&t),
                        Some(combine::cost(&t, test_labels)),
                    )
                }
            };
            CombinerOutcome {
                combiner,
                validation_acc: combine::accuracy(&val_pred, val_labels),
                test_acc: combine::accuracy(&test_pred, test_labels),
                test_cost,
            }
        })
        .collect()
}

/// Gathers equal-length buffers on rank 0, in rank order.
fn gather(world: &SimpleCommunicator, mine: &[f64]) -> Option<Vec<f64>> {
    let root = world.process_at_rank(0);
    if world.rank() != 0 {
        root.gather_into(mine);
        return None;
    }
    let mut all = vec![0.0; mine.len() * world.size() as usize];
    root.gather_into_root(mine, &mut all[..]);
    Some(all)
}

/// Per epoch: the rank's times, then its member's cost, train accuracy, test cost and
/// test accuracy (NaN where there is none).
const SCORES: usize = 4;

fn flatten(epochs: &[EpochRecord]) -> Vec<f64> {
    epochs
        .iter()
        .flat_map(|e| {
            let t = e.ranks[0].to_array();
            let s = [e.cost, e.train_acc, e.test_cost.unwrap_or(f64::NAN), e.test_acc.unwrap_or(f64::NAN)];
            t.into_iter().chain(s)
        })
        .collect()
}

fn unflatten(all: &[f64], ranks: usize, epochs: usize) -> Vec<Vec<(sync::RankTimes, MemberScores)>> {
    let per_epoch = sync::RankTimes::FIELDS + SCORES;
    let known = |v: f64| (!v.is_nan()).then_some(v);
    all.chunks_exact(per_epoch * epochs)
        .take(ranks)
        .enumerate()
        .map(|(r, chunk)| {
            chunk
                .chunks_exact(per_epoch)
                .map(|c| {
                    let (t, s) = c.split_at(sync::RankTimes::FIELDS);
                    let scores =
                        MemberScores { cost: s[0], train_acc: s[1], test_cost: known(s[2]), test_acc: known(s[3]) };
                    (sync::RankTimes::from_array(r, t), scores)
                })
                .collect()
        })
        .collect()
}
