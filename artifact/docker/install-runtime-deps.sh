#!/usr/bin/env bash
# Installs what the dpstudy binary needs to run, if missing: Open MPI (mpirun and its
# libraries) and CA certificates (for `dpstudy data fetch`). Debian/Ubuntu (apt).
# Idempotent. Used by the Docker images' runtime stages and by CI.
set -euo pipefail

missing=()
command -v mpirun >/dev/null || missing+=(openmpi-bin)
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)

if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "install-runtime-deps: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-runtime-deps: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
"${sudo[@]}" rm -rf /var/lib/apt/lists/*
