//! `dpstudy commbench`: the study's communication timed on its own, before any training is
//! predicted from it (issue 32). Under `mpirun`, for the allreduce, the original's gather
//! then broadcast, and a point-to-point ping-pong, a sweep of message sizes from 8 bytes
//! past the largest gradient of the study (H = 1,600 in f64, 5.3 MB): warm-up passes, then
//! timed passes, each rank's mean time per pass, and over the ranks the least, mean and
//! largest (as the OSU micro-benchmarks report them); the algorithm and bus bandwidth (as
//! nccl-tests define them); and one checked pass per size whose wrong elements are counted.
//! A wrong result fails the command.
//!
//! [`sweep`] decides sizes and iteration counts, [`pattern`] what is sent and what must
//! come back, [`measure`] the timed loops, [`record`] what is written. The cost model
//! ([`crate::report::cost_model`]) fits its latencies and bandwidths to these records.

mod measure;
pub mod op;
pub mod pattern;
pub mod record;
pub mod sweep;

use std::path::PathBuf;

use anyhow::Context;
use mpi::traits::*;

pub use measure::Timing;
pub use op::CommOp;
pub use record::{CommBenchRecord, RECORD_FORMAT, Row};

use crate::cluster::Transport;
use crate::launch::{INSTALL_HINT, find_on_path, launched_by_mpirun};

/// The largest message a sweep may time: rank 0 holds P of them for the gather.
pub const MAX_MESSAGE_BYTES: usize = 1 << 30;

/// What `dpstudy commbench` runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CommBenchConfig {
    pub ops: Vec<CommOp>,
    pub min_bytes: usize,
    pub max_bytes: usize,
    pub timing: Timing,
    /// Where the ranks talk, as the record names it (`None`: shared memory when every rank
    /// is on one host, else unnamed).
    pub transport: Option<Transport>,
    pub out: Option<PathBuf>,
    /// Make the checked pass wrong on purpose (tests of the check).
    pub inject_fault: bool,
}

/// A request `commbench` refuses before MPI starts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommBenchError {
    #[error("{flag} {bytes}: message sizes are whole f64 elements: a multiple of 8 bytes, at least 8")]
    NotElements { flag: &'static str, bytes: usize },
    #[error("--min-bytes {min} is above --max-bytes {max}")]
    MinAboveMax { min: usize, max: usize },
    #[error("--max-bytes {0}: at most {MAX_MESSAGE_BYTES} bytes (1 GiB); rank 0 holds P such messages")]
    TooLarge(usize),
    #[error("--ops is empty: name allreduce, gather-bcast or p2p")]
    NoOps,
    #[error("--min-iters {min} and --max-iters {max}: need 1 <= min <= max")]
    Iterations { min: usize, max: usize },
    #[error("--budget-ms {0}: a time per size above 0 ms")]
    Budget(f64),
}

impl CommBenchConfig {
    pub fn check(&self) -> Result<(), CommBenchError> {
        for (flag, bytes) in [("--min-bytes", self.min_bytes), ("--max-bytes", self.max_bytes)] {
            if bytes < 8 || bytes % 8 != 0 {
                return Err(CommBenchError::NotElements { flag, bytes });
            }
        }
        if self.min_bytes > self.max_bytes {
            return Err(CommBenchError::MinAboveMax { min: self.min_bytes, max: self.max_bytes });
        }
        if self.max_bytes > MAX_MESSAGE_BYTES {
            return Err(CommBenchError::TooLarge(self.max_bytes));
        }
        if self.ops.is_empty() {
            return Err(CommBenchError::NoOps);
        }
        let t = &self.timing;
        if t.min_iters == 0 || t.min_iters > t.max_iters {
            return Err(CommBenchError::Iterations { min: t.min_iters, max: t.max_iters });
        }
        if !(t.budget_s > 0.0 && t.budget_s.is_finite()) {
            return Err(CommBenchError::Budget(1e3 * t.budget_s));
        }
        Ok(())
    }
}

