#!/usr/bin/env bash
# Installs Debian/Ubuntu packages with apt, as root or through sudo; the install-*.sh
# scripts call it with what they found missing:
#   artifact/docker/apt-install.sh CALLER PACKAGE...
# CALLER names the script in the messages.
set -euo pipefail

caller="${1:?usage: apt-install.sh CALLER PACKAGE...}"
shift
(($# > 0)) || exit 0
echo "$caller: installing $*" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "$caller: need root (or sudo) to install $*" >&2; exit 1; }
  sudo=(sudo)
fi
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@"
