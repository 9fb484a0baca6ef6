//! Ways of turning the members' probabilities into one prediction, and how a prediction is
//! scored. Probabilities are rows x 10, row-major, one buffer per member.

use serde::{Deserialize, Serialize};

use crate::model::OUTPUTS;

/// How the members' predictions are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Combiner {
    /// The mean of the members' probabilities; the class with the largest mean.
    Average,
    /// Each member votes for its most probable class; the most votes win, ties going to
    /// the tied class with the largest mean probability.
    Vote,
    /// A multinomial logistic regression on the members' probabilities, fitted on the
    /// validation rows ([`super::stacking`]).
    Stacked,
}

impl Combiner {
    pub const ALL: [Combiner; 3] = [Combiner::Average, Combiner::Vote, Combiner::Stacked];

    pub fn as_str(self) -> &'static str {
        match self {
            Combiner::Average => "average",
            Combiner::Vote => "vote",
            Combiner::Stacked => "stacked",
        }
    }
}

impl std::fmt::Display for Combiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Probabilities are clamped to [EPS, 1 - EPS] in the cost, so a combined prediction that
/// is certain (a softmax output of exactly 1) has a large but finite cost.
pub const COST_EPS: f64 = 1e-15;

/// The most probable class of each row (the first of equals).
pub fn argmax_rows(probs: &[f64]) -> Vec<u8> {
    probs.chunks_exact(OUTPUTS).map(|row| argmax(row) as u8).collect()
}

fn argmax(row: &[f64]) -> usize {
    row.iter().enumerate().fold(0, |best, (k, &v)| if v > row[best] { k } else { best })
}

/// The element-wise mean of the members' probabilities.
pub fn average(members: &[Vec<f64>]) -> Vec<f64> {
    assert!(!members.is_empty(), "an ensemble has at least one member");
    let mut mean = vec![0.0; members[0].len()];
    for m in members {
        assert_eq!(m.len(), mean.len(), "every member predicts the same rows");
        for (s, &p) in mean.iter_mut().zip(m) {
            *s += p;
        }
    }
    let count = members.len() as f64;
    mean.iter_mut().for_each(|s| *s /= count);
    mean
}

/// The majority vote of the members, ties broken by the mean probability.
pub fn vote(members: &[Vec<f64>]) -> Vec<u8> {
    let mean = average(members);
    let choices: Vec<Vec<u8>> = members.iter().map(|m| argmax_rows(m)).collect();
    (0..mean.len() / OUTPUTS)
        .map(|i| {
            let mut votes = [0usize; OUTPUTS];
            for c in &choices {
                votes[usize::from(c[i])] += 1;
            }
            let row = &mean[i * OUTPUTS..(i + 1) * OUTPUTS];
            (0..OUTPUTS).fold(0, |best, k| {
                if votes[k] > votes[best] || (votes[k] == votes[best] && row[k] > row[best]) { k } else { best }
            }) as u8
        })
        .collect()
}

/// Share of rows whose predicted class is their label.
pub fn accuracy(predicted: &[u8], labels: &[u8]) -> f64 {
    assert_eq!(predicted.len(), labels.len());
    predicted.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len().max(1) as f64
}

/// The study's cost of `probs` against one-hot `labels`: binary cross-entropy summed over
/// the 10 outputs, averaged over the rows (probabilities clamped to [COST_EPS, 1 - COST_EPS]).
pub fn cost(probs: &[f64], labels: &[u8]) -> f64 {
    let total: f64 = probs
        .chunks_exact(OUTPUTS)
        .zip(labels)
        .map(|(row, &label)| {
            row.iter()
                .enumerate()
                .map(|(k, &p)| {
                    let p = p.clamp(COST_EPS, 1.0 - COST_EPS);
                    if k == usize::from(label) { -p.ln() } else { -(1.0 - p).ln() }
                })
                .sum::<f64>()
        })
        .sum();
    total / labels.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row of probabilities with `p` at `class` and `rest` elsewhere.
    fn row(class: usize, p: f64, rest: f64) -> Vec<f64> {
        (0..OUTPUTS).map(|k| if k == class { p } else { rest }).collect()
    }

    #[test]
    fn average_and_vote_on_a_fixture_with_known_answers() {
        // Two rows, three members. Row 0: two members say 3 weakly, one says 7 strongly.
        // Row 1: every member says 1.
        let m0 = [row(3, 0.4, 0.01), row(1, 0.9, 0.0)].concat();
        let m1 = [row(3, 0.35, 0.01), row(1, 0.8, 0.0)].concat();
        let m2 = [row(7, 0.99, 0.0), row(1, 0.7, 0.0)].concat();
        let members = vec![m0, m1, m2];
        let mean = average(&members);
        assert!((mean[3] - (0.4 + 0.35 + 0.0) / 3.0).abs() < 1e-15);
        assert!((mean[7] - (0.01 + 0.01 + 0.99) / 3.0).abs() < 1e-15);
        // The average follows the confident member; the vote follows the majority.
        assert_eq!(argmax_rows(&mean), [7, 1]);
        assert_eq!(vote(&members), [3, 1]);
        assert_eq!(accuracy(&vote(&members), &[3, 1]), 1.0);
        assert_eq!(accuracy(&argmax_rows(&mean), &[3, 1]), 0.5);
    }

    #[test]
    fn a_tied_vote_goes_to_the_larger_mean_probability() {
        let members = vec![row(2, 0.6, 0.0), row(5, 0.9, 0.0)];
        assert_eq!(vote(&members), [5]);
        let members = vec![row(5, 0.6, 0.0), row(2, 0.9, 0.0)];
        assert_eq!(vote(&members), [2]);
    }

    #[test]
    fn the_cost_is_the_studys_and_certainty_stays_finite() {
        // One row, label 0: -ln(0.8) - 9 ln(1 - 0.1).
        let c = cost(&row(0, 0.8, 0.1), &[0]);
        assert!((c - (-(0.8f64).ln() - 9.0 * (0.9f64).ln())).abs() < 1e-15);
        let certain_and_wrong = cost(&row(1, 1.0, 0.0), &[0]);
        assert!(certain_and_wrong.is_finite() && certain_and_wrong > 60.0, "{certain_and_wrong}");
    }
}
