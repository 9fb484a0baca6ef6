//! The communication sweeps of a run (issue 32): before any cell trains, one `dpstudy
//! commbench` under mpirun for each transport and P on which the plan's MPI cells exchange
//! gradients, into `commbench/` of the results directory. The cost model fits its latencies
//! and bandwidths to these, never to the training cells it then predicts; the report shows
//! them as table T11 and its figures.

use super::plan::Plan;
use super::runner::{RunnerSettings, last_line, run_logged};
use crate::cluster::Transport;
use crate::commbench::record;
use crate::launch::available_cores;
use crate::train::Mode;

/// One sweep to run: where the ranks talk, and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sweep {
    pub transport: Transport,
    pub ranks: usize,
}

impl Sweep {
    fn name(self) -> String {
        format!("commbench-{}-p{}", self.transport.name(), self.ranks)
    }
}

/// The sweeps `plan` needs: one per (transport, P > 1) of its data- and model-parallel cells.
pub fn planned(plan: &Plan) -> Vec<Sweep> {
    let mut out: Vec<Sweep> = plan
        .cells
        .iter()
        .map(|c| &c.cell)
        .filter(|c| matches!(c.mode, Mode::Mpi | Mode::Model) && c.ranks > 1)
        .map(|c| Sweep { transport: Transport::of_link(c.link), ranks: c.ranks })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// How a sweep of the plan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Ran,
    /// Its record was there already (a resumed run).
    Kept,
    /// It could not start here (no root for emulated hosts, say): no record, no failure.
    NotRun(String),
    /// It started and failed (a wrong element, a crash): `commbench/<name>.failed` says why,
    /// and claim C12 fails on it.
    Failed(String),
}

/// Runs every sweep of `plan` not already in the results directory (a resumed run keeps
/// its own), telling `report` one line per sweep as it ends. A sweep that fails leaves no
/// record, so no prediction rests on it, and a `.failed` file beside the records, so that
/// the report and the claims see it; the run goes on.
pub fn run(plan: &Plan, settings: &RunnerSettings, mut report: impl FnMut(String)) {
    for sweep in planned(plan) {
        let named = named(sweep, settings);
        let out = record::path_in(&settings.dir, named.then_some(sweep.transport), sweep.ranks);
        let failed_marker = out.with_extension("failed");
        let _ = std::fs::remove_file(&failed_marker);
        let outcome = run_one(sweep, named, &out, settings);
        if let Outcome::Failed(why) = &outcome {
            let _ = crate::util::files::write_atomic(&failed_marker, why.as_bytes());
        }
        report(describe(sweep, named, outcome));
    }
}

/// Whether the sweep's record names its transport: not for cells on "one host" that
/// --mpirun-args or a Slurm allocation spreads over several, whose record's hosts say
/// where it ran.
fn named(sweep: Sweep, settings: &RunnerSettings) -> bool {
    !(sweep.transport == Transport::SharedMemory && settings.launcher.spreads_over_hosts())
}

fn describe(sweep: Sweep, named: bool, outcome: Outcome) -> String {
    let place = if named { sweep.transport.to_string() } else { "the hosts of the hostfile or allocation".into() };
    let what = format!("commbench {place} on {} ranks", sweep.ranks);
    match outcome {
        Outcome::Ran => format!("{what}: done"),
        Outcome::Kept => format!("{what}: kept from the resumed run"),
        Outcome::NotRun(why) => format!("{what}: NOT RUN: {why}"),
        Outcome::Failed(why) => format!("{what}: FAILED: {why}"),
    }
}

/// Runs one sweep into `out`.
fn run_one(sweep: Sweep, named: bool, out: &std::path::Path, settings: &RunnerSettings) -> Outcome {
    if out.is_file() {
        return Outcome::Kept;
    }
    let link = match sweep.transport {
        Transport::SharedMemory => None,
        Transport::Link(link) => Some(link),
    };
    if let Some(why) = link.and_then(crate::cluster::unavailable) {
        return Outcome::NotRun(why);
    }
    match start(sweep, named, link, out, settings) {
        Ok(()) => Outcome::Ran,
        Err(why) => {
            let _ = std::fs::remove_file(out);
            Outcome::Failed(why)
        }
    }
}

/// Starts the sweep under mpirun (across emulated hosts for a link) and waits for it.
fn start(
    sweep: Sweep,
    named: bool,
    link: Option<crate::cluster::Link>,
    out: &std::path::Path,
    settings: &RunnerSettings,
) -> Result<(), String> {
    std::fs::create_dir_all(out.parent().expect("a file in commbench/")).map_err(|e| format!("{e}"))?;
    let mut args: Vec<String> = ["commbench", "--out", &out.to_string_lossy()].map(String::from).into();
    if named {
        args.extend(["--transport".into(), sweep.transport.name()]);
    }
    let mut launcher = settings.launcher.clone();
    // As the cells of the same P: beyond the cores only when the plan runs them so.
    launcher.oversubscribe |= sweep.ranks > available_cores() && link.is_none();
    let mut command = launcher.command(sweep.ranks, &args).map_err(|e| format!("{e:#}"))?;
    if let Some(link) = link {
        let emulator = crate::cluster::install_emulator(&settings.dir.join("cluster")).map_err(|e| format!("{e:#}"))?;
        command = crate::cluster::across_hosts(&emulator, sweep.ranks, link, &command);
    }
    let log_path = settings.dir.join("logs").join(format!("{}.log", sweep.name()));
    let status = run_logged(&mut command, &log_path)?;
    if !status.success() || !out.is_file() {
        return Err(format!("{} ({status}; log: {})", last_line(&log_path), log_path.display()));
    }
    Ok(())
}
