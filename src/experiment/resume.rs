//! `reproduce --resume DIR` alone: the run directory knows its plan (`run.json`: profile,
//! tables, P, repetitions, data, mpirun options, the experiments file as run), so the
//! resumed run takes every setting from there. A flag the user gives must agree with the
//! run; one that contradicts it is refused by name, since the resumed rows and the new ones
//! would then belong to two different plans.

use std::path::Path;

use super::raw::RunMeta;
use super::{Given, ReproduceConfig};

/// A flag that contradicts the run being resumed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "--resume {dir}: {flag} {asked} contradicts the run, which has {recorded}; resume it without {flag} (the run's \
     own settings are taken from its run.json)"
)]
pub struct Contradiction {
    pub dir: String,
    pub flag: &'static str,
    pub asked: String,
    pub recorded: String,
}

/// Takes `recorded` unless the command line named a different value.
fn agree<T: PartialEq + Clone>(
    dir: &Path,
    flag: &'static str,
    given: Option<&T>,
    recorded: &T,
    show: impl Fn(&T) -> String,
) -> Result<T, Contradiction> {
    match given {
        Some(asked) if asked != recorded => {
            Err(Contradiction { dir: dir.display().to_string(), flag, asked: show(asked), recorded: show(recorded) })
        }
        _ => Ok(recorded.clone()),
    }
}

/// The configuration of a resumed run: `config`'s settings where the command line named
/// them and they agree with `meta`, `meta`'s where it did not name them.
pub fn settle(config: &ReproduceConfig, meta: &RunMeta) -> Result<ReproduceConfig, Contradiction> {
    let dir = config.resume.as_deref().unwrap_or(Path::new("?"));
    let Given { profile, data, mpirun_args, data_dir, cache_dir } = config.given;
    let mut out = config.clone();
    let options = &config.plan;
    out.plan.profile = agree(dir, "--profile", profile.then_some(&options.profile), &meta.profile, String::clone)?;
    let tables = (!options.tables.is_empty()).then_some(&options.tables);
    out.plan.tables = agree(dir, "--tables", tables, &meta.tables, |t| t.join(","))?;
    out.plan.max_ranks =
        Some(agree(dir, "--max-ranks", options.max_ranks.as_ref(), &meta.max_ranks, usize::to_string)?);
    let show_reps = |r: &Option<usize>| r.map_or("the profile's".into(), |r| r.to_string());
    out.plan.reps = agree(dir, "--reps", options.reps.is_some().then_some(&options.reps), &meta.reps, show_reps)?;
    out.data.kind = agree(dir, "--data", data.then_some(&config.data.kind), &meta.data, |k| k.to_string())?;
    let args = &config.launcher.extra_args;
    out.launcher.extra_args = agree(dir, "--mpirun-args", mpirun_args.then_some(args), &meta.mpirun_args, |a| {
        format!("\"{}\"", a.join(" "))
    })?;
    out.launcher.oversubscribe |= meta.oversubscribe;
    let show_dir = |p: &std::path::PathBuf| p.display().to_string();
    if let Some(recorded) = &meta.data_dir {
        out.data.dir = agree(dir, "--data-dir", data_dir.then_some(&config.data.dir), recorded, show_dir)?;
    }
    if let Some(recorded) = &meta.cache_dir {
        out.data.cache_dir =
            agree(dir, "--cache-dir", cache_dir.then_some(&config.data.cache_dir), recorded, show_dir)?;
    }
    out.data.verify = meta.verify;
    let file_text = config.experiments.as_ref().map(|path| std::fs::read_to_string(path).unwrap_or_default());
    agree(dir, "--experiments", file_text.as_ref(), &meta.experiments_toml, |_| "another experiments file".into())?;
    out.experiments_text = Some(meta.experiments_toml.clone());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DataConfig, DataKind};
    use crate::experiment::plan::PlanOptions;
    use crate::launch::MpiLauncher;

    fn meta() -> RunMeta {
        RunMeta {
            format: 1,
            dpstudy_version: "0.1.0".into(),
            git_revision: "abc".into(),
            profile: "quick".into(),
            tables: vec!["T3".into(), "T4".into()],
            max_ranks: 2,
            oversubscribe: false,
            mpirun_args: vec![],
            data: DataKind::Synthetic,
            dtype: crate::real::Dtype::F64,
            experiments_toml: "version = 1".into(),
            started: String::new(),
            finished: None,
            cells_total: 0,
            cells_failed: 0,
            cells_not_run: 0,
            reps: Some(1),
            data_dir: Some("/data".into()),
            cache_dir: Some("/cache".into()),
            verify: true,
            pool: Default::default(),
        }
    }

    /// `reproduce --resume DIR` with nothing else on the command line.
    fn bare() -> ReproduceConfig {
        ReproduceConfig {
            plan: PlanOptions { profile: "quick".into(), tables: vec![], max_ranks: None, reps: None },
            launcher: MpiLauncher { extra_args: vec![], oversubscribe: false },
            data: DataConfig {
                kind: DataKind::Mnist,
                dir: "data/mnist".into(),
                cache_dir: "c".into(),
                verify: true,
                pool: Default::default(),
            },
            results_dir: "results".into(),
            resume: Some("r/quick-1".into()),
            experiments: None,
            given: Given::default(),
            experiments_text: None,
        }
    }

    #[test]
    fn a_bare_resume_takes_the_whole_plan_from_the_run() {
        let settled = settle(&bare(), &meta()).unwrap();
        assert_eq!(settled.plan.tables, ["T3", "T4"]);
        assert_eq!((settled.plan.max_ranks, settled.plan.reps), (Some(2), Some(1)));
        assert_eq!(settled.data.kind, DataKind::Synthetic);
        assert_eq!((settled.data.dir.to_str(), settled.data.cache_dir.to_str()), (Some("/data"), Some("/cache")));
        assert_eq!(settled.experiments_text.as_deref(), Some("version = 1"));
    }

    #[test]
    fn flags_that_agree_are_accepted_and_flags_that_contradict_are_named() {
        let mut agreeing = bare();
        agreeing.plan.tables = vec!["T3".into(), "T4".into()];
        agreeing.plan.max_ranks = Some(2);
        assert!(settle(&agreeing, &meta()).is_ok());
        let mut other = bare();
        other.plan.profile = "full".into();
        other.given.profile = true;
        let e = settle(&other, &meta()).unwrap_err();
        assert_eq!((e.flag, e.asked.as_str(), e.recorded.as_str()), ("--profile", "full", "quick"));
        assert!(e.to_string().starts_with("--resume r/quick-1: --profile full contradicts the run, which has quick"));
        let mut fewer = bare();
        fewer.plan.tables = vec!["T3".into()];
        assert_eq!(settle(&fewer, &meta()).unwrap_err().flag, "--tables");
        let mut mnist = bare();
        mnist.given.data = true;
        assert_eq!(settle(&mnist, &meta()).unwrap_err().flag, "--data");
    }
}
