//! dpstudy: a reproducible study of data-parallel versus sequential versus GPU training of
//! the study's 400-H-10 network on PCA-reduced MNIST.
//!
//! Every subcommand of the `dpstudy` binary is a documented function here; `main.rs` only
//! parses arguments and reports errors.

pub mod bench;
pub mod build_info;
pub mod cli;
pub mod data;
pub mod experiment;
pub mod fsutil;
pub mod launch;
pub mod model;
pub mod paper;
pub mod real;
pub mod report;
pub mod rng;
pub mod threads;
pub mod tomlfile;
pub mod train;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use cli::{Command, DataCommand, DataDirs, TrainArgs};
use data::{DataConfig, DataKind, checksum};
use train::{Mode, TrainConfig};

/// Runs one parsed command line.
pub fn run(cli: cli::Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Data(DataCommand::Prepare { dirs, force }) => {
            threads::configure(1)?;
            let loaded = data::cache::load_or_prepare(&data_config(&dirs, DataKind::Mnist), force, None)?;
            println!(
                "{} {}: {} samples x {} features, explained variance {:.4}\nmanifest: {}",
                if loaded.reused { "reused" } else { "prepared" },
                loaded.prepared.source,
                loaded.prepared.len(),
                data::FEATURES,
                loaded.manifest.explained_variance_ratio,
                loaded.manifest_path.display()
            );
            Ok(())
        }
        Command::Data(DataCommand::Fetch { dirs, mirrors }) => {
            let mirrors =
                if mirrors.is_empty() { data::fetch::MIRRORS.iter().map(|m| m.to_string()).collect() } else { mirrors };
            let report = data::fetch::fetch(&dirs.data_dir, &mirrors);
            for name in &report.already_present {
                println!("{name}: already present, checksum ok");
            }
            for (name, url) in &report.downloaded {
                println!("{name}: downloaded from {url}, checksum ok");
            }
            match report.failure(&dirs.data_dir) {
                Some(message) => anyhow::bail!(message),
                None => Ok(()),
            }
        }
        Command::Data(DataCommand::Info { dirs }) => data_info(&dirs),
        Command::Train(args) => train_command(&args),
        Command::Bench(args) => {
            threads::configure(args.threads)?;
            let report = bench::run(&args)?;
            print!("{}", report.table());
            if let Some(path) = &args.out {
                fsutil::write_atomic(path, serde_json::to_string_pretty(&report)?.as_bytes())?;
            }
            Ok(())
        }
        Command::Reproduce(args) => reproduce_command(&args),
        Command::Report(args) => {
            let written = report::report(&args.dir, &args.report)?;
            print_written(&written);
            Ok(())
        }
        Command::Check(args) => check_command(&args.dir, args.claims.as_deref()),
        Command::Paper { paper_dir } => {
            let pdf = paper::build(&paper_dir)?;
            eprintln!("paper: {}", pdf.display());
            Ok(())
        }
        Command::Claims { claims, expected } => {
            let claims = report::claims::load(claims.as_deref())?;
            let mut measured = vec![];
            let mut times = String::new();
            for dir in &expected {
                let check = dir.join("check.txt");
                let text = std::fs::read_to_string(&check)
                    .with_context(|| format!("--expected {}: cannot read {}", dir.display(), check.display()))?;
                let profile = dir.file_name().map_or("?".into(), |n| n.to_string_lossy().into_owned());
                if profile == "quick" {
                    times = std::fs::read_to_string(dir.join("table-times.txt")).unwrap_or_default();
                }
                measured.push((profile, text));
            }
            print!("{}", report::claims::markdown_table(&claims, &measured, &times));
            Ok(())
        }
    }
}

/// A failure whose details were printed above (verdicts, run lines); the message sums it up.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Failed(pub String);

fn print_written(w: &report::Written) {
    let dirs: Vec<String> = w.dirs.iter().map(|d| d.display().to_string()).collect();
    eprintln!(
        "report: {} tables and {} figures (SVG and PNG) written to {}{}",
        w.tables.len(),
        w.figures.len(),
        dirs.join(" and "),
        if w.complete { "" } else { " (INCOMPLETE RUN)" }
    );
}

/// `dpstudy check`: prints the verdicts; fails if a claim fails or the run is incomplete.
fn check_command(dir: &Path, claims: Option<&Path>) -> anyhow::Result<()> {
    let (verdicts, text) = report::check(dir, claims)?;
    print!("{text}");
    let failed = verdicts.iter().filter(|v| v.outcome == report::claims::Outcome::Fail).count();
    if failed > 0 {
        return Err(Failed(format!("{failed} claim(s) failed (details in {})", dir.join("check.txt").display())).into());
    }
    if text.starts_with("INCOMPLETE") {
        return Err(Failed(format!("{} is an incomplete run", dir.display())).into());
    }
    Ok(())
}

