#!/usr/bin/env bash
# A small real Slurm cluster on one Linux machine, for the tests and for trying the cluster
# recipe without a cluster: the hosts of emulate-hosts.sh (network namespaces h1..hN on a
# bridge, each with its own host name), a munge daemon whose key this script makes, the
# controller (slurmctld) on h1 and one slurmd per host, all with the configuration written
# here. COMMAND runs on h1 as a cluster user's login shell would: `salloc`, `sbatch`, `srun`
# and `sinfo` reach this controller. Everything stops and is removed when COMMAND ends, also
# when it fails or is interrupted.
#
#   artifact/cluster/emulate-slurm.sh [--nodes N] [--cpus C] [--prefix P] -- COMMAND...
#
#   --nodes N    nodes h1..hN (default 2), one slurmd each, in partition `dpstudy`
#   --cpus C     CPUs each node offers (default 2: every node shares this machine's cores)
#   --prefix P   namespace prefix, machine-wide unique (default s<pid mod 100000>); at most 6 chars
#
# Inside COMMAND: SLURM_CONF (the configuration), DPSTUDY_SLURM_DIR (the cluster's work
# directory: logs, state, the nodes' spools) and DPSTUDY_SLURM_PREFIX (the namespaces'
# prefix, for tests that take a node down: `ip netns exec ${PREFIX}h2 ...`). Needs root,
# iproute2, and Debian's slurm-wlm and munge packages (slurmctld, slurmd, munged, mungekey).
# Facts this rests on: slurmctld runs only where the host name is SlurmctldHost, so each
# daemon gets a UTS namespace named for its host; `slurmd -N` names the node; proctrack/
# linuxproc and task/none need no cgroups; Open MPI's Slurm support (ras, plm) finds the
# allocation from SLURM_* variables and starts its daemons with srun.
set -euo pipefail

nodes=2 cpus=2 prefix="s$(($$ % 100000))"
if [ -n "${DPSTUDY_SLURM_INNER:-}" ]; then
  nodes="$DPSTUDY_SLURM_NODES" cpus="$DPSTUDY_SLURM_CPUS" prefix="$DPSTUDY_SLURM_PREFIX"
fi
while (($# > 0)); do
  case "$1" in
    --nodes) nodes="${2:?--nodes needs a number}"; shift 2 ;;
    --cpus) cpus="${2:?--cpus needs a number}"; shift 2 ;;
    --prefix) prefix="${2:?--prefix needs a name}"; shift 2 ;;
    --) shift; break ;;
    *) echo "emulate-slurm: unknown argument $1 (usage: emulate-slurm.sh [--nodes N] [--cpus C] [--prefix P] -- COMMAND...)" >&2; exit 2 ;;
  esac
