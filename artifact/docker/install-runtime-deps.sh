#!/usr/bin/env bash
# Installs what the dpstudy binary needs to run, if missing: Open MPI (mpirun and its
# libraries) and CA certificates (for `dpstudy data fetch`). Debian/Ubuntu (apt).
# Idempotent. Used by the Docker images' runtime stages and by CI.
set -euo pipefail

missing=()
command -v mpirun >/dev/null || missing+=(openmpi-bin)
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)

"$(dirname "$0")/apt-install.sh" install-runtime-deps "${missing[@]}"
if ((${#missing[@]} > 0)); then
  if [ "$(id -u)" -eq 0 ]; then rm -rf /var/lib/apt/lists/*; else sudo rm -rf /var/lib/apt/lists/*; fi
fi
