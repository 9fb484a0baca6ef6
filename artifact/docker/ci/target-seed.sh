#!/usr/bin/env bash
# Packs the dependencies that the host's `cargo test --release` compiled into an image, for
# the Dockerfile's TARGET_SEED build arg: the build stages' target-directory cache then
# starts with them, and CI compiles the crate's dependencies once per run instead of once on
# the host and again in the image. Only dpstudy itself compiles in the image.
#
#   artifact/docker/ci/target-seed.sh TARGET_DIR PREFIX
#
# prints the image to pass (PREFIX/target-seed:VERSION), or `scratch` (an empty seed, the
# image compiles everything) when the seed could not be fresh there: cargo's fingerprints
# hold the dependencies' absolute source paths, and the image keeps its registry at
# /root/.cargo. VERSION is a hash of Cargo.lock, Cargo.toml and the compiler's version; an
# image that exists already is kept, so an unchanged seed keeps the build's cache warm.
# Needs a running engine (DOCKER_HOST) and the docker client on PATH.
set -euo pipefail
cd "$(dirname "$0")/../../.."
target="${1:?usage: target-seed.sh TARGET_DIR PREFIX}"
prefix="${2:?usage: target-seed.sh TARGET_DIR PREFIX}"

cargo_home="${CARGO_HOME:-$HOME/.cargo}"
if [ "$cargo_home" != /root/.cargo ]; then
  echo "target-seed: CARGO_HOME is $cargo_home, not /root/.cargo: no seed, the image compiles every dependency" >&2
  echo scratch
  exit 0
fi
if [ ! -d "$target/release/.fingerprint" ]; then
  echo "target-seed: $target/release holds no release build: no seed" >&2
  echo scratch
  exit 0
fi

version="$({ cat Cargo.lock Cargo.toml; rustc -vV; } | sha256sum | cut -c1-12)"
image="$prefix/target-seed:$version"
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "target-seed: $image exists" >&2
else
  started=$SECONDS
  # Everything but dpstudy's own units (the image compiles those from its sources): each
  # dependency's fingerprint, build-script directory and library.
  (
    cd "$target"
    find release/.fingerprint release/build -mindepth 1 -maxdepth 1 ! -name 'dpstudy-*' -print0
    find release/deps -maxdepth 1 -type f -name 'lib*' ! -name 'libdpstudy-*' -print0
  ) | tar -C "$target" --null -T - -c | docker import - "$image" >/dev/null
  echo "target-seed: $image from $target ($((SECONDS - started)) s," \
    "$(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}'))" >&2
fi
# Seeds of other versions only take space.
docker images --format '{{.Repository}}:{{.Tag}}' | grep -F "$prefix/target-seed:" | grep -vxF "$image" \
  | xargs -r docker rmi >/dev/null || true
echo "$image"
