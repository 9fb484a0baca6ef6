//! `dpstudy commbench` under real `mpirun`: a sweep whose every result is checked, the
//! check failing on a reduction made wrong on purpose, the bus-bandwidth factors on P = 3,
//! and the requests refused before MPI starts.

use std::path::Path;

use crate::common::{assert_fails_with, dpstudy, mpirun};
use dpstudy::commbench::{CommBenchRecord, CommOp};

fn sweep(np: usize, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["commbench", "--max-bytes", "65536", "--budget-ms", "2", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    mpirun(np, &args).output().expect("start mpirun (is Open MPI installed?)")
}

#[test]
fn a_sweep_times_every_pattern_and_size_and_finds_no_wrong_result() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep.json");
    let o = sweep(2, &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let record = CommBenchRecord::read(&out).unwrap();
    assert_eq!((record.ranks, record.hosts.len()), (2, 1));
    assert_eq!(record.transport.map(|t| t.name()).as_deref(), Some("shared-memory"));
    // 8 B to 64 KiB by doubling: 14 sizes, for each of the three patterns.
    assert_eq!(record.rows.len(), 3 * 14);
    assert_eq!(record.wrong(), 0);
    for r in &record.rows {
        assert!(r.iters >= 5, "{r:?}");
        assert!(0.0 < r.min_s && r.min_s <= r.avg_s && r.avg_s <= r.max_s, "{r:?}");
        // P = 2: the bus factor is 1, and 2 for gather-broadcast (rank 0 receives, then sends).
        let factor = if r.op == CommOp::GatherBcast { 2.0 } else { 1.0 };
        assert!((r.busbw_gbs - factor * r.algbw_gbs).abs() <= 1e-12 * r.algbw_gbs, "{r:?}");
        assert!((r.algbw_gbs - r.bytes as f64 / r.avg_s / 1e9).abs() <= 1e-9 * r.algbw_gbs, "{r:?}");
    }
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("busbw GB/s") && text.contains("gather-bcast") && text.contains("p2p"), "{text}");
}

#[test]
fn a_wrong_reduction_is_counted_and_fails_the_sweep_without_a_record() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep.json");
    for op in ["allreduce", "gather-bcast", "p2p"] {
        let o = sweep(2, &out, &["--ops", op, "--inject-fault"]);
        let stderr = assert_fails_with(&o, &["wrong elements in the checked passes", op, "no record written"]);
        assert!(!out.exists(), "{op}: a failed sweep wrote its record\n{stderr}");
        // Every size had wrong elements, and the table shows them.
        let text = String::from_utf8_lossy(&o.stdout);
        let wrong_rows = text.lines().filter(|l| l.starts_with(op) && !l.trim_end().ends_with(" 0")).count();
        assert_eq!(wrong_rows, 14, "{op}\n{text}");
    }
}

#[test]
fn three_ranks_use_the_last_rank_for_the_ping_pong_and_scale_the_bus_bandwidth() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep.json");
    let o = sweep(3, &out, &["--min-bytes", "1024"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let record = CommBenchRecord::read(&out).unwrap();
    assert_eq!(record.wrong(), 0);
    let factor = |op| {
        let r = record.rows_of(op).last().unwrap();
        r.busbw_gbs / r.algbw_gbs
    };
    assert!((factor(CommOp::Allreduce) - 4.0 / 3.0).abs() < 1e-12);
    assert!((factor(CommOp::GatherBcast) - 4.0).abs() < 1e-12);
    assert!((factor(CommOp::P2p) - 1.0).abs() < 1e-12);
    assert_eq!(record.rows_of(CommOp::P2p).count(), 7, "1 KiB to 64 KiB");
}

#[test]
fn requests_that_cannot_be_meant_are_refused_before_mpi_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep.json");
    let o = sweep(2, &out, &["--min-bytes", "12"]);
    assert_fails_with(&o, &["--min-bytes 12", "multiple of 8"]);
    let o = dpstudy(&["commbench", "--max-bytes", "4294967296"]);
    assert_fails_with(&o, &["--max-bytes 4294967296", "1 GiB"]);
    let o = dpstudy(&["commbench"]);
    assert_fails_with(&o, &["must be started by mpirun"]);
    let o = mpirun(1, &["commbench"]).output().unwrap();
    assert_fails_with(&o, &["at least 2 ranks"]);
    let o = dpstudy(&["commbench", "--transport", "infiniband"]);
    assert_fails_with(&o, &["infiniband", "shared-memory, tcp"]);
    assert!(!out.exists());
}
