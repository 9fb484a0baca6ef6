//! What every claim kind judges with: the claim, the cells it reads and its bound for the
//! profile ([`Judge`]), and the rule that decides figures with intervals ([`Decided`]).

use super::Claim;
use super::record::{Outcome, Verdict};
use crate::report::aggregate::{Aggregate, CellStats};
use crate::stats::{Direction, Estimate, Side};
use crate::train::Mode;

/// One claim being judged: what it reads and the verdicts it can build.
pub(super) struct Judge<'a> {
    pub claim: &'a Claim,
    pub agg: &'a Aggregate,
    pub profile: &'a str,
    /// The cells of the claim's table that the claim reads (its mode, sync and baseline).
    pub cells: Vec<&'a CellStats>,
    /// The modes the claim reads: its mode and the baseline it is compared with.
    pub compared: Vec<Mode>,
    /// The claim's bound for this profile: its `min` or `max`, whichever its kind takes
    /// (NaN for a kind that takes none, or a profile the claims file leaves out).
    pub bound: f64,
}

impl Judge<'_> {
    /// A verdict with the figure held to the bound (`value`), if the claim has one.
    pub fn valued(&self, outcome: Outcome, measured: String, expected: String, value: Option<f64>) -> Verdict {
        Verdict {
            id: self.claim.id.clone(),
            claim: self.claim.claim.clone(),
            outcome,
            measured,
            expected,
            value,
            interval: None,
        }
    }

    /// A verdict without a figure.
    pub fn verdict(&self, outcome: Outcome, measured: String, expected: String) -> Verdict {
        self.valued(outcome, measured, expected, None)
    }

    /// A timing claim: its figures with their intervals, decided together ([`Decided`]).
    pub fn judged(&self, figures: Vec<(String, Estimate)>, bound: f64, direction: Direction, what: &str) -> Verdict {
        let decided = Decided::of(figures, bound, direction);
        Verdict {
            interval: Some(decided.worst.1),
            ..self.valued(
                decided.outcome(),
                decided.measured(what),
                decided.expected(what),
                Some(decided.worst.1.value),
            )
        }
    }

    /// Not evaluated: no `what` cells to read, with the reason such a cell did not run (of a
    /// cell the claim reads, else of any cell of the table).
    pub fn not_run(&self, what: &str) -> Verdict {
        let gaps = || self.agg.gaps_of(&self.claim.table);
        let reason =
            gaps().find(|g| self.compared.contains(&g.mode)).or_else(|| gaps().next()).map(|g| g.reason.clone());
        let why = reason.map_or(format!("no {what} cells in table {}", self.claim.table), |r| format!("not run: {r}"));
        self.verdict(Outcome::NotRun, why, String::new())
    }

    /// Not evaluated: the reason the table's GPU cells did not run.
    pub fn gpu_not_run(&self) -> Verdict {
        let reason = self
            .agg
            .gaps_of(&self.claim.table)
            .find(|g| g.mode == Mode::Gpu)
            .map_or("no GPU cell".to_string(), |g| g.reason.clone());
        self.verdict(Outcome::NotRun, format!("not run: {reason}"), String::new())
    }
}

/// Pass when `ok`, else fail: for figures without an interval (costs, accuracies).
pub(super) fn pass(ok: bool) -> Outcome {
    if ok { Outcome::Pass } else { Outcome::Fail }
}

/// A claim's figures with their intervals, held to one bound together: it passes when
/// every interval is on the right side, fails when one is wholly on the wrong side, and is
/// inconclusive otherwise.
struct Decided {
    figures: Vec<(String, Estimate, Side)>,
    /// The figure nearest the wrong side (by its median), with its name.
    worst: (String, Estimate),
    bound: f64,
    direction: Direction,
}

impl Decided {
    fn of(figures: Vec<(String, Estimate)>, bound: f64, direction: Direction) -> Self {
        let toward_wrong = |e: &Estimate| match direction {
            Direction::AtLeast | Direction::Above => e.value,
            Direction::AtMost | Direction::Below => -e.value,
        };
        let worst = figures
            .iter()
            .min_by(|a, b| toward_wrong(&a.1).total_cmp(&toward_wrong(&b.1)))
            .cloned()
            .expect("a claim judges one figure or more");
        let figures = figures.into_iter().map(|(name, e)| {
            let side = e.against(bound, direction);
            (name, e, side)
        });
        Self { figures: figures.collect(), worst, bound, direction }
    }

    fn count(&self, side: Side) -> usize {
        self.figures.iter().filter(|f| f.2 == side).count()
    }

    fn outcome(&self) -> Outcome {
        if self.count(Side::Wrong) > 0 {
            Outcome::Fail
        } else if self.count(Side::Straddles) > 0 {
            Outcome::Inconclusive
        } else {
            Outcome::Pass
        }
    }

    fn measured(&self, what: &str) -> String {
        let figure = |(name, e, _): &(String, Estimate, Side)| format!("{name}: {}", e.text(|v| format!("{v:.3}")));
        // The figures off the right side, else the worst one.
        let named: Vec<String> = match self.outcome() {
            Outcome::Pass => vec![format!("{}: {}", self.worst.0, self.worst.1.text(|v| format!("{v:.3}")))],
            _ => self.figures.iter().filter(|f| f.2 != Side::Right).map(figure).collect(),
        };
        let mut text = format!(
            "{what}, median [interval] over rounds: {} ({}; {} figure(s): {} on the right side, {} undecided, {} on \
             the wrong side)",
            named.join("; "),
            self.worst.1.level_text("rounds"),
            self.figures.len(),
            self.count(Side::Right),
            self.count(Side::Straddles),
            self.count(Side::Wrong)
        );
        if self.outcome() == Outcome::Inconclusive {
            text += "; inconclusive: more runs or a quieter machine";
        }
        text
    }

    fn expected(&self, what: &str) -> String {
        format!("{what} {} {}, the whole interval", self.direction.symbol(), self.bound)
    }
}
