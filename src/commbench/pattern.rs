//! What each rank sends and what it must get back, so that every timed size is also
//! checked (as nccl-tests count wrong elements and the OSU benchmarks validate with `-c`).
//!
//! The values are small whole numbers, so every sum is exact in f64 whatever the order of
//! the additions: a result is right or wrong, never "close".

/// The message of `rank`: element `i` is `(rank + 1) (1 + i mod 251)`.
pub fn fill(buf: &mut [f64], rank: usize) {
    for (i, v) in buf.iter_mut().enumerate() {
        *v = element(rank, i);
    }
}

fn element(rank: usize, i: usize) -> f64 {
    ((rank + 1) * (1 + i % 251)) as f64
}

/// Element `i` of the sum of every rank's message on `ranks` ranks.
pub fn sum_element(ranks: usize, i: usize) -> f64 {
    ((ranks * (ranks + 1) / 2) * (1 + i % 251)) as f64
}

/// Elements of `got` that differ from the sum over `ranks` ranks.
pub fn wrong_in_sum(got: &[f64], ranks: usize) -> u64 {
    got.iter().enumerate().filter(|&(i, &v)| v != sum_element(ranks, i)).count() as u64
}

/// Elements of `got` that differ from `rank`'s message.
pub fn wrong_in_message(got: &[f64], rank: usize) -> u64 {
    got.iter().enumerate().filter(|&(i, &v)| v != element(rank, i)).count() as u64
}

/// The sum of the gathered messages (rank after rank, each `len` long) into `out`: what
/// rank 0 broadcasts in the gather-broadcast pattern. `skip` leaves one rank out: the
/// fault the tests inject.
pub fn sum_gathered(gathered: &[f64], out: &mut [f64], skip: Option<usize>) {
    out.fill(0.0);
    for (rank, part) in gathered.chunks_exact(out.len()).enumerate() {
        if Some(rank) != skip {
            for (o, &g) in out.iter_mut().zip(part) {
                *o += g;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(ranks: usize, len: usize) -> Vec<f64> {
        let mut all = vec![0.0; ranks * len];
        for (rank, part) in all.chunks_exact_mut(len).enumerate() {
            fill(part, rank);
        }
        all
    }

    #[test]
    fn a_right_sum_has_no_wrong_element_and_a_wrong_reduction_is_counted() {
        let (ranks, len) = (3, 600);
        let all = messages(ranks, len);
        let mut sum = vec![0.0; len];
        sum_gathered(&all, &mut sum, None);
        assert_eq!(wrong_in_sum(&sum, ranks), 0);
        // A maximum where a sum was asked: every element wrong.
        let max: Vec<f64> = (0..len).map(|i| (0..ranks).map(|r| all[r * len + i]).fold(f64::MIN, f64::max)).collect();
        assert_eq!(wrong_in_sum(&max, ranks), len as u64);
        // One rank left out of the sum: every element wrong.
        sum_gathered(&all, &mut sum, Some(ranks - 1));
        assert_eq!(wrong_in_sum(&sum, ranks), len as u64);
        // One element off by one: one wrong.
        sum_gathered(&all, &mut sum, None);
        sum[417] += 1.0;
        assert_eq!(wrong_in_sum(&sum, ranks), 1);
    }

    #[test]
    fn an_echoed_message_is_checked_element_by_element() {
        let mut m = vec![0.0; 300];
        fill(&mut m, 4);
        assert_eq!(wrong_in_message(&m, 4), 0);
        assert_eq!(wrong_in_message(&m, 0), 300, "another rank's message is wrong everywhere");
        m[0] = -1.0;
        assert_eq!(wrong_in_message(&m, 4), 1);
    }

    #[test]
    fn sums_stay_exact_at_the_largest_sizes_and_rank_counts() {
        // 1,024 ranks, 2^21 elements (16 MiB): the largest sum is below 2^53.
        assert!(sum_element(1024, 250) < 2f64.powi(53));
        assert_eq!(sum_element(2, 0), 3.0);
        assert_eq!(sum_element(2, 251), 3.0);
        assert_eq!(sum_element(4, 2), 30.0);
    }
}
