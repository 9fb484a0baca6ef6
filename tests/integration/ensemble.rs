//! The ensemble mode under real `mpirun`: each member trains exactly as the sequential run
//! of its seed, the combiners agree with what the members predict, bagging changes the
//! members, a failing member fails the job without a result, and `reproduce` draws T9.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{assert_fails_with, dpstudy, mnist_dir, shared_cache};
use dpstudy::data::DataKind;
use dpstudy::ensemble::combine::Combiner;
use dpstudy::train::TrainResult;

/// `mpirun -np P dpstudy train --mode ensemble <args>` on the real MNIST test images.
fn ensemble(np: usize, data: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("mpirun");
    cmd.args(["--oversubscribe", "--bind-to", "none", "-np", &np.to_string(), env!("CARGO_BIN_EXE_dpstudy")])
        .args(["train", "--quiet", "--mode", "ensemble", "--data-dir", s(data)])
        .args(["--cache-dir", s(&shared_cache())])
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    cmd
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The small problem every run here trains: 1000 rows, 500 validation, 500 test, H = 12.
const SMALL: [&str; 12] = [
    "--samples",
    "1000",
    "--validation-samples",
    "500",
    "--test-samples",
    "500",
    "--hidden",
    "12",
    "--epochs",
    "2",
    "--iters",
    "5",
];

fn run_ok(mut cmd: Command, out: &Path) -> TrainResult {
    let output: Output = cmd.arg("--out").arg(out).output().expect("start mpirun (is Open MPI installed?)");
    assert!(output.status.success(), "failed: {cmd:?}\n{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

/// The sequential run of member `seed` of [`SMALL`], in this process.
fn sequential(data: &Path, seed: u64) -> TrainResult {
    let mut config = common::config(DataKind::Mnist, data, &shared_cache());
    (config.samples, config.test_samples, config.hidden, config.epochs, config.iters, config.seed) =
        (Some(1000), 500, 12, 2, 5, seed);
    dpstudy::train::run_local(&config, |_| {}).unwrap().result
}

#[test]
fn each_member_is_the_sequential_run_of_its_seed_bit_for_bit() {
    let Some(data) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let run = run_ok(ensemble(2, &data, &SMALL), &tmp.path().join("e.json"));
    let (seq1, seq2) = (sequential(&data, 1), sequential(&data, 2));
    assert_eq!(run.ranks, 2);
    // Member 0 (seed 1) is the run's own trajectory; member 1 (seed 2) is in the records.
    assert_eq!(run.step_costs, seq1.step_costs, "member 0's every step");
    for (e, epoch) in run.epochs.iter().enumerate() {
        assert_eq!(epoch.members.len(), 2);
        for (m, seq) in [&seq1, &seq2].into_iter().enumerate() {
            let (mine, theirs) = (&epoch.members[m], &seq.epochs[e]);
            assert_eq!(mine.cost, theirs.cost, "epoch {e}, member {m}: cost");
            assert_eq!(mine.train_acc, theirs.train_acc, "epoch {e}, member {m}: train accuracy");
            assert_eq!(mine.test_cost, theirs.test_cost, "epoch {e}, member {m}: test cost");
            assert_eq!(mine.test_acc, theirs.test_acc, "epoch {e}, member {m}: test accuracy");
        }
    }
    let outcome = run.ensemble.as_ref().expect("the ensemble's outcome");
    assert_eq!(outcome.validation_samples, 500);
    for (m, seq) in [&seq1, &seq2].into_iter().enumerate() {
        let member = &outcome.members[m];
        assert_eq!((member.member.seed, member.member.hidden), (m as u64 + 1, 12));
        // The members' probabilities (what the combiners read) score as the trainer did.
        assert_eq!(Some(member.test_acc), seq.final_epoch().test_acc, "member {m}: test accuracy of its probabilities");
        assert_eq!(Some(member.test_cost), seq.final_epoch().test_cost);
    }
    assert_eq!(outcome.combiners.iter().map(|c| c.combiner).collect::<Vec<_>>(), Combiner::ALL);
    for c in &outcome.combiners {
        assert!((0.0..=1.0).contains(&c.test_acc) && (0.0..=1.0).contains(&c.validation_acc), "{c:?}");
    }
    // The job's clock includes the wait for the slower member, the gathers and combining.
    let last = run.final_epoch();
    assert!(last.ranks[0].update_s >= outcome.combine_s, "{:?} vs {}", last.ranks[0], outcome.combine_s);
    assert_eq!(last.ranks.iter().map(|t| t.rank).collect::<Vec<_>>(), [0, 1]);
}

#[test]
fn one_member_is_its_own_average_and_vote() {
    let Some(data) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let run = run_ok(ensemble(1, &data, &SMALL), &tmp.path().join("e.json"));
    let outcome = run.ensemble.unwrap();
    let member = &outcome.members[0];
    for which in [Combiner::Average, Combiner::Vote] {
        let c = outcome.combiner(which).unwrap();
        assert_eq!((c.test_acc, c.validation_acc), (member.test_acc, member.validation_acc), "{which}");
    }
    let average = outcome.combiner(Combiner::Average).unwrap();
    let cost = average.test_cost.unwrap();
    assert!((cost - member.test_cost).abs() <= 1e-12 * member.test_cost, "{cost} vs {}", member.test_cost);
}

#[test]
fn bagging_members_train_on_their_own_samples_reproducibly() {
    let Some(data) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut args = SMALL.to_vec();
    args.push("--bagging");
    let a = run_ok(ensemble(2, &data, &args), &tmp.path().join("a.json"));
    let b = run_ok(ensemble(2, &data, &args), &tmp.path().join("b.json"));
    let seq1 = sequential(&data, 1);
    assert_ne!(a.step_costs, seq1.step_costs, "member 0 trained on a bootstrap sample, not the rows");
    assert_eq!(a.step_costs, b.step_costs, "the same bootstrap sample again");
    assert!(a.ensemble.as_ref().unwrap().members.iter().all(|m| m.bagging));
    assert!(a.config.ensemble.as_ref().unwrap().bagging);
}

#[test]
fn a_member_that_diverges_fails_the_job_naming_it_and_writes_nothing() {
    let Some(data) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("e.json");
    let mut args = SMALL.to_vec();
    args.extend(["--member-lr", "0.1,1e308"]);
    let output = ensemble(2, &data, &args).arg("--out").arg(&out).output().unwrap();
    assert_fails_with(&output, &["ensemble member 1", "rank 1", "diverged"]);
    assert!(!out.exists(), "no result file after a failed member");
}

#[test]
fn too_few_images_for_training_validation_and_test_names_all_three() {
    let Some(data) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("e.json");
    let args = ["--samples", "9000", "--validation-samples", "1000", "--test-samples", "2000"];
    let output = ensemble(1, &data, &args).arg("--out").arg(&out).output().unwrap();
    assert_fails_with(&output, &["--samples + --validation-samples + --test-samples", "12000"]);
    assert!(!out.exists());
}

#[test]
fn ensemble_flags_are_checked_before_anything_runs() {
    let cases: [(&[&str], &[&str]); 6] = [
        (&["--mode", "ensemble", "--test-samples", "10"], &["--validation-samples", "stacked meta-learner"]),
        (&["--mode", "seq", "--validation-samples", "10"], &["--mode seq", "belong to --mode ensemble"]),
        (&["--mode", "mpi", "--bagging"], &["--mode mpi", "belong to --mode ensemble"]),
        (&["--mode", "ensemble", "--validation-samples", "10"], &["--test-samples", "test rows"]),
        (
            &["--mode", "ensemble", "--validation-samples", "10", "--test-samples", "10", "--member-hidden", "25,0"],
            &["--member-hidden 0"],
        ),
        (
            &["--mode", "ensemble", "--validation-samples", "10", "--test-samples", "10", "--init", "w.safetensors"],
            &["--init", "its own initial weights"],
        ),
    ];
    for (args, needles) in cases {
        let mut all = vec!["train", "--data", "synthetic"];
        all.extend_from_slice(args);
        assert_fails_with(&dpstudy(&all), needles);
    }
    // A valid ensemble configuration, refused for what it asks of the process.
    let valid =
        ["train", "--data", "synthetic", "--mode", "ensemble", "--validation-samples", "10", "--test-samples", "10"];
    let tmp = tempfile::tempdir().unwrap();
    let weights = tmp.path().join("w.safetensors");
    let out = dpstudy(&[&valid[..], &["--save-weights", s(&weights)]].concat());
    assert_fails_with(&out, &["--save-weights", "one set of weights per member"]);
    assert_fails_with(&dpstudy(&valid), &["--mode ensemble", "mpirun"]);
    assert!(!weights.exists());
}

/// A small T9 (the ensembles table) through `reproduce`: the table, its figure and the
/// ensemble's columns of raw.csv.
#[test]
fn reproduce_draws_the_ensembles_table() {
    let Some(data) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let experiments = tmp.path().join("experiments.toml");
    std::fs::write(
        &experiments,
        "version = 1\n[profiles.quick]\ndescription = \"small\"\npool = \"test\"\nrows = 1000\nepochs = 1\niters = 5\nreps = 1\n\
         warmup = 0\ndtype = \"f64\"\nlr = 0.1\nseed = 1\ntest_samples = 200\nmax_ranks = 2\n\
         [[tables]]\nid = \"T9\"\nname = \"ensembles\"\ntitle = \"ensembles\"\nmodes = [\"mpi\", \"ensemble\"]\n\
         ensembles = [\"seeds\", \"bagging\"]\nparallel = [1, 2]\nequal_budget = true\nn = [600]\n\
         validation = 200\nhidden = [10]\ntest = true\nreal_data = true\n",
    )
    .unwrap();
    let results = tmp.path().join("r");
    // Five steps from random weights make weak members: the claims may fail here (the run
    // then exits non-zero), but every cell must run and T9's claim must be judged.
    let cache = shared_cache();
    let stderr = common::reproduce_running_every_cell(&[
        "--experiments",
        s(&experiments),
        "--tables",
        "T9",
        "--data-dir",
        s(&data),
        "--cache-dir",
        s(&cache),
        "--results-dir",
        s(&results),
        "--no-paper",
    ]);
    assert!(stderr.contains("7 runs done (0 added for precision), 0 failed, 0 cells not run"), "{stderr}");
    let runs = common::entries(&results);
    let dir = results.join(&runs[0]);
    let check = std::fs::read_to_string(dir.join("check.txt")).unwrap();
    let line = check.lines().find(|l| l.starts_with("C17 ")).unwrap_or_else(|| panic!("C17 missing:\n{check}"));
    assert!(line.contains("PASS") || line.contains("FAIL"), "{line}");
    let table = std::fs::read_to_string(dir.join("tables/T9-ensembles.md")).unwrap();
    for row in [
        "| mpi allreduce | 1 | 5 |",
        "| mpi allreduce | 2 | 5 |",
        "| mpi allreduce (P x steps) | 2 | 10 |",
        "| ensemble | 1 | 5 |",
        "| ensemble | 2 | 5 |",
        "| ensemble bagging | 2 | 5 |",
    ] {
        assert!(table.contains(row), "{row} missing from\n{table}");
    }
    assert!(!table.contains("Not run"), "{table}");
    let rows = dpstudy::experiment::raw::read_rows(&dir).unwrap();
    let ens: Vec<_> = rows.iter().filter(|r| r.cell == "ensemble-p2-n600-h10-e1x5-val200-test200").collect();
    assert_eq!(ens.len(), 2, "one row per rank and epoch");
    assert!(ens.iter().all(|r| r.validation_n == 200 && r.average_test_acc.is_some() && r.stacked_test_cost.is_some()));
    assert_ne!(ens[0].cost, ens[1].cost, "each rank's row holds its own member's cost");
    assert!(dir.join("figures/fig-T9-ensembles.svg").is_file(), "{:?}", common::entries(&dir.join("figures")));
}

#[test]
fn under_the_exact_reduction_a_member_is_the_sequential_run_of_any_thread_count() {
    let Some(data) = mnist_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut seq = common::config(DataKind::Mnist, &data, &shared_cache());
    (seq.samples, seq.test_samples, seq.hidden, seq.epochs, seq.iters, seq.seed) = (Some(1000), 500, 12, 2, 5, 1);
    seq.reduce = dpstudy::train::Reduction::Exact;
    let seq = dpstudy::train::run_local(&seq, |_| {}).unwrap().result;
    let args = [&SMALL[..], &["--reduce", "exact", "--threads", "2", "--oversubscribe"]].concat();
    let run = run_ok(ensemble(2, &data, &args), &tmp.path().join("e.json"));
    assert_eq!(run.config.reduce, dpstudy::train::Reduction::Exact);
    assert_eq!(run.step_costs, seq.step_costs, "member 0 on 2 threads, the sequential run on 1: same steps");
    assert_eq!(run.weights_sha256, seq.weights_sha256, "and the same weights");
    assert!(run.weights_sha256.is_some());
}
