//! The cost model as the reader sees it: tables M1 (the fits), M2 (each prediction beside
//! its measurement) and M3 (the extrapolation), and the figure of the modelled speedup.

use super::Model;
use super::extrapolate::{EXTRAPOLATED_SAMPLES, MAX_RANKS, best_ranks, collective_s, interconnects, powers_of_two};
use super::fit::gradient_bytes;
use crate::commbench::CommOp;
use crate::report::figures::{Chart, Series, point};
use crate::report::table_format::{Align, Table};
use crate::train::{Reduction, SyncKind};

fn ms(s: f64) -> String {
    format!("{:.3}", 1e3 * s)
}

fn us(s: f64) -> String {
    format!("{:.4}", 1e6 * s)
}

/// ` [lo, hi]`, or nothing where the fit left no interval (`probe` is NaN).
fn bracket(lo: String, hi: String, probe: f64) -> String {
    if probe.is_nan() { String::new() } else { format!(" [{lo}, {hi}]") }
}

/// Gbit/s of a seconds-per-byte slope.
fn gbit(seconds_per_byte: f64) -> f64 {
    8.0 / seconds_per_byte / 1e9
}

/// The rate of a slope's interval end: unbounded where the end reaches zero.
fn gbit_text(seconds_per_byte: f64) -> String {
    if seconds_per_byte > 0.0 { format!("{:.3}", gbit(seconds_per_byte)) } else { "unbounded".into() }
}

impl Model {
    /// M1 (the fitted constants), M2 (every prediction beside its measurement), M3 (the
    /// extrapolation); each only where the cells allow it.
    pub fn tables(&self) -> Vec<Table> {
        let mut out = vec![self.fits_table()];
        if !self.predictions.is_empty() {
            out.push(self.predictions_table());
        }
        out.extend(self.extrapolation_table());
        out
    }

    fn fits_table(&self) -> Table {
        let cols = [
            ("term", Align::Left),
            ("of", Align::Left),
            ("fixed [95% CI]", Align::Right),
            ("rate [95% CI]", Align::Right),
            ("data", Align::Left),
            ("max fit error %", Align::Right),
        ];
        let mut t = Table::new("M1", "model-fits", "Cost model: the constants, each from its own measurements", &cols);
        for f in &self.compute {
            let (a_lo, a_hi) = f.line.intercept_interval();
            let (c_lo, c_hi) = f.line.slope_interval();
            t.push(vec![
                "compute".into(),
                format!(
                    "{}H={}, {}x{} steps{}{}",
                    if f.split == super::fit::Split::HiddenUnits { "hidden split, " } else { "" },
                    f.hidden,
                    f.epochs,
                    f.iters,
                    if f.reduce == Reduction::Exact { ", exact" } else { "" },
                    f.kernel.map(|k| format!(", {} kernel", k.as_str())).unwrap_or_default()
                ),
                format!("{} ms{}", ms(f.fixed_s()), bracket(ms(a_lo), ms(a_hi), a_lo)),
                format!("{} us/sample{}", us(f.per_sample_s()), bracket(us(c_lo), us(c_hi), c_lo)),
                format!("{} sequential or one-rank cells", f.line.points),
                format!("{:.1}", 100.0 * f.line.max_rel_error),
            ]);
        }
        for f in &self.comm {
            let (a_lo, a_hi) = f.line.intercept_interval();
            let (s_lo, s_hi) = f.line.slope_interval();
            t.push(vec![
                f.op.to_string(),
                format!("{}, P={}", f.transport, f.ranks),
                format!(
                    "{:.1} us{}",
                    1e6 * f.latency_s(),
                    bracket(format!("{:.1}", 1e6 * a_lo), format!("{:.1}", 1e6 * a_hi), a_lo)
                ),
                format!("{:.3} Gbit/s{}", gbit(f.line.slope), bracket(gbit_text(s_hi), gbit_text(s_lo), s_lo)),
                format!("commbench, {} sizes {}-{} B", f.line.points, f.min_bytes, f.max_bytes),
                format!("{:.1}", 100.0 * f.line.max_rel_error),
            ]);
        }
        t.notes.push(format!(
            "compute: a + c N per step, fitted to the sequential cells of each H and the one-rank MPI cells' step \
             without their collective, per H, run shape, reduction and kernel where the runs recorded it (the time \
             per sample changes where the kernel does; through the origin where they have one N, with that cell's \
             own interval); a rank's share is N / P, on the kernel the cell's ranks ran. Patterns: \
             alpha + bytes / beta, fitted to the run's commbench sweep (each size's mean time over the ranks; sizes \
             from {} KiB, one protocol, where the study's gradients lie). Fits by least squares weighted by 1/y^2 \
             (each point by its relative error); intervals: 95%, Student's t on the residuals. No MPI training cell \
             enters a fit: M2 predicts them all out of sample.",
            super::fit::FIT_MIN_BYTES >> 10
        ));
        t
    }

