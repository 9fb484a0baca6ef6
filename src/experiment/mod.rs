//! `dpstudy reproduce`: the manifest of tables ([`manifest`], checked by [`table_rules`]), the
//! cells they expand to ([`plan`]), the wall-time estimate ([`estimate`]), the runner that
//! starts a process per run ([`runner`]) and adds rounds for precision ([`precision`]), the
//! result records it writes ([`raw`], [`env`], [`machine`]), resuming a run ([`resume`]) and
//! merging the runs of several machines ([`merge`]).

pub mod env;
pub mod estimate;
pub mod machine;
pub mod manifest;
pub mod merge;
pub mod plan;
pub mod precision;
pub mod raw;
pub mod resume;
pub mod runner;
pub mod sbatch;
pub mod sweeps;
pub mod table_rules;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::data::{DataConfig, DataKind, Pool, cache::Required};
use crate::launch::{MpiLauncher, available_cores};
use manifest::Manifest;
use plan::{Plan, PlanOptions};
use raw::RunMeta;

/// What `dpstudy reproduce` is asked to do.
#[derive(Debug, Clone)]
pub struct ReproduceConfig {
    /// The profile, the tables, and the overrides of P and of the repetitions.
    pub plan: PlanOptions,
    /// How MPI cells start (`--mpirun-args`, `--oversubscribe`).
    pub launcher: MpiLauncher,
    pub data: DataConfig,
    /// Where new results directories are created.
    pub results_dir: PathBuf,
    /// An interrupted run to continue instead of a new one.
    pub resume: Option<PathBuf>,
    /// The experiments file (`None`: the default path, else the built-in copy).
    pub experiments: Option<PathBuf>,
    /// Which of the settings with a default the command line named (a resumed run takes
    /// the others from its `run.json`).
    pub given: Given,
    /// The experiments file's text as a resumed run ran it (`None`: read `experiments`).
    pub experiments_text: Option<String>,
}

/// The settings of `reproduce` that have a default, and whether the command line named
/// them (`--tables`, `--max-ranks`, `--reps` and `--experiments` say so by being present).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Given {
    pub profile: bool,
    pub data: bool,
    pub mpirun_args: bool,
    pub data_dir: bool,
    pub cache_dir: bool,
}

/// What `reproduce` did, for its exit code.
#[derive(Debug)]
pub struct Reproduced {
    pub dir: PathBuf,
    pub summary: runner::RunSummary,
    /// The estimate printed at the start (none if the calibration failed), and the time the
    /// runs took.
    pub estimate_s: Option<f64>,
    pub took_s: f64,
}

/// The manifest and the plan the config describes, checked against this host's cores.
fn plan_of(config: &ReproduceConfig) -> anyhow::Result<(Manifest, Plan)> {
    let manifest = match &config.experiments_text {
        Some(text) => Manifest::parse(text, Path::new("the experiments file recorded in run.json"))?,
        None => Manifest::load(config.experiments.as_deref())?,
    };
    let options = &config.plan;
    if options.max_ranks == Some(0) {
        anyhow::bail!("--max-ranks 0: must be at least 1");
    }
    if options.reps == Some(0) {
        anyhow::bail!("--reps 0: must be at least 1");
    }
    let plan = Plan::new(&manifest, options)?;
    let launcher = &config.launcher;
    let cores = available_cores();
    if plan.max_ranks > cores && !launcher.oversubscribe && !launcher.spreads_over_hosts() {
        anyhow::bail!(
            "--max-ranks {} exceeds the {cores} cores of this host: pass --oversubscribe (those cells are then \
             marked in every table) or spread the ranks with --mpirun-args \"--hostfile FILE\"",
            plan.max_ranks
        );
    }
    if !launcher.oversubscribe {
        check_allocation(&plan, crate::launch::Allocation::current().as_ref())?;
    }
    Ok((manifest, plan))
}

/// Inside a Slurm allocation, the most ranks a cell of the plan starts must fit its tasks
/// (unless --oversubscribe): refused before anything runs, naming the job and the ways out.
fn check_allocation(plan: &Plan, allocation: Option<&crate::launch::Allocation>) -> anyhow::Result<()> {
    let (Some(a), Some(tasks)) = (allocation, allocation.and_then(|a| a.tasks)) else {
        return Ok(());
    };
    let widest = plan.widest_ranks();
    anyhow::ensure!(
        widest <= tasks,
        "the plan's MPI cells need {widest} ranks, and the Slurm allocation ({}) holds {tasks} task(s): ask for \
         {widest} (e.g. `salloc -N {widest} --ntasks-per-node=1`), run fewer with --max-ranks or --tables, or \
         pass --oversubscribe",
        a.describe()
    );
    Ok(())
}

