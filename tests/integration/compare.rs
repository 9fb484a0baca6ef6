//! `dpstudy compare`: a run beside the expected results, on the fixture run (a passing pair:
//! the fixture against itself; a failing pair: MPI three times slower and the threads mode's
//! cost 1% higher against the fixture).

use crate::common;

use std::path::Path;

use crate::common::{assert_fails_with, checked_fixture, dpstudy, failing_rows, fixture_copy};
use dpstudy::experiment::raw;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_fixture_against_itself_agrees_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, expected) = (checked_fixture(tmp.path(), "run", None), checked_fixture(tmp.path(), "expected", None));
    let out = dpstudy(&["compare", s(&run), s(&expected)]);
    let stdout = stdout_of(&out);
    assert!(out.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(" 0 outside their tolerance") && !stdout.contains("OUTSIDE"), "{stdout}");
    assert!(stdout.contains("not judged: seconds measure the machine"), "{stdout}");
    insta::assert_snapshot!("compare_fixture_passing", stdout);
}

#[test]
fn a_slower_mpi_and_a_changed_cost_are_outside_and_the_exit_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let run = checked_fixture(tmp.path(), "run", Some(failing_rows()));
    let expected = checked_fixture(tmp.path(), "expected", None);
    let out = dpstudy(&["compare", s(&run), s(&expected)]);
    assert_fails_with(&out, &["outside their tolerance"]);
    let stdout = stdout_of(&out);
    // The threads cells' cost moved by 1%, 100 times C6's bound; the claims that read MPI's
    // speed (C3, C4, C5) and the cost (C6) changed verdict.
    let outside: Vec<&str> = stdout.lines().filter(|l| l.starts_with("OUTSIDE")).collect();
    assert!(outside.iter().any(|l| l.contains("threads-") && l.contains("final cost")), "{stdout}");
    assert!(!outside.iter().any(|l| l.contains("seq-") && l.contains("final cost")), "{stdout}");
    for claim in ["C3 ", "C6 "] {
        assert!(
            outside.iter().any(|l| l.contains(claim) && l.contains("FAIL here, PASS expected")),
            "{claim}: {stdout}"
        );
    }
    insta::assert_snapshot!("compare_fixture_failing", stdout);
}

#[test]
fn cells_on_one_side_only_are_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let rows: Vec<raw::RawRow> =
        raw::read_rows(&common::fixture()).unwrap().into_iter().filter(|r| !r.cell.starts_with("seq-n2000")).collect();
    let run = checked_fixture(tmp.path(), "run", Some(rows));
    let expected = checked_fixture(tmp.path(), "expected", None);
    let out = dpstudy(&["compare", s(&run), s(&expected)]);
    let stdout = stdout_of(&out);
    assert!(stdout.contains("only in expected: seq-n2000-h50-e2x20"), "{stdout}");
    assert!(!stdout.contains("only in run:"), "{stdout}");
}

#[test]
fn bad_directories_are_named_before_anything_is_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let run = checked_fixture(tmp.path(), "run", None);
    let out = dpstudy(&["compare", s(&run), "/nonexistent/expected"]);
    assert_fails_with(&out, &["/nonexistent/expected", "not a directory"]);
    assert!(out.stdout.is_empty());

    // The default is the run's profile under artifact/expected, relative to the working
    // directory: from elsewhere it is named.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dpstudy"))
        .args(["compare", s(&run)])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_fails_with(&out, &["artifact/expected/quick"]);

    // A run not yet checked names the missing check.json and the command that writes it.
    let (_unchecked_tmp, unchecked) = fixture_copy();
    let out = dpstudy(&["compare", s(&unchecked), s(&run)]);
    assert_fails_with(&out, &["check.json", "dpstudy check"]);

    // Runs of two profiles are not compared.
    let other = checked_fixture(tmp.path(), "other", None);
    let check = std::fs::read_to_string(other.join("check.json")).unwrap();
    std::fs::write(other.join("check.json"), check.replacen("\"profile\": \"quick\"", "\"profile\": \"full\"", 1))
        .unwrap();
    let out = dpstudy(&["compare", s(&run), s(&other)]);
    assert_fails_with(&out, &["is a quick run", "holds full results"]);
}

/// `rows` with every timed run of rounds 0-2 repeated as rounds 3-5, slower by `step` times
/// (its round + 1): six rounds per cell, which give 95% intervals. A test-only stand-in for
/// a run with six runs per cell; the fixture itself has three.
fn six_rounds(rows: Vec<raw::RawRow>, step: f64) -> Vec<raw::RawRow> {
    let repeated: Vec<raw::RawRow> = rows
        .iter()
        .filter(|r| !r.warmup && r.status == raw::Status::Ok && r.rep < 3)
        .map(|r| {
            let mut r = r.clone();
            r.train_s = r.train_s.map(|t| t * (1.0 + step * (r.rep + 1) as f64));
            r.rep += 3;
            r
        })
        .collect();
    rows.into_iter().chain(repeated).collect()
}

/// With six rounds a side, speedup and efficiency are judged on their intervals: the same
/// runs agree, and MPI three times slower is outside for every MPI cell that has a
/// sequential reference.
#[test]
fn speedups_with_six_rounds_are_judged_on_their_intervals() {
    let tmp = tempfile::tempdir().unwrap();
    let rounds = |rows| Some(six_rounds(rows, 0.01));
    let base = raw::read_rows(&common::fixture()).unwrap();
    let expected = checked_fixture(tmp.path(), "expected", rounds(base.clone()));
    let same = checked_fixture(tmp.path(), "same", rounds(base));
    let out = dpstudy(&["compare", s(&same), s(&expected)]);
    let stdout = stdout_of(&out);
    assert!(out.status.success() && stdout.contains(" 0 outside their tolerance"), "{stdout}");
    let judged = |text: &str, figure: &str| {
        text.lines().filter(|l| l.contains(figure) && l.ends_with("95% CIs apart by ≤ 10%")).count()
    };
    assert!(judged(&stdout, "speedup") >= 10, "{stdout}");

    let slower = checked_fixture(tmp.path(), "slower", rounds(failing_rows()));
    let out = dpstudy(&["compare", s(&slower), s(&expected)]);
    let stdout = stdout_of(&out);
    let outside: Vec<&str> = stdout.lines().filter(|l| l.starts_with("OUTSIDE") && l.contains(" speedup ")).collect();
    assert!(outside.iter().any(|l| l.contains("mpi-allreduce-p2-n8000-h50-e2x20")), "{stdout}");
    assert!(outside.iter().all(|l| l.contains("mpi-")), "only MPI moved: {stdout}");
}