    fn predictions_table(&self) -> Table {
        let cols = [
            ("cell", Align::Left),
            ("measured ms [95% CI]", Align::Right),
            ("predicted ms [95% CI]", Align::Right),
            ("error %", Align::Right),
            ("beyond interval %", Align::Right),
            ("intervals meet", Align::Left),
        ];
        let mut t = Table::new(
            "M2",
            "model-predictions",
            "Cost model: each MPI cell's step, measured and predicted out of sample",
            &cols,
        );
        for p in &self.predictions {
            let measured = match p.measured_interval {
                Some((lo, hi)) => format!("{:.3} [{:.3}, {:.3}]", 1e3 * p.measured_step_s, 1e3 * lo, 1e3 * hi),
                None => format!("{:.3}", 1e3 * p.measured_step_s),
            };
            let (lo, hi) = p.predicted_interval;
            t.push(vec![
                p.cell.clone(),
                measured,
                format!("{}{}", ms(p.predicted_step_s), bracket(ms(lo), ms(hi), lo)),
                format!("{:+.1}", 100.0 * p.relative_error()),
                format!("{:+.1}", 100.0 * p.error_beyond_interval()),
                match p.intervals_meet() {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "-",
                }
                .into(),
            ]);
        }
        t.notes.push(
            "predicted = a + c N / P + alpha + bytes / beta, with the constants of M1 (the cell's pattern, transport \
             and P); its interval adds the two fits' intervals there. Measured: the median step over the cell's runs \
             and its interval (95% from 6 runs; with fewer, the range). Beyond interval: the distance from the \
             prediction to the measured interval, over the median (what claim C12 bounds). Cells with more ranks \
             than cores are not predicted: their ranks share cores. What the model leaves out: the wait before each \
             collective (ranks finishing their shards at different times), and the ranks' compute slowing each other \
             down on shared cores, caches and memory bandwidth, which the sequential cells do not see."
                .into(),
        );
        t
    }

