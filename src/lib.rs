//! dpstudy: a reproducible study of data-parallel versus sequential versus GPU training of
//! the study's 400-H-10 network on PCA-reduced MNIST.
//!
//! Every subcommand of the `dpstudy` binary is a documented function here; `main.rs` only
//! parses arguments and reports errors. This is the edge: each command's arguments become
//! a plain config ([`cli::config`]) before any module below runs, and nothing below imports
//! [`cli`].

pub mod baseline;
pub mod bench;
pub mod build_info;
pub mod cli;
pub mod cluster;
pub mod data;
pub mod ensemble;
pub mod experiment;
pub mod fsutil;
pub mod launch;
pub mod linalg;
pub mod model;
pub mod paper;
pub mod real;
pub mod report;
pub mod rng;
pub mod stats;
pub mod threads;
pub mod tomlfile;
pub mod train;

use std::path::Path;
use std::time::Instant;

use anyhow::Context;

use cli::{Command, DataCommand, TrainArgs};
use data::{DataConfig, DataKind, checksum};
use train::Mode;

/// Runs one parsed command line.
pub fn run(cli: cli::Cli) -> anyhow::Result<()> {
    // A kernel choice that names no kernel stops every command, before any run (children
    // inherit the environment).
    model::kernel::KernelChoice::from_env().map_err(anyhow::Error::msg)?;
    match cli.command {
        Command::Data(DataCommand::Prepare { dirs, force }) => {
            threads::configure(1)?;
            let loaded = data::cache::load_or_prepare(&dirs.config(DataKind::Mnist), force, None)?;
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
        Command::Data(DataCommand::Info { dirs }) => data_info(&dirs.config(DataKind::Mnist)),
        Command::Train(args) => train_command(&args),
        Command::Bench(args) => {
            let config = args.config();
            threads::configure(config.threads)?;
            let report = bench::run(&config)?;
            print!("{}", report.table());
            if let Some(path) = &args.out {
                fsutil::write_atomic(path, serde_json::to_string_pretty(&report)?.as_bytes())?;
            }
            Ok(())
        }
        Command::Reproduce(args) => reproduce_command(&args),
        Command::Report(args) => {
            let config = args.report.config();
            config.validate()?;
            let written = report::report(&args.dir, &config)?;
            print_written(&written);
            if args.html {
                let page = report::html_report(&args.dir, config.expected.as_deref())?;
                eprintln!("report: {}", page.display());
            }
            Ok(())
        }
        Command::Compare(args) => {
            let expected = report::expected_dir(&args.run, args.expected.as_deref())?;
            let comparison = report::compare::compare(&args.run, &expected)
                .with_context(|| format!("comparing {} with {}", args.run.display(), expected.display()))?;
            print!("{}", report::compare::render(&comparison));
            let outside = comparison.outside();
            if outside > 0 {
                return Err(
                    Failed(format!("{outside} figure(s) outside their tolerance (lines marked OUTSIDE)")).into()
                );
            }
            Ok(())
        }
        Command::Check(args) => check_command(&args.dir, args.claims.as_deref()),
        Command::Merge(args) => {
            let merged = experiment::merge::merge(&args.config())?;
            for m in &merged.machines.machines {
                let count = merged.machines.cells.values().filter(|l| **l == m.label).count();
                eprintln!("merge: {count} cells from {} ({})", m.label, m.source.display());
            }
            let out = args.out.display();
            eprintln!(
                "merge: {} cells, {} not run on any machine, in {out}; next: dpstudy report {out} and dpstudy check {out}",
                merged.cells_total, merged.cells_not_run
            );
            Ok(())
        }
        Command::Model(args) => {
            let model = report::model::model_command(&args.dirs, &args.out, args.paper_dir.as_deref())?;
            for t in model.tables() {
                println!("{}", t.markdown());
            }
            if let Some(worst) = model.worst_prediction() {
                eprintln!(
                    "model: {} predictions; the worst {:+.1}% ({})",
                    model.predictions.len(),
                    100.0 * worst.relative_error(),
                    worst.cell
                );
            }
            Ok(())
        }
        Command::Paper { paper_dir } => {
            let pdf = paper::build(&paper_dir)?;
            eprintln!("paper: {}", pdf.display());
            Ok(())
        }
        Command::Claims { claims, expected } => {
            let claims = report::claims::load(claims.as_deref())?;
            // A column per directory, named by its profile (and by the directory too where
            // that is not the profile's name: `full-short: baselines`).
            let records = expected
                .iter()
                .map(|dir| {
                    let record = report::claims::CheckRecord::read(dir)
                        .with_context(|| format!("--expected {}", dir.display()))?;
                    let dir_name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                    let name = if dir_name == record.profile {
                        record.profile.clone()
                    } else {
                        format!("{}: {dir_name}", record.profile)
                    };
                    Ok((name, record))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            // The time column is the quick profile's, measured table by table.
            let times = expected
                .iter()
                .zip(&records)
                .find(|(_, (_, r))| r.profile == "quick")
                .and_then(|(dir, _)| std::fs::read_to_string(dir.join("table-times.txt")).ok())
                .unwrap_or_default();
            print!("{}", report::claims::render::markdown_table(&claims, &records, &times));
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
    let (record, text) = report::check(dir, claims)?;
    print!("{text}");
    let failed = record.count(report::claims::Outcome::Fail);
    if failed > 0 {
        return Err(Failed(format!("{failed} claim(s) failed (details in {})", dir.join("check.txt").display())).into());
    }
    if !record.complete {
        return Err(Failed(format!("{} is an incomplete run", dir.display())).into());
    }
    Ok(())
}

/// `dpstudy reproduce`: runs, reports, checks; fails if a run failed or a claim failed.
fn reproduce_command(args: &cli::ReproduceArgs) -> anyhow::Result<()> {
    let config = args.config();
    if args.dry_run {
        let dry = experiment::dry_run(&config)?;
        print!("{}", dry.text);
        return match dry.blocker {
            Some(why) => Err(Failed(why).into()),
            None => Ok(()),
        };
    }
    let report_config = args.report.config();
    report_config.validate()?;
    let done = experiment::reproduce(&config)?;
    let written = report::report(&done.dir, &report_config)?;
    print_written(&written);
    let checked = check_command(&done.dir, report_config.claims.as_deref());
    // The reviewer's page, whatever the verdicts: a failed claim is when it is needed most.
    let page = report::html_report(&done.dir, report_config.expected.as_deref());
    match &page {
        Ok(path) => eprintln!(
            "report: {} (verdicts, the comparison with the expected results, tables, figures)",
            path.display()
        ),
        Err(e) => eprintln!("error: report.html: {e:#}"),
    }
    eprintln!("{}", done.summary.precision);
    eprintln!(
        "reproduce: {} runs done ({} added for precision), {} failed, {} cells not run in {} ({}); results in {}",
        done.summary.runs_done,
        done.summary.runs_added,
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
    checked?;
    page.map(|_| ())
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
    let config = args.config()?;
    threads::configure(config.threads)?;
    let progress = progress_printer(!args.quiet, config.epochs);
    let run = match config.mode {
        Mode::Mpi => match train::mpi::run(&config, progress)? {
            Some(run) => run,
            None => return Ok(()), // not rank 0: rank 0 reports
        },
        Mode::Ensemble => {
            if let Some(path) = &args.save_weights {
                return Err(Failed(format!(
                    "--save-weights {}: an ensemble has one set of weights per member; train a member alone \
                     (--mode seq with its --seed and --hidden) to save it",
                    path.display()
                ))
                .into());
            }
            match train::ensemble::run(&config, progress)? {
                Some(run) => run,
                None => return Ok(()), // not rank 0: rank 0 reports
            }
        }
        Mode::Seq | Mode::Threads => train::run_local(&config, progress)?,
        Mode::Gpu => train::gpu::run(&config, progress)?,
        Mode::Original | Mode::OriginalFixed | Mode::Torch | Mode::TorchDdp => {
            if let Some(path) = &args.save_weights {
                return Err(Failed(format!(
                    "--save-weights {}: the baseline {} does not hand its weights back (only dpstudy's own modes save them)",
                    path.display(),
                    config.mode
                ))
                .into());
            }
            baseline::run(&config)?
        }
    };
    let last = run.result.final_epoch();
    eprintln!(
        "done: {}, {:.2} s compute on {} rank(s); data: {}",
        scores(last.cost, last.train_acc, last.test_acc),
        run.result.total_compute_s,
        run.result.ranks,
        run.result.data_source
    );
    if let Some(e) = &run.result.ensemble {
        let combined: Vec<String> = e.combiners.iter().map(|c| format!("{} {:.4}", c.combiner, c.test_acc)).collect();
        eprintln!(
            "ensemble of {} (the line above is member 0's): test accuracy best member {:.4}; {}",
            e.members.len(),
            e.best_member().test_acc,
            combined.join(", ")
        );
    }
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
fn data_info(data: &DataConfig) -> anyhow::Result<()> {
    println!("data directory: {}", data.dir.display());
    for file in checksum::ALL {
        let status = match &data::mnist::find(&data.dir, &file) {
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
    match data::cache::find(data) {
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