done
(($# > 0)) || { echo "emulate-slurm: no command after --" >&2; exit 2; }
[[ "$nodes" =~ ^[1-9][0-9]?$ ]] || { echo "emulate-slurm: --nodes $nodes: expected 1 to 99" >&2; exit 2; }
[[ "$cpus" =~ ^[1-9][0-9]{0,2}$ ]] || { echo "emulate-slurm: --cpus $cpus: expected 1 to 999" >&2; exit 2; }
[[ "$prefix" =~ ^[a-z][a-z0-9]{0,5}$ ]] || { echo "emulate-slurm: --prefix $prefix: 1 to 6 lower-case letters and digits" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "emulate-slurm: needs root (network namespaces, the Slurm daemons)" >&2; exit 1; }
for tool in ip slurmctld slurmd munged mungekey srun; do
  command -v "$tool" >/dev/null \
    || { echo "emulate-slurm: $tool is missing: apt-get install slurm-wlm munge iproute2 (Debian/Ubuntu)" >&2; exit 1; }
done

here="$(cd "$(dirname "$0")" && pwd)"
# The hosts come from emulate-hosts.sh; this script's own part runs inside them as its COMMAND.
if [ -z "${DPSTUDY_SLURM_INNER:-}" ]; then
  export DPSTUDY_SLURM_INNER=1 DPSTUDY_SLURM_NODES="$nodes" DPSTUDY_SLURM_CPUS="$cpus" DPSTUDY_SLURM_PREFIX="$prefix"
  # Slots per host as Slurm's CPUs, so that emulate-hosts' own hostfile agrees (unused here).
  DPSTUDY_SLOTS_PER_HOST="$cpus" exec "$here/emulate-hosts.sh" --hosts "$nodes" --prefix "$prefix" -- "$0" -- "$@"
fi

# On h1, inside the hosts. Open MPI must find the allocation, not emulate-hosts' hostfile.
unset OMPI_MCA_orte_default_hostfile OMPI_MCA_rmaps_base_mapping_policy OMPI_MCA_plm_rsh_agent
work="$DPSTUDY_CLUSTER_DIR/slurm"
mkdir -p "$work/state" "$work/munge"
chmod 700 "$work/munge"
export DPSTUDY_SLURM_DIR="$work" SLURM_CONF="$work/slurm.conf"
last=$((nodes))

mungekey --create --keyfile="$work/munge/munge.key" --force 2>/dev/null \
  || dd if=/dev/urandom of="$work/munge/munge.key" bs=1 count=1024 status=none
chmod 400 "$work/munge/munge.key"
munged --force --origin=10.77.0.1 --key-file="$work/munge/munge.key" --socket="$work/munge/munge.socket" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" --seed-file="$work/munge/munge.seed"

cat >"$SLURM_CONF" <<CONF
ClusterName=dpstudy
SlurmctldHost=h1(10.77.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool-%n
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd-%n.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
ReturnToService=1
# A node that stops answering is DOWN within SlurmdTimeout; its job ends then.
SlurmdTimeout=10
SlurmctldTimeout=10
MessageTimeout=5
InactiveLimit=0
# SIGTERM to SIGKILL: the batch script says how to resume in between (Slurm's default is 30 s).
KillWait=10
MinJobAge=300
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=h[1-$last] NodeAddr=10.77.0.[1-$last] CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=dpstudy Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

# slurmd loads a cgroup plugin whatever the proctrack and task plugins are.
# A pure cgroup v2 host (most current distributions) takes the v2 plugin as it is; a hybrid
# layout (v1 hierarchies on a tmpfs, v2 at unified/: this container) stops both plugins
# ("Hybrid mode is not supported") unless each daemon's own mount namespace drops the
# unified hierarchy, where the v1 plugin then runs.
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
  printf 'CgroupPlugin=cgroup/v2\nIgnoreSystemd=yes\n' >"$work/cgroup.conf"
else
  printf 'CgroupPlugin=cgroup/v1\nCgroupMountpoint=/sys/fs/cgroup\n' >"$work/cgroup.conf"
fi
for i in $(seq 1 "$nodes"); do mkdir -p "$work/spool-h$i"; done

# Each daemon in its host's namespace, under its host's name.
on() {
  local host="$1"; shift
  ip netns exec "${prefix}$host" unshare --uts --mount sh -c \
    'hostname "$0" && { ! mountpoint -q /sys/fs/cgroup/unified || umount /sys/fs/cgroup/unified; } && exec "$@"' \
    "$host" "$@"
}
# A daemon that does not start: its log says why.
failed() {
  echo "emulate-slurm: $1 did not start; its log:" >&2
  tail -n 20 "$2" >&2 2>/dev/null || true
  exit 1
}
on h1 slurmctld -f "$SLURM_CONF" || failed slurmctld "$work/slurmctld.log"
for i in $(seq 1 "$nodes"); do
  on "h$i" slurmd -f "$SLURM_CONF" -N "h$i" || failed "slurmd on h$i" "$work/slurmd-h$i.log"
done

# Ready when every node is idle (the controller has heard from each slurmd).
for _ in $(seq 1 100); do
  # (sinfo fails while the controller starts: no node idle yet, not a reason to stop.)
  idle="$({ sinfo -h -N -o '%N %t' 2>/dev/null || true; } | awk '$2 == "idle"' | wc -l)"
  [ "$idle" -eq "$nodes" ] && break
  sleep 0.2
done
if [ "$idle" -ne "$nodes" ]; then
  echo "emulate-slurm: only $idle of $nodes nodes came up idle within 20 s; the logs:" >&2
  tail -n 20 "$work"/slurmctld.log "$work"/slurmd-*.log >&2 || true
  exit 1
fi
echo "emulate-slurm: Slurm cluster of $nodes node(s) (h1..h$nodes, $cpus CPUs each), partition dpstudy, SLURM_CONF=$SLURM_CONF" >&2

# The daemons are children of the hosts' namespaces: emulate-hosts.sh kills every process in
# them when this command ends, and removes the work directory.
"$@"
