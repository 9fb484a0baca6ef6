//! The cost model as the reader sees it: tables M1 (the fits), M2 (each prediction beside
//! its measurement) and M3 (the extrapolation), and the figure of the modelled speedup.

use super::Model;
use super::extrapolate::{EXTRAPOLATED_SAMPLES, MAX_RANKS, best_ranks, interconnects, powers_of_two};
use super::fit::gradient_bytes;
use crate::report::figures::{Chart, Series, point};
use crate::report::table_format::{Align, Table};
use crate::train::SyncKind;

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
            ("fixed", Align::Right),
            ("rate", Align::Right),
            ("cells", Align::Right),
            ("max fit error %", Align::Right),
        ];
        let mut t = Table::new("M1", "model-fits", "Cost model: the constants fitted to the measurements", &cols);
        for f in &self.compute {
            t.push(vec![
                "compute".into(),
                format!("H={}", f.hidden),
                format!("{:.3} ms", 1e3 * f.fixed_s),
                format!("{:.3} us/sample", 1e6 * f.per_sample_s),
                f.points.to_string(),
                format!("{:.1}", 100.0 * f.max_rel_error),
            ]);
        }
        for f in &self.comm {
            t.push(vec![
                format!("{}", f.sync),
                format!("{}, P={}", f.transport, f.ranks),
                format!("{:.1} us", 1e6 * f.latency_s),
                format!("{:.3} Gbit/s", 8.0 * f.bytes_per_s / 1e9),
                f.points.to_string(),
                format!("{:.1}", 100.0 * f.max_rel_error),
            ]);
        }
        t.notes.push(
            "compute: a + c N per step, least squares over the sequential cells of each H (fixed a, rate c); a rank's \
             share is N / P. Collectives: alpha + bytes / beta per step, least squares over the cells' gradient sizes \
             (8 bytes per weight), rank 0's time in the collective (fixed alpha, rate beta)."
                .into(),
        );
        t
    }

    fn predictions_table(&self) -> Table {
        let cols = [
            ("cell", Align::Left),
            ("measured ms", Align::Right),
            ("predicted ms", Align::Right),
            ("error %", Align::Right),
        ];
        let mut t =
            Table::new("M2", "model-predictions", "Cost model: each MPI cell's step, measured and predicted", &cols);
        for p in &self.predictions {
            t.push(vec![
                p.cell.clone(),
                format!("{:.3}", 1e3 * p.measured_step_s),
                format!("{:.3}", 1e3 * p.predicted_step_s),
                format!("{:+.1}", 100.0 * p.relative_error()),
            ]);
        }
        t.notes.push("predicted = a + c N / P + alpha + bytes / beta, with the constants of M1.".into());
        t
    }

    fn extrapolation_table(&self) -> Option<Table> {
        let compute = self.study_compute()?;
        let cols = [
            ("interconnect", Align::Left),
            ("sync", Align::Left),
            ("N", Align::Right),
            ("best P", Align::Right),
            ("speedup there", Align::Right),
            ("speedup at P=1024", Align::Right),
        ];
        let mut t = Table::new(
            "M3",
            "model-extrapolation",
            "MODEL, not measurement: speedup by interconnect and data size, up to 1024 ranks",
            &cols,
        );
        let bytes = gradient_bytes(compute.hidden);
        let nets = interconnects(self.shared_memory());
        for net in &nets {
            for sync in [SyncKind::Allreduce, SyncKind::GatherBcast] {
                for &n in &EXTRAPOLATED_SAMPLES {
                    let at = |p: usize| net.speedup(compute, sync, n, p);
                    let (best, s) = best_ranks(MAX_RANKS, at);
                    t.push(vec![
                        net.name.clone(),
                        sync.to_string(),
                        format!("{n:.0}"),
                        best.to_string(),
                        format!("{s:.1}"),
                        format!("{:.1}", at(MAX_RANKS)),
                    ]);
                }
            }
        }
        t.notes.push(format!(
            "H = {}: compute a + c N / P from M1; collectives on P ranks: ring allreduce 2 (P - 1) alpha + 2 (P - 1) / P \
             bytes / beta, gather then broadcast through rank 0 2 (P - 1) (alpha + bytes / beta), {bytes:.0} bytes. \
             Best P: the power of two up to 1024 with the largest modelled speedup. Interconnects: {}.",
            compute.hidden,
            nets.iter().map(|n| format!("{}: alpha {:.1} us, beta {:.1} Gbit/s ({})", n.name, 1e6 * n.latency_s, 8.0 * n.bytes_per_s / 1e9, n.source)).collect::<Vec<_>>().join("; ")
        ));
        Some(t)
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
                chart.series.push(Series { label: format!("{}, N={n:.0e}", net.name), points, reference: false });
            }
        }
        chart.series.push(Series {
            label: "ideal".into(),
            points: vec![point(1.0, 1.0), point(MAX_RANKS as f64, MAX_RANKS as f64)],
            reference: true,
        });
        Some(chart)
    }
}
