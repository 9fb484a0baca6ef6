#!/usr/bin/env bash
# Makes the stand-ins for the Dockerfile's pinned base images on a machine that reaches no
# image registry (this project's CI machine), from Debian packages and this machine's Rust
# toolchain. Nothing here goes into the Dockerfile a user builds: CI passes the stand-ins
# in through the build args RUST_IMAGE and RUNTIME_IMAGE.
#
#   artifact/docker/ci/stand-in-bases.sh PREFIX
#
# prints the two image names, DEBIAN_IMAGE and RUST_IMAGE, one per line:
# - PREFIX/debian:bookworm-VERSION: `debootstrap --variant=minbase bookworm` plus
#   ca-certificates, and this machine's extra CA certificates
#   (/usr/local/share/ca-certificates), which its HTTPS proxy needs: without them cargo
#   cannot reach crates.io inside a build; pip is told to use the system's certificates
#   (/etc/pip.conf), since it does not by default.
# - PREFIX/rust:1.95-VERSION: that image plus the active rustup toolchain (bin, lib, libexec;
#   no docs) under /usr/local/rustup, with cargo and rustc on PATH as in the official image.
# VERSION is a hash of this script, so a change here makes new stand-ins; an image that
# exists already is kept. Needs root, debootstrap and a running engine (DOCKER_HOST).
set -euo pipefail

prefix="${1:?usage: stand-in-bases.sh PREFIX}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
docker=(docker)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

exists() { "${docker[@]}" image inspect "$1" >/dev/null 2>&1; }

version="$(sha256sum "$0" | cut -c1-10)"
debian="$prefix/debian:bookworm-$version"
if exists "$debian"; then
  echo "stand-in-bases: $debian exists" >&2
else
  started=$SECONDS
  root="$work/rootfs"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; echo "stand-in-bases: debootstrap failed" >&2; exit 1; }
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null
  fi
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/etc/pip.conf"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | "${docker[@]}" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$debian" >/dev/null
  rm -rf "$root"
  echo "stand-in-bases: $debian from debootstrap ($((SECONDS - started)) s)" >&2
fi

rust="$prefix/rust:1.95-$version"
if exists "$rust"; then
  echo "stand-in-bases: $rust exists" >&2
else
  sysroot="$(rustc --print sysroot)"
  rustc_version="$(rustc --version | awk '{print $2}')"
  [ "${rustc_version%%.*}.$(echo "$rustc_version" | cut -d. -f2)" = 1.95 ] \
    || { echo "stand-in-bases: the active toolchain is rustc $rustc_version, not 1.95" >&2; exit 1; }
  toolchain="/usr/local/rustup/toolchains/$rustc_version-x86_64-unknown-linux-gnu"
  mkdir -p "$work/ctx"
  tar -C "$sysroot" -cf "$work/ctx/toolchain.tar" bin lib libexec
  cat >"$work/ctx/Dockerfile" <<DOCKERFILE
FROM $debian
ADD toolchain.tar $toolchain/
RUN mkdir -p /usr/local/cargo/bin && for t in cargo rustc rustdoc; do ln -s $toolchain/bin/\$t /usr/local/cargo/bin/\$t; done
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
DOCKERFILE
  "${docker[@]}" build -q --network host -t "$rust" "$work/ctx" >/dev/null
  echo "stand-in-bases: $rust with rustc $rustc_version" >&2
fi
"${docker[@]}" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -F "$version" >&2
printf '%s\n%s\n' "$debian" "$rust"
