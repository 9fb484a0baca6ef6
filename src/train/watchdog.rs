//! A watchdog for collectives that never return.
//!
//! When a rank dies, Open MPI ends the job. When a host becomes unreachable (its link goes
//! down, it hangs), nothing ends it: every other rank waits in its next collective, and
//! `mpirun` itself hangs, even after a rank exits ("abort is already in progress"), until
//! it is signalled twice. So each rank arms this watchdog around its collectives; one that
//! waits longer than the timeout says which rank and host it is and which peers it was
//! waiting for, ends its `mpirun` if that is its parent (the ranks on mpirun's own host),
//! and exits with [`EXIT_CODE`]. No result file is written: only rank 0 writes one, after
//! training.
//!
//! The timeout comes from `DPSTUDY_COLLECTIVE_TIMEOUT` (seconds; 0 turns the watchdog off),
//! default [`DEFAULT_TIMEOUT_S`]: longer than any rank's legitimate wait for a slower peer's
//! compute at the study's sizes. On other hosts, pass it with `mpirun -x`.

use std::os::unix::process::CommandExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The environment variable that sets the timeout, in seconds.
pub const TIMEOUT_VAR: &str = "DPSTUDY_COLLECTIVE_TIMEOUT";
pub const DEFAULT_TIMEOUT_S: f64 = 300.0;
/// The exit code of a rank the watchdog ended.
pub const EXIT_CODE: i32 = 3;

/// The timeout the environment asks for (`None`: off).
pub fn timeout_from_env() -> anyhow::Result<Option<Duration>> {
    parse_timeout(std::env::var_os(TIMEOUT_VAR).map(|v| v.to_string_lossy().into_owned()).as_deref())
}

/// The timeout for a value of [`TIMEOUT_VAR`] (`None`: unset, the default).
pub fn parse_timeout(value: Option<&str>) -> anyhow::Result<Option<Duration>> {
    let Some(text) = value else {
        return Ok(Some(Duration::from_secs_f64(DEFAULT_TIMEOUT_S)));
    };
    match text.trim().parse::<f64>() {
        Ok(0.0) => Ok(None),
        Ok(s) if s.is_finite() && s > 0.0 => Ok(Some(Duration::from_secs_f64(s))),
        _ => anyhow::bail!("{TIMEOUT_VAR}={text}: expected seconds (a positive number), or 0 for no watchdog"),
    }
}

/// Who this rank is and whom it waits for, for the message.
#[derive(Debug, Clone)]
pub struct RankIdentity {
    pub rank: usize,
    /// Host name of every rank, in rank order.
    pub hosts: Vec<String>,
}

impl RankIdentity {
    /// What a rank that timed out says.
    pub fn timeout_message(&self, what: &str, step: u64, timeout: Duration) -> String {
        let mine = self.hosts.get(self.rank).map_or("?", String::as_str);
        let others: Vec<String> = self
            .hosts
            .iter()
            .enumerate()
            .filter(|(r, h)| *r != self.rank && h.as_str() != mine)
            .map(|(r, h)| format!("rank {r} on {h}"))
            .collect();
        let peers = if others.is_empty() { "the other ranks".to_string() } else { others.join(", ") };
        format!(
            "error: rank {} on host {mine}: the {what} of step {step} got no answer for {:.0} s from {peers}: a \
             host is unreachable (link down, hung) or a rank stopped; ending the job (no result is written; \
             {TIMEOUT_VAR} sets the limit)",
            self.rank,
            timeout.as_secs_f64()
        )
    }
}

struct Shared {
    /// Milliseconds since `epoch` when the current collective began; 0 when none runs.
    armed_at_ms: AtomicU64,
    step: AtomicU64,
    what: std::sync::Mutex<&'static str>,
    stop: AtomicBool,
    epoch: Instant,
}

/// The watchdog of one rank; it stops when dropped.
pub struct Watchdog {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    /// Starts watching (a thread that wakes a few times a second).
    pub fn start(identity: RankIdentity, timeout: Duration) -> Self {
        let shared = Arc::new(Shared {
            armed_at_ms: AtomicU64::new(0),
            step: AtomicU64::new(0),
            what: std::sync::Mutex::new(""),
            stop: AtomicBool::new(false),
            epoch: Instant::now(),
        });
        let watched = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("dpstudy-watchdog".into())
            .spawn(move || watch(&watched, &identity, timeout))
            .expect("start the watchdog thread");
        Self { shared, thread: Some(thread) }
    }