/// What `reproduce --dry-run` found: the plan and its estimate, and what would stop the
/// real run before it trains (too few or broken MNIST files), if anything.
#[derive(Debug)]
pub struct DryRun {
    pub text: String,
    pub blocker: Option<String>,
    /// The estimated wall time of the runs, seconds.
    pub estimate_s: f64,
    /// The most ranks a cell of the plan starts, and the most cores a process of any cell
    /// uses on its node (threads included).
    pub widest_mpi: usize,
    pub cores_per_node: usize,
}

/// `reproduce --dry-run`: the plan and the estimated wall time from a short calibration on
/// this machine, without training a cell. The calibration times the trainer, not the data:
/// when the prepared cache is not there yet (building it is the PCA, which the estimate
/// leaves out), or the data would stop the run, it runs on synthetic data of the same shape.
pub fn dry_run(config: &ReproduceConfig) -> anyhow::Result<DryRun> {
    let (_, plan) = plan_of(config)?;
    let launcher = config.launcher.clone();
    // A pool the profile does not name (or contradicts) stops the real run: the dry run
    // says so and estimates on synthetic data.
    let (data, pool_problem) = match data_of(config, &plan) {
        Ok(data) => (data, None),
        Err(e) => (config.data.clone(), Some(format!("{e:#}"))),
    };
    let mut calibration_data = data.clone();
    let mut blocker = None;
    let data_line = match (data.kind, pool_problem) {
        (_, Some(why)) => {
            calibration_data.kind = DataKind::Synthetic;
            blocker = Some(why.clone());
            format!("data: {why}")
        }
        (DataKind::Synthetic, None) => "data: synthetic".to_string(),
        (DataKind::Mnist, None) => {
            let needed = plan.rows_needed();
            let pool = crate::data::mnist::load_pool(&data.dir, data.verify, data.pool);
            let cached = crate::data::cache::find(&data).ok().flatten();
            let line = match (pool, cached) {
                (Err(e), _) => Err(format!("{}: {e}", unusable_data(&data, &plan))),
                (Ok(pool), _) if pool.len() < needed => Err(format!(
                    "{}: the profile needs {needed} MNIST images, and its pool holds {} ({}): name a pool that holds \
                     them in the experiments file (`all` holds 70,000; `dpstudy data fetch` gets its files)",
                    unusable_data(&data, &plan),
                    pool.len(),
                    pool.description,
                )),
                (Ok(pool), Some(_)) => {
                    Ok(format!("data: MNIST {} ({} images) prepared in the cache", pool.description, pool.len()))
                }
                (Ok(pool), None) => {
                    calibration_data.kind = DataKind::Synthetic;
                    Ok(format!(
                        "data: MNIST {} ({} images) in {}, not prepared yet: the run starts with the PCA (not in \
                         the estimate)",
                        pool.description,
                        pool.len(),
                        data.dir.display()
                    ))
                }
            };
            line.unwrap_or_else(|why| {
                calibration_data.kind = DataKind::Synthetic;
                blocker = Some(why.clone());
                format!("data: {why}")
            })
        }
    };
    let gpu = crate::train::gpu::availability().map_err(|e| e.to_string());
    let python = runner::probe_python(&plan);
    let scratch = std::env::temp_dir().join(format!("dpstudy-dry-run-{}", std::process::id()));
    let settings = runner::RunnerSettings { data, launcher, dir: scratch.clone(), gpu, python };
    let calibration_settings = runner::RunnerSettings { data: calibration_data, ..settings.clone() };
    let calibration = estimate::calibrate(&plan, &calibration_settings, available_cores());
    let _ = std::fs::remove_dir_all(&scratch);
    let estimate = estimate::describe(&plan, &calibration?, |c| runner::not_run_reason(&plan, c, &settings), |_| 0);
    let ending = if blocker.is_some() { "the run would stop before training" } else { "nothing was trained" };
    let sweeps = sweeps::planned(&plan);
    let sweep_line = if sweeps.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = sweeps.iter().map(|s| format!("{} P={}", s.transport, s.ranks)).collect();
        format!(
            "commbench: {} sweep(s) before the cells ({}), not in the estimate: seconds on shared memory, minutes on \
             a link shaped to 100 Mbit/s\n",
            sweeps.len(),
            names.join(", ")
        )
    };
    let cells = plan.cells.iter().map(|c| &c.cell);
    let widest_mpi = cells.clone().filter(|c| c.mode.under_mpirun()).map(|c| c.ranks).max().unwrap_or(1);
    let cores_per_node = cells.map(|c| if c.mode.under_mpirun() { c.threads } else { c.cores() }).max().unwrap_or(1);
    Ok(DryRun {
        text: format!("{}{sweep_line}{data_line}\ndry run: {ending}\n", estimate.text),
        blocker,
        estimate_s: estimate.total_s,
        widest_mpi,
        cores_per_node,
    })
}

