//! The statistics every timing of the study is reported with (Hoefler and Belli, "Scientific
//! benchmarking of parallel computing systems", SC'15): the median, a nonparametric
//! confidence interval for it from order statistics, figures of several cells computed round
//! by round (the runner interleaves the cells' runs, so the runs of one round share the
//! machine's state and pair the cells), and a one-sided Mann-Whitney U test.
//!
//! No distribution is assumed: run times on a shared machine are skewed and heavy-tailed
//! (a descheduled run takes twice as long), which is why the mean and a t interval are not
//! used.

use serde::{Deserialize, Serialize};

/// The confidence every interval of the study aims for.
pub const CONFIDENCE: f64 = 0.95;

/// The fewest values that give a [`CONFIDENCE`] interval for a median: with 5, even the
/// whole range covers it only with probability 1 - 2/2^5 = 93.75%.
pub const MIN_RUNS_FOR_CONFIDENCE: usize = 6;

/// A median with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The sample median.
    pub value: f64,
    /// The interval's ends: order statistics of the sample.
    pub low: f64,
    pub high: f64,
    /// The probability that the interval covers the true median: [`CONFIDENCE`] or more
    /// from [`MIN_RUNS_FOR_CONFIDENCE`] values on; below that the whole range, whose
    /// coverage is 1 - 2/2^n (3 values: 75%); 0 for one value.
    pub level: f64,
    /// Values behind it (runs, or rounds for a figure of several cells).
    pub n: usize,
}

impl Estimate {
    /// An estimate whose interval reaches [`CONFIDENCE`].
    pub fn is_confident(&self) -> bool {
        self.level >= CONFIDENCE
    }

    /// The interval's width over the median: what a profile's precision target bounds.
    pub fn relative_width(&self) -> f64 {
        (self.high - self.low) / self.value.abs()
    }

    /// The estimate of `f(x)` for an increasing `f` (a figure divided by P, say).
    pub fn map(self, f: impl Fn(f64) -> f64) -> Self {
        Self { value: f(self.value), low: f(self.low), high: f(self.high), ..self }
    }

    /// Where the interval lies against `bound`, for a figure that should be at least it
    /// (`Direction::AtLeast`) or at most it.
    pub fn against(&self, bound: f64, direction: Direction) -> Side {
        let (good, bad) = match direction {
            Direction::AtLeast => (self.low >= bound, self.high < bound),
            Direction::AtMost => (self.high <= bound, self.low > bound),
            Direction::Above => (self.low > bound, self.high <= bound),
            Direction::Below => (self.high < bound, self.low >= bound),
        };
        match (good, bad) {
            (true, _) => Side::Right,
            (_, true) => Side::Wrong,
            _ => Side::Straddles,
        }
    }

    /// `1.85 [1.80, 1.91]`, each figure by `fmt`.
    pub fn text(&self, fmt: impl Fn(f64) -> String) -> String {
        if self.n < 2 {
            return fmt(self.value);
        }
        format!("{} [{}, {}]", fmt(self.value), fmt(self.low), fmt(self.high))
    }

    /// The level in words: `95% CI, 8 runs` or `75% interval, 3 runs`.
    pub fn level_text(&self, what: &str) -> String {
        let level = format!("{:.1}", 100.0 * self.level);
        let level = level.trim_end_matches(".0");
        if self.is_confident() {
            format!("95% CI ({level}%), {} {what}", self.n)
        } else {
            format!("{level}% interval, {} {what}", self.n)
        }
    }
}

/// Which side of a bound a figure should be on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// figure ≥ bound.
    AtLeast,
    /// figure ≤ bound.
    AtMost,
    /// figure > bound (a time that rises: ratio > 1).
    Above,
    /// figure < bound.
    Below,
}

impl Direction {
    pub fn symbol(self) -> &'static str {
        match self {
            Direction::AtLeast => "≥",
            Direction::AtMost => "≤",
            Direction::Above => ">",
            Direction::Below => "<",
        }
    }
}

