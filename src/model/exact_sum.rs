//! The exact reduction (`--reduce exact`): sums whose result does not depend on how the
//! rows are split over ranks and threads, nor on the order in which partial sums meet.
//!
//! Two parts make it so:
//!
//! - **A fixed unit of summation.** The training rows are cut into [`EXACT_BLOCKS`] global
//!   blocks of consecutive rows ([`ExactBlocks`]), fixed by the row count alone. The kernel
//!   computes each block's gradient sum on its own, so a block's sum is the same bits on any
//!   rank, thread or process count; ranks and threads only ever hold whole blocks.
//! - **An order-free sum of the blocks.** Each block's values are converted to fixed point
//!   ([`ExactSum`]: three signed 40-bit limbs from 2^40 down to 2^-80, held in i64) and
//!   added as integers, which is associative: the blocks can meet in any order, in
//!   threads, in an MPI allreduce (integer sum) or on the root of a gather, and the
//!   integers come out the same. One conversion back to floating point, in a fixed order,
//!   gives the same float everywhere.
//!
//! What the bits still depend on: the kernel that computes a block (fused AVX-512, fused
//! AVX2 and the `gemm` kernel round differently; all use FMA), and the element type. The
//! conversion drops what lies below 2^-80 in each block's values (about 8e-25, far below
//! an f64 ulp of any gradient the study sees) and refuses values of 2^40 or more (a
//! diverged run), so the limbs never overflow: 64 blocks of less than 2^40 each stay far
//! inside i64.

use std::ops::Range;

use crate::data::partition;
use crate::real::Real;

/// Global blocks of rows the exact reduction sums one at a time: enough that every rank of
/// up to 64 gets work, few enough that converting each block's gradient costs little.
pub const EXACT_BLOCKS: usize = 64;
/// Bits of one limb.
const LIMB_BITS: i32 = 40;
/// Limbs per value: 2^0, 2^-40 and 2^-80 units (each an i64 in a message).
pub const LIMBS: usize = 3;
/// The magnitude a block's value must stay below.
pub const EXACT_RANGE: f64 = (1u64 << LIMB_BITS) as f64;

/// The global blocks of `rows` training rows: `EXACT_BLOCKS` blocks of (nearly) equal size,
/// or one row each when there are fewer rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExactBlocks {
    pub rows: usize,
}

impl ExactBlocks {
    pub fn for_rows(rows: usize) -> Self {
        Self { rows }
    }

    pub fn count(&self) -> usize {
        EXACT_BLOCKS.min(self.rows)
    }

    /// Global rows of each block, in order.
    pub fn ranges(&self) -> Vec<Range<usize>> {
        if self.rows == 0 { vec![] } else { partition(self.rows, self.count()) }
    }

    /// Rows of `parts` contiguous shares made of whole blocks (block counts differ by at
    /// most one); `None` when there are fewer blocks than parts.
    pub fn partition(&self, parts: usize) -> Option<Vec<Range<usize>>> {
        if parts == 0 || parts > self.count() {
            return None;
        }
        let blocks = self.ranges();
        Some(partition(blocks.len(), parts).into_iter().map(|b| row_span(&blocks[b])).collect())
    }

    /// The blocks inside global rows `shard` (which must start and end on block edges), as
    /// row ranges relative to the shard's first row.
    pub fn within(&self, shard: &Range<usize>) -> Vec<Range<usize>> {
        let inside: Vec<Range<usize>> =
            self.ranges().into_iter().filter(|b| b.start >= shard.start && b.end <= shard.end).collect();
        let covered: usize = inside.iter().map(|b| b.len()).sum();
        assert_eq!(covered, shard.len(), "a shard of the exact reduction must hold whole blocks");
        inside.into_iter().map(|b| b.start - shard.start..b.end - shard.start).collect()
    }
}

/// The rows from the first of `blocks`' blocks to the end of its last.
fn row_span(blocks: &[Range<usize>]) -> Range<usize> {
    match (blocks.first(), blocks.last()) {
        (Some(first), Some(last)) => first.start..last.end,
        _ => 0..0,
    }
}

/// A value of a block at or beyond [`EXACT_RANGE`], or not finite.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("a block's sum ({value:e}) is beyond the exact reduction's range (magnitude below 2^40): the run has diverged")]
pub struct OutOfRange {
    pub value: f64,
}

/// A vector of sums kept exactly as fixed-point integers: limb `k` of value `i` at
/// `limbs[k * len + i]`, in units of 2^(-40 k).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactSum {
    len: usize,
    limbs: Vec<i64>,
}

impl ExactSum {
    /// `len` sums, all zero.
    pub fn new(len: usize) -> Self {
        Self { len, limbs: vec![0; LIMBS * len] }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.limbs.fill(0);
    }

