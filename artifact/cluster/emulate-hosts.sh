#!/usr/bin/env bash
# Several "hosts" on one Linux machine, for MPI runs that really cross a network: each host
# is a network namespace with its own address on a private bridge, Open MPI starts its
# daemons in them through an rsh agent instead of ssh, and the link between them can be
# shaped. The command runs in the first host's namespace (mpirun must: from outside, the
# daemons cannot connect back), with Open MPI configured for those hosts. Everything is torn
# down when the command ends, also when it fails or is interrupted.
#
#   artifact/cluster/emulate-hosts.sh [--hosts N] [--rate RATE] [--prefix P] -- COMMAND...
#
#   --hosts N    hosts h1..hN (default 2)
#   --rate RATE  shape every host's outgoing link with a token bucket (tc tbf), e.g. 1gbit,
#                100mbit (kbit, mbit, gbit); its bucket holds 100 us of the rate (at least
#                8 kB), so a message leaves at the rate however long the link was idle;
#                default: unshaped (the kernel's veth speed)
#   --prefix P   namespace prefix, machine-wide unique (default d<pid mod 100000>); at most 6 chars
#
# Inside COMMAND: $DPSTUDY_HOSTFILE (h1..hN, with slots=$DPSTUDY_SLOTS_PER_HOST, default 2),
# also mpirun's default hostfile, with ranks mapped by node; the OMPI_MCA_* settings below;
# and DPSTUDY_CLUSTER_DIR (a work directory). Needs root.
# Facts this rests on: Open MPI calls the agent as `AGENT [options] HOST COMMAND...`; without
# --bind-to none every host pins its first rank to core 0; this kernel has tbf but no netem,
# so bandwidth can be shaped and latency cannot.
set -euo pipefail

hosts=2 rate="" prefix="d$(($$ % 100000))"
while (($# > 0)); do
  case "$1" in
    --hosts) hosts="${2:?--hosts needs a number}"; shift 2 ;;
    --rate) rate="${2:?--rate needs a rate such as 1gbit}"; shift 2 ;;
    --prefix) prefix="${2:?--prefix needs a name}"; shift 2 ;;
    --) shift; break ;;
    *) echo "emulate-hosts: unknown argument $1 (usage: emulate-hosts.sh [--hosts N] [--rate R] [--prefix P] -- COMMAND...)" >&2; exit 2 ;;
  esac
done
# The bucket: 100 us of the rate, at least 8 kB (a few full-size packets: tbf cuts larger
# GSO packets to fit it). A real link never sends faster than its rate; a bucket lets what
# it holds leave at the veth's speed after a pause. 256 kB (the first choice) hid the
# 100 Mbit/s link from a 160 kB allreduce; 1 ms of the rate (the second: 125 kB at 1 Gbit/s)
# let the 82 kB halves of a 160 kB allreduce leave at once after each step's compute, so
# a training cell's allreduce took a fraction of what the back-to-back commbench sweep
# measured on the same link, and the cost model over-predicted it by two thirds (C12 in
# CI: N = 1,000, H = 50, P = 2 on tcp-1gbit).
burst=""
if [ -n "$rate" ]; then
  [[ "$rate" =~ ^[1-9][0-9]{0,5}[kmg]bit$ ]] \
    || { echo "emulate-hosts: --rate $rate: expected a whole number with kbit, mbit or gbit (e.g. 100mbit)" >&2; exit 2; }
  case "$rate" in
    *kbit) per_s=$((${rate%kbit} * 1000 / 8)) ;;
    *mbit) per_s=$((${rate%mbit} * 1000000 / 8)) ;;
    *gbit) per_s=$((${rate%gbit} * 1000000000 / 8)) ;;
  esac
  burst=$((per_s / 10000 > 8192 ? per_s / 10000 : 8192))
