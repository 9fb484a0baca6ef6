//! A straight line fitted by weighted least squares, with the 95% confidence intervals of
//! its two constants and of its value at any x: the one statistical tool of the cost model.
//!
//! The weights are `1 / y²`, so each point counts by its relative error: a sweep of message
//! sizes spans six orders of magnitude in time, and an unweighted fit would be decided by
//! the largest sizes alone. Intervals use Student's t with n - 2 degrees of freedom (the
//! textbook regression intervals: residuals independent, of equal relative variance).

/// A line `y = intercept + slope x` and what its intervals need (`NaN` ends where the
/// points leave no degree of freedom).
#[derive(Debug, Clone, PartialEq)]
pub struct LineFit {
    pub intercept: f64,
    pub slope: f64,
    /// Points fitted.
    pub points: usize,
    /// The largest relative error of the line over its points.
    pub max_rel_error: f64,
    /// Weighted mean of x, sum of weights, weighted sum of squares of x about its mean,
    /// residual variance (`NaN` with two points: no interval).
    x_mean: f64,
    weight_sum: f64,
    sxx: f64,
    residual_var: f64,
    /// True when the free fit's intercept was below zero and the line was refitted through
    /// the origin (a negative fixed cost means the points did not separate it from noise).
    pub through_origin: bool,
    /// A line through one measured point: the slope's interval is the point's own.
    single: Option<(f64, f64)>,
}

/// Student's t quantile at 0.975 for `df` degrees of freedom: the table to 30, then
/// `1.96 + 2.5 / df`, within 0.002 of the exact value from 31 on.
pub fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        _ => 1.96 + 2.5 / df as f64,
    }
}

impl LineFit {
    /// The fit of `points` (x, y > 0): the free line, or the line through the origin when
    /// the free one's intercept is negative or the points have one x only (`None`: no
    /// point, or x = 0 only).
    pub fn of(points: &[(f64, f64)]) -> Option<Self> {
        match Self::weighted(points, false) {
            Some(free) if free.intercept >= 0.0 => Some(free),
            _ => Self::weighted(points, true),
        }
    }

    fn weighted(points: &[(f64, f64)], through_origin: bool) -> Option<Self> {
        let w: Vec<f64> = points.iter().map(|p| 1.0 / (p.1 * p.1)).collect();
        let weight_sum: f64 = w.iter().sum();
        let (x_mean, y_mean) = if through_origin {
            (0.0, 0.0)
        } else {
            let wx: f64 = points.iter().zip(&w).map(|(p, w)| w * p.0).sum();
            let wy: f64 = points.iter().zip(&w).map(|(p, w)| w * p.1).sum();
            (wx / weight_sum, wy / weight_sum)
        };
        let sxx: f64 = points.iter().zip(&w).map(|(p, w)| w * (p.0 - x_mean).powi(2)).sum();
        let distinct = points.iter().any(|p| p.0 != points[0].0);
        if points.is_empty() || sxx.is_nan() || sxx <= 0.0 || (!through_origin && !distinct) {
            return None;
        }
        let sxy: f64 = points.iter().zip(&w).map(|(p, w)| w * (p.0 - x_mean) * (p.1 - y_mean)).sum();
        let slope = sxy / sxx;
        let intercept = y_mean - slope * x_mean;
        let line = |x: f64| intercept + slope * x;
        let params = if through_origin { 1 } else { 2 };
        let rss: f64 = points.iter().zip(&w).map(|(p, w)| w * (p.1 - line(p.0)).powi(2)).sum();
        let residual_var = if points.len() > params { rss / (points.len() - params) as f64 } else { f64::NAN };
        let max_rel_error = points.iter().map(|p| ((line(p.0) - p.1) / p.1).abs()).fold(0.0, f64::max);
        Some(Self {
            intercept,
            slope,
            points: points.len(),
            max_rel_error,
            x_mean,
            weight_sum,
            sxx,
            residual_var,
            through_origin,
            single: None,
        })
    }

    /// The line through the origin and one point `(x, y)` whose y has the interval
    /// `(low, high)` (a measurement's confidence interval): its slope's interval is that
    /// interval over x.
    pub fn through_point(x: f64, y: f64, (low, high): (f64, f64)) -> Option<Self> {
        let mut line = Self::weighted(&[(x, y)], true)?;
        line.single = Some((low / x, high / x));
        Some(line)
    }

    fn t(&self) -> f64 {
        t_975(self.points - if self.through_origin { 1 } else { 2 })
    }

    pub fn at(&self, x: f64) -> f64 {
        self.intercept + self.slope * x
    }