/// Runs the plan the config describes into a new (or resumed) results directory.
pub fn reproduce(config: &ReproduceConfig) -> anyhow::Result<Reproduced> {
    let settled;
    let config = match &config.resume {
        Some(dir) => {
            settled =
                resume::settle(config, &RunMeta::read(dir).with_context(|| format!("--resume {}", dir.display()))?)?;
            &settled
        }
        None => config,
    };
    let (manifest, plan) = plan_of(config)?;
    let (data, launcher) = (data_of(config, &plan)?, config.launcher.clone());
    if data.kind == DataKind::Mnist {
        prepare_mnist(&data, &plan)?;
    }
    let gpu = crate::train::gpu::availability().map_err(|e| e.to_string());
    let (dir, previous) = match &config.resume {
        Some(dir) => resume(dir, &plan)?,
        None => (new_results_dir(&config.results_dir, &plan.profile_name)?, vec![]),
    };
    let mut meta = run_meta(config, &data, &manifest, &plan);
    meta.write(&dir)?;
    let python = runner::probe_python(&plan);
    let mut environment = env::Environment::probe();
    environment.baselines = match &python {
        Ok(env) => env.describe(),
        Err(why) => format!("none: {why}"),
    };
    crate::util::files::write_atomic(&dir.join(raw::ENV_FILE), serde_json::to_string_pretty(&environment)?.as_bytes())?;
    eprintln!(
        "reproduce: profile {}, tables {}, {} cells, max P = {}, data {}; results in {}",
        plan.profile_name,
        meta.tables.join(" "),
        plan.cells.len(),
        plan.max_ranks,
        data.dir.display(),
        dir.display()
    );
    eprintln!("reproduce: baselines: {}", environment.baselines);
    let settings = runner::RunnerSettings { data, launcher, dir: dir.clone(), gpu, python };
    let calibration_settings = runner::RunnerSettings { dir: dir.join("calibration"), ..settings.clone() };
    let calibration = estimate::calibrate(&plan, &calibration_settings, available_cores());
    let estimate_s = estimate_run(&plan, &settings, &previous, calibration)?;
    let started = std::time::Instant::now();
    runner::create_run_dirs(&dir)?;
    sweeps::run(&plan, &settings, |line| eprintln!("reproduce: {line}"));
    let summary = runner::run(&plan, &settings, previous)?;
    let took_s = started.elapsed().as_secs_f64();
    let rows = raw::read_rows(&dir)?;
    meta.cells_failed = count_cells(&rows, raw::Status::Failed);
    meta.cells_not_run = count_cells(&rows, raw::Status::NotRun);
    meta.finished = Some(utc_now());
    meta.write(&dir)?;
    Ok(Reproduced { dir, summary, estimate_s, took_s })
}

/// The data a run of `plan` reads: the command's, on the profile's pool. A profile that runs
/// on MNIST must name its pool, and `--pool` may only repeat it: a run on other images than
/// its profile's would not give the profile's results.
fn data_of(config: &ReproduceConfig, plan: &Plan) -> anyhow::Result<DataConfig> {
    let mut data = config.data.clone();
    if data.kind == DataKind::Synthetic {
        return Ok(data);
    }
    let named = plan.profile.pool;
    if named == Pool::Present && config.experiments_text.is_some() {
        // A resumed run recorded before profiles named their pools: it goes on reading
        // every pair present, as its first part did.
        eprintln!("reproduce: the resumed run's profile names no pool: it reads every MNIST pair present, as before");
        return Ok(data);
    }
    anyhow::ensure!(
        named != Pool::Present,
        "profile `{}` names no pool: add `pool = \"test\"`, `\"train\"` or `\"all\"` to it in the experiments \
         file (the images it reads, whatever else --data-dir holds)",
        plan.profile_name
    );
    anyhow::ensure!(
        data.pool == Pool::Present || data.pool == named,
        "--pool {}: profile `{}` reads pool `{named}`; its results come from those images only",
        data.pool,
        plan.profile_name
    );
    data.pool = named;
    Ok(data)
}

