//! The timed loops on the ranks of `mpirun`: for each pattern and size, warm-up passes,
//! an iteration count every rank agrees on, the timed passes (each rank's mean), and one
//! untimed pass whose result is checked.

use std::time::Instant;

use mpi::collective::SystemOperation;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use super::op::CommOp;
use super::pattern;
use super::record::Row;
use super::sweep::{ELEMENT_BYTES, iterations};

/// How a sweep times each size.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub warmup: usize,
    pub budget_s: f64,
    pub min_iters: usize,
    pub max_iters: usize,
}

/// The buffers of one size, allocated once for every pass over it.
struct Buffers {
    send: Vec<f64>,
    recv: Vec<f64>,
    /// Rank 0's gathered messages (gather-broadcast).
    gathered: Vec<f64>,
}

/// One pass of `op`: what the timed loop repeats. With `fault`, the pass is wrong on
/// purpose (a maximum for a sum, a rank left out, a corrupted echo): only the checked pass
/// of `commbench --inject-fault` sets it, so that the tests see the check fail.
fn pass(world: &SimpleCommunicator, op: CommOp, b: &mut Buffers, fault: bool) {
    let (rank, size) = (world.rank(), world.size());
    match op {
        CommOp::Allreduce => {
            let sum = if fault { SystemOperation::max() } else { SystemOperation::sum() };
            world.all_reduce_into(&b.send[..], &mut b.recv[..], sum);
        }
        CommOp::GatherBcast => {
            let root = world.process_at_rank(0);
            if rank == 0 {
                root.gather_into_root(&b.send[..], &mut b.gathered[..]);
                pattern::sum_gathered(&b.gathered, &mut b.recv, fault.then_some(size as usize - 1));
            } else {
                root.gather_into(&b.send[..]);
            }
            root.broadcast_into(&mut b.recv[..]);
        }
        CommOp::P2p => {
            let last = size - 1;
            if rank == 0 {
                world.process_at_rank(last).send(&b.send[..]);
                world.process_at_rank(last).receive_into(&mut b.recv[..]);
            } else if rank == last {
                world.process_at_rank(0).receive_into(&mut b.recv[..]);
                if fault {
                    b.recv[0] += 1.0;
                }
                world.process_at_rank(0).send(&b.recv[..]);
            }
        }
    }
}

/// Whether this rank takes part in `op` (the ping-pong uses two ranks).
fn takes_part(world: &SimpleCommunicator, op: CommOp) -> bool {
    op != CommOp::P2p || world.rank() == 0 || world.rank() == world.size() - 1
}

/// Wrong elements this rank sees after a checked pass.
fn wrong_here(world: &SimpleCommunicator, op: CommOp, b: &Buffers) -> u64 {
    let ranks = world.size() as usize;
    match op {
        CommOp::Allreduce | CommOp::GatherBcast => pattern::wrong_in_sum(&b.recv, ranks),
        // Rank 0 gets its own message echoed; the last rank got rank 0's.
        CommOp::P2p if takes_part(world, op) => pattern::wrong_in_message(&b.recv, 0),
        CommOp::P2p => 0,
    }
}

/// Times `op` at `bytes` on every rank; rank 0 gets the row, the others `None`.
pub fn time_size(world: &SimpleCommunicator, op: CommOp, bytes: usize, t: &Timing, fault: bool) -> Option<Row> {
    let (rank, ranks) = (world.rank(), world.size() as usize);
    let len = bytes / ELEMENT_BYTES;
    let mut b = Buffers {
        send: vec![0.0; len],
        recv: vec![0.0; len],
        gathered: if rank == 0 && op == CommOp::GatherBcast { vec![0.0; len * ranks] } else { vec![] },
    };
    pattern::fill(&mut b.send, rank as usize);
    let mut warm_s = 0.0;
    for _ in 0..t.warmup.max(1) {
        world.barrier();
        let start = Instant::now();
        pass(world, op, &mut b, false);
        warm_s = start.elapsed().as_secs_f64();
    }
    let mut slowest = 0.0;
    world.all_reduce_into(&warm_s, &mut slowest, SystemOperation::max());
    let iters = iterations(slowest, t.budget_s, t.min_iters, t.max_iters);

    world.barrier();
    let start = Instant::now();
    for _ in 0..iters {
        pass(world, op, &mut b, false);
    }
    let per_iter = start.elapsed().as_secs_f64() / iters as f64;
    // The ping-pong's time is a round trip: half of it is one message's latency.
    let mine = match op {
        CommOp::P2p if takes_part(world, op) => per_iter / 2.0,
        CommOp::P2p => f64::NAN,
        _ => per_iter,
    };

    b.recv.fill(0.0);
    world.barrier();
    pass(world, op, &mut b, fault);
    let (wrong_mine, mut wrong) = (wrong_here(world, op, &b), 0u64);
    world.all_reduce_into(&wrong_mine, &mut wrong, SystemOperation::sum());

    let root = world.process_at_rank(0);
    if rank != 0 {
        root.gather_into(&mine);
        return None;
    }
    let mut all = vec![0.0f64; ranks];
    root.gather_into_root(&mine, &mut all[..]);
    let times: Vec<f64> = all.into_iter().filter(|v| v.is_finite()).collect();
    let avg_s = times.iter().sum::<f64>() / times.len() as f64;
    let algbw_gbs = bytes as f64 / avg_s / 1e9;
    Some(Row {
        op,
        bytes,
        iters,
        min_s: times.iter().copied().fold(f64::INFINITY, f64::min),
        avg_s,
        max_s: times.iter().copied().fold(0.0, f64::max),
        algbw_gbs,
        busbw_gbs: algbw_gbs * op.bus_factor(ranks),
        wrong,
    })
}

/// The distinct hosts of the ranks, in rank order (rank 0 gets them; the others an empty list).
pub fn hosts(world: &SimpleCommunicator) -> Vec<String> {
    const WIDTH: usize = 256;
    let name = mpi::environment::processor_name().unwrap_or_else(|_| "unknown".into());
    let mut mine = [0u8; WIDTH];
    let n = name.len().min(WIDTH);
    mine[..n].copy_from_slice(&name.as_bytes()[..n]);
    let root = world.process_at_rank(0);
    if world.rank() != 0 {
        root.gather_into(&mine[..]);
        return vec![];
    }
    let mut all = vec![0u8; WIDTH * world.size() as usize];
    root.gather_into_root(&mine[..], &mut all[..]);
    let mut out: Vec<String> = Vec::new();
    for chunk in all.chunks_exact(WIDTH) {
        let name = String::from_utf8_lossy(&chunk[..chunk.iter().position(|&c| c == 0).unwrap_or(WIDTH)]).into_owned();
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}