    /// The 95% interval of the intercept (`[0, 0]` for a line through the origin).
    pub fn intercept_interval(&self) -> (f64, f64) {
        if self.through_origin {
            return (0.0, 0.0);
        }
        let half = self.t() * (self.residual_var * (1.0 / self.weight_sum + self.x_mean.powi(2) / self.sxx)).sqrt();
        (self.intercept - half, self.intercept + half)
    }

    /// The 95% interval of the slope.
    pub fn slope_interval(&self) -> (f64, f64) {
        if let Some(slope) = self.single {
            return slope;
        }
        let half = self.t() * (self.residual_var / self.sxx).sqrt();
        (self.slope - half, self.slope + half)
    }

    /// The 95% confidence interval of the line's value at `x` (of the mean y there, not of
    /// one new measurement).
    pub fn interval_at(&self, x: f64) -> (f64, f64) {
        if let Some((low, high)) = self.single {
            return (low * x, high * x);
        }
        let spread = if self.through_origin { 0.0 } else { 1.0 / self.weight_sum };
        let half = self.t() * (self.residual_var * (spread + (x - self.x_mean).powi(2) / self.sxx)).sqrt();
        (self.at(x) - half, self.at(x) + half)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fit_recovers_known_constants_and_its_intervals_cover_them() {
        // Latency 20 us, 5 GB/s, over sizes from 64 KiB to 8 MiB, with +-3% alternating noise.
        let (alpha, spb) = (20e-6, 1.0 / 5e9);
        let points: Vec<(f64, f64)> = (16..=23)
            .enumerate()
            .map(|(i, k)| {
                let x = f64::from(1u32 << k);
                (x, (alpha + spb * x) * if i % 2 == 0 { 1.03 } else { 0.97 })
            })
            .collect();
        let fit = LineFit::of(&points).unwrap();
        assert!((fit.intercept - alpha).abs() / alpha < 0.3, "{}", fit.intercept);
        assert!((fit.slope - spb).abs() / spb < 0.05, "{}", fit.slope);
        let (lo, hi) = fit.intercept_interval();
        assert!(lo < alpha && alpha < hi, "{lo} {hi}");
        let (lo, hi) = fit.slope_interval();
        assert!(lo < spb && spb < hi, "{lo} {hi}");
        assert!(fit.max_rel_error < 0.07);
        // Without noise: exact constants and intervals of zero width.
        let exact: Vec<(f64, f64)> = points.iter().map(|&(x, _)| (x, alpha + spb * x)).collect();
        let fit = LineFit::of(&exact).unwrap();
        assert!((fit.intercept - alpha).abs() < 1e-12 && (fit.slope - spb).abs() < 1e-18);
        let (lo, hi) = fit.interval_at(1e6);
        assert!((hi - lo) < 1e-12);
    }

    #[test]
    fn a_negative_fixed_part_refits_through_the_origin_and_two_points_give_no_interval() {
        let fit = LineFit::of(&[(1.0, 1.0), (2.0, 3.0), (3.0, 5.0)]).unwrap();
        assert!(fit.through_origin && fit.intercept == 0.0);
        assert_eq!(fit.intercept_interval(), (0.0, 0.0));
        let two = LineFit::of(&[(1.0, 3.0), (2.0, 5.0)]).unwrap();
        assert!((two.intercept - 1.0).abs() < 1e-12 && (two.slope - 2.0).abs() < 1e-12);
        assert!(two.slope_interval().0.is_nan(), "two points leave no degree of freedom");
        // One x: the line through the origin (two points there leave one degree of freedom).
        let one_x = LineFit::of(&[(2.0, 3.0), (2.0, 5.0)]).unwrap();
        assert!(one_x.through_origin && one_x.slope > 1.5 && one_x.slope < 2.5);
        assert!(one_x.slope_interval().1.is_finite());
        let single = LineFit::of(&[(4.0, 2.0)]).unwrap();
        assert_eq!(single.slope, 0.5);
        assert!(single.interval_at(1.0).0.is_nan(), "one point: no interval");
        assert_eq!(LineFit::of(&[]), None);
        // One measured point with its interval: the interval scales along the line.
        let measured = LineFit::through_point(4.0, 2.0, (1.8, 2.4)).unwrap();
        assert_eq!((measured.slope, measured.slope_interval()), (0.5, (0.45, 0.6)));
        assert_eq!(measured.interval_at(8.0), (3.6, 4.8));
        assert_eq!(LineFit::of(&[(0.0, 1.0)]), None);
    }

    #[test]
    fn t_quantiles_match_the_table_and_approach_the_normal() {
        assert_eq!(t_975(1), 12.706);
        assert_eq!(t_975(10), 2.228);
        assert!((t_975(60) - 2.000).abs() < 0.003 && (t_975(120) - 1.980).abs() < 0.002);
        assert!(t_975(0).is_nan());
    }
}
