//! Beyond the measurements: the collectives' textbook costs on P ranks, the interconnects
//! of the extrapolation, and the modelled speedup.

use super::fit::{CommFit, ComputeFit, gradient_bytes};
use crate::train::SyncKind;

/// A collective's cost on P ranks from one message's latency and bandwidth (the ping-pong's
/// constants, as `osu_latency` and `osu_bw` give them to a model), by the textbook
/// algorithms (Thakur, Rabenseifner and Gropp, "Optimization of collective communication
/// operations in MPICH", IJHPCA 2005): allreduce the cheaper of the ring (`2 (P - 1) alpha
/// + 2 (P - 1) / P bytes / beta`) and recursive doubling (`log2 P (alpha + bytes / beta)`),
/// as a tuned MPI picks by size; gather then broadcast by binomial trees (the gather's
/// `log2 P` rounds of latency while the root receives `P - 1` messages, the broadcast's
/// `log2 P (alpha + bytes / beta)`).
pub fn collective_s(sync: SyncKind, ranks: usize, latency_s: f64, bytes_per_s: f64, bytes: f64) -> f64 {
    if ranks <= 1 {
        return 0.0;
    }
    let (p, steps) = (ranks as f64, (ranks as f64).log2().ceil());
    let transfer = bytes / bytes_per_s;
    match sync {
        SyncKind::Allreduce => {
            let ring = 2.0 * (p - 1.0) * latency_s + 2.0 * (p - 1.0) / p * transfer;
            let doubling = steps * (latency_s + transfer);
            ring.min(doubling)
        }
        SyncKind::GatherBcast => {
            let gather = steps * latency_s + (p - 1.0) * transfer;
            let broadcast = steps * (latency_s + transfer);
            gather + broadcast
        }
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
    /// The 95% intervals of both (a public figure: the figure itself at both ends).
    pub latency_bounds_s: (f64, f64),
    pub rate_bounds: (f64, f64),
    pub source: String,
}

impl Interconnect {
    /// The modelled speedup of `sync` on `ranks` ranks of this interconnect.
    pub fn speedup(&self, compute: &ComputeFit, sync: SyncKind, samples: f64, ranks: usize) -> f64 {
        let comm = collective_s(sync, ranks, self.latency_s, self.bytes_per_s, gradient_bytes(compute.hidden));
        speedup(compute, samples, ranks, comm)
    }

    /// The range of the modelled speedup over the constants' 95% intervals: the slowest
    /// compute and network at one end, the fastest at the other.
    pub fn speedup_range(&self, compute: &ComputeFit, sync: SyncKind, samples: f64, ranks: usize) -> (f64, f64) {
        let bytes = gradient_bytes(compute.hidden);
        let (lat_lo, lat_hi) = self.latency_bounds_s;
        let (rate_lo, rate_hi) = self.rate_bounds;
        let comm_hi = collective_s(sync, ranks, lat_hi, rate_lo, bytes);
        let comm_lo = collective_s(sync, ranks, lat_lo, rate_hi, bytes);
        let step = |x: f64| compute.line.interval_at(x);
        let share = samples / ranks as f64;
        let low = step(samples).0 / (step(share).1 + comm_hi);
        let high = step(samples).1 / (step(share).0 + comm_lo);
        (low, high)
    }

    fn public(name: &str, latency_s: f64, bytes_per_s: f64, source: &str) -> Self {
        Self {
            name: name.into(),
            latency_s,
            bytes_per_s,
            latency_bounds_s: (latency_s, latency_s),
            rate_bounds: (bytes_per_s, bytes_per_s),
            source: source.into(),
        }
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
        let (lat_lo, lat_hi) = f.line.intercept_interval();
        let (spb_lo, spb_hi) = f.line.slope_interval();
        out.push(Interconnect {
            name: "shared memory (fitted)".into(),
            latency_s: f.latency_s(),
            bytes_per_s: f.bytes_per_s(),
            latency_bounds_s: (lat_lo.max(0.0), lat_hi),
            // A slope interval reaching zero leaves the fastest rate unbounded.
            rate_bounds: (1.0 / spb_hi, if spb_lo > 0.0 { 1.0 / spb_lo } else { f64::INFINITY }),
            source: format!("the commbench ping-pong on {} ranks", f.ranks),
        });
    }
    out.push(Interconnect::public(
        "1 GbE (TCP)",
        50e-6,
        1e9 / 8.0,
        "line rate; MPI over TCP on gigabit Ethernet has small-message latencies of tens of microseconds \
         (Ismail et al., Point-to-Point Communication on Gigabit Ethernet and InfiniBand Networks, CCIS 254, 2011)",
    ));
    out.push(Interconnect::public(
        "100 Gb/s InfiniBand-class",
        1.5e-6,
        100e9 / 8.0,
        "line rate; osu_latency about 1.1 us on InfiniBand (QLogic InfiniPath OFED manual, Benchmark 1), \
         1.9 us on 40 Gb/s Ethernet with OS bypass (Squyres, Cisco blog, MPI over 40Gb Ethernet, 2014)",
    ));
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
        // Two ranks: allreduce is one exchange (recursive doubling: alpha + bytes / beta, cheaper than
        // the ring's two latencies); gather-bcast two transfers.
        let (alpha, beta, bytes) = (1e-5, 1e9, 1e6);
        assert!((collective_s(SyncKind::Allreduce, 2, alpha, beta, bytes) - (1e-5 + 1e-3)).abs() < 1e-15);
        assert!((collective_s(SyncKind::GatherBcast, 2, alpha, beta, bytes) - 2.0 * (1e-5 + 1e-3)).abs() < 1e-15);
        // Many ranks, large messages: the ring's bandwidth term approaches 2 bytes / beta.
        let ring = collective_s(SyncKind::Allreduce, 1024, 0.0, beta, bytes);
        assert!((ring - 2.0 * 1023.0 / 1024.0 * 1e-3).abs() < 1e-12);
        // Small messages: recursive doubling's 10 latencies beat the ring's 2046.
        assert!((collective_s(SyncKind::Allreduce, 1024, alpha, beta, 8.0) - 10.0 * (alpha + 8e-9)).abs() < 1e-15);
        // Gather-bcast: the root still receives P - 1 messages.
        let gb = collective_s(SyncKind::GatherBcast, 1024, 0.0, beta, bytes);
        assert!((gb - (1023.0 + 10.0) * 1e-3).abs() < 1e-12);
        assert_eq!(collective_s(SyncKind::Allreduce, 1, alpha, beta, bytes), 0.0);
    }

    #[test]
    fn adding_ranks_stops_paying_where_communication_overtakes_the_shrinking_compute() {
        let line = super::super::line::LineFit::of(&[(1.0, 1e-6), (2.0, 2e-6), (3.0, 3e-6)]).unwrap();
        let compute = ComputeFit {
            split: crate::report::cost_model::fit::Split::Rows,
            hidden: 50,
            epochs: 1,
            iters: 1,
            reduce: Default::default(),
            kernel: None,
            line,
        };
        // 70,000 samples: 70 ms of compute; 1 ms latency per message pair.
        let at = |p: usize| speedup(&compute, 70_000.0, p, collective_s(SyncKind::Allreduce, p, 1e-3, 1e12, 0.0));
        let (p, s) = best_ranks(1024, at);
        // 0.07 / P + 0.001 log2 P (doubling, zero bytes) is least near P = 48: 32 or 64.
        assert!(p == 32 || p == 64, "{p}");
        assert!(s > 8.0 && s < 32.0, "{s}");
        assert_eq!(best_ranks(1024, |_| 0.5), (1, 1.0), "no P helps: one rank");
    }
}
