//! A synthetic dataset of the study's shape (400 features, 10 classes) for timing work where
//! MNIST is absent. Deterministic from a seed. It says what it is: its [`DataSource`] is
//! `Synthetic`, which every result and table carries.
//!
//! Any row can be generated on its own (the generator jumps to the row's place in the
//! random stream), so rows are produced directly in the training element type and the
//! pool never exists in f64.

use std::ops::Range;

use super::{CLASSES, DataSource, FEATURES, Features, Prepared};
use crate::real::Real;
use crate::rng::SplitMix64;

/// How far apart the class centres are, in units of the per-feature noise. Chosen so that
/// the classes overlap (the task is learnable but not trivial), like PCA-reduced digits.
const CENTRE_SPREAD: f64 = 0.35;
/// Random draws per row: two per normal variate (Box-Muller, one variate per call).
const DRAWS_PER_ROW: u64 = 2 * FEATURES as u64;

/// The generator of one synthetic dataset.
#[derive(Debug, Clone)]
pub struct Synthetic {
    seed: u64,
    /// Class centres, `CLASSES x FEATURES`.
    centres: Vec<f64>,
}

impl Synthetic {
    pub fn new(seed: u64) -> Self {
        let mut rng = SplitMix64::for_purpose(seed, "synthetic-centres");
        Self { seed, centres: (0..CLASSES * FEATURES).map(|_| CENTRE_SPREAD * rng.normal()).collect() }
    }

    /// Labels of the first `rows` rows, uniform over the classes.
    pub fn labels(&self, rows: usize) -> Vec<u8> {
        let mut rng = SplitMix64::for_purpose(self.seed, "synthetic-labels");
        // Multiply-shift: bias below 1e-18, one draw per label.
        (0..rows).map(|_| ((u128::from(rng.next_u64()) * CLASSES as u128) >> 64) as u8).collect()
    }

    /// Appends the features of rows `range` (labels `labels[range]`) to `out`: the class
    /// centre plus N(0, 1) noise per feature.
    pub fn fill<T: Real>(&self, range: Range<usize>, labels: &[u8], out: &mut Vec<T>) {
        let mut rng = SplitMix64::for_purpose(self.seed, "synthetic-features");
        rng.skip(range.start as u64 * DRAWS_PER_ROW);
        for &label in &labels[range] {
            let centre = &self.centres[usize::from(label) * FEATURES..(usize::from(label) + 1) * FEATURES];
            out.extend(centre.iter().map(|c| T::from_f64(c + rng.normal())));
        }
    }
}

/// A synthetic pool of `rows` rows.
pub fn generate(rows: usize, seed: u64) -> Prepared {
    let generator = Synthetic::new(seed);
    Prepared {
        labels: generator.labels(rows),
        features: Features::Synthetic(generator),
        source: DataSource::Synthetic { seed },
        explained_variance_ratio: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_from_the_seed_and_shaped_like_the_study() {
        let a = generate(300, 9).rows::<f64>(0..300).unwrap();
        let b = generate(300, 9).rows::<f64>(0..300).unwrap();
        let c = generate(300, 10).rows::<f64>(0..300).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.features, c.features);
        assert_eq!(a.features.len(), 300 * FEATURES);
        assert!(a.labels.iter().all(|&l| (l as usize) < CLASSES));
        assert_eq!(generate(1, 9).source.label().to_string(), "synthetic");
    }

    #[test]
    fn any_rows_equal_the_same_rows_of_the_whole() {
        let pool = generate(50, 4);
        let whole = pool.rows::<f64>(0..50).unwrap();
        let part = pool.rows::<f64>(17..31).unwrap();
        assert_eq!(part.features, whole.features[17 * FEATURES..31 * FEATURES]);
        assert_eq!(part.labels, whole.labels[17..31]);
        // f32 rows are the f64 rows rounded.
        let part32 = pool.rows::<f32>(17..31).unwrap();
        assert!(part32.features.iter().zip(&part.features).all(|(&a, &b)| a == b as f32));
    }
}
