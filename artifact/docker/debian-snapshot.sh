#!/usr/bin/env bash
# Points apt at a fixed snapshot of the Debian archive, so the packages an image installs
# are the same on every build:
#   artifact/docker/debian-snapshot.sh STAMP           (writes /etc/apt/sources.list.d)
#   artifact/docker/debian-snapshot.sh STAMP --print   (prints what it would write)
#   DEBIAN_ARCHIVE=http://deb.debian.org artifact/docker/debian-snapshot.sh STAMP   (no snapshot)
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
# DEBIAN_ARCHIVE (a base URL holding debian/ and debian-security/) replaces the snapshot
# where snapshot.debian.org cannot be reached; the packages are then today's, not the
# pinned ones, and this says so.
archive="http://snapshot.debian.org/archive/debian/$stamp"
security="http://snapshot.debian.org/archive/debian-security/$stamp"
if [ -n "${DEBIAN_ARCHIVE:-}" ]; then
  archive="${DEBIAN_ARCHIVE%/}/debian"
  security="${DEBIAN_ARCHIVE%/}/debian-security"
  echo "debian-snapshot: DEBIAN_ARCHIVE=$DEBIAN_ARCHIVE: packages from $archive, NOT the snapshot $stamp" >&2
fi
sources="Types: deb
URIs: $archive
Suites: $codename $codename-updates
Components: main
Check-Valid-Until: no

Types: deb
URIs: $security
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
echo "debian-snapshot: apt now reads $archive" >&2
