#!/usr/bin/env bash
# Builds the dpstudy binary from the lock file and installs it into OUTDIR.
#   artifact/docker/build.sh OUTDIR [--strip] [cargo build options, e.g. --features cuda]
# Used by the Docker image's build stages and by CI (which then runs that very binary).
# --strip installs the binary without its symbols and line tables (the images: 65 MB
# instead of 590 MB; a panic's backtrace then names no source lines).
set -euo pipefail
cd "$(dirname "$0")/../.."

out="${1:?usage: build.sh OUTDIR [--strip] [cargo options]}"
shift
strip=()
if [ "${1:-}" = --strip ]; then
  strip=(-s)
  shift
fi
cargo build --release --locked "$@"
target="${CARGO_TARGET_DIR:-target}"
install -D -m 0755 "${strip[@]}" "$target/release/dpstudy" "$out/dpstudy"
echo "build: $out/dpstudy ($("$out/dpstudy" --version))" >&2