    /// Marks the start of a collective; [`Armed`] marks its end when dropped.
    pub fn arm(&self, what: &'static str, step: u64) -> Armed<'_> {
        *self.shared.what.lock().expect("not poisoned") = what;
        self.shared.step.store(step, Ordering::Relaxed);
        let now = self.shared.epoch.elapsed().as_millis() as u64;
        self.shared.armed_at_ms.store(now.max(1), Ordering::Release);
        Armed { shared: &self.shared }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A collective in progress.
pub struct Armed<'a> {
    shared: &'a Shared,
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.shared.armed_at_ms.store(0, Ordering::Release);
    }
}

fn watch(shared: &Shared, identity: &RankIdentity, timeout: Duration) {
    while !shared.stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(200));
        let armed = shared.armed_at_ms.load(Ordering::Acquire);
        if armed == 0 {
            continue;
        }
        let waited = shared.epoch.elapsed().saturating_sub(Duration::from_millis(armed));
        if waited < timeout {
            continue;
        }
        let what = *shared.what.lock().expect("not poisoned");
        eprintln!("{}", identity.timeout_message(what, shared.step.load(Ordering::Relaxed), timeout));
        end_parent_mpirun();
        std::process::exit(EXIT_CODE);
    }
}

/// If this rank's parent is `mpirun` (ranks on mpirun's own host), has it ended: a job whose
/// remote host is unreachable never ends otherwise.
fn end_parent_mpirun() {
    let parent = std::os::unix::process::parent_id();
    let comm = std::fs::read_to_string(format!("/proc/{parent}/comm")).unwrap_or_default();
    if matches!(comm.trim(), "mpirun" | "mpiexec" | "orterun" | "prterun") {
        let _ = end_escalating(parent);
    }
}

/// Ends process `pid` from a helper of its own: SIGTERM (mpirun: "abort the job", which
/// waits for the lost host), a second SIGTERM 2 s later ("terminate now"), SIGKILL 2 s after
/// that; each only if the process is still there. Not from this rank: mpirun's abort kills
/// its ranks first, and a rank that waited to send the second signal would never send it.
/// The helper has a process group of its own, out of the reach of that kill.
fn end_escalating(pid: u32) -> std::io::Result<std::process::Child> {
    const SCRIPT: &str = r#"for signal in TERM TERM KILL; do
  kill -"$signal" "$0" 2>/dev/null || exit 0
  for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    kill -0 "$0" 2>/dev/null || exit 0
    sleep 0.1
  done
done"#;
    std::process::Command::new("sh")
        .args(["-c", SCRIPT, &pid.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_this_rank_and_the_ranks_on_other_hosts() {
        let id = RankIdentity { rank: 0, hosts: vec!["h1".into(), "h1".into(), "h2".into()] };
        let m = id.timeout_message("allreduce", 37, Duration::from_secs(5));
        assert!(
            m.starts_with("error: rank 0 on host h1: the allreduce of step 37 got no answer for 5 s from rank 2 on h2"),
            "{m}"
        );
        let alone = RankIdentity { rank: 1, hosts: vec!["a".into(), "a".into()] };
        assert!(alone.timeout_message("gather", 1, Duration::from_secs(9)).contains("from the other ranks"));
    }

    #[test]
    fn the_timeout_is_seconds_zero_for_none_and_anything_else_is_refused() {
        assert_eq!(parse_timeout(None).unwrap(), Some(Duration::from_secs(300)));
        assert_eq!(parse_timeout(Some("2.5")).unwrap(), Some(Duration::from_millis(2500)));
        assert_eq!(parse_timeout(Some("0")).unwrap(), None);
        for bad in ["-1", "soon", "inf", ""] {
            let e = parse_timeout(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("DPSTUDY_COLLECTIVE_TIMEOUT") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn a_process_that_ignores_sigterm_is_killed() {
        // Outlives every SIGTERM, as mpirun waiting for a lost host may.
        let mut stubborn =
            std::process::Command::new("sh").args(["-c", "trap '' TERM; exec sleep 60"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        let mut helper = end_escalating(stubborn.id()).unwrap();
        let status = stubborn.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{status}");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(3) && waited < Duration::from_secs(10), "{waited:?}");
        assert!(helper.wait().unwrap().success());
    }

    #[test]
    fn a_process_that_obeys_sigterm_gets_no_second_signal() {
        let mut obedient = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        let started = Instant::now();
        let mut helper = end_escalating(obedient.id()).unwrap();
        let status = obedient.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(15), "{status}");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(helper.wait().unwrap().success());
    }

    #[test]
    fn an_armed_collective_that_returns_in_time_is_left_alone() {
        let dog = Watchdog::start(RankIdentity { rank: 0, hosts: vec!["h".into()] }, Duration::from_millis(300));
        for step in 0..3 {
            let _armed = dog.arm("allreduce", step);
            std::thread::sleep(Duration::from_millis(50));
        }
        // Disarmed: waiting longer than the timeout outside a collective is fine.
        std::thread::sleep(Duration::from_millis(600));
        drop(dog);
    }
}
