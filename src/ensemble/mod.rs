//! The original study's future work, measured: meta-learners. Each of P processes trains
//! its own member with no communication during training; at the end rank 0 gathers every
//! member's predicted probabilities on a validation split and on the test split and
//! combines them ([`combine`]: averaging, majority vote, and a stacked meta-learner,
//! [`stacking`], fitted on the validation probabilities).
//!
//! - [`EnsembleRecipe`]: how the members differ (seed always; H, learning rate and a
//!   bootstrap sample of the rows where asked), and the validation rows.
//! - [`predict`]: a member's output probabilities on a block of rows.
//! - The MPI trainer that runs the members is `crate::train::ensemble`.
//!
//! Rows: training rows `0..N`, validation rows `N..N+V`, test rows the last M of the pool
//! (as in every mode), so `--samples N` means the same training rows for an ensemble as for
//! the sequential and data-parallel runs it is compared with.

pub mod combine;
pub mod predict;
pub mod stacking;

use serde::{Deserialize, Serialize};

use crate::data::Samples;
use crate::real::Real;
use crate::rng::SplitMix64;

/// How the members of an ensemble differ, and the rows the combiners are fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleRecipe {
    /// Hidden units of member r: `member_hidden[r % len]`; empty: every member `--hidden`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_hidden: Vec<usize>,
    /// Learning rate of member r: `member_lr[r % len]`; empty: every member `--lr`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_lr: Vec<f64>,
    /// Each member trains on its own bootstrap sample of the N training rows (N draws with
    /// replacement, seeded by the member's seed) instead of all of them.
    #[serde(default)]
    pub bagging: bool,
    /// Validation rows (the V rows after the training rows): what the stacked meta-learner
    /// is fitted on.
    pub validation_samples: usize,
}

/// One member's settings. Member r's seed is `--seed + r`, so member 0 is the sequential
/// run of the same flags, bit for bit (without `bagging`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub index: usize,
    pub hidden: usize,
    pub lr: f64,
    pub seed: u64,
}

impl EnsembleRecipe {
    /// The settings of each of `count` members of a run with `hidden`, `lr` and `seed`.
    pub fn members(&self, count: usize, hidden: usize, lr: f64, seed: u64) -> Vec<Member> {
        (0..count)
            .map(|r| Member {
                index: r,
                hidden: if self.member_hidden.is_empty() {
                    hidden
                } else {
                    self.member_hidden[r % self.member_hidden.len()]
                },
                lr: if self.member_lr.is_empty() { lr } else { self.member_lr[r % self.member_lr.len()] },
                seed: seed.wrapping_add(r as u64),
            })
            .collect()
    }
}

/// A bootstrap sample of `rows`: `rows.len()` rows drawn with replacement from `seed`.
pub fn bootstrap<T: Real>(rows: &Samples<T>, seed: u64) -> Samples<T> {
    let mut rng = SplitMix64::for_purpose(seed, "bagging");
    let n = rows.len();
    let mut out =
        Samples { features: Vec::with_capacity(rows.features.len()), labels: Vec::with_capacity(n), dim: rows.dim };
    for _ in 0..n {
        let i = rng.below(n as u64) as usize;
        out.features.extend_from_slice(&rows.features[i * rows.dim..(i + 1) * rows.dim]);
        out.labels.push(rows.labels[i]);
    }
    out
}

/// What one member of a finished ensemble scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberOutcome {
    #[serde(flatten)]
    pub member: Member,
    pub bagging: bool,
    /// Its training time (its own clock, evaluation excluded), seconds.
    pub train_s: f64,
    /// Its final training cost (on its own rows: the bootstrap sample when bagging).
    pub cost: f64,
    pub validation_acc: f64,
    pub test_acc: f64,
    pub test_cost: f64,
}

/// What one way of combining the members scored. Costs are the study's cost (binary
/// cross-entropy summed over the 10 outputs, averaged over the samples) of the combined
/// probabilities; a vote has no probabilities and so no cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CombinerOutcome {
    pub combiner: combine::Combiner,
    pub validation_acc: f64,
    pub test_acc: f64,
    pub test_cost: Option<f64>,
}

/// The ensemble part of a training result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleOutcome {
    pub validation_samples: usize,
    pub members: Vec<MemberOutcome>,
    pub combiners: Vec<CombinerOutcome>,
    /// Rank 0's time to combine (the vote, the average, fitting and applying the stacker).
    pub combine_s: f64,
}

impl EnsembleOutcome {
    /// The member with the highest test accuracy (the first of equals).
    pub fn best_member(&self) -> &MemberOutcome {
        self.members.iter().fold(&self.members[0], |best, m| if m.test_acc > best.test_acc { m } else { best })
    }

    pub fn combiner(&self, which: combine::Combiner) -> Option<&CombinerOutcome> {
        self.combiners.iter().find(|c| c.combiner == which)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_cycle_through_the_recipe_and_member_0_is_the_plain_run() {
        let recipe =
            EnsembleRecipe { member_hidden: vec![25, 50], member_lr: vec![], bagging: false, validation_samples: 10 };
        let m = recipe.members(3, 99, 0.1, 7);
        assert_eq!(m.iter().map(|m| (m.hidden, m.seed)).collect::<Vec<_>>(), [(25, 7), (50, 8), (25, 9)]);
        assert!(m.iter().all(|m| m.lr == 0.1));
        let plain = EnsembleRecipe { member_hidden: vec![], ..recipe };
        assert_eq!(plain.members(1, 50, 0.2, 3)[0], Member { index: 0, hidden: 50, lr: 0.2, seed: 3 });
    }

    #[test]
    fn a_bootstrap_sample_draws_existing_rows_with_replacement_reproducibly() {
        let rows = Samples { features: (0..20).map(f64::from).collect(), labels: (0..10).collect(), dim: 2 };
        let a = bootstrap(&rows, 5);
        assert_eq!(a, bootstrap(&rows, 5));
        assert_ne!(a, bootstrap(&rows, 6));
        assert_eq!(a.len(), 10);
        for (i, &label) in a.labels.iter().enumerate() {
            let l = usize::from(label);
            assert_eq!(&a.features[i * 2..i * 2 + 2], &rows.features[l * 2..l * 2 + 2], "row {i} is row {l} whole");
        }
        let mut distinct = a.labels.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() < 10, "ten draws with replacement repeat a row (this seed: {distinct:?})");
    }
}
