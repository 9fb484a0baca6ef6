//! How claims group cells: a series is one configuration (label, P, H) over N; a link series
//! one MPI configuration over the emulated links. Also the R² of a line through points.

use crate::report::aggregate::CellStats;
use crate::train::{Mode, SyncKind};

/// Series key: label and P (and H), so trends are read within one configuration.
fn series_key(c: &CellStats) -> SeriesKey {
    (c.label(), c.p(), c.hidden)
}

pub(super) fn series_name(key: &SeriesKey) -> String {
    if key.1 > 1 { format!("{} P={} H={}", key.0, key.1, key.2) } else { format!("{} H={}", key.0, key.2) }
}

/// Label, P and H of a series.
pub(super) type SeriesKey = (String, usize, usize);

/// H, sync and P of an MPI configuration measured on several links.
pub(super) type LinkKey = (usize, Option<SyncKind>, usize);

pub(super) fn series<'a>(cells: &[&'a CellStats]) -> Vec<(SeriesKey, Vec<&'a CellStats>)> {
    let mut out: Vec<(SeriesKey, Vec<&CellStats>)> = Vec::new();
    for c in cells {
        let key = series_key(c);
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(c),
            None => out.push((key, vec![c])),
        }
    }
    for (_, v) in &mut out {
        v.sort_by_key(|c| c.n);
    }
    out
}

/// The MPI cells across emulated hosts by (H, sync, P), each ordered fastest link first;
/// only groups with two links or more.
pub(super) fn link_series<'a>(cells: &[&'a CellStats]) -> Vec<(LinkKey, Vec<&'a CellStats>)> {
    let mut out: Vec<(LinkKey, Vec<&CellStats>)> = Vec::new();
    for c in cells.iter().copied().filter(|c| c.mode == Mode::Mpi && c.link.is_some()) {
        let key = (c.hidden, c.sync, c.p());
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(c),
            None => out.push((key, vec![c])),
        }
    }
    for (_, v) in &mut out {
        v.sort_by_key(|c| c.link.map(|l| l.fastest_first()));
    }
    out.retain(|(_, v)| v.len() >= 2);
    out.sort_by_key(|(k, _)| *k);
    out
}

pub(super) fn link_name(c: &CellStats) -> String {
    c.link.map_or("one host".into(), |l| l.to_string())
}

/// Coefficient of determination of the least-squares line through `points`.
pub fn r_squared(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx == 0.0 || syy == 0.0 { f64::NAN } else { sxy * sxy / (sxx * syy) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_squared_of_a_line_is_one_and_of_noise_is_low() {
        assert!((r_squared(&[(1.0, 2.0), (2.0, 4.0), (3.0, 6.0)]) - 1.0).abs() < 1e-12);
        assert!(r_squared(&[(1.0, 1.0), (2.0, 3.0), (3.0, 1.0), (4.0, 3.0)]) < 0.3);
    }
}