    /// Adds `values[i]` to sum `offset + i`, each exactly (to 2^-80).
    pub fn add<T: Real>(&mut self, offset: usize, values: &[T]) -> Result<(), OutOfRange> {
        assert!(offset + values.len() <= self.len);
        // Checked first, so that the split below runs without a branch (and vectorises);
        // the caller stops the run on an error, and the sums are never read.
        let in_range = values.iter().fold(true, |ok, v| ok & (v.to_f64().abs() < EXACT_RANGE));
        if !in_range {
            return Err(OutOfRange { value: widest_or_nan(values) });
        }
        let (top, rest) = self.limbs.split_at_mut(self.len);
        let (middle, bottom) = rest.split_at_mut(self.len);
        let limbs = (&mut top[offset..], &mut middle[offset..], &mut bottom[offset..]);
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512 F (checked above).
                unsafe { split_avx512(values, limbs) };
                return Ok(());
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked above).
                unsafe { split_avx2(values, limbs) };
                return Ok(());
            }
        }
        split_into_limbs(values, limbs);
        Ok(())
    }

    /// Adds another set of sums (of the same length) as integers: the order of merges never
    /// changes the result.
    pub fn merge(&mut self, other: &ExactSum) {
        assert_eq!(self.len, other.len);
        for (a, b) in self.limbs.iter_mut().zip(&other.limbs) {
            *a += b;
        }
    }

    /// The integers, for a collective to sum or gather.
    pub fn limbs(&self) -> &[i64] {
        &self.limbs
    }

    pub fn limbs_mut(&mut self) -> &mut [i64] {
        &mut self.limbs
    }

    /// Sum `i`, rounded once to f64 (to nearest): the same float wherever it is read.
    pub fn value(&self, i: usize) -> f64 {
        let n = self.len;
        let (top, middle, bottom) = (self.limbs[i] as i128, self.limbs[n + i] as i128, self.limbs[2 * n + i] as i128);
        // The whole sum in units of 2^-80: at most 2^40 x 64 blocks, far inside i128.
        let units = top
            .checked_mul(1 << (2 * LIMB_BITS))
            .and_then(|t| t.checked_add(middle << LIMB_BITS))
            .and_then(|t| t.checked_add(bottom))
            .expect("exact sums stay within 2^46: their values were checked against the range");
        units as f64 * 2f64.powi(-2 * LIMB_BITS)
    }

    /// Writes sums `offset..offset + out.len()` into `out`.
    pub fn write<T: Real>(&self, offset: usize, out: &mut [T]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = T::from_f64(self.value(offset + i));
        }
    }
}

/// The three limb arrays of a run of sums: 2^0, 2^-40 and 2^-80 units.
type Limbs<'a> = (&'a mut [i64], &'a mut [i64], &'a mut [i64]);

/// `1.5 x 2^52`: adding it to an f64 below 2^51 in magnitude rounds that value to an
/// integer (to nearest, ties to even) held in the low bits of the sum's mantissa, so the
/// integer is the sum's bits minus the constant's. Plain additions and integer
/// subtractions: the same results with SSE2, AVX2 or AVX-512, and they vectorise.
const ROUNDER: f64 = 6_755_399_441_055_744.0;

