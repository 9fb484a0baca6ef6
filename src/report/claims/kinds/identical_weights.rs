//! `identical-weights`: every cell of the claim's reduction (default exact) ends with the
//! sequential cell's weights, bit for bit: the same SHA-256 for the same work. Exact, so
//! it takes no bound and no interval.

use crate::report::claims::judge::{Judge, pass};
use crate::report::claims::record::Verdict;
use crate::report::study_tables::short_hash;
use crate::train::{Mode, Reduction};

pub(in crate::report::claims) fn judge(j: &Judge) -> Verdict {
    let reduce = j.claim.reduce.unwrap_or(Reduction::Exact);
    let cells: Vec<_> = j.cells.iter().filter(|c| c.reduce == reduce).collect();
    let Some(seq) = cells.iter().find(|c| c.mode == Mode::Seq) else {
        return j.not_run("sequential");
    };
    let others: Vec<_> = cells.iter().filter(|c| c.mode != Mode::Seq).collect();
    if others.is_empty() {
        return j.not_run("parallel");
    }
    let mut differ = vec![];
    for c in &others {
        let reference = cells.iter().find(|s| s.mode == Mode::Seq && s.work() == c.work());
        let same = match (reference.and_then(|s| s.weights_sha256.as_ref()), &c.weights_sha256) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        };
        if !same {
            differ.push(format!("{} P={} ({})", c.label(), c.p(), short_hash(c)));
        }
    }
    let measured = if differ.is_empty() {
        format!("identical: {} cells, one hash {} ({reduce})", others.len() + 1, short_hash(seq))
    } else {
        format!(
            "{} of {} cells differ from the sequential {}: {}",
            differ.len(),
            others.len(),
            short_hash(seq),
            differ.join(", ")
        )
    };
    j.verdict(pass(differ.is_empty()), measured, "the sequential run's hash, bit for bit".into())
}
