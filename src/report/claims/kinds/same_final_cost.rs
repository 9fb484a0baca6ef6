//! `same-final-cost`: every cell ends within a relative `max` of the sequential run's cost
//! for the same work (N, H, steps). Deterministic: read as it is, without an interval.

use crate::report::claims::judge::{Judge, pass};
use crate::report::claims::record::{Outcome, Verdict};
use crate::report::study_tables::parity_reference;
use crate::train::Mode;

pub(in crate::report::claims) fn judge(j: &Judge) -> Verdict {
    let Some(reference) = parity_reference(&j.cells, None) else {
        return j.not_run("sequential");
    };
    let mut unmatched = vec![];
    let devs: Vec<(String, f64)> = j
        .cells
        .iter()
        .filter(|c| c.mode != Mode::Seq)
        .filter_map(|c| {
            let Some(seq) = parity_reference(&j.cells, Some(c)) else {
                unmatched.push(c.cell.clone());
                return None;
            };
            let d = (c.final_cost - seq.final_cost).abs() / seq.final_cost.abs();
            Some((format!("{} P={} N={}", c.label(), c.p(), c.n), d))
        })
        .collect();
    if !unmatched.is_empty() {
        return j.verdict(
            Outcome::Fail,
            format!("no sequential cell of the same N and H for {}", unmatched.join(", ")),
            "every cell has its sequential reference".into(),
        );
    }
    let Some(worst) = devs.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
        return j.not_run("parallel");
    };
    // Equal bits say more than a small difference: say "identical" (the exact reduction's
    // cells, or splits whose sums happen to meet in the same order).
    let measured = if worst.1 == 0.0 {
        format!("identical final costs in every cell; sequential cost {:.6}", reference.final_cost)
    } else {
        format!(
            "largest relative difference {:.1e} ({}); sequential cost {:.6}",
            worst.1, worst.0, reference.final_cost
        )
    };
    j.valued(pass(devs.iter().all(|d| d.1 <= j.bound)), measured, format!("≤ {:.0e}", j.bound), Some(worst.1))
}
