#!/usr/bin/env bash
# Points apt at a fixed snapshot of the Debian archive, so the packages an image installs
# are the same on every build:
#   artifact/docker/debian-snapshot.sh STAMP           (writes /etc/apt/sources.list.d)
#   artifact/docker/debian-snapshot.sh STAMP --print   (prints what it would write)
# STAMP is a snapshot.debian.org time stamp such as 20261120T000000Z. On a non-Debian base
# (the CUDA images are Ubuntu) it does nothing and says so.
set -euo pipefail

stamp="${1:?usage: debian-snapshot.sh STAMP [--print]}"
if ! [[ "$stamp" =~ ^[0-9]{8}T[0-9]{6}Z$ ]]; then
  echo "debian-snapshot: '$stamp' is not a snapshot time stamp like 20261120T000000Z" >&2
  exit 2
fi
codename=bookworm
if [ -r /etc/os-release ]; then
  . /etc/os-release
  if [ "${ID:-}" != debian ] && [ "${2:-}" != --print ]; then
    echo "debian-snapshot: ${PRETTY_NAME:-this system} is not Debian; apt sources left as they are" >&2
    exit 0
  fi
  codename="${VERSION_CODENAME:-bookworm}"
fi
sources="Types: deb
URIs: http://snapshot.debian.org/archive/debian/$stamp
Suites: $codename $codename-updates
Components: main
Check-Valid-Until: no

Types: deb
URIs: http://snapshot.debian.org/archive/debian-security/$stamp
Suites: $codename-security
Components: main
Check-Valid-Until: no
"
if [ "${2:-}" = --print ]; then
  printf '%s' "$sources"
  exit 0
fi
rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
printf '%s' "$sources" > /etc/apt/sources.list.d/debian-snapshot.sources
echo "debian-snapshot: apt now reads snapshot.debian.org at $stamp" >&2
