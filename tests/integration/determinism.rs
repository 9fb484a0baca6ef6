//! Same seed, same data: the same cost trajectory and weights, bit for bit.

use crate::common;

use dpstudy::data::DataKind;
use dpstudy::real::Dtype;

#[test]
fn two_runs_are_bit_identical() {
    let cache = tempfile::tempdir().unwrap();
    for dtype in [Dtype::F64, Dtype::F32] {
        for batch_size in [None, Some(64)] {
            let mut config = common::config(DataKind::Synthetic, cache.path(), cache.path());
            config.samples = Some(900);
            config.dtype = dtype;
            config.batch_size = batch_size;
            let a = dpstudy::train::run_local(&config, |_| {}).unwrap();
            let b = dpstudy::train::run_local(&config, |_| {}).unwrap();
            let bits = |v: &[f64]| v.iter().map(|c| c.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a.result.step_costs), bits(&b.result.step_costs), "{dtype} batch {batch_size:?}");
            assert_eq!(a.weights, b.weights, "{dtype} batch {batch_size:?}");
            assert_eq!(a.result.step_costs.len(), 10);
        }
    }
}

#[test]
fn the_seed_matters() {
    let cache = tempfile::tempdir().unwrap();
    let mut config = common::config(DataKind::Synthetic, cache.path(), cache.path());
    let a = dpstudy::train::run_local(&config, |_| {}).unwrap();
    config.seed = 2;
    let b = dpstudy::train::run_local(&config, |_| {}).unwrap();
    assert_ne!(a.result.step_costs, b.result.step_costs);
}

#[test]
fn mini_batch_runs_use_the_batch_and_learn() {
    let cache = tempfile::tempdir().unwrap();
    let mut config = common::config(DataKind::Synthetic, cache.path(), cache.path());
    config.samples = Some(2000);
    config.batch_size = Some(100);
    config.lr = 1.0;
    config.epochs = 3;
    config.iters = 40;
    let run = dpstudy::train::run_local(&config, |_| {}).unwrap();
    let epochs = &run.result.epochs;
    assert!(epochs[2].cost < epochs[0].cost, "{epochs:?}");
    assert_eq!(run.result.config.batch_size, Some(100));
}
