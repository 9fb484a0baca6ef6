//! A synthetic dataset of the study's shape (400 features, 10 classes) for timing work where
//! MNIST is absent. Deterministic from a seed. It says what it is: its [`DataSource`] is
//! `Synthetic`, which every result and table carries.

use super::{CLASSES, DataSource, FEATURES, Prepared};
use crate::rng::SplitMix64;

/// How far apart the class centres are, in units of the per-feature noise. Chosen so that
/// the classes overlap (the task is learnable but not trivial), like PCA-reduced digits.
const CENTRE_SPREAD: f64 = 0.35;

/// `rows` samples: label uniform over the classes, features = class centre + N(0, 1) noise.
pub fn generate(rows: usize, seed: u64) -> Prepared {
    let mut centre_rng = SplitMix64::for_purpose(seed, "synthetic-centres");
    let centres: Vec<f64> = (0..CLASSES * FEATURES).map(|_| CENTRE_SPREAD * centre_rng.normal()).collect();
    let mut rng = SplitMix64::for_purpose(seed, "synthetic-samples");
    let mut features = Vec::with_capacity(rows * FEATURES);
    let mut labels = Vec::with_capacity(rows);
    for _ in 0..rows {
        let label = rng.below(CLASSES as u64) as usize;
        labels.push(label as u8);
        let centre = &centres[label * FEATURES..(label + 1) * FEATURES];
        features.extend(centre.iter().map(|c| c + rng.normal()));
    }
    Prepared { features, labels, source: DataSource::Synthetic { seed }, explained_variance_ratio: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_from_the_seed_and_shaped_like_the_study() {
        let a = generate(300, 9);
        let b = generate(300, 9);
        let c = generate(300, 10);
        assert_eq!(a.features, b.features);
        assert_eq!(a.labels, b.labels);
        assert_ne!(a.features, c.features);
        assert_eq!(a.features.len(), 300 * FEATURES);
        assert!(a.labels.iter().all(|&l| (l as usize) < CLASSES));
        assert_eq!(a.source.label(), "synthetic");
    }
}