fi
(($# > 0)) || { echo "emulate-hosts: no command after --" >&2; exit 2; }
[[ "$hosts" =~ ^[1-9][0-9]?$ ]] || { echo "emulate-hosts: --hosts $hosts: expected 1 to 99" >&2; exit 2; }
[[ "$prefix" =~ ^[a-z][a-z0-9]{0,5}$ ]] || { echo "emulate-hosts: --prefix $prefix: 1 to 6 lower-case letters and digits" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "emulate-hosts: needs root (network namespaces)" >&2; exit 1; }

subnet=10.77.0
bridge_ns="${prefix}br"
work="$(mktemp -d "${TMPDIR:-/tmp}/dpstudy-cluster.XXXXXX")"

teardown() {
  local ns namespaces
  # Listed once, into a variable: `ip netns list | grep -q` under pipefail fails whenever
  # grep's early exit kills ip with SIGPIPE, and a namespace would be left behind.
  namespaces="$(ip netns list)"
  for ns in "$bridge_ns" $(seq -f "${prefix}h%g" 1 "$hosts"); do
    if grep -qw "$ns" <<<"$namespaces"; then
      ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap teardown EXIT
trap 'exit 130' INT TERM

ip netns add "$bridge_ns"
ip -n "$bridge_ns" link add br0 type bridge
ip -n "$bridge_ns" link set br0 up
for i in $(seq 1 "$hosts"); do
  ns="${prefix}h$i"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # One veth pair per host: eth0 in the host, its peer on the bridge.
  ip link add "${prefix}v$i" type veth peer name "${prefix}p$i"
  ip link set "${prefix}v$i" netns "$ns"
  ip link set "${prefix}p$i" netns "$bridge_ns"
  ip -n "$ns" link set "${prefix}v$i" name eth0
  ip -n "$ns" addr add "$subnet.$i/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$bridge_ns" link set "${prefix}p$i" master br0 up
  if [ -n "$rate" ]; then
    tc -n "$ns" qdisc add dev eth0 root tbf rate "$rate" burst "$burst" latency 50ms
  fi
done

# The agent: skip ssh's options, map the host name to its namespace, give the daemon that
# host's name, run the command there.
cat >"$work/rsh-agent" <<AGENT
#!/bin/sh
while [ \$# -gt 0 ] && [ "\${1#-}" != "\$1" ]; do shift; done
host="\$1"; shift
case "\$host" in h[0-9]*) ;; *) echo "rsh-agent: unknown host \$host" >&2; exit 1 ;; esac
DPSTUDY_REMOTE_COMMAND="\$*" exec ip netns exec "${prefix}\$host" unshare --uts \\
  sh -c 'hostname "\$0" && exec sh -c "\$DPSTUDY_REMOTE_COMMAND"' "\$host"
AGENT
chmod +x "$work/rsh-agent"
slots="${DPSTUDY_SLOTS_PER_HOST:-2}"
for i in $(seq 1 "$hosts"); do echo "h$i slots=$slots"; done >"$work/hostfile"
mkdir -p "$work/tmp"

export DPSTUDY_CLUSTER_DIR="$work" DPSTUDY_HOSTFILE="$work/hostfile"
export OMPI_MCA_plm_rsh_agent="$work/rsh-agent"
export OMPI_MCA_oob_tcp_if_include="$subnet.0/24" OMPI_MCA_btl_tcp_if_include="$subnet.0/24"
export OMPI_MCA_hwloc_base_binding_policy=none OMPI_MCA_mpi_yield_when_idle=1
export OMPI_MCA_orte_tmpdir_base="$work/tmp"
# The hosts as mpirun's default hostfile, ranks placed one host after another: a plain
# `mpirun -np P ...` spreads over the hosts.
export OMPI_MCA_orte_default_hostfile="$work/hostfile" OMPI_MCA_rmaps_base_mapping_policy=node
echo "emulate-hosts: $hosts hosts (${prefix}h1..${prefix}h$hosts, $subnet.1-$hosts)${rate:+, links shaped to $rate}" >&2
# In the background and waited for, so that a TERM or INT reaches the trap (and the
# teardown, which kills every process of the namespaces) at once, not when COMMAND ends.
ip netns exec "${prefix}h1" unshare --uts sh -c 'hostname h1 && exec "$@"' sh "$@" <&0 &
status=0
wait "$!" || status=$?
exit "$status"
