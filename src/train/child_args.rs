//! The command line of a `dpstudy train` child: the one place it is built from a config,
//! so that every field of the config reaches the child (`tests` parse it back into the same
//! config).

use std::path::Path;

use super::TrainConfig;
use crate::launch::available_cores;

/// The arguments of a quiet `dpstudy train` child that runs `config` and writes its result
/// to `out`: the one place a child's command line is built, so that every field of the
/// config reaches the child (the integration tests parse them back into the same config).
pub fn train_args(config: &TrainConfig, out: &Path) -> Vec<String> {
    let data = &config.data;
    let mut args: Vec<String> = vec!["train".into(), "--quiet".into()];
    let mut push = |flag: &str, value: String| args.extend([flag.to_string(), value]);
    push("--mode", config.mode.to_string());
    if let Some(sync) = config.sync {
        push("--sync", sync.to_string());
    }
    push("--data", data.kind.to_string());
    push("--data-dir", data.dir.display().to_string());
    push("--cache-dir", data.cache_dir.display().to_string());
    push("--pool", data.pool.to_string());
    if let Some(n) = config.samples {
        push("--samples", n.to_string());
    }
    push("--test-samples", config.test_samples.to_string());
    push("--hidden", config.hidden.to_string());
    push("--epochs", config.epochs.to_string());
    push("--iters", config.iters.to_string());
    push("--lr", config.lr.to_string());
    push("--dtype", config.dtype.to_string());
    if let Some(b) = config.batch_size {
        push("--batch-size", b.to_string());
    }
    push("--seed", config.seed.to_string());
    push("--threads", config.threads.to_string());
    push("--reduce", config.reduce.to_string());
    if config.ranks != 1 {
        push("--ranks", config.ranks.to_string());
    }
    if let Some(init) = &config.init {
        push("--init", init.display().to_string());
    }
    if let Some(recipe) = &config.ensemble {
        push("--validation-samples", recipe.validation_samples.to_string());
        let list = |values: Vec<String>| values.join(",");
        if !recipe.member_hidden.is_empty() {
            push("--member-hidden", list(recipe.member_hidden.iter().map(usize::to_string).collect()));
        }
        if !recipe.member_lr.is_empty() {
            push("--member-lr", list(recipe.member_lr.iter().map(f64::to_string).collect()));
        }
    }
    push("--out", out.display().to_string());
    // A child that asks for more cores than there are was planned so (reproduce marks such
    // cells, bench says so): it carries the consent the user gave the parent.
    if config.threads * config.ranks > available_cores() {
        args.push("--oversubscribe".into());
    }
    if config.ensemble.as_ref().is_some_and(|r| r.bagging) {
        args.push("--bagging".into());
    }
    if !data.verify {
        args.push("--no-verify".into());
    }
    args
}
