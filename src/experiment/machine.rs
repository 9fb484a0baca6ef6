//! The machine's state around each timed run, so that a reviewer can tell a noisy run from a
//! slow machine: the share of CPU time the hypervisor stole while it ran (`/proc/stat`), the
//! load average before and after (`/proc/loadavg`), and the CPU time the run's processes used
//! beside its wall time (the children's times of `/proc/self/stat`).

/// What the runner reads before and after a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    /// Clock ticks of every CPU so far: all states, and the stolen ones.
    total_ticks: u64,
    steal_ticks: u64,
    /// The one-minute load average.
    load_1m: f64,
    /// CPU seconds (user + system) of this process's children that have been waited for.
    children_cpu_s: f64,
}

/// The state around one run, as raw.csv records it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunState {
    /// Stolen ticks over all ticks while the run went (0 on bare metal).
    pub steal_share: f64,
    pub load_before: f64,
    pub load_after: f64,
    /// CPU seconds the run's processes used (every rank; mpirun's included).
    pub cpu_s: f64,
}

/// A run whose steal share is above this is flagged in the tables: a tenth of the machine
/// was someone else's, which moves a 2-core timing by more than the claims' margins.
pub const STEAL_FLAG: f64 = 0.05;

/// Clock ticks per second of `/proc`'s times: USER_HZ, 100 on every Linux architecture the
/// kernel exposes to user space with a fixed value (x86-64, arm64).
const USER_HZ: f64 = 100.0;

/// The first `cpu` line of `/proc/stat`: (all ticks, stolen ticks).
fn cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal guest guest_nice: guest time is already
    // counted in user and nice.
    let total = fields.iter().take(8).sum();
    Some((total, *fields.get(7)?))
}

/// The children's user and system time of `/proc/self/stat`, in seconds.
fn children_cpu(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 16 and 17 of the whole line (cutime, cstime) are 14 and 15 past the ')'.
    let ticks: f64 = fields.get(13)?.parse::<f64>().ok()? + fields.get(14)?.parse::<f64>().ok()?;
    Some(ticks / USER_HZ)
}

impl Snapshot {
    /// Reads the machine now; `None` where `/proc` does not say (not Linux).
    pub fn take() -> Option<Self> {
        let (total_ticks, steal_ticks) = cpu_ticks(&std::fs::read_to_string("/proc/stat").ok()?)?;
        let load_1m = std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()?;
        let children_cpu_s = children_cpu(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
        Some(Self { total_ticks, steal_ticks, load_1m, children_cpu_s })
    }

    /// The state between this snapshot and a later one.
    pub fn until(&self, after: &Snapshot) -> RunState {
        let ticks = after.total_ticks.saturating_sub(self.total_ticks);
        let stolen = after.steal_ticks.saturating_sub(self.steal_ticks);
        RunState {
            steal_share: if ticks == 0 { 0.0 } else { stolen as f64 / ticks as f64 },
            load_before: self.load_1m,
            load_after: after.load_1m,
            cpu_s: (after.children_cpu_s - self.children_cpu_s).max(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_and_self_stat_are_read_by_position() {
        let stat = "cpu  100 5 50 800 10 1 2 32 0 0\ncpu0 50 2 25 400 5 0 1 16 0 0\nintr 1\n";
        assert_eq!(cpu_ticks(stat), Some((1000, 32)));
        // pid (comm with spaces) state ppid ... utime stime cutime cstime ...
        let selfstat = "42 (dp study) S 1 42 42 0 -1 4194304 100 0 0 0 7 3 250 50 20 0 1 0 99 1000 10";
        assert_eq!(children_cpu(selfstat), Some(3.0));
        let before = Snapshot { total_ticks: 1000, steal_ticks: 32, load_1m: 0.5, children_cpu_s: 3.0 };
        let after = Snapshot { total_ticks: 1400, steal_ticks: 72, load_1m: 1.9, children_cpu_s: 5.5 };
        let state = before.until(&after);
        assert_eq!((state.steal_share, state.load_before, state.load_after, state.cpu_s), (0.1, 0.5, 1.9, 2.5));
        assert!(state.steal_share > STEAL_FLAG);
    }

    #[test]
    fn this_machine_says_its_state() {
        let before = Snapshot::take().expect("Linux /proc");
        let status = std::process::Command::new("true").status().unwrap();
        assert!(status.success());
        let state = before.until(&Snapshot::take().unwrap());
        assert!((0.0..=1.0).contains(&state.steal_share) && state.load_before >= 0.0 && state.cpu_s >= 0.0);
    }
}
