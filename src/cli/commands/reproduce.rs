//! `dpstudy reproduce`.

use super::Failed;
use super::check::check;
use super::report::print_written;
use crate::cli::args::ReproduceArgs;
use crate::experiment::{self, estimate::duration};
use crate::report;

/// `dpstudy reproduce`: runs, reports, checks; fails if a run failed or a claim failed.
pub fn reproduce(args: &ReproduceArgs) -> anyhow::Result<()> {
    let config = args.config();
    if args.dry_run {
        let dry = experiment::dry_run(&config)?;
        print!("{}", dry.text);
        return match dry.blocker {
            Some(why) => Err(Failed(why).into()),
            None => Ok(()),
        };
    }
    if let Some(path) = &args.emit_sbatch {
        return emit_sbatch(&config, path);
    }
    let report_config = args.report.config();
    report_config.validate()?;
    let done = experiment::reproduce(&config)?;
    let written = report::report(&done.dir, &report_config)?;
    print_written(&written);
    let checked = check(&done.dir, report_config.claims.as_deref());
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
        duration(done.took_s),
        done.estimate_s.map_or("no estimate".into(), |s| format!("estimated {}", duration(s))),
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

/// `reproduce --emit-sbatch FILE`: the dry run's plan and estimate, then the batch script
/// that runs the same command in an allocation.
fn emit_sbatch(config: &experiment::ReproduceConfig, path: &std::path::Path) -> anyhow::Result<()> {
    let dry = experiment::dry_run(config)?;
    eprint!("{}", dry.text);
    if let Some(why) = dry.blocker {
        return Err(Failed(why).into());
    }
    let absolute = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut command = experiment::sbatch::without_emit(&std::env::args().collect::<Vec<_>>());
    command[0] = crate::launch::current_binary()?.display().to_string();
    let job = experiment::sbatch::BatchJob {
        profile: config.plan.profile.clone(),
        nodes: dry.widest_mpi,
        cpus_per_node: dry.cores_per_node,
        estimate_s: dry.estimate_s,
        results_dir: absolute(&config.results_dir).display().to_string(),
        workdir: std::env::current_dir()?.display().to_string(),
        command,
    };
    job.write(path)?;
    eprintln!(
        "reproduce: wrote {} ({} node(s), time limit {} min); submit it with `sbatch {}`",
        path.display(),
        job.nodes,
        experiment::sbatch::time_limit_minutes(job.estimate_s),
        path.display()
    );
    Ok(())
}
