#!/usr/bin/env bash
# Builds the dpstudy binary from the lock file and installs it into OUTDIR.
#   artifact/docker/build.sh OUTDIR [cargo build options, e.g. --features cuda]
# Used by the Docker image's build stages and by CI (which then runs that very binary).
set -euo pipefail
cd "$(dirname "$0")/../.."

out="${1:?usage: build.sh OUTDIR [cargo options]}"
shift
cargo build --release --locked "$@"
target="${CARGO_TARGET_DIR:-target}"
install -D -m 0755 "$target/release/dpstudy" "$out/dpstudy"
echo "build: $out/dpstudy ($("$out/dpstudy" --version))" >&2
