//! Table T11 and its figures: the run's communication sweeps (`commbench/`) as a reader
//! sees them, per transport and P; the full sweeps go to `summary/commbench.csv`.

use crate::commbench::record::Row;
use crate::commbench::sweep::gradient_bytes;
use crate::commbench::{CommBenchRecord, CommOp};
use crate::report::figures::{Chart, Series, point};
use crate::report::table_format::{Align, Table};

/// The table's id: after the study's T1-T10.
pub const TABLE_ID: &str = "T11";

/// T11: per sweep and pattern, the smallest message's time, the time at the study's
/// H = 50 and H = 1,600 gradients (mean over ranks, with the least and largest), the best
/// bus bandwidth, and the wrong elements. `None` without sweeps.
pub fn table(sweeps: &[CommBenchRecord], failures: &[String]) -> Option<Table> {
    if sweeps.is_empty() && failures.is_empty() {
        return None;
    }
    let cols = [
        ("transport", Align::Left),
        ("P", Align::Right),
        ("pattern", Align::Left),
        ("8 B us", Align::Right),
        ("H=50 gradient us [min, max]", Align::Right),
        ("H=1600 gradient ms [min, max]", Align::Right),
        ("peak busbw GB/s", Align::Right),
        ("wrong", Align::Right),
    ];
    let mut t = Table::new(
        TABLE_ID,
        "comm-bench",
        "The collectives on their own: time and bus bandwidth by message size",
        &cols,
    );
    for sweep in sweeps {
        for op in CommOp::ALL {
            let rows: Vec<&Row> = sweep.rows_of(op).collect();
            if rows.is_empty() {
                continue;
            }
            let at = |bytes: usize| rows.iter().find(|r| r.bytes == bytes);
            let spread = |bytes: usize, scale: f64| {
                at(bytes).map_or("-".into(), |r| {
                    format!("{:.1} [{:.1}, {:.1}]", scale * r.avg_s, scale * r.min_s, scale * r.max_s)
                })
            };
            t.push(vec![
                sweep.transport_label(),
                sweep.ranks.to_string(),
                op.to_string(),
                rows.first().map_or("-".into(), |r| format!("{:.1}", 1e6 * r.avg_s)),
                spread(gradient_bytes(50), 1e6),
                spread(gradient_bytes(1600), 1e3),
                format!("{:.2}", rows.iter().map(|r| r.busbw_gbs).fold(0.0, f64::max)),
                rows.iter().map(|r| r.wrong).sum::<u64>().to_string(),
            ]);
        }
    }
    if !failures.is_empty() {
        t.notes.push(format!("FAILED sweeps (no record, nothing fitted to them): {}.", failures.join("; ")));
    }
    let budget_ms = sweeps.first().map_or(f64::NAN, |s| 1e3 * s.budget_s);
    t.notes.push(format!(
        "dpstudy commbench under mpirun, before the training cells: each size timed after warm-up for about {:.0} ms \
         (at least --min-iters passes, 5 by default), each rank's mean time per pass, then the mean over the ranks [least, largest]; \
         gradients in f64: H=50 {} bytes, H=1600 {} bytes. allreduce: MPI_Allreduce (sum); gather-bcast: the \
         original's gather to rank 0, sum, broadcast; p2p: half a ping-pong round trip between rank 0 and the last \
         rank. Bus bandwidth: bytes over time times 2 (P - 1) / P (allreduce), 2 (P - 1) (gather-bcast: rank 0 receives, then sends), 1 (p2p). \
         wrong: elements that differed from the exact sum in the checked pass of every size.",
        budget_ms,
        gradient_bytes(50),
        gradient_bytes(1600)
    ));
    Some(t)
}

/// The figures of T11: the allreduce's time and bus bandwidth against message size, one
/// line per transport and P, both axes logarithmic.
pub fn charts(sweeps: &[CommBenchRecord]) -> Vec<Chart> {
    if sweeps.is_empty() {
        return vec![];
    }
    let mut time = Chart::new(
        "fig-T11-commbench-time",
        "Allreduce time by message size",
        "message bytes",
        "time per allreduce (s, mean over ranks)",
    );
    let mut busbw = Chart::new(
        "fig-T11-commbench-busbw",
        "Allreduce bus bandwidth by message size",
        "message bytes",
        "bus bandwidth (GB/s)",
    );
    for chart in [&mut time, &mut busbw] {
        chart.log_x = true;
        chart.log_y = true;
    }
    for sweep in sweeps {
        let label = format!("{}, P={}", sweep.transport_label(), sweep.ranks);
        let rows: Vec<&Row> = sweep.rows_of(CommOp::Allreduce).collect();
        let mut points = Vec::new();
        for r in &rows {
            let mut p = point(r.bytes as f64, r.avg_s);
            p.range = Some((r.min_s, r.max_s));
            points.push(p);
        }
        time.series.push(Series::new(label.clone(), points));
        let points = rows.iter().filter(|r| r.busbw_gbs > 0.0).map(|r| point(r.bytes as f64, r.busbw_gbs)).collect();
        busbw.series.push(Series::new(label, points));
    }
    vec![time, busbw]
}

/// Every row of every sweep as CSV.
pub fn csv(sweeps: &[CommBenchRecord]) -> String {
    let mut out = String::from("transport,ranks,hosts,op,bytes,iters,min_s,avg_s,max_s,algbw_gbs,busbw_gbs,wrong\n");
    for s in sweeps {
        for r in &s.rows {
            out += &format!(
                "{},{},{},{},{},{},{:e},{:e},{:e},{},{},{}\n",
                s.transport.map_or("unnamed".into(), |t| t.name()),
                s.ranks,
                s.hosts.len(),
                r.op,
                r.bytes,
                r.iters,
                r.min_s,
                r.avg_s,
                r.max_s,
                r.algbw_gbs,
                r.busbw_gbs,
                r.wrong
            );
        }
    }
    out
}
