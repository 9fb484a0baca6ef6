//! A tiny, dependency-free pseudo-random generator (SplitMix64).
//!
//! The study needs random numbers in three places: the initial weights, the synthetic
//! dataset and the mini-batch shuffle. All three must be the same on every machine and for
//! every future version of this crate, so we do not rely on `rand`'s `StdRng`, whose
//! algorithm is explicitly allowed to change between releases. SplitMix64 (Steele, Lea and
//! Flood, 2014) is fixed by its published definition and passes BigCrush.

/// Deterministic 64-bit generator; the same seed yields the same stream everywhere.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator for an independent purpose derived from one user seed, so that, say,
    /// the shuffle stream does not reuse the weight-initialisation stream.
    pub fn for_purpose(seed: u64, purpose: &str) -> Self {
        let salt =
            purpose.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        Self::new(seed ^ salt)
    }

    /// Jumps `draws` values ahead in O(1): the state advances by a constant per draw, so
    /// any position of the stream can be reached directly.
    pub fn skip(&mut self, draws: u64) {
        self.state = self.state.wrapping_add(draws.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }

    /// Standard normal by the Box-Muller transform (one value per call, for simplicity).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]: keeps ln finite
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Uniform integer in [0, n) without modulo bias (Lemire's multiply-shift, rejection).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Fisher-Yates shuffle in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values_of_splitmix64() {
        // First outputs for seed 1234567, computed independently with a Python
        // transcription of the published algorithm (Vigna's splitmix64.c).
        let mut r = SplitMix64::new(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
    }

    #[test]
    fn skip_lands_where_drawing_would() {
        let mut a = SplitMix64::new(99);
        for _ in 0..1000 {
            a.next_u64();
        }
        let mut b = SplitMix64::new(99);
        b.skip(1000);
        assert_eq!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn uniform_stays_in_range_and_shuffle_is_a_permutation() {
        let mut r = SplitMix64::new(7);
        for _ in 0..10_000 {
            let u = r.uniform(-0.12, 0.12);
            assert!((-0.12..0.12).contains(&u));
        }
        let mut v: Vec<u32> = (0..1000).collect();
        r.shuffle(&mut v);
        assert_ne!(v, (0..1000).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..1000).collect::<Vec<_>>());
    }
}
