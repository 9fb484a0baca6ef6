//! Emulated hosts for the MPI cells that cross a network (table T8): each cell runs under
//! the repository's `artifact/cluster/emulate-hosts.sh`, which the binary carries, so that
//! an installed dpstudy (the Docker image, a copy on another machine) runs it without the
//! source tree.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::launch::find_on_path;
use crate::launch::running_as_root;

/// The emulator, as committed.
pub const EMULATE_HOSTS_SH: &str = include_str!("../artifact/cluster/emulate-hosts.sh");

/// The link between the emulated hosts of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Link {
    /// TCP through the namespaces' veth pairs and bridge, unshaped (the kernel's speed).
    Tcp,
    /// TCP with every host's outgoing traffic shaped to this many megabits per second.
    TcpShaped { mbit_per_s: u32 },
}

impl Link {
    /// The rate for `emulate-hosts.sh --rate` (tc's syntax), if shaped.
    pub fn tc_rate(self) -> Option<String> {
        match self {
            Link::Tcp => None,
            Link::TcpShaped { mbit_per_s } => Some(format!("{mbit_per_s}mbit")),
        }
    }

    /// The shaped bandwidth in Gbit/s (`None`: unshaped).
    pub fn gbit_per_s(self) -> Option<f64> {
        match self {
            Link::Tcp => None,
            Link::TcpShaped { mbit_per_s } => Some(f64::from(mbit_per_s) / 1000.0),
        }
    }

    /// Orders links fastest first: unshaped, then by falling bandwidth.
    pub fn fastest_first(self) -> (bool, std::cmp::Reverse<u32>) {
        match self {
            Link::Tcp => (false, std::cmp::Reverse(u32::MAX)),
            Link::TcpShaped { mbit_per_s } => (true, std::cmp::Reverse(mbit_per_s)),
        }
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Link::Tcp => f.write_str("tcp"),
            Link::TcpShaped { mbit_per_s } if mbit_per_s % 1000 == 0 => write!(f, "tcp-{}gbit", mbit_per_s / 1000),
            Link::TcpShaped { mbit_per_s } => write!(f, "tcp-{mbit_per_s}mbit"),
        }
    }
}

/// A link name that is not `tcp`, `tcp-<N>gbit` or `tcp-<N>mbit`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("link {0:?}: expected tcp, tcp-<N>gbit or tcp-<N>mbit (e.g. tcp-1gbit, tcp-100mbit)")]
pub struct LinkParseError(pub String);

impl FromStr for Link {
    type Err = LinkParseError;

    /// `tcp`, or `tcp-<N>gbit` / `tcp-<N>mbit` with N a positive whole number.
    fn from_str(text: &str) -> Result<Self, LinkParseError> {
        let bad = || LinkParseError(text.to_string());
        if text == "tcp" {
            return Ok(Link::Tcp);
        }
        let rate = text.strip_prefix("tcp-").ok_or_else(bad)?;
        let (number, per) = if let Some(n) = rate.strip_suffix("gbit") {
            (n, 1000)
        } else if let Some(n) = rate.strip_suffix("mbit") {
            (n, 1)
        } else {
            return Err(bad());
        };
        let n: u32 = number.parse().ok().filter(|&n| n > 0).ok_or_else(bad)?;
        let mbit_per_s = n.checked_mul(per).ok_or_else(bad)?;
        Ok(Link::TcpShaped { mbit_per_s })
    }
}

impl TryFrom<String> for Link {
    type Error = LinkParseError;
    fn try_from(text: String) -> Result<Self, LinkParseError> {
        text.parse()
    }
}

impl From<Link> for String {
    fn from(link: Link) -> String {
        link.to_string()
    }
}

/// Where the ranks of an MPI job talk: one host's shared memory, or emulated hosts joined
/// by a link. In files `shared-memory` or the link's name; in tables `shared memory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Transport {
    /// All ranks on one host: Open MPI's shared-memory transport.
    SharedMemory,
    /// One rank per (emulated) host, over this link.
    Link(Link),
}

impl Transport {
    /// The name in files and on the command line.
    pub fn name(self) -> String {
        match self {
            Transport::SharedMemory => "shared-memory".into(),
            Transport::Link(link) => link.to_string(),
        }
    }

    /// The link between the hosts (`None`: one host, shared memory).
    pub fn link(self) -> Option<Link> {
        match self {
            Transport::SharedMemory => None,
            Transport::Link(link) => Some(link),
        }
    }

    /// The transport of an MPI cell: its link, or shared memory.
    pub fn of_link(link: Option<Link>) -> Self {
        link.map_or(Transport::SharedMemory, Transport::Link)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::SharedMemory => f.write_str("shared memory"),
            Transport::Link(link) => write!(f, "{link}"),
        }
    }
}

/// A transport name that is neither `shared-memory` nor a link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transport {0:?}: expected shared-memory, tcp, tcp-<N>gbit or tcp-<N>mbit")]
pub struct TransportParseError(pub String);

impl FromStr for Transport {
    type Err = TransportParseError;

    /// `shared-memory`, or a link's name.
    fn from_str(text: &str) -> Result<Self, TransportParseError> {
        if text == "shared-memory" {
            return Ok(Transport::SharedMemory);
        }
        text.parse().map(Transport::Link).map_err(|_| TransportParseError(text.to_string()))
    }
}

