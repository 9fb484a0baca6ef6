#!/usr/bin/env bash
# Installs the Python environment the baselines run in (`dpstudy train --mode original`,
# `original-fixed`, `torch`, `torch-ddp`, and their cells in `reproduce`): a virtual
# environment with the pinned packages of requirements.txt.
#   artifact/baselines/install.sh [VENV]      (default: ~/.cache/dpstudy-python)
# dpstudy finds the default location by itself; elsewhere, set DPSTUDY_PYTHON=VENV/bin/python3.
# Idempotent: an environment that already holds the pinned versions is left as it is.
# Needs python3 with venv and Open MPI (artifact/docker/install-deps.sh); installs
# python3-venv if it is missing.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-$HOME/.cache/dpstudy-python}"
missing=()
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v mpirun >/dev/null || missing+=(openmpi-bin)
"$here/../docker/apt-install.sh" baselines/install "${missing[@]}"

# The pins, as `name==version` lines, to compare with what the environment holds.
pins="$(grep -E '^[A-Za-z0-9_.-]+==' "$here/requirements.txt")"
holds() {
  [ -x "$venv/bin/python3" ] || return 1
  local installed
  installed="$("$venv/bin/python3" -m pip freeze 2>/dev/null)" || return 1
  local pin
  while read -r pin; do
    grep -qix "$pin" <<<"$installed" || grep -qix "${pin}+cpu" <<<"$installed" || return 1
  done <<<"$pins"
}
if holds; then
  echo "baselines/install: $venv already holds $(tr '\n' ' ' <<<"$pins")" >&2
  exit 0
fi
[ -x "$venv/bin/pip" ] || { rm -rf "$venv" && python3 -m venv "$venv"; }
started=$SECONDS
"$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
holds || { echo "baselines/install: $venv does not hold the pinned versions after installing" >&2; exit 1; }
# Every package must import, and mpi4py must find an MPI library.
"$venv/bin/python3" -c 'import numpy, torch, torch.distributed; from mpi4py import MPI; print(MPI.Get_library_version().splitlines()[0])' >&2
echo "baselines/install: $venv ready in $((SECONDS - started)) s ($(du -sh "$venv" | cut -f1)): $(tr '\n' ' ' <<<"$pins")" >&2
