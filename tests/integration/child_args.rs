//! The command line of a `dpstudy train` child (`train::child_args::train_args`, the one place it is
//! built, for the runner and the scaling benchmark) parses back into the config it came
//! from: no field is dropped or changed on the way to the child.

use std::path::{Path, PathBuf};

use clap::Parser;
use dpstudy::cli::{Cli, Command};
use dpstudy::data::{DataConfig, DataKind};
use dpstudy::experiment::manifest::Manifest;
use dpstudy::experiment::plan::{Plan, PlanOptions};
use dpstudy::real::Dtype;
use dpstudy::train::child_args::train_args;
use dpstudy::train::{Mode, SyncKind, TrainConfig};

/// Parses `args` as the child would and returns its config and `--out`.
fn parse(args: &[String]) -> (TrainConfig, PathBuf) {
    let cli = Cli::try_parse_from(std::iter::once("dpstudy".to_string()).chain(args.iter().cloned()))
        .unwrap_or_else(|e| panic!("the child's arguments do not parse: {e}\n{args:?}"));
    match cli.command {
        Command::Train(train) => {
            assert!(train.quiet, "children run quietly: {args:?}");
            (train.config().unwrap(), train.out.expect("children write their result to --out"))
        }
        other => panic!("not a train command: {other:?}"),
    }
}

fn round_trip(config: &TrainConfig) {
    let out = Path::new("/tmp/runs/cell r0.json");
    let (parsed, parsed_out) = parse(&train_args(config, out));
    assert_eq!(&parsed, config);
    assert_eq!(parsed_out, out);
}

fn every_field_set() -> TrainConfig {
    TrainConfig {
        mode: Mode::Mpi,
        sync: Some(SyncKind::GatherBcast),
        data: DataConfig {
            kind: DataKind::Mnist,
            dir: "/data/mnist files".into(),
            cache_dir: "/cache/dpstudy".into(),
            verify: false,
            pool: dpstudy::data::Pool::Train,
        },
        samples: Some(12_345),
        test_samples: 678,
        hidden: 37,
        epochs: 3,
        iters: 7,
        lr: 0.123_456_789_012_345_67,
        dtype: Dtype::F32,
        batch_size: Some(64),
        seed: 987_654_321_012,
        threads: 3,
        ranks: 1,
        init: Some("/weights/init h37.safetensors".into()),
        reduce: dpstudy::train::Reduction::Float,
        ensemble: None,
    }
}

#[test]
fn a_config_with_every_field_set_survives_the_command_line() {
    round_trip(&every_field_set());
    // The exact reduction is full-batch only.
    round_trip(&TrainConfig { reduce: dpstudy::train::Reduction::Exact, batch_size: None, ..every_field_set() });
}

#[test]
fn a_baselines_processes_survive_the_command_line() {
    round_trip(&TrainConfig { mode: Mode::Original, sync: None, ranks: 3, ..every_field_set() });
    round_trip(&TrainConfig { mode: Mode::TorchDdp, sync: None, ranks: 2, ..every_field_set() });
}

#[test]
fn an_ensembles_recipe_survives_the_command_line() {
    let recipe = dpstudy::ensemble::EnsembleRecipe {
        member_hidden: vec![25, 50, 100],
        member_lr: vec![0.1, 0.05],
        bagging: true,
        validation_samples: 1234,
    };
    round_trip(&TrainConfig {
        mode: Mode::Ensemble,
        sync: None,
        init: None,
        ensemble: Some(recipe),
        ..every_field_set()
    });
}

#[test]
fn optional_fields_left_out_stay_left_out() {
    let config = TrainConfig {
        mode: Mode::Seq,
        sync: None,
        data: DataConfig { kind: DataKind::Synthetic, verify: true, ..every_field_set().data },
        samples: None,
        batch_size: None,
        init: None,
        reduce: Default::default(),
        ensemble: None,
        ..every_field_set()
    };
    round_trip(&config);
}

/// Every cell of every profile of the shipped manifest reaches its child unchanged.
#[test]
fn every_cell_of_the_shipped_plans_survives_the_command_line() {
    let manifest = Manifest::parse(dpstudy::experiment::manifest::BUILTIN, Path::new("experiments.toml")).unwrap();
    let data = DataConfig {
        kind: DataKind::Mnist,
        dir: "d".into(),
        cache_dir: "c".into(),
        verify: true,
        pool: Default::default(),
    };
    let mut cells = 0;
    for profile in ["quick", "full-short", "full"] {
        let options = PlanOptions { profile: profile.into(), tables: vec![], max_ranks: Some(4), reps: None };
        let plan = Plan::new(&manifest, &options).unwrap();
        for planned in &plan.cells {
            round_trip(&planned.cell.train_config(&plan.profile, &data));
            cells += 1;
        }
    }
    assert!(cells > 50, "the manifest's plans hold {cells} cells");
}
