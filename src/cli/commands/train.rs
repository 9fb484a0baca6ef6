//! `dpstudy train`.

use std::time::Instant;

use super::Failed;
use crate::cli::args::TrainArgs;
use crate::train::{self as training, EpochRecord, Mode, TrainingRun};
use crate::util::files;
use crate::{baseline, model, thread_pools};

/// `dpstudy train`: one run in the configured mode; writes the result on rank 0.
pub fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    thread_pools::configure(config.threads)?;
    let progress = progress_printer(!args.quiet, config.epochs);
    let run = match config.mode {
        Mode::Mpi => match training::mpi::run(&config, progress)? {
            Some(run) => run,
            None => return Ok(()), // not rank 0: rank 0 reports
        },
        Mode::Model => match training::model_parallel::run(&config, progress)? {
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
            match training::ensemble::run(&config, progress)? {
                Some(run) => run,
                None => return Ok(()), // not rank 0: rank 0 reports
            }
        }
        Mode::Seq | Mode::Threads => training::run_local(&config, progress)?,
        Mode::Gpu => training::gpu::run(&config, progress)?,
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
    print_summary(&run);
    if let Some(path) = &args.save_weights {
        model::init::save(path, &run.weights)?;
    }
    let json = serde_json::to_string_pretty(&run.result)?;
    match &args.out {
        Some(path) => files::write_atomic(path, json.as_bytes())?,
        None => println!("{json}"),
    }
    Ok(())
}

/// The closing lines on stderr: the scores, the time, the data; an ensemble's members.
fn print_summary(run: &TrainingRun) {
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
}

/// "cost C, train accuracy A[, test accuracy T]" for progress and summary lines.
fn scores(cost: f64, train_acc: f64, test_acc: Option<f64>) -> String {
    let test = test_acc.map(|a| format!(", test accuracy {a:.4}")).unwrap_or_default();
    format!("cost {cost:.6}, train accuracy {train_acc:.4}{test}")
}

/// Prints one line per finished epoch to stderr once a run has taken more than 2 seconds.
fn progress_printer(enabled: bool, epochs: usize) -> impl FnMut(&EpochRecord) {
    let started = Instant::now();
    move |e: &EpochRecord| {
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