/// Prepares the MNIST data once, before any cell, so no cell pays for (or races on) the
/// PCA, and a profile that needs more images than there are stops before anything runs.
fn prepare_mnist(data: &DataConfig, plan: &Plan) -> anyhow::Result<()> {
    let required = Required::rows(plan.rows_needed(), "--profile");
    crate::thread_pools::configure(1)?;
    let loaded = crate::data::cache::load_or_prepare(data, false, None).with_context(|| unusable_data(data, plan))?;
    anyhow::ensure!(
        loaded.prepared.len() >= required.rows,
        "{}: the profile needs {} MNIST images, and its pool holds {} ({}): name a pool that holds them in the \
         experiments file (`all` holds 70,000; `dpstudy data fetch` gets its files)",
        unusable_data(data, plan),
        required.rows,
        loaded.prepared.len(),
        loaded.prepared.source,
    );
    Ok(())
}

/// The context of an error that stops a run on MNIST before it starts: what the profile
/// reads, and the way around it.
fn unusable_data(data: &DataConfig, plan: &Plan) -> String {
    format!(
        "cannot use the MNIST data in {} for profile `{}` (pool `{}`; the timing tables also run on synthetic \
         data with `--data synthetic`, without the tables of accuracies, T5 and T9)",
        data.dir.display(),
        plan.profile_name,
        data.pool
    )
}

/// What `run.json` records of a run about to start: what runs, from which code, on what.
fn run_meta(config: &ReproduceConfig, data: &DataConfig, manifest: &Manifest, plan: &Plan) -> RunMeta {
    let launcher = &config.launcher;
    RunMeta {
        format: raw::FORMAT,
        dpstudy_version: env!("CARGO_PKG_VERSION").into(),
        git_revision: crate::util::build_info::GIT_REVISION.into(),
        profile: plan.profile_name.clone(),
        tables: plan.tables.iter().map(|t| t.id.clone()).collect(),
        max_ranks: plan.max_ranks,
        oversubscribe: launcher.oversubscribe,
        mpirun_args: launcher.extra_args.clone(),
        data: data.kind,
        pool: data.pool,
        dtype: plan.profile.dtype,
        experiments_toml: manifest.text.clone(),
        started: utc_now(),
        finished: None,
        cells_total: plan.cells.len(),
        cells_failed: 0,
        cells_not_run: 0,
        reps: config.plan.reps,
        data_dir: Some(data.dir.clone()),
        cache_dir: Some(data.cache_dir.clone()),
        verify: data.verify,
    }
}

/// The wall-time estimate of the runs left (those of `previous` are done), printed and
/// recorded. It informs; a calibration that failed (a trainer that cannot start) leaves the
/// runs to fail one by one, each with its reason in raw.csv.
fn estimate_run(
    plan: &Plan,
    settings: &runner::RunnerSettings,
    previous: &[raw::RawRow],
    calibration: anyhow::Result<estimate::Calibration>,
) -> anyhow::Result<Option<f64>> {
    let kept: Vec<String> = previous
        .iter()
        .filter(|r| r.status == raw::Status::Ok && r.epoch == Some(1) && r.rank == Some(0))
        .map(|r| r.cell.clone())
        .collect();
    let done = |c: &plan::PlannedCell| {
        let id = c.cell.id();
        kept.iter().filter(|k| **k == id).count()
    };
    match calibration {
        Ok(calibration) => {
            let estimate = estimate::describe(plan, &calibration, |c| runner::not_run_reason(plan, c, settings), done);
            estimate::record(&settings.dir, &estimate)?;
            eprint!("{}", estimate.text);
            Ok(Some(estimate.total_s))
        }
        Err(e) => {
            eprintln!("estimate: none, the calibration failed: {e:#}");
            Ok(None)
        }
    }
}

fn count_cells(rows: &[raw::RawRow], status: raw::Status) -> usize {
    rows.iter().filter(|r| r.status == status).map(|r| &r.cell).collect::<std::collections::HashSet<_>>().len()
}

