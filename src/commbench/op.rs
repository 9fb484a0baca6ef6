//! The communication patterns `commbench` times, and what each moves.

use serde::{Deserialize, Serialize};

use crate::train::SyncKind;

/// A communication pattern of the study, timed on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CommOp {
    /// `MPI_Allreduce` (sum) of the message on every rank: `--sync allreduce`.
    Allreduce,
    /// Every rank's message gathered on rank 0, summed there in rank order, and the sum
    /// broadcast: the original's pattern, `--sync gather-bcast`.
    GatherBcast,
    /// A ping-pong between rank 0 and the last rank (on another host when ranks are
    /// placed host after host): half a round trip, as `osu_latency` reports it.
    P2p,
}

impl CommOp {
    pub const ALL: [CommOp; 3] = [CommOp::Allreduce, CommOp::GatherBcast, CommOp::P2p];

    /// The pattern a training sync runs every step.
    pub fn of_sync(sync: SyncKind) -> Self {
        match sync {
            SyncKind::Allreduce => CommOp::Allreduce,
            SyncKind::GatherBcast => CommOp::GatherBcast,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CommOp::Allreduce => "allreduce",
            CommOp::GatherBcast => "gather-bcast",
            CommOp::P2p => "p2p",
        }
    }

    /// Bus bandwidth over algorithm bandwidth (`bytes / time`) on `ranks` ranks: the bytes
    /// that cross the busiest rank's link per message byte, so that the figure compares with
    /// a link's rate whatever P is (nccl-tests' definition for allreduce, `2 (n - 1) / n`).
    /// Gather then broadcast through rank 0: rank 0 receives `n - 1` messages, then sends the
    /// sum `n - 1` times, one phase after the other, `2 (n - 1)`. Ping-pong: one.
    pub fn bus_factor(self, ranks: usize) -> f64 {
        let n = ranks as f64;
        match self {
            CommOp::Allreduce => 2.0 * (n - 1.0) / n,
            CommOp::GatherBcast => 2.0 * (n - 1.0),
            CommOp::P2p => 1.0,
        }
    }
}

impl std::fmt::Display for CommOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_bandwidth_factors_follow_the_bytes_the_busiest_rank_moves() {
        // nccl-tests: allreduce busbw = algbw x 2 (n - 1) / n.
        assert_eq!(CommOp::Allreduce.bus_factor(2), 1.0);
        assert_eq!(CommOp::Allreduce.bus_factor(4), 1.5);
        assert!((CommOp::Allreduce.bus_factor(16) - 30.0 / 16.0).abs() < 1e-15);
        assert_eq!(CommOp::GatherBcast.bus_factor(2), 2.0);
        assert_eq!(CommOp::GatherBcast.bus_factor(4), 6.0);
        assert_eq!(CommOp::P2p.bus_factor(8), 1.0);
        assert_eq!(CommOp::of_sync(SyncKind::GatherBcast), CommOp::GatherBcast);
    }
}