/// Splits each value (below 2^40 in magnitude) into three integer limbs of 2^0, 2^-40 and
/// 2^-80 units, added to the limbs' sums. Every step is exact but the last rounding below
/// 2^-80: `x = a + r` with `a` the nearest integer, `r` in [-1/2, 1/2]; `r 2^40 = b + s`,
/// the same; `s 2^40` rounded to `c`.
#[inline(always)]
fn split_into_limbs<T: Real>(values: &[T], (top, middle, bottom): Limbs<'_>) {
    let bits = ROUNDER.to_bits() as i64;
    let scale = EXACT_RANGE;
    let n = values.len();
    let (top, middle, bottom) = (&mut top[..n], &mut middle[..n], &mut bottom[..n]);
    for i in 0..n {
        let x = values[i].to_f64();
        let a = x + ROUNDER;
        let first = (x - (a - ROUNDER)) * scale;
        let b = first + ROUNDER;
        let c = (first - (b - ROUNDER)) * scale + ROUNDER;
        top[i] += a.to_bits() as i64 - bits;
        middle[i] += b.to_bits() as i64 - bits;
        bottom[i] += c.to_bits() as i64 - bits;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn split_avx2<T: Real>(values: &[T], limbs: Limbs<'_>) {
    split_into_limbs(values, limbs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn split_avx512<T: Real>(values: &[T], limbs: Limbs<'_>) {
    split_into_limbs(values, limbs)
}

fn widest_or_nan<T: Real>(values: &[T]) -> f64 {
    values
        .iter()
        .map(|v| v.to_f64())
        .find(|x| !x.is_finite())
        .unwrap_or_else(|| values.iter().map(|v| v.to_f64().abs()).fold(0.0, f64::max))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(seed: u64, n: usize) -> Vec<f64> {
        let mut rng = crate::rng::SplitMix64::new(seed);
        (0..n).map(|_| (rng.next_f64() - 0.5) * 10f64.powi((rng.next_f64() * 12.0) as i32 - 6)).collect()
    }

    #[test]
    fn the_sum_is_the_same_bits_in_any_grouping_and_order() {
        let blocks: Vec<Vec<f64>> = (0..20).map(|b| values(b, 5)).collect();
        let mut forward = ExactSum::new(5);
        for b in &blocks {
            forward.add(0, b).unwrap();
        }
        // Three "ranks" holding uneven runs of blocks, merged in reverse order.
        let mut parts: Vec<ExactSum> = [0..7, 7..8, 8..20]
            .into_iter()
            .map(|r| {
                let mut s = ExactSum::new(5);
                for b in blocks[r].iter().rev() {
                    s.add(0, b).unwrap();
                }
                s
            })
            .collect();
        let mut merged = parts.pop().unwrap();
        while let Some(p) = parts.pop() {
            merged.merge(&p);
        }
        for i in 0..5 {
            assert_eq!(forward.value(i).to_bits(), merged.value(i).to_bits());
        }
        // And a plain floating-point sum does depend on the order (the point of all this).
        let ordered: f64 = blocks.iter().map(|b| b[0]).sum();
        let reversed: f64 = blocks.iter().rev().map(|b| b[0]).sum();
        let exact = forward.value(0);
        assert!((ordered - exact).abs() <= 1e-12 * exact.abs().max(1.0) && (reversed - exact).abs() <= 1e-12);
    }

    #[test]
    fn values_come_back_to_within_the_last_limb() {
        for x in [0.0, 1.0, -1.0, 0.1, -123.456e-7, 5.5e11, -9.9e-20, 3.0e-24] {
            let mut s = ExactSum::new(1);
            s.add(0, &[x]).unwrap();
            assert!((s.value(0) - x).abs() <= 2f64.powi(-80) + x.abs() * f64::EPSILON, "{x}");
        }
    }

    #[test]
    fn every_instruction_set_splits_into_the_same_limbs() {
        let xs = values(7, 1000);
        let split = |f: &dyn Fn(&[f64], Limbs<'_>)| {
            let mut s = ExactSum::new(xs.len());
            let (top, rest) = s.limbs.split_at_mut(xs.len());
            let (middle, bottom) = rest.split_at_mut(xs.len());
            f(&xs, (top, middle, bottom));
            s
        };
        let portable = split(&|v, l| split_into_limbs(v, l));
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: checked just above.
                assert_eq!(split(&|v, l| unsafe { split_avx2(v, l) }), portable);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: checked just above.
                assert_eq!(split(&|v, l| unsafe { split_avx512(v, l) }), portable);
            }
        }
        let mut added = ExactSum::new(xs.len());
        added.add(0, &xs).unwrap();
        assert_eq!(added, portable, "add() takes one of them");
    }

    #[test]
    fn cancellation_is_exact() {
        let mut s = ExactSum::new(1);
        s.add(0, &[1e10]).unwrap();
        s.add(0, &[1e-10]).unwrap();
        s.add(0, &[-1e10]).unwrap();
        let mut alone = ExactSum::new(1);
        alone.add(0, &[1e-10]).unwrap();
        assert_eq!(s.value(0).to_bits(), alone.value(0).to_bits());
        assert!((s.value(0) - 1e-10).abs() < 1e-24);
    }

    #[test]
    fn values_beyond_the_range_and_non_finite_ones_are_refused() {
        let mut s = ExactSum::new(2);
        assert_eq!(s.add(0, &[1.0, EXACT_RANGE]).unwrap_err().value, EXACT_RANGE);
        assert!(s.add(0, &[f64::NAN, 0.0]).unwrap_err().value.is_nan());
        assert!(s.add(0, &[f64::INFINITY, 0.0]).is_err());
    }

    #[test]
    fn blocks_are_fixed_by_the_rows_and_shards_hold_whole_blocks() {
        let blocks = ExactBlocks::for_rows(1000);
        assert_eq!(blocks.count(), 64);
        let ranges = blocks.ranges();
        assert_eq!(ranges.first(), Some(&(0..16)));
        assert_eq!(ranges.last().map(|r| r.end), Some(1000));
        for p in [1, 2, 3, 5, 8, 64] {
            let parts = blocks.partition(p).unwrap();
            assert_eq!(parts.len(), p);
            assert_eq!(parts.last().unwrap().end, 1000);
            let held: usize = parts.iter().map(|s| blocks.within(s).len()).sum();
            assert_eq!(held, 64, "P = {p}: every block on exactly one rank");
        }
        assert_eq!(blocks.partition(65), None);
        assert_eq!(ExactBlocks::for_rows(10).count(), 10);
        assert!(ExactBlocks::for_rows(0).ranges().is_empty(), "no test rows: no blocks");
    }
}