/// `results/<profile>-<UTC time>`, created empty.
fn new_results_dir(root: &Path, profile: &str) -> anyhow::Result<PathBuf> {
    let stamp = utc_now().replace([':', '-'], "").replace('T', "-").trim_end_matches('Z').to_string();
    let dir = root.join(format!("{profile}-{stamp}"));
    std::fs::create_dir_all(root).with_context(|| format!("cannot create the results directory {}", root.display()))?;
    std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Checks that `dir` holds a run of this binary and this plan; returns its finished rows.
fn resume(dir: &Path, plan: &Plan) -> anyhow::Result<(PathBuf, Vec<raw::RawRow>)> {
    let meta = RunMeta::read(dir).with_context(|| format!("--resume {}", dir.display()))?;
    let ours = env!("CARGO_PKG_VERSION");
    if meta.dpstudy_version != ours || meta.git_revision != crate::util::build_info::GIT_REVISION {
        anyhow::bail!(
            "--resume {}: its runs were made by dpstudy {} ({}); this is {ours} ({}): timings of two binaries do \
             not belong in one table. Start a new run",
            dir.display(),
            meta.dpstudy_version,
            meta.git_revision,
            crate::util::build_info::GIT_REVISION
        );
    }
    let tables: Vec<String> = plan.tables.iter().map(|t| t.id.clone()).collect();
    if meta.profile != plan.profile_name || meta.tables != tables || meta.max_ranks != plan.max_ranks {
        anyhow::bail!(
            "--resume {}: it ran profile {} tables {} with max P {}; this command asks for profile {} tables {} \
             with max P {}",
            dir.display(),
            meta.profile,
            meta.tables.join(","),
            meta.max_ranks,
            plan.profile_name,
            tables.join(","),
            plan.max_ranks
        );
    }
    let rows = if dir.join(raw::RAW_FILE).exists() { raw::read_rows(dir)? } else { vec![] };
    Ok((dir.to_path_buf(), rows))
}

/// The current UTC time as `2026-11-25T10:42:07Z`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    utc_from_unix(secs)
}

/// Civil date from days since 1970-01-01 (the proleptic Gregorian calendar, in 400-year eras).
fn utc_from_unix(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quick-profile config on MNIST, reading `experiments_text` (a resumed run's) if given.
    fn quick(pool: Pool, experiments_text: Option<String>) -> ReproduceConfig {
        ReproduceConfig {
            plan: PlanOptions { profile: "quick".into(), tables: vec!["T1".into()], max_ranks: Some(1), reps: None },
            launcher: MpiLauncher::default(),
            data: DataConfig { kind: DataKind::Mnist, dir: "d".into(), cache_dir: "c".into(), verify: true, pool },
            results_dir: "r".into(),
            resume: None,
            experiments: None,
            given: Given::default(),
            experiments_text,
        }
    }

    #[test]
    fn a_run_reads_its_profiles_pool_and_refuses_another() {
        let config = quick(Pool::Present, None);
        let (_, plan) = plan_of(&config).unwrap();
        assert_eq!(data_of(&config, &plan).unwrap().pool, Pool::Test);
        let config = quick(Pool::All, None);
        let e = data_of(&config, &plan).unwrap_err().to_string();
        assert!(e.contains("--pool all: profile `quick` reads pool `test`"), "{e}");
    }

    #[test]
    fn a_profile_without_a_pool_is_refused_unless_a_resumed_run_recorded_it_so() {
        // The experiments file as runs recorded it before profiles named their pools.
        let old: String = manifest::BUILTIN.lines().filter(|l| !l.starts_with("pool =")).collect::<Vec<_>>().join("\n");
        let resumed = quick(Pool::Present, Some(old.clone()));
        let (_, plan) = plan_of(&resumed).unwrap();
        assert_eq!(data_of(&resumed, &plan).unwrap().pool, Pool::Present, "reads every pair, as it did");
        // The same file given as a new run's experiments: its profile must name a pool.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("experiments.toml");
        std::fs::write(&path, &old).unwrap();
        let new = ReproduceConfig { experiments: Some(path), ..quick(Pool::Present, None) };
        let (_, plan) = plan_of(&new).unwrap();
        let e = data_of(&new, &plan).unwrap_err().to_string();
        assert!(e.contains("profile `quick` names no pool"), "{e}");
    }

    #[test]
    fn utc_dates_are_civil() {
        assert_eq!(utc_from_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_from_unix(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_from_unix(1_795_609_327), "2026-11-25T12:22:07Z");
    }
}