/// `dpstudy commbench` on the ranks of `mpirun`: rank 0 prints the sweep and writes the
/// record; a wrong element anywhere fails the command (and writes no record).
pub fn run(config: &CommBenchConfig) -> anyhow::Result<()> {
    config.check()?;
    if !launched_by_mpirun() {
        match find_on_path("mpirun") {
            None => anyhow::bail!("commbench needs Open MPI, and mpirun is not on PATH: {INSTALL_HINT}"),
            Some(m) => {
                anyhow::bail!("commbench must be started by mpirun, e.g. `{} -np 2 dpstudy commbench`", m.display())
            }
        }
    }
    let universe = mpi::initialize().context("MPI initialisation failed (was MPI already initialised?)")?;
    let world = universe.world();
    anyhow::ensure!(world.size() >= 2, "commbench needs at least 2 ranks (got 1): `mpirun -np 2 dpstudy commbench`");
    let hosts = measure::hosts(&world);
    let mut host_count = hosts.len() as u64;
    world.process_at_rank(0).broadcast_into(&mut host_count);
    if config.transport == Some(Transport::SharedMemory) && host_count > 1 {
        anyhow::bail!("--transport shared-memory, but the ranks ran on {host_count} hosts ({})", hosts.join(", "));
    }
    let sizes = sweep::sizes(config.min_bytes, config.max_bytes);
    let mut rows = Vec::new();
    for &op in &config.ops {
        for &bytes in &sizes {
            rows.extend(measure::time_size(&world, op, bytes, &config.timing, config.inject_fault));
        }
    }
    if world.rank() != 0 {
        return Ok(());
    }
    let record = CommBenchRecord {
        format: RECORD_FORMAT,
        command: std::env::args().collect(),
        git_revision: crate::util::build_info::GIT_REVISION.into(),
        transport: config.transport.or((host_count == 1).then_some(Transport::SharedMemory)),
        ranks: world.size() as usize,
        hosts,
        // At least one warm-up pass runs: it decides the iteration count.
        warmup: config.timing.warmup.max(1),
        budget_s: config.timing.budget_s,
        rows,
    };
    print!("{}", record.text());
    let wrong: Vec<String> = record
        .rows
        .iter()
        .filter(|r| r.wrong > 0)
        .map(|r| format!("{} at {} bytes: {}", r.op, r.bytes, r.wrong))
        .collect();
    anyhow::ensure!(
        wrong.is_empty(),
        "commbench: {} wrong elements in the checked passes ({}); no record written",
        record.wrong(),
        wrong.join("; ")
    );
    if let Some(path) = &config.out {
        crate::util::files::write_atomic(path, serde_json::to_string_pretty(&record)?.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CommBenchConfig {
        CommBenchConfig {
            ops: CommOp::ALL.to_vec(),
            min_bytes: 8,
            max_bytes: 1 << 20,
            timing: Timing { warmup: 2, budget_s: 0.05, min_iters: 5, max_iters: 1000 },
            transport: None,
            out: None,
            inject_fault: false,
        }
    }

    #[test]
    fn requests_that_cannot_be_meant_are_refused_naming_the_flag() {
        assert_eq!(config().check(), Ok(()));
        let with = |f: fn(&mut CommBenchConfig)| {
            let mut c = config();
            f(&mut c);
            c.check().unwrap_err().to_string()
        };
        assert!(with(|c| c.min_bytes = 12).contains("--min-bytes 12"));
        assert!(with(|c| c.max_bytes = 0).contains("--max-bytes 0"));
        assert!(with(|c| c.min_bytes = 1 << 21).contains("above --max-bytes"));
        assert!(with(|c| c.max_bytes = 1 << 31).contains("1 GiB"));
        assert!(with(|c| c.ops.clear()).contains("--ops"));
        assert!(with(|c| c.timing.min_iters = 0).contains("--min-iters 0"));
        assert!(with(|c| c.timing.budget_s = 0.0).contains("--budget-ms 0"));
    }
}
