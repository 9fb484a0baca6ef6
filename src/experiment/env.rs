//! `env.json`: the machine and software a run measured, so its numbers can be read in
//! context (and so the paper's setup section is generated, not typed).

use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::util::build_info;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub cpu_model: String,
    /// Logical CPUs this process may use.
    pub cores: usize,
    pub memory_bytes: Option<u64>,
    pub os: String,
    pub kernel: String,
    /// First line of `mpirun --version`, or why there is none.
    pub open_mpi: String,
    pub rustc: String,
    pub candle_version: String,
    pub dpstudy_version: String,
    pub git_revision: String,
    /// The GPU `--mode gpu` uses, or why there is none.
    pub gpu: String,
    pub hostname: String,
    /// The baselines' Python environment (interpreter and package versions), or why there
    /// is none; filled in by `reproduce` (absent from runs recorded before baselines).
    #[serde(default)]
    pub baselines: String,
    /// The CPU's clock: the mean of the cores' current frequency when the run started
    /// (`cpu MHz` of /proc/cpuinfo, what the cores ran at), and the base and maximum the
    /// kernel's cpufreq driver states (absent in most VMs).
    #[serde(default)]
    pub cpu_mhz_measured: Option<f64>,
    #[serde(default)]
    pub cpu_mhz_base: Option<f64>,
    #[serde(default)]
    pub cpu_mhz_max: Option<f64>,
    /// Hardware threads per core (2: SMT, two logical CPUs share a core's units).
    #[serde(default)]
    pub threads_per_core: Option<usize>,
    /// The cpufreq governor, or why it is not known.
    #[serde(default)]
    pub governor: String,
    /// /proc/loadavg when the run started: 1, 5 and 15 minutes.
    #[serde(default)]
    pub load_at_start: String,
    /// The Slurm allocation the run ran in (job id, nodes), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<crate::launch::Allocation>,
}

/// A kHz figure of a cpufreq file, in MHz.
fn cpufreq_mhz(file: &str) -> Option<f64> {
    read(&format!("/sys/devices/system/cpu/cpu0/cpufreq/{file}")).trim().parse::<f64>().ok().map(|khz| khz / 1e3)
}

/// The mean `cpu MHz` over the cores of /proc/cpuinfo.
fn measured_mhz(cpuinfo: &str) -> Option<f64> {
    let mhz: Vec<f64> = cpuinfo
        .lines()
        .filter_map(|l| {
            l.split_once(':').filter(|(k, _)| k.trim() == "cpu MHz").and_then(|(_, v)| v.trim().parse().ok())
        })
        .collect();
    (!mhz.is_empty()).then(|| mhz.iter().sum::<f64>() / mhz.len() as f64)
}

/// Logical CPUs in `0-1` or `0,4` (a sibling list of /sys).
fn list_len(list: &str) -> Option<usize> {
    let mut n = 0;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => b.parse::<usize>().ok()? - a.parse::<usize>().ok()? + 1,
            None => 1,
        };
    }
    (n > 0).then_some(n)
}

fn first_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    let text = String::from_utf8_lossy(if out.stdout.is_empty() { &out.stderr } else { &out.stdout }).to_string();
    text.lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_string)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `key: value` lines (cpuinfo, meminfo) or `KEY=value` lines (os-release).
fn field<'a>(text: &'a str, key: &str, sep: char) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(sep)?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

impl Environment {
    /// Probes this machine.
    pub fn probe() -> Self {
        let cpuinfo = read("/proc/cpuinfo");
        let meminfo = read("/proc/meminfo");
        let memory_bytes = field(&meminfo, "MemTotal", ':')
            .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024);
        let open_mpi = match crate::launch::find_on_path("mpirun") {
            Some(mpirun) => first_line(&mpirun.to_string_lossy(), &["--version"]).unwrap_or_else(|| "unknown".into()),
            None => "not installed (mpirun is not on PATH)".into(),
        };
        Self {
            cpu_model: field(&cpuinfo, "model name", ':').unwrap_or("unknown").to_string(),
            cores: crate::launch::available_cores(),
            memory_bytes,
            os: field(&read("/etc/os-release"), "PRETTY_NAME", '=').unwrap_or(std::env::consts::OS).to_string(),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            open_mpi,
            rustc: build_info::RUSTC.into(),
            candle_version: build_info::CANDLE_VERSION.into(),
            dpstudy_version: env!("CARGO_PKG_VERSION").into(),
            git_revision: build_info::GIT_REVISION.into(),
            gpu: match crate::train::gpu::availability() {
                Ok(name) => name,
                Err(why) => format!("none: {why}"),
            },
            hostname: read("/proc/sys/kernel/hostname").trim().to_string(),
            baselines: String::new(),
            cpu_mhz_measured: measured_mhz(&cpuinfo),
            cpu_mhz_base: cpufreq_mhz("base_frequency"),
            cpu_mhz_max: cpufreq_mhz("cpuinfo_max_freq"),
            threads_per_core: list_len(&read("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list")),
            governor: match read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").trim() {
                "" => "not exposed (no cpufreq driver: a VM, or frequency scaling off)".into(),
                g => g.into(),
            },
            load_at_start: read("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" "),
            slurm: crate::launch::Allocation::current(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probing_finds_this_machine() {
        let env = Environment::probe();
        assert!(env.cores >= 1);
        assert!(env.rustc.starts_with("rustc "), "{}", env.rustc);
        assert!(env.candle_version.starts_with("0."), "{}", env.candle_version);
        assert!(env.memory_bytes.is_some_and(|m| m > 1 << 20));
    }

    #[test]
    fn the_machines_clock_and_threads_are_read() {
        assert_eq!(measured_mhz("cpu MHz\t\t: 2000.0\nx: 1\ncpu MHz\t\t: 3000.0\n"), Some(2500.0));
        assert_eq!(measured_mhz("model name: x"), None);
        assert_eq!(
            (list_len("0-1\n"), list_len("0,4"), list_len("3"), list_len("")),
            (Some(2), Some(2), Some(1), None)
        );
        let env = Environment::probe();
        assert!(!env.governor.is_empty() && env.load_at_start.split(' ').count() == 3, "{env:?}");
    }

    #[test]
    fn fields_are_read_by_key() {
        assert_eq!(field("model name\t: Some CPU\nflags : x", "model name", ':'), Some("Some CPU"));
        assert_eq!(field("NAME=x\nPRETTY_NAME=\"Debian 12\"", "PRETTY_NAME", '='), Some("Debian 12"));
    }
}