    fn extrapolation_table(&self) -> Option<Table> {
        let compute = self.study_compute()?;
        let cols = [
            ("interconnect", Align::Left),
            ("sync", Align::Left),
            ("N", Align::Right),
            ("best P", Align::Right),
            ("speedup there [range]", Align::Right),
            ("speedup at P=1024 [range]", Align::Right),
        ];
        let mut t = Table::new(
            "M3",
            "model-extrapolation",
            "MODEL, not measurement: speedup by interconnect and data size, up to 1024 ranks",
            &cols,
        );
        let measured_p = self.comm.iter().map(|f| f.ranks).max().unwrap_or(1);
        let bytes = gradient_bytes(compute.hidden);
        let nets = interconnects(self.shared_memory());
        for net in &nets {
            for sync in [SyncKind::Allreduce, SyncKind::GatherBcast] {
                for &n in &EXTRAPOLATED_SAMPLES {
                    let at = |p: usize| net.speedup(compute, sync, n, p);
                    let (best, s) = best_ranks(MAX_RANKS, at);
                    let range = |p: usize| net.speedup_range(compute, sync, n, p);
                    let text = |v: f64, (lo, hi): (f64, f64)| format!("{v:.1} [{lo:.1}, {hi:.1}]");
                    t.push(vec![
                        net.name.clone(),
                        sync.to_string(),
                        format!("{n:.0}"),
                        best.to_string(),
                        text(s, range(best)),
                        text(at(MAX_RANKS), range(MAX_RANKS)),
                    ]);
                }
            }
        }
        t.notes.extend(self.formula_check(bytes));
        t.notes.push(format!(
            "Nothing beyond P = {measured_p} was measured: every figure here is the model's. H = {}: compute a + c N / P \
             from M1; collectives on P ranks from one message's alpha and beta: allreduce the cheaper of the ring, \
             2 (P - 1) alpha + 2 (P - 1) / P bytes / beta, and recursive doubling, log2 P (alpha + bytes / beta); gather \
             then broadcast by binomial trees, 2 log2 P alpha + (P - 1 + log2 P) bytes / beta; {bytes:.0} bytes. Best P: \
             the power of two up to 1024 with the largest modelled speedup. Range: the speedup with every constant at \
             the slow end of its 95% interval, and at the fast end (public figures have none). Interconnects: {}.",
            compute.hidden,
            nets.iter().map(|n| format!("{}: alpha {:.1} us, beta {:.1} Gbit/s ({})", n.name, 1e6 * n.latency_s, 8.0 * n.bytes_per_s / 1e9, n.source)).collect::<Vec<_>>().join("; ")
        ));
        Some(t)
    }

    /// The one test the formulas get here: at the sweeps' own P, each sync's cost built from
    /// the ping-pong's constants beside the sweep's own fit of that sync, on each transport.
    fn formula_check(&self, bytes: f64) -> Option<String> {
        let mut parts = Vec::new();
        for p2p in self.comm.iter().filter(|f| f.op == CommOp::P2p) {
            for sync in [SyncKind::Allreduce, SyncKind::GatherBcast] {
                let Some(measured) = self
                    .comm
                    .iter()
                    .find(|f| f.op == CommOp::of_sync(sync) && f.transport == p2p.transport && f.ranks == p2p.ranks)
                else {
                    continue;
                };
                let formula = collective_s(sync, p2p.ranks, p2p.latency_s(), p2p.bytes_per_s(), bytes);
                parts.push(format!(
                    "{sync} on {}, P={}: {:.1} us from the formula, {:.1} us fitted to its own sweep ({:+.0}%)",
                    p2p.transport,
                    p2p.ranks,
                    1e6 * formula,
                    1e6 * measured.comm_s(bytes),
                    100.0 * (formula / measured.comm_s(bytes) - 1.0)
                ));
            }
        }
        (!parts.is_empty()).then(|| {
            format!(
                "The formulas against the sweeps at the measured P, for the {bytes:.0}-byte gradient: {}. Open MPI's \
                 own algorithms are not the textbook's: the gap shows how far the formulas may be from this MPI.",
                parts.join("; ")
            )
        })
    }

    /// Modelled allreduce speedup against P for every interconnect and data size.
    pub fn chart(&self) -> Option<Chart> {
        let compute = self.study_compute()?;
        let mut chart = Chart::new(
            "fig-M3-model-speedup",
            "MODEL: allreduce speedup by ranks (N = 7e4, 7e6)",
            "P (ranks)",
            "modelled speedup",
        );
        chart.log_x = true;
        chart.log_y = true;

        // The largest size is within a few per cent of ideal on every interconnect (M3 says by
        // how much); six lines keep the palette's colours apart.
        for net in interconnects(self.shared_memory()) {
            for &n in &EXTRAPOLATED_SAMPLES[..2] {
                let points = powers_of_two(MAX_RANKS)
                    .map(|p| point(p as f64, net.speedup(compute, SyncKind::Allreduce, n, p)))
                    .collect();
                chart.series.push(Series::new(format!("{}, N={n:.0e}", net.name), points));
            }
        }
        chart.series.push(Series::reference("ideal", vec![point(1.0, 1.0), point(MAX_RANKS as f64, MAX_RANKS as f64)]));
        Some(chart)
    }
}
