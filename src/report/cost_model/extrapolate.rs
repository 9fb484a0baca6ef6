//! Beyond the measurements: the collectives' textbook costs on P ranks, the interconnects
//! of the extrapolation, and the modelled speedup.

use super::fit::{CommFit, ComputeFit, gradient_bytes};
use crate::train::SyncKind;

/// A collective's cost on P ranks from its two-rank latency and bandwidth.
pub fn collective_s(sync: SyncKind, ranks: usize, latency_s: f64, bytes_per_s: f64, bytes: f64) -> f64 {
    let p = ranks as f64;
    if ranks <= 1 {
        return 0.0;
    }
    match sync {
        SyncKind::Allreduce => 2.0 * (p - 1.0) * latency_s + 2.0 * (p - 1.0) / p * bytes / bytes_per_s,
        SyncKind::GatherBcast => 2.0 * (p - 1.0) * (latency_s + bytes / bytes_per_s),
    }
}

/// The model's speedup at P ranks over one: `step(1) / step(P)`.
pub fn speedup(compute: &ComputeFit, samples: f64, ranks: usize, comm_s: f64) -> f64 {
    compute.step_s(samples) / (compute.step_s(samples / ranks as f64) + comm_s)
}

/// The P (a power of two up to `max_ranks`) of the largest modelled speedup, and that speedup.
pub fn best_ranks(max_ranks: usize, speedup_at: impl Fn(usize) -> f64) -> (usize, f64) {
    powers_of_two(max_ranks)
        .map(|p| (p, speedup_at(p)))
        .fold((1, 1.0), |best, (p, s)| if s > best.1 { (p, s) } else { best })
}

/// An interconnect of the extrapolation: a collective's latency and bandwidth between two
/// ranks, and where the figures come from.
#[derive(Debug, Clone, PartialEq)]
pub struct Interconnect {
    pub name: String,
    pub latency_s: f64,
    pub bytes_per_s: f64,
    pub source: String,
}

impl Interconnect {
    /// The modelled speedup of `sync` on `ranks` ranks of this interconnect.
    pub fn speedup(&self, compute: &ComputeFit, sync: SyncKind, samples: f64, ranks: usize) -> f64 {
        let comm = collective_s(sync, ranks, self.latency_s, self.bytes_per_s, gradient_bytes(compute.hidden));
        speedup(compute, samples, ranks, comm)
    }
}

/// 1, 2, 4, ... up to `max_ranks`.
pub(super) fn powers_of_two(max_ranks: usize) -> impl Iterator<Item = usize> {
    std::iter::successors(Some(1usize), move |p| (p * 2 <= max_ranks).then_some(p * 2))
}

/// The three interconnects of the extrapolation: this machine's shared memory (fitted, if
/// the run has the cells), 1 GbE and 100 Gb/s InfiniBand-class (public figures).
pub fn interconnects(shared_memory: Option<&CommFit>) -> Vec<Interconnect> {
    let mut out = Vec::new();
    if let Some(f) = shared_memory {
        out.push(Interconnect {
            name: "shared memory (fitted)".into(),
            latency_s: f.latency_s,
            bytes_per_s: f.bytes_per_s,
            source: format!("this run's {} fit on {} ranks", f.sync, f.ranks),
        });
    }
    out.push(Interconnect {
        name: "1 GbE (TCP)".into(),
        latency_s: 50e-6,
        bytes_per_s: 1e9 / 8.0,
        source: "line rate; MPI over TCP on gigabit Ethernet has small-message latencies of tens of microseconds \
                 (Ismail et al., Point-to-Point Communication on Gigabit Ethernet and InfiniBand Networks, CCIS 254, 2011)"
            .into(),
    });
    out.push(Interconnect {
        name: "100 Gb/s InfiniBand-class".into(),
        latency_s: 1.5e-6,
        bytes_per_s: 100e9 / 8.0,
        source: "line rate; osu_latency about 1.1 us on InfiniBand (QLogic InfiniPath OFED manual, Benchmark 1), \
                 1.9 us on 40 Gb/s Ethernet with OS bypass (Squyres, Cisco blog, MPI over 40Gb Ethernet, 2014)"
            .into(),
    });
    out
}

/// Data sizes of the extrapolation: the study's 70,000 images, and 100 and 10,000 times more.
pub const EXTRAPOLATED_SAMPLES: [f64; 3] = [70_000.0, 7_000_000.0, 700_000_000.0];
/// The largest P of the extrapolation.
pub const MAX_RANKS: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collectives_cost_what_their_textbook_formulas_say() {
        // Two ranks: allreduce sends the gradient once each way; gather-bcast twice through rank 0.
        let (alpha, beta, bytes) = (1e-5, 1e9, 1e6);
        assert!((collective_s(SyncKind::Allreduce, 2, alpha, beta, bytes) - (2e-5 + 1e-3)).abs() < 1e-15);
        assert!((collective_s(SyncKind::GatherBcast, 2, alpha, beta, bytes) - 2.0 * (1e-5 + 1e-3)).abs() < 1e-15);
        // Many ranks: the ring's bandwidth term approaches 2 bytes / beta; gather-bcast's grows with P.
        let ring = collective_s(SyncKind::Allreduce, 1024, 0.0, beta, bytes);
        assert!((ring - 2.0 * 1023.0 / 1024.0 * 1e-3).abs() < 1e-12);
        assert!(collective_s(SyncKind::GatherBcast, 1024, 0.0, beta, bytes) > 2000.0 * 1e-3);
        assert_eq!(collective_s(SyncKind::Allreduce, 1, alpha, beta, bytes), 0.0);
    }

    #[test]
    fn adding_ranks_stops_paying_where_communication_overtakes_the_shrinking_compute() {
        let compute = ComputeFit { hidden: 50, fixed_s: 0.0, per_sample_s: 1e-6, points: 2, max_rel_error: 0.0 };
        // 70,000 samples: 70 ms of compute; 1 ms latency per message pair.
        let at = |p: usize| speedup(&compute, 70_000.0, p, collective_s(SyncKind::Allreduce, p, 1e-3, 1e12, 0.0));
        let (p, s) = best_ranks(1024, at);
        // 0.07 / P + 0.002 (P - 1) is least near P = 6: the best power of two is 4 or 8.
        assert!(p == 4 || p == 8, "{p}");
        assert!(s > 2.0 && s < 8.0, "{s}");
        assert_eq!(best_ranks(1024, |_| 0.5), (1, 1.0), "no P helps: one rank");
    }
}
