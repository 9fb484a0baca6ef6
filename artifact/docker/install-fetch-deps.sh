#!/usr/bin/env bash
# Installs what artifact/docker/fetch-mnist.sh needs, if missing: curl and CA certificates.
# Debian/Ubuntu (apt). Idempotent. Used by the Docker image's data stage.
set -euo pipefail

missing=()
command -v curl >/dev/null || missing+=(curl)
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)

"$(dirname "$0")/apt-install.sh" install-fetch-deps "${missing[@]}"
