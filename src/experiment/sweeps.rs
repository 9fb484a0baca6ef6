//! The communication sweeps of a run (issue 32): before any cell trains, one `dpstudy
//! commbench` under mpirun for each transport and P on which the plan's MPI cells exchange
//! gradients, into `commbench/` of the results directory. The cost model fits its latencies
//! and bandwidths to these, never to the training cells it then predicts; the report shows
//! them as table T11 and its figures.

use super::plan::Plan;
use super::runner::{RunnerSettings, run_logged};
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

/// The sweeps `plan` needs: one per (transport, P > 1) of its data-parallel cells.
pub fn planned(plan: &Plan) -> Vec<Sweep> {
    let mut out: Vec<Sweep> = plan
        .cells
        .iter()
        .map(|c| &c.cell)
        .filter(|c| c.mode == Mode::Mpi && c.ranks > 1)
        .map(|c| Sweep { transport: Transport::of_link(c.link), ranks: c.ranks })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Runs every sweep of `plan` not already in the results directory (a resumed run keeps
/// its own), telling `report` one line per sweep as it ends (what stopped each that did
/// not run). A sweep that fails leaves no record, so no prediction rests on it; the run
/// goes on.
pub fn run(plan: &Plan, settings: &RunnerSettings, mut report: impl FnMut(String)) {
    for sweep in planned(plan) {
        report(describe(sweep, named(sweep, settings), run_one(sweep, settings)));
    }
}

/// Whether the sweep's record names its transport: not for cells on "one host" that
/// --mpirun-args or a Slurm allocation spreads over several, whose record's hosts say
/// where it ran.
fn named(sweep: Sweep, settings: &RunnerSettings) -> bool {
    !(sweep.transport == Transport::SharedMemory && settings.launcher.spreads_over_hosts())
}

fn describe(sweep: Sweep, named: bool, outcome: Result<bool, String>) -> String {
    let place = if named { sweep.transport.to_string() } else { "the hosts of the hostfile or allocation".into() };
    let what = format!("commbench {place} on {} ranks", sweep.ranks);
    match outcome {
        Ok(true) => format!("{what}: done"),
        Ok(false) => format!("{what}: kept from the resumed run"),
        Err(why) => format!("{what}: NOT RUN: {why}"),
    }
}

/// `Ok(true)`: ran; `Ok(false)`: its record was there already.
fn run_one(sweep: Sweep, settings: &RunnerSettings) -> Result<bool, String> {
    let named = named(sweep, settings);
    let out = if named {
        record::path_in(&settings.dir, sweep.transport, sweep.ranks)
    } else {
        settings.dir.join(record::DIR).join(format!("hostfile-p{}.json", sweep.ranks))
    };
    if out.is_file() {
        return Ok(false);
    }
    let link = match sweep.transport {
        Transport::SharedMemory => None,
        Transport::Link(link) => Some(link),
    };
    if let Some(why) = link.and_then(crate::cluster::unavailable) {
        return Err(why);
    }
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
        let _ = std::fs::remove_file(&out);
        return Err(format!("{status}; log: {}", log_path.display()));
    }
    Ok(true)
}
