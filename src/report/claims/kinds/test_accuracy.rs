//! `test-accuracy`: every cell's test accuracy is at least `min`, on verified MNIST only.

use crate::data::SourceLabel;
use crate::report::claims::judge::{Judge, pass};
use crate::report::claims::record::{Outcome, Verdict};

pub(in crate::report::claims) fn judge(j: &Judge) -> Verdict {
    let accs: Vec<(String, f64, SourceLabel)> = j
        .cells
        .iter()
        .filter_map(|c| c.final_test_acc.map(|a| (format!("{} P={}", c.label(), c.p()), a, c.data_source)))
        .collect();
    if let Some((_, _, source)) = accs.iter().find(|a| a.2 != SourceLabel::Mnist) {
        return j.verdict(
            Outcome::NotRun,
            format!("data is {source}: accuracy is only claimed on verified MNIST"),
            String::new(),
        );
    }
    let Some(worst) = accs.iter().min_by(|a, b| a.1.total_cmp(&b.1)) else {
        return j.not_run("test-set");
    };
    j.valued(
        pass(accs.iter().all(|a| a.1 >= j.bound)),
        format!("lowest test accuracy {:.4} ({}); {} modes", worst.1, worst.0, accs.len()),
        format!("≥ {} (profile {})", j.bound, j.profile),
        Some(worst.1),
    )
}
