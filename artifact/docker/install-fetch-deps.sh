#!/usr/bin/env bash
# Installs what artifact/docker/fetch-mnist.sh needs, if missing: curl and CA certificates.
# Debian/Ubuntu (apt). Idempotent. Used by the Docker image's data stage.
set -euo pipefail

missing=()
command -v curl >/dev/null || missing+=(curl)
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)

if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "install-fetch-deps: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-fetch-deps: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