/// An interval against a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The whole interval is on the side the claim asks for.
    Right,
    /// The whole interval is on the other side.
    Wrong,
    /// The bound lies inside the interval: the runs cannot tell.
    Straddles,
}

/// The median of `values` (the mean of the middle two for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

/// P(X <= k) for X ~ Binomial(n, 1/2).
fn binomial_half_cdf(n: usize, k: usize) -> f64 {
    let mut term = 0.5f64.powi(n as i32); // C(n, 0) / 2^n
    let mut sum = term;
    for i in 1..=k.min(n) {
        term *= (n + 1 - i) as f64 / i as f64;
        sum += term;
    }
    sum
}

/// The median of `values` with the narrowest order-statistic interval that covers the true
/// median with probability [`CONFIDENCE`]: `[x(k), x(n+1-k)]`, whose coverage is
/// 1 - 2 P(Binomial(n, 1/2) <= k - 1) whatever the distribution (continuous). Below
/// [`MIN_RUNS_FOR_CONFIDENCE`] values, the whole range and its lower coverage. `None` when
/// `values` is empty or holds a NaN.
pub fn median_interval(values: &[f64]) -> Option<Estimate> {
    if values.is_empty() || values.iter().any(|v| v.is_nan()) {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let coverage = |k: usize| 1.0 - 2.0 * binomial_half_cdf(n, k - 1);
    let mut k = 1;
    while k < n.div_ceil(2) && coverage(k + 1) >= CONFIDENCE {
        k += 1;
    }
    let level = if n == 1 { 0.0 } else { coverage(k) };
    Some(Estimate { value: median(&v), low: v[k - 1], high: v[n - k], level, n })
}

/// A figure of several cells, computed once per round from the cells' runs of that round
/// (`rounds[r][i]`: cell i's value in round r), then summarised by [`median_interval`].
/// Rounds where a cell has no run are left out, so the pairs stay pairs.
pub fn per_round(rounds: &[Vec<f64>], figure: impl Fn(&[f64]) -> f64) -> Option<Estimate> {
    let values: Vec<f64> = rounds.iter().map(|r| figure(r)).filter(|v| v.is_finite()).collect();
    median_interval(&values)
}

/// The rounds that every one of `series` ran: for each such round, the series' values in
/// order. Each series is `(round, value)`.
pub fn common_rounds(series: &[&[(usize, f64)]]) -> Vec<Vec<f64>> {
    let Some(first) = series.first() else { return vec![] };
    let mut rounds: Vec<usize> = first.iter().map(|s| s.0).collect();
    rounds.sort_unstable();
    rounds.dedup();
    rounds
        .into_iter()
        .filter_map(|r| series.iter().map(|s| s.iter().find(|x| x.0 == r).map(|x| x.1)).collect::<Option<Vec<f64>>>())
        .collect()
}

/// `numerator / denominator` round by round, e.g. a speedup: the sequential time over the
/// parallel time of the same round.
pub fn paired_ratio(numerator: &[(usize, f64)], denominator: &[(usize, f64)]) -> Option<Estimate> {
    per_round(&common_rounds(&[numerator, denominator]), |r| r[0] / r[1])
}

/// `a / b` for two cells whose runs pair nothing (a GPU cell from another machine, merged
/// beside this machine's CPU cells): the ratio of the medians, with the interval from the
/// ends of the two intervals. Both intervals cover their medians together with probability
/// at least `a.level + b.level - 1` (Bonferroni), the level stated.
pub fn unpaired_ratio(a: &Estimate, b: &Estimate) -> Estimate {
    Estimate {
        value: a.value / b.value,
        low: a.low / b.high,
        high: a.high / b.low,
        level: (a.level + b.level - 1.0).max(0.0),
        n: a.n.min(b.n),
    }
}

/// The one-sided exact Mann-Whitney U test that the values of `faster` tend to be smaller
/// than those of `slower`: the probability, with no difference between the two, of a U at
/// least as large as the one observed (U counts the pairs where `faster` wins, ties a half).
/// With ties the exact null distribution is that of untied data, a slight approximation.
/// `None` when either sample is empty.
pub fn mann_whitney_less(faster: &[f64], slower: &[f64]) -> Option<f64> {
    let (m, n) = (faster.len(), slower.len());
    if m == 0 || n == 0 {
        return None;
    }
    let u: f64 = faster
        .iter()
        .map(|a| {
            slower
                .iter()
                .map(|b| {
                    if a < b {
                        1.0
                    } else if a == b {
                        0.5
                    } else {
                        0.0
                    }
                })
                .sum::<f64>()
        })
        .sum();
    // counts[i][j][u]: orderings of i values of one sample and j of the other with statistic u.
    let max_u = m * n;
    let mut counts = vec![vec![vec![0f64; max_u + 1]; n + 1]; m + 1];
    for i in 0..=m {
        for j in 0..=n {
            if i == 0 || j == 0 {
                counts[i][j][0] = 1.0;
                continue;
            }
            for t in 0..=i * j {
                // The largest of the i + j values is the second sample's (it adds no pair
                // where the first sample's value is larger) or the first's (it is larger
                // than all j values of the second).
                let from_second = counts[i][j - 1][t];
                let from_first = if t >= j { counts[i - 1][j][t - j] } else { 0.0 };
                counts[i][j][t] = from_second + from_first;
            }
        }
    }
    // The recursion counts U' = pairs where the first sample's value is the larger; the
    // statistic of "faster is smaller" is m n - U'. By symmetry of the null distribution,
    // P(U >= u) = P(U' <= m n - u).
    let total: f64 = counts[m][n].iter().sum();
    let limit = (max_u as f64 - u).floor();
    let tail: f64 = counts[m][n].iter().enumerate().filter(|(t, _)| *t as f64 <= limit).map(|(_, c)| c).sum();
    Some(tail / total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn order_statistic_levels_match_the_binomial() {
        // n = 6: [x(1), x(6)] covers with 1 - 2/64; n = 10: [x(2), x(9)] with 1 - 2 * 11/1024.
        let six = median_interval(&[6.0, 1.0, 5.0, 2.0, 4.0, 3.0]).unwrap();
        assert_eq!((six.low, six.high, six.value), (1.0, 6.0, 3.5));
        assert!((six.level - (1.0 - 2.0 / 64.0)).abs() < 1e-12);
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        let e = median_interval(&ten).unwrap();
        assert_eq!((e.low, e.high), (2.0, 9.0));
        assert!((e.level - (1.0 - 22.0 / 1024.0)).abs() < 1e-12);
        let three = median_interval(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((three.low, three.high, three.level), (1.0, 3.0, 0.75));
        assert!(!three.is_confident() && six.is_confident());
        let one = median_interval(&[2.0]).unwrap();
        assert_eq!((one.low, one.high, one.level, one.text(|x| x.to_string())), (2.0, 2.0, 0.0, "2".into()));
        assert!(median_interval(&[]).is_none() && median_interval(&[1.0, f64::NAN]).is_none());
    }

    /// Heavy-tailed, skewed run times as a shared machine makes them: a log-normal body and,
    /// with probability `outliers`, a run slowed 1.5-3 times.
    fn run_time(rng: &mut SplitMix64, median: f64, sigma: f64, outliers: f64) -> f64 {
        let body = median * (sigma * rng.normal()).exp();
        if rng.next_f64() < outliers { body * rng.uniform(1.5, 3.0) } else { body }
    }

    /// The fraction of `trials` samples of `n` whose interval covers the true median.
    fn coverage(n: usize, trials: usize, draw: impl Fn(&mut SplitMix64) -> f64, true_median: f64) -> f64 {
        let mut rng = SplitMix64::new(2026);
        let covered = (0..trials)
            .filter(|_| {
                let sample: Vec<f64> = (0..n).map(|_| draw(&mut rng)).collect();
                let e = median_interval(&sample).unwrap();
                e.low <= true_median && true_median <= e.high
            })
            .count();
        covered as f64 / trials as f64
    }

    #[test]
    fn the_interval_covers_the_median_as_often_as_it_says_on_heavy_tails() {
        let trials = 4000;
        // Log-normal without outliers: the true median is 1.
        for n in [6, 10, 15, 25] {
            let level = median_interval(&vec![0.0; n].iter().enumerate().map(|(i, _)| i as f64).collect::<Vec<_>>())
                .unwrap()
                .level;
            let seen = coverage(n, trials, |r| run_time(r, 1.0, 0.08, 0.0), 1.0);
            // Within 3 standard errors of the stated level (binomial over the trials).
            let se = (level * (1.0 - level) / trials as f64).sqrt();
            assert!((seen - level).abs() <= 3.0 * se + 1e-9, "n={n}: covered {seen}, stated {level}");
            assert!(level >= CONFIDENCE);
        }
        // Cauchy (no mean, no variance), true median 0: still as stated.
        let cauchy = |r: &mut SplitMix64| (std::f64::consts::PI * (r.next_f64() - 0.5)).tan();
        let seen = coverage(10, trials, cauchy, 0.0);
        assert!((seen - (1.0 - 22.0 / 1024.0)).abs() < 0.015, "Cauchy: {seen}");
        // Pareto (alpha 1.2; median 2^(1/1.2)).
        let pareto = |r: &mut SplitMix64| (1.0 - r.next_f64()).powf(-1.0 / 1.2);
        let seen = coverage(12, trials, pareto, 2f64.powf(1.0 / 1.2));
        let level = median_interval(&(0..12).map(f64::from).collect::<Vec<_>>()).unwrap().level;
        assert!((seen - level).abs() < 0.015, "Pareto: {seen} against {level}");
    }

    /// A cell's runs by round.
    type Runs = Vec<(usize, f64)>;

    /// Paired rounds of two cells: a common per-round factor (the machine's drift, shared by
    /// the runs of one round, 10%), each run's own noise (3%) and outliers (one run in
    /// twenty slowed 1.5-3 times), and B slower than A by `slowdown`.
    fn paired_rounds(seed: u64, rounds: usize, slowdown: f64) -> (Runs, Runs) {
        let mut rng = SplitMix64::new(seed);
        let (mut a, mut b) = (vec![], vec![]);
        for r in 0..rounds {
            let drift = (0.1 * rng.normal()).exp();
            a.push((r, drift * run_time(&mut rng, 1.0, 0.03, 0.05)));
            b.push((r, drift * run_time(&mut rng, slowdown, 0.03, 0.05)));
        }
        (a, b)
    }

    #[test]
    fn an_a_a_comparison_reports_no_difference() {
        let mut false_alarms = 0;
        let trials = 1000;
        for seed in 0..trials {
            let (a, b) = paired_rounds(seed, 10, 1.0);
            let ratio = paired_ratio(&b, &a).unwrap();
            if ratio.against(1.0, Direction::Above) != Side::Straddles {
                false_alarms += 1;
            }
        }
        // At most the 2.1% a 97.9% interval allows, with room for the trials' noise.
        assert!(false_alarms as f64 / trials as f64 <= 0.035, "{false_alarms} of {trials}");
        // One seeded A/A pair, as a reader would see it: the interval holds 1, and the rank
        // test finds nothing.
        let (a, b) = paired_rounds(7, 10, 1.0);
        let ratio = paired_ratio(&b, &a).unwrap();
        assert_eq!(ratio.against(1.0, Direction::Above), Side::Straddles, "{ratio:?}");
        let values = |s: &[(usize, f64)]| s.iter().map(|x| x.1).collect::<Vec<_>>();
        assert!(mann_whitney_less(&values(&a), &values(&b)).unwrap() > 0.05);
    }

    #[test]
    fn a_ten_percent_slowdown_is_detected_with_the_profiles_runs() {
        // quick's timing tables stop adding rounds at 10 (artifact/experiments.toml). The
        // power depends on the noise: with 4% per run and one outlier in ten, 10 rounds
        // detect a 10% slowdown about 60% of the time (a simulation of the same method).
        let trials = 500;
        let detected = (0..trials)
            .filter(|&seed| {
                let (a, b) = paired_rounds(1000 + seed, 10, 1.10);
                paired_ratio(&b, &a).unwrap().against(1.0, Direction::Above) == Side::Right
            })
            .count();
        assert!(detected as f64 / trials as f64 >= 0.8, "detected in {detected} of {trials}");
    }

    #[test]
    fn an_interval_that_straddles_the_bound_decides_nothing() {
        let e = Estimate { value: 0.72, low: 0.66, high: 0.78, level: 0.98, n: 10 };
        assert_eq!(e.against(0.7, Direction::AtLeast), Side::Straddles);
        assert_eq!(e.against(0.6, Direction::AtLeast), Side::Right);
        assert_eq!(e.against(0.8, Direction::AtLeast), Side::Wrong);
        assert_eq!(e.against(0.8, Direction::AtMost), Side::Right);
        assert_eq!(e.against(0.7, Direction::AtMost), Side::Straddles);
        assert_eq!(e.against(0.6, Direction::AtMost), Side::Wrong);
        assert_eq!(e.map(|x| 2.0 * x).low, 1.32);
        assert_eq!(e.text(|x| format!("{x:.2}")), "0.72 [0.66, 0.78]");
        assert_eq!(e.level_text("rounds"), "95% CI (98%), 10 rounds");
    }

    #[test]
    fn mann_whitney_matches_hand_counts() {
        // Every one of 3 faster values below every one of 3 slower: 1 of C(6,3) = 20 orderings.
        assert!((mann_whitney_less(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap() - 0.05).abs() < 1e-12);
        // The reverse ordering is as unsurprising as it gets.
        assert!((mann_whitney_less(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0]).unwrap() - 1.0).abs() < 1e-12);
        // U = 8 of 9 (one pair reversed): orderings with U >= 8 are 2 of 20.
        assert!((mann_whitney_less(&[1.0, 2.0, 5.0], &[3.0, 6.0, 7.0]).unwrap() - 0.1).abs() < 1e-12);
        // 6 against 6, fully separated: 1 / C(12, 6) = 1/924.
        let p = mann_whitney_less(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[7.0, 8.0, 9.0, 10.0, 11.0, 12.0]).unwrap();
        assert!((p - 1.0 / 924.0).abs() < 1e-15);
        assert!(mann_whitney_less(&[], &[1.0]).is_none());
    }

    #[test]
    fn an_unpaired_ratio_spans_both_intervals_at_the_bonferroni_level() {
        let a = Estimate { value: 1.0, low: 0.9, high: 1.2, level: 0.97, n: 8 };
        let b = Estimate { value: 10.0, low: 9.0, high: 12.0, level: 0.98, n: 6 };
        let r = unpaired_ratio(&a, &b);
        assert_eq!((r.value, r.low, r.high, r.n), (0.1, 0.075, 1.2 / 9.0, 6));
        assert!((r.level - 0.95).abs() < 1e-12);
    }

    #[test]
    fn rounds_pair_only_where_both_cells_ran() {
        let a = [(0, 1.0), (1, 2.0), (3, 4.0)];
        let b = [(1, 1.0), (0, 0.5), (2, 9.0), (3, 2.0)];
        assert_eq!(common_rounds(&[&a, &b]), vec![vec![1.0, 0.5], vec![2.0, 1.0], vec![4.0, 2.0]]);
        let r = paired_ratio(&a, &b).unwrap();
        assert_eq!((r.value, r.n), (2.0, 3));
    }
}