/// `dpstudy reproduce`: runs, reports, checks; fails if a run failed or a claim failed.
fn reproduce_command(args: &cli::ReproduceArgs) -> anyhow::Result<()> {
    if args.dry_run {
        let dry = experiment::dry_run(args)?;
        print!("{}", dry.text);
        return match dry.blocker {
            Some(why) => Err(Failed(why).into()),
            None => Ok(()),
        };
    }
    let done = experiment::reproduce(args)?;
    let written = report::report(&done.dir, &args.report)?;
    print_written(&written);
    let checked = check_command(&done.dir, args.report.claims.as_deref());
    eprintln!(
        "reproduce: {} runs done, {} failed, {} cells not run in {} ({}); results in {}",
        done.summary.runs_done,
        done.summary.runs_failed,
        done.summary.cells_not_run,
        experiment::estimate::duration(done.took_s),
        done.estimate_s.map_or("no estimate".into(), |s| format!("estimated {}", experiment::estimate::duration(s))),
        done.dir.display()
    );
    if done.summary.runs_failed > 0 {
        let claims = checked.err().map(|e| format!("; {e}")).unwrap_or_default();
        let logs = done.dir.join("logs");
        return Err(
            Failed(format!("{} run(s) failed (see {}){claims}", done.summary.runs_failed, logs.display())).into()
        );
    }
    checked
}

/// The cache directory: `--cache-dir`, else `$XDG_CACHE_HOME/dpstudy`, else `~/.cache/dpstudy`.
pub fn cache_dir(dirs: &DataDirs) -> PathBuf {
    dirs.cache_dir.clone().unwrap_or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"))
            .join("dpstudy")
    })
}

/// The data settings of a command.
pub fn data_config(dirs: &DataDirs, kind: DataKind) -> DataConfig {
    DataConfig { kind, dir: dirs.data_dir.clone(), cache_dir: cache_dir(dirs), verify: !dirs.no_verify }
}

/// Turns `train` arguments into a validated configuration (samples resolved later, once
/// the data is known, when not given).
pub fn train_config(args: &TrainArgs) -> anyhow::Result<TrainConfig> {
    let config = TrainConfig {
        mode: args.mode,
        sync: (args.mode == Mode::Mpi).then_some(args.sync),
        data: data_config(&args.dirs, args.data.clone()),
        samples: args.samples.unwrap_or(usize::MAX),
        test_samples: args.test_samples,
        hidden: args.hidden,
        epochs: args.epochs,
        iters: args.iters,
        lr: args.lr,
        dtype: args.dtype,
        batch_size: args.batch_size,
        seed: args.seed,
        threads: args.threads,
        init: args.init.clone(),
    };
    config.validate()?;
    Ok(config)
}

/// "cost C, train accuracy A[, test accuracy T]" for progress and summary lines.
fn scores(cost: f64, train_acc: f64, test_acc: Option<f64>) -> String {
    let test = test_acc.map(|a| format!(", test accuracy {a:.4}")).unwrap_or_default();
    format!("cost {cost:.6}, train accuracy {train_acc:.4}{test}")
}

/// Prints one line per finished epoch to stderr once a run has taken more than 2 seconds.
pub fn progress_printer(enabled: bool, epochs: usize) -> impl FnMut(&train::EpochRecord) {
    let started = Instant::now();
    move |e: &train::EpochRecord| {
        if enabled && started.elapsed().as_secs_f64() > 2.0 {
            eprintln!(
                "epoch {}/{epochs}: {}, {:.2} s",
                e.epoch,
                scores(e.cost, e.train_acc, e.test_acc),
                e.root().wall_s
            );
        }
    }
}

/// `dpstudy train`: one run in the configured mode; writes the result on rank 0.
fn train_command(args: &TrainArgs) -> anyhow::Result<()> {
    let config = train_config(args)?;
    threads::configure(config.threads)?;
    let progress = progress_printer(!args.quiet, config.epochs);
    let run = match config.mode {
        Mode::Mpi => match train::mpi::run(&config, progress)? {
            Some(run) => run,
            None => return Ok(()), // not rank 0: rank 0 reports
        },
        Mode::Seq | Mode::Threads => train::run_local(&config, progress)?,
        Mode::Gpu => train::gpu::run(&config, progress)?,
    };
    let last = run.result.final_epoch();
    eprintln!(
        "done: {}, {:.2} s compute on {} rank(s); data: {}",
        scores(last.cost, last.train_acc, last.test_acc),
        run.result.total_compute_s,
        run.result.ranks,
        run.result.data_source
    );
    if let Some(path) = &args.save_weights {
        model::init::save(path, &run.weights)?;
    }
    let json = serde_json::to_string_pretty(&run.result)?;
    match &args.out {
        Some(path) => fsutil::write_atomic(path, json.as_bytes())?,
        None => println!("{json}"),
    }
    Ok(())
}

/// `dpstudy data info`: which files are present, whether they verify, and the cache.
fn data_info(dirs: &DataDirs) -> anyhow::Result<()> {
    println!("data directory: {}", dirs.data_dir.display());
    for file in checksum::ALL {
        let status = match &data::mnist::find(&dirs.data_dir, &file) {
            None => "absent".to_string(),
            Some(path) => {
                let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
                let sum = checksum::sha256_hex(&bytes);
                let ok = sum == file.gz_sha256 || sum == file.raw_sha256;
                format!("{} ({})", path.display(), if ok { "checksum ok" } else { "CHECKSUM MISMATCH" })
            }
        };
        println!("  {:<28} {status}\n  {:<28} sha256 {}", file.gz_name, "", file.gz_sha256);
    }
    let data = data_config(dirs, DataKind::Mnist);
    match data::cache::find(&data) {
        Ok(Some((path, manifest))) => println!(
            "prepared: {} ({} samples, explained variance {:.4})",
            path.display(),
            manifest.key.pool_size,
            manifest.explained_variance_ratio
        ),
        Ok(None) => println!("prepared: not yet (run `dpstudy data prepare`); cache dir {}", data.cache_dir.display()),
        Err(e) => println!("prepared: no usable data: {e:#}"),
    }
    Ok(())
}
