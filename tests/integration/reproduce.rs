//! `dpstudy reproduce`, `report` and `check`: the aggregation, tables and verdicts of a fixed
//! results fixture (insta snapshots), the deterministic numbers of a real quick run, and
//! bad input (unknown table, malformed files, another format, no mpirun, unwritable output).

use crate::common;

use std::path::{Path, PathBuf};

use crate::common::{assert_fails_with, dpstudy, failing_rows, fixture, fixture_copy, mnist_dir, shared_cache};
use dpstudy::experiment::raw::{self, RawRow};
use dpstudy::report::aggregate::Aggregate;
use dpstudy::train::Mode;

/// A results directory recorded by `dpstudy reproduce --profile quick` on the development
/// machine (2 cores), kept as a fixture: its numbers never change.
fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Rounds every float of a CSV to 6 significant digits, so the snapshot holds on any CPU.
fn rounded_csv(bytes: &[u8]) -> String {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    text.lines()
        .map(|line| {
            line.split(',')
                .map(|f| match f.parse::<f64>() {
                    Ok(v) if f.contains('.') || f.contains('e') => format!("{v:.6e}"),
                    _ => f.to_string(),
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn aggregation_of_the_fixture() {
    let agg = Aggregate::of(&raw::read_rows(&fixture()).unwrap()).unwrap();
    insta::assert_snapshot!("fixture_summary_cells", rounded_csv(&agg.csv(None).unwrap()));
}

/// The end-to-end time is a statistic of its own: the median of the runs' process times
/// with its interval, and the speedup over the sequential cell of the same work paired
/// round by round. Results written before it was recorded read as "not recorded".
#[test]
fn end_to_end_times_are_paired_by_round() {
    let mut rows = raw::read_rows(&fixture()).unwrap();
    let before = Aggregate::of(&rows).unwrap();
    assert!(before.cells.iter().all(|c| c.end_to_end.is_none() && c.end_to_end_speedup.is_none()));
    let mpi = before.table("T1").find(|c| c.mode == Mode::Mpi && c.runs >= 3).expect("an MPI cell of T1");
    let seq = before.table("T1").find(|c| c.mode == Mode::Seq && c.work() == mpi.work()).unwrap();
    let (seq_id, mpi_id) = (seq.cell.clone(), mpi.cell.clone());
    // Round r: sequential 10 + r s, MPI 5 + r/2 s: every round's ratio is 2, while the
    // ratio of the medians alone would be too.
    for row in rows.iter_mut().filter(|r| !r.warmup) {
        if row.cell == seq_id {
            row.process_s = Some(10.0 + row.rep as f64);
        } else if row.cell == mpi_id {
            row.process_s = Some(5.0 + row.rep as f64 / 2.0);
        }
    }
    let after = Aggregate::of(&rows).unwrap();
    let cell = |id: &str| after.cells.iter().find(|c| c.cell == id).unwrap().clone();
    let (seq, mpi) = (cell(&seq_id), cell(&mpi_id));
    let runs = mpi.runs as f64;
    let waited = mpi.end_to_end.unwrap();
    assert!((waited.value - (5.0 + (runs - 1.0) / 4.0)).abs() < 1e-12, "median {waited:?} of {runs} runs");
    assert!(waited.low < waited.value && waited.value < waited.high, "{waited:?}");
    let speedup = mpi.end_to_end_speedup.unwrap();
    assert!((speedup.value - 2.0).abs() < 1e-12 && (speedup.low - 2.0).abs() < 1e-12, "{speedup:?}");
    assert!(seq.end_to_end_speedup.is_some_and(|s| (s.value - 1.0).abs() < 1e-12));
    // The summary carries both, with their intervals.
    let csv = String::from_utf8(after.csv(Some("T1")).unwrap()).unwrap();
    let header = csv.lines().next().unwrap();
    for column in ["end_to_end", "end_to_end_low", "end_to_end_high", "end_to_end_speedup", "end_to_end_speedup_low"] {
        assert!(header.split(',').any(|h| h == column), "{column} missing from {header}");
    }
}

/// The figures a reviewer flagged: H told apart by line and marker, not by hue alone (T2);
/// whole-number P ticks and an axis fitted to the data (T3); a log ratio axis where the
/// crossover at 1 would vanish on a linear one (T7).
#[test]
fn figures_tell_their_series_apart_and_fit_their_axes() {
    use dpstudy::experiment::manifest::TableKind;
    use dpstudy::report::figures::{Look, charts};
    let agg = Aggregate::of(&raw::read_rows(&fixture()).unwrap()).unwrap();
    let kinds: Vec<(String, TableKind)> =
        [("T2", TableKind::EpochTime), ("T3", TableKind::StrongScaling), ("T7", TableKind::GpuCrossover)]
            .into_iter()
            .map(|(id, kind)| (id.to_string(), kind))
            .collect();
    let all = charts(&agg, &kinds);
    let chart = |stem: &str| all.iter().find(|c| c.stem == stem).unwrap_or_else(|| panic!("no {stem}"));
    let t2 = chart("fig-T2-epoch-time");
    let seq: Vec<_> = t2.series.iter().filter(|s| s.label.starts_with("seq ")).collect();
    assert_eq!(seq.len(), 2, "{:?}", t2.series.iter().map(|s| &s.label).collect::<Vec<_>>());
    assert_eq!(seq[0].colour_key, seq[1].colour_key, "one mode, one colour");
    assert_ne!(seq[0].look, seq[1].look, "two H, two looks");
    assert!(seq.iter().any(|s| s.label.ends_with("H=50") && s.look == Look::Solid));
    for stem in ["fig-T3-speedup", "fig-T3-efficiency", "fig-T3-comm-share"] {
        let c = chart(stem);
        assert!(c.integer_x && !c.y_from_zero, "{stem}: P is counted and the y axis fits the data");
    }
    let t7 = chart("fig-T7-gpu-crossover");
    assert!(t7.log_y, "T7's ratio axis is logarithmic");
}

#[test]
fn tables_of_the_fixture_in_markdown_and_latex() {
    let (_tmp, dir) = fixture_copy();
    let paper = dir.join("paper");
    let out = dpstudy(&["report", s(&dir), "--paper-dir", s(&paper)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let md = std::fs::read_to_string(dir.join("tables/all.md")).unwrap();
    // The setup table names this machine's CPU; the study's tables do not.
    let study_md: String = md.split("**setup:").next().unwrap().to_string();
    insta::assert_snapshot!("fixture_tables_markdown", study_md);
    let tex = std::fs::read_to_string(dir.join("tables/T3-strong-scaling.tex")).unwrap();
    insta::assert_snapshot!("fixture_table_t3_latex", tex);
    // Every table and figure is in both places, figures as SVG and PNG.
    for target in [&dir, &paper] {
        let figures = common::entries(&target.join("figures"));
        for stem in [
            "fig-T1-time-vs-size",
            "fig-T2-epoch-time",
            "fig-T3-speedup",
            "fig-T3-efficiency",
            "fig-T3-comm-share",
            "fig-T4-weak-scaling",
            "fig-T6-sync-patterns",
            "fig-T7-gpu-crossover",
            "fig-T11-commbench-time",
            "fig-T11-commbench-busbw",
        ] {
            for ext in ["svg", "png"] {
                assert!(figures.contains(&format!("{stem}.{ext}")), "{stem}.{ext} missing in {}", target.display());
            }
        }
        // The seven tables, the sweep's T11, the original's findings, the setup, the
        // findings' macros and the prose's numbers.
        let tables = common::entries(&target.join("tables"));
        assert_eq!(tables.iter().filter(|e| e.ends_with(".tex")).count(), 12, "{tables:?}");
        assert!(tables.contains(&"F1-original-findings.tex".to_string()), "{tables:?}");
        assert!(tables.contains(&"T11-comm-bench.tex".to_string()), "{tables:?}");
        let macros = std::fs::read_to_string(target.join("tables/findings-macros.tex")).unwrap();
        assert!(macros.contains("\\newcommand{\\FindP}{2}"), "{macros}");
        let numbers = std::fs::read_to_string(target.join("tables/numbers-macros.tex")).unwrap();
        assert!(numbers.contains("\\newcommand{\\NumMaxRanks}{2}"), "{numbers}");
        assert!(numbers.contains("\\newcommand{\\NumParamsMax}{657{,}610}"), "{numbers}");
        // Each claim's verdict, as `check` gives it, for the prose's \Verdict{C1}.
        assert!(numbers.contains("\\expandafter\\def\\csname dpverdictC1\\endcsname{PASS}"), "{numbers}");
    }
    assert!(dir.join("summary/T1.csv").is_file());
}

#[test]
fn verdicts_on_the_passing_fixture() {
    let (_tmp, dir) = fixture_copy();
    let out = dpstudy(&["check", s(&dir)]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    insta::assert_snapshot!("fixture_check_passing", stdout);
}

/// `check.json` is the record every consumer reads: the verdicts of `check.txt`, the figure
/// held to each bound, and whether the run finished. An unfinished run fails `check` even
/// when every claim passes on the cells it has.
#[test]
fn check_json_records_the_verdicts_and_an_incomplete_run_fails() {
    use dpstudy::report::claims::{CheckRecord, Outcome};
    let (_tmp, dir) = fixture_copy();
    assert!(dpstudy(&["check", s(&dir)]).status.success());
    let record = CheckRecord::read(&dir).unwrap();
    let text = std::fs::read_to_string(dir.join("check.txt")).unwrap();
    assert!(record.complete && record.profile == "quick");
    for v in &record.verdicts {
        assert!(text.contains(&format!("{:<4} {:<7}  {}", v.id, v.outcome.as_str(), v.claim)), "{}: {text}", v.id);
        assert!(text.contains(&format!("measured: {}", v.measured)), "{}", v.id);
    }
    let c2 = record.verdict("C2").unwrap();
    assert!(c2.outcome == Outcome::Pass && c2.value.is_some_and(|r2| r2 > 0.9 && r2 <= 1.0), "{c2:?}");

    let run = std::fs::read_to_string(dir.join(raw::RUN_FILE)).unwrap();
    let finished = run.lines().find(|l| l.contains("\"finished\"")).unwrap().to_string();
    std::fs::write(dir.join(raw::RUN_FILE), run.replace(&finished, "  \"finished\": null,")).unwrap();
    let out = dpstudy(&["check", s(&dir)]);
    assert_fails_with(&out, &["is an incomplete run"]);
    assert!(!CheckRecord::read(&dir).unwrap().complete);
    let text = std::fs::read_to_string(dir.join("check.txt")).unwrap();
    assert!(text.starts_with("INCOMPLETE RUN"), "{text}");
}

#[test]
fn verdicts_on_a_failing_fixture() {
    let (_tmp, dir) = fixture_copy();
    raw::write_rows(&dir, &failing_rows()).unwrap();
    let out = dpstudy(&["check", s(&dir)]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_fails_with(&out, &["claim(s) failed"]);
    assert!(stdout.contains("C3   FAIL") && stdout.contains("C6   FAIL"), "{stdout}");
    insta::assert_snapshot!("fixture_check_failing", stdout);
}

#[test]
fn results_of_another_format_are_refused() {
    let (_tmp, dir) = fixture_copy();
    let run = std::fs::read_to_string(dir.join(raw::RUN_FILE)).unwrap();
    std::fs::write(dir.join(raw::RUN_FILE), run.replacen("\"format\": 1", "\"format\": 7", 1)).unwrap();
    for cmd in ["report", "check"] {
        let out = dpstudy(&[cmd, s(&dir), "--no-paper"][..if cmd == "check" { 2 } else { 3 }]);
        assert_fails_with(&out, &["run.json", "format 7", "reads format 1"]);
    }
    assert!(!dir.join("tables").exists(), "nothing written for a run of another format");
    let out = dpstudy(&["report", "/nonexistent/results"]);
    assert_fails_with(&out, &["/nonexistent/results is not a dpstudy results directory"]);
}

#[test]
fn malformed_experiment_and_claims_files_name_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("experiments.toml");
    let text = dpstudy::experiment::manifest::BUILTIN.replacen(
        "modes = [\"seq\", \"mpi\", \"threads\", \"gpu\"]",
        "modes = [\"seq\", \"mpl\"]",
        1,
    );
    std::fs::write(&bad, &text).unwrap();
    let line = text.lines().position(|l| l.contains("\"mpl\"")).unwrap() + 1;
    let out = dpstudy(&["reproduce", "--experiments", s(&bad), "--results-dir", s(&tmp.path().join("r"))]);
    assert_fails_with(&out, &[s(&bad), &format!("line {line}"), "mpl"]);
    assert!(!tmp.path().join("r").exists(), "no results directory for a bad manifest");

    let (_tmp, dir) = fixture_copy();
    let claims = tmp.path().join("claims.toml");
    std::fs::write(&claims, "version = 1\n[[claims]]\nid = \"C1\"\nclaim = \"x\"\nkind = \"grows-with-n\"\n").unwrap();
    let out = dpstudy(&["check", s(&dir), "--claims", s(&claims)]);
    assert_fails_with(&out, &[s(&claims), "line 2", "table"]);
}

#[test]
fn unknown_tables_profiles_and_ranks_are_refused_before_running() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("r");
    let out = dpstudy(&["reproduce", "--tables", "T1,T99", "--results-dir", s(&results)]);
    assert_fails_with(&out, &["unknown table `T99`", "T1, T2, T3"]);
    let out = dpstudy(&["reproduce", "--profile", "huge", "--results-dir", s(&results)]);
    assert_fails_with(&out, &["unknown profile `huge`", "full, full-short, quick"]);
    let out = dpstudy(&["reproduce", "--max-ranks", "100000", "--results-dir", s(&results)]);
    assert_fails_with(&out, &["--max-ranks 100000 exceeds the", "--oversubscribe"]);
    assert!(!results.exists());
}

/// `--dry-run` prints the plan with per-table counts and an estimate, and trains and writes
/// nothing (synthetic data: the calibration needs no MNIST).
#[test]
fn a_dry_run_prints_the_plan_and_an_estimate_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("r");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dpstudy"))
        .args(["reproduce", "--tables", "T4,T5", "--data", "synthetic", "--dry-run", "--results-dir", s(&results)])
        .args(["--cache-dir", s(&tmp.path().join("cache"))])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let row = |id: &str| -> Vec<String> {
        let line = stdout.lines().find(|l| l.trim_start().starts_with(id)).unwrap_or_else(|| panic!("{stdout}"));
        line.split_whitespace().take(6).map(String::from).collect()
    };
    // T4: MPI and threads at P = 1 and 2, 6 timed runs (quick) and 1 warm-up each; up to 4
    // more each for the precision target (max_reps 10).
    assert_eq!(row("T4"), ["T4", "weak-scaling", "4", "28", "0", "0"], "{stdout}");
    // T5 needs real MNIST: every cell is not run, and none is counted.
    assert_eq!(row("T5"), ["T5", "parity", "5", "0", "0", "5"], "{stdout}");
    assert!(stdout.contains("T5 needs real MNIST; this run uses synthetic data"), "{stdout}");
    assert!(stdout.contains("estimate: ") && stdout.contains("for 28 runs"), "{stdout}");
    assert!(stdout.contains("precision: up to 16 more runs ("), "{stdout}");
    assert!(stdout.contains("if every cell with a target (10% of its median) ran to its cap"), "{stdout}");
    assert!(stdout.contains("mpirun start"), "{stdout}");
    assert!(stdout.ends_with("dry run: nothing was trained\n"), "{stdout}");
    assert!(!results.exists(), "a dry run creates no results directory");

    let out = dpstudy(&["reproduce", "--dry-run", "--resume", s(&results)]);
    assert_fails_with(&out, &["--dry-run", "--resume"]);
}

/// A dry run of a plan the data cannot serve prints the plan, says why the run would stop,
/// and exits non-zero.
#[test]
fn a_dry_run_says_when_the_data_would_stop_the_run() {
    let Some(mnist) = mnist_dir() else { return };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dpstudy"))
        .args(["reproduce", "--profile", "full-short", "--tables", "T5", "--dry-run", "--data-dir", s(&mnist)])
        .args(["--cache-dir", s(&shared_cache())])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("plan: profile full-short") && stdout.contains("estimate: "), "{stdout}");
    assert!(stdout.ends_with("dry run: the run would stop before training\n"), "{stdout}");
    assert_fails_with(
        &out,
        &["profile `full-short` (pool `all`", "needs train-images-idx3-ubyte.gz", "dpstudy data fetch"],
    );
}

#[test]
fn an_unwritable_results_directory_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let Some(mnist) = mnist_dir() else { return };
    let out = dpstudy(&[
        "reproduce",
        "--tables",
        "T5",
        "--data-dir",
        s(&mnist),
        "--cache-dir",
        s(&shared_cache()),
        "--results-dir",
        s(&file.join("results")),
    ]);
    assert_fails_with(&out, &["cannot create the results directory", "a-file/results"]);
}

#[test]
fn the_full_profile_without_full_mnist_says_how_to_get_it() {
    let Some(mnist) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = dpstudy(&[
        "reproduce",
        "--profile",
        "full",
        "--max-ranks",
        "2",
        "--data-dir",
        s(&mnist),
        "--cache-dir",
        s(&shared_cache()),
        "--results-dir",
        s(&tmp.path().join("r")),
    ]);
    assert_fails_with(&out, &["pool `all` needs train-images-idx3-ubyte.gz", "dpstudy data fetch", "--data synthetic"]);
}

/// Runs `reproduce --tables T5` (the parity table) of the quick profile on the real data.
fn quick_parity(results: &Path, extra: &[&str], path_env: Option<&str>) -> std::process::Output {
    let mnist = mnist_dir().unwrap();
    let cache = shared_cache();
    let mut args = vec![
        "reproduce",
        "--tables",
        "T5",
        "--data-dir",
        s(&mnist),
        "--cache-dir",
        s(&cache),
        "--results-dir",
        s(results),
        "--no-paper",
    ];
    args.extend_from_slice(extra);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_dpstudy"));
    cmd.args(&args).env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    if let Some(path) = path_env {
        cmd.env("PATH", path);
    }
    cmd.output().unwrap()
}

fn only_run(results: &Path) -> PathBuf {
    let runs = common::entries(results);
    assert_eq!(runs.len(), 1, "{runs:?}");
    results.join(&runs[0])
}

/// The deterministic numbers of the quick profile's parity table on the real MNIST test
/// images: final cost to 6 significant digits, accuracies to 4 decimals, per mode. The
/// sequential values are those of `train` with the same settings (tests/integration/real_mnist.rs
/// checks `train` against candle autograd).
#[test]
fn quick_parity_numbers_on_real_mnist() {
    if mnist_dir().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = quick_parity(tmp.path(), &[], None);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let dir = only_run(tmp.path());
    let agg = Aggregate::of(&raw::read_rows(&dir).unwrap()).unwrap();
    let lines: Vec<String> = agg
        .table("T5")
        .map(|c| {
            format!(
                "{:<20} P={} cost {:.6} train {:.4} test {:.4}",
                c.label(),
                c.p(),
                c.final_cost,
                c.final_train_acc,
                c.final_test_acc.unwrap()
            )
        })
        .collect();
    insta::assert_snapshot!("quick_parity_real_mnist", lines.join("\n"));
    // Every run recorded what its user waited, and that wait holds its training loop.
    for c in agg.table("T5") {
        let (Some(loop_time), Some(waited)) = (c.time, c.end_to_end) else {
            panic!("{}: training time {:?}, end-to-end {:?}", c.cell, c.time, c.end_to_end)
        };
        assert!(
            waited.value > loop_time.value,
            "{}: end to end {} s, loop {} s",
            c.cell,
            waited.value,
            loop_time.value
        );
    }
    let check = std::fs::read_to_string(dir.join("check.txt")).unwrap();
    assert!(check.contains("C6   PASS") && check.contains("C7   PASS"), "{check}");
    // The reviewer's page, compared with the committed quick results (the crate root is the
    // tests' working directory): T5's cells are in both, and their costs and accuracies
    // agree (its speedups are this busy machine's, and not asserted here).
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(page.contains("Against <code>artifact/expected/quick</code>"), "no comparison in report.html");
    assert!(page.contains("<h3>Tables T5: "), "T5 compared");
    let outside: Vec<&str> = page.lines().filter(|l| l.starts_with("<tr class=\"OUTSIDE\">")).collect();
    assert!(!outside.iter().any(|l| l.contains("cost</td>") || l.contains("accuracy</td>")), "{outside:?}");

    // Resuming the finished run starts nothing; resuming it as another table set is refused.
    let out = quick_parity(tmp.path(), &["--resume", s(&dir)], None);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 runs done"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = quick_parity(tmp.path(), &["--resume", s(&dir), "--tables", "T1"], None);
    assert_fails_with(&out, &["--resume", "--tables T5,T1 contradicts the run, which has T5"]);
}

#[test]
fn without_mpirun_mpi_cells_fail_with_the_reason_and_the_rest_run() {
    if mnist_dir().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = quick_parity(tmp.path(), &[], Some("/nonexistent"));
    assert_fails_with(&out, &["mpirun is not on PATH", "run(s) failed"]);
    let dir = only_run(tmp.path());
    let rows = raw::read_rows(&dir).unwrap();
    let failed: Vec<&RawRow> = rows.iter().filter(|r| r.status == raw::Status::Failed).collect();
    assert!(!failed.is_empty() && failed.iter().all(|r| r.mode == Mode::Mpi && r.reason.contains("mpirun")));
    assert!(rows.iter().any(|r| r.mode == Mode::Seq && r.status == raw::Status::Ok));
    assert!(rows.iter().any(|r| r.mode == Mode::Threads && r.status == raw::Status::Ok));
    let check = std::fs::read_to_string(dir.join("check.txt")).unwrap();
    assert!(check.contains("C6   FAIL") && check.contains("cells failed"), "{check}");
}

/// Enough runs, decided by the data: with a precision target no cell can meet (a billionth
/// of the median), `reproduce` adds rounds to every cell of T4 until its cap, records each
/// run's machine state, and says in `precision.csv` where each cell stopped.
#[test]
fn rounds_are_added_until_the_target_or_the_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let experiments = tmp.path().join("experiments.toml");
    let text = dpstudy::experiment::manifest::BUILTIN
        .replace("precision = 0.10", "precision = 1e-9")
        .replace("max_reps = { quick = 10,", "max_reps = { quick = 7,");
    std::fs::write(&experiments, text).unwrap();
    let results = tmp.path().join("results");
    let cache = tmp.path().join("cache");
    let stderr = common::reproduce_running_every_cell(&[
        "--experiments",
        s(&experiments),
        "--tables",
        "T4",
        "--data",
        "synthetic",
        "--results-dir",
        s(&results),
        "--no-paper",
        "--cache-dir",
        s(&cache),
    ]);
    assert!(stderr.contains("32 runs done (4 added for precision), 0 failed"), "{stderr}");
    assert!(stderr.contains("precision: 0 of 4 cells with a target reached"), "{stderr}");
    let dir = results.join(&common::entries(&results)[0]);
    let rows = raw::read_rows(&dir).unwrap();
    let timed: Vec<&RawRow> = rows.iter().filter(|r| !r.warmup && r.rank == Some(0) && r.epoch == Some(1)).collect();
    for cell in ["mpi-allreduce-p1", "mpi-allreduce-p2", "threads-t1", "threads-t2"] {
        let mut reps: Vec<usize> = timed.iter().filter(|r| r.cell.starts_with(cell)).map(|r| r.rep).collect();
        reps.sort_unstable();
        assert_eq!(reps, (0..7).collect::<Vec<_>>(), "{cell}: six planned rounds and one added");
    }
    assert!(timed.iter().all(|r| r.steal_share.is_some_and(|s| (0.0..=1.0).contains(&s))
        && r.cpu_s.is_some_and(|c| c > 0.0)
        && r.load_before.is_some()));
    let precision = std::fs::read_to_string(dir.join("precision.csv")).unwrap();
    assert_eq!(precision.lines().filter(|l| l.ends_with(",at cap")).count(), 4, "{precision}");
}

/// `--resume DIR` alone finishes an interrupted run: the plan, the data and the cache come
/// from its run.json (here: synthetic data, one repetition, T4, a cache of its own), and a
/// flag that contradicts the run is refused by name before anything runs.
#[test]
fn a_run_resumes_from_its_directory_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let (results, cache) = (tmp.path().join("results"), tmp.path().join("cache"));
    let first = common::reproduce_running_every_cell(&[
        "--tables",
        "T4",
        "--data",
        "synthetic",
        "--reps",
        "1",
        "--no-paper",
        "--results-dir",
        s(&results),
        "--cache-dir",
        s(&cache),
    ]);
    assert!(first.contains("8 runs done"), "{first}");
    let dir = results.join(&common::entries(&results)[0]);
    // Interrupted before its last timed run: the raw file without it, the run unfinished.
    let rows: Vec<RawRow> = raw::read_rows(&dir).unwrap();
    let last = rows.iter().rev().find(|r| !r.warmup).map(|r| r.cell.clone()).unwrap();
    raw::write_rows(&dir, &rows.into_iter().filter(|r| r.warmup || r.cell != last).collect::<Vec<_>>()).unwrap();
    let run = std::fs::read_to_string(dir.join(raw::RUN_FILE)).unwrap();
    let finished = run.lines().find(|l| l.contains("\"finished\"")).unwrap().to_string();
    std::fs::write(dir.join(raw::RUN_FILE), run.replace(&finished, "  \"finished\": null,")).unwrap();

    let contradicting = common::dpstudy(&["reproduce", "--resume", s(&dir), "--profile", "full"]);
    assert_fails_with(&contradicting, &["--profile full contradicts the run, which has quick"]);
    let resumed = common::reproduce_running_every_cell(&["--resume", s(&dir), "--no-paper"]);
    assert!(resumed.contains("reproduce: 1 runs done (0 added for precision), 0 failed"), "{resumed}");
    assert!(raw::RunMeta::read(&dir).unwrap().finished.is_some());
}