impl TryFrom<String> for Transport {
    type Error = TransportParseError;
    fn try_from(text: String) -> Result<Self, TransportParseError> {
        text.parse()
    }
}

impl From<Transport> for String {
    fn from(t: Transport) -> String {
        t.name()
    }
}

/// Why emulated hosts cannot run on this machine (`None`: they can): network namespaces
/// need root and iproute2, a shaped link also `tc`.
pub fn unavailable(link: Link) -> Option<String> {
    if !running_as_root() {
        return Some("emulated hosts need root (network namespaces)".into());
    }
    let mut tools = vec!["ip"];
    if link.tc_rate().is_some() {
        tools.push("tc");
    }
    let missing: Vec<&str> = tools.into_iter().filter(|t| find_on_path(t).is_none()).collect();
    (!missing.is_empty()).then(|| format!("emulated hosts need {} (iproute2)", missing.join(" and ")))
}

/// Writes the emulator to `dir/emulate-hosts.sh`, executable, and returns its path.
pub fn install_emulator(dir: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("emulate-hosts.sh");
    std::fs::write(&path, EMULATE_HOSTS_SH).with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", path.display()))?;
    Ok(path)
}

/// `inner` (an `mpirun` command) run across `hosts` emulated hosts linked by `link`: the
/// emulator sets Open MPI's default hostfile and maps the ranks one host after another.
pub fn across_hosts(emulator: &Path, hosts: usize, link: Link, inner: &Command) -> Command {
    let mut cmd = Command::new(emulator);
    cmd.args(["--hosts", &hosts.to_string()]);
    if let Some(rate) = link.tc_rate() {
        cmd.args(["--rate", &rate]);
    }
    cmd.arg("--").arg(inner.get_program()).args(inner.get_args());
    for (key, value) in inner.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_read_and_print_the_same() {
        for (text, link) in [
            ("tcp", Link::Tcp),
            ("tcp-10gbit", Link::TcpShaped { mbit_per_s: 10_000 }),
            ("tcp-1gbit", Link::TcpShaped { mbit_per_s: 1000 }),
            ("tcp-100mbit", Link::TcpShaped { mbit_per_s: 100 }),
            ("tcp-1500mbit", Link::TcpShaped { mbit_per_s: 1500 }),
        ] {
            assert_eq!(text.parse::<Link>().unwrap(), link);
            assert_eq!(link.to_string(), text);
        }
        assert_eq!(Link::TcpShaped { mbit_per_s: 100 }.tc_rate().as_deref(), Some("100mbit"));
        assert_eq!(Link::TcpShaped { mbit_per_s: 100 }.gbit_per_s(), Some(0.1));
        assert_eq!(Link::Tcp.tc_rate(), None);
    }

    #[test]
    fn transports_read_and_print_the_same() {
        for (text, t) in [
            ("shared-memory", Transport::SharedMemory),
            ("tcp-1gbit", Transport::Link(Link::TcpShaped { mbit_per_s: 1000 })),
        ] {
            assert_eq!(text.parse::<Transport>().unwrap(), t);
            assert_eq!(t.name(), text);
        }
        assert_eq!(Transport::SharedMemory.to_string(), "shared memory");
        assert_eq!(Transport::of_link(Some(Link::Tcp)), Transport::Link(Link::Tcp));
        let e = "shm".parse::<Transport>().unwrap_err().to_string();
        assert!(e.contains("shared-memory") && e.contains("tcp-<N>gbit"), "{e}");
    }

    #[test]
    fn other_links_are_refused_with_the_forms_that_work() {
        for bad in ["", "udp", "tcp-", "tcp-0gbit", "tcp-1.5gbit", "tcp-1gbps", "tcp-99999999gbit"] {
            let e = bad.parse::<Link>().unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")) && e.contains("tcp-<N>gbit"), "{e}");
        }
    }

    #[test]
    fn the_wrapped_command_is_the_emulator_then_mpirun_unchanged() {
        let mut inner = Command::new("/usr/bin/mpirun");
        inner.args(["-np", "2", "dpstudy", "train"]).env("OMPI_ALLOW_RUN_AS_ROOT", "1");
        let cmd = across_hosts(Path::new("/tmp/x/emulate-hosts.sh"), 2, Link::TcpShaped { mbit_per_s: 100 }, &inner);
        assert_eq!(cmd.get_program(), "/tmp/x/emulate-hosts.sh");
        let args: Vec<_> = cmd.get_args().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            ["--hosts", "2", "--rate", "100mbit", "--", "/usr/bin/mpirun", "-np", "2", "dpstudy", "train"]
        );
        assert!(cmd.get_envs().any(|(k, v)| k == "OMPI_ALLOW_RUN_AS_ROOT" && v == Some("1".as_ref())));
        let unshaped = across_hosts(Path::new("e"), 3, Link::Tcp, &inner);
        assert_eq!(unshaped.get_args().take(3).collect::<Vec<_>>(), ["--hosts", "3", "--"]);
    }

    #[test]
    fn the_emulator_is_installed_executable_and_as_committed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = install_emulator(&dir.path().join("cluster")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), EMULATE_HOSTS_SH);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o755);
        assert!(EMULATE_HOSTS_SH.contains("OMPI_MCA_orte_default_hostfile"), "the emulator sets the hostfile");
    }
}
