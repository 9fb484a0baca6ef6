#!/usr/bin/env bash
# Builds the real Dockerfile's `cpu`, `paper` and `cuda` targets on a machine without an
# image registry, runs what a user runs against them, and compares the verdicts with a host
# run. Three phases, so that CI can download while it compiles, build after the host's tests,
# and time the runs on a quiet machine:
#
#   artifact/docker/ci/image-check.sh prepare
#   artifact/docker/ci/image-check.sh build [--seed TARGET_DIR] [GPU_BUNDLE_DIR]
#   artifact/docker/ci/image-check.sh run HOST_RESULTS_DIR
#
# prepare: what is only downloaded and installed, and so can overlap a compile: Docker and
# debootstrap, the stand-in bases, and the stages build-deps and cuda-toolchain (apt, and
# NVIDIA's CUDA wheels from PyPI); build finds them in the engine's cache.
# build: the three images; the cuda image runs here without a GPU: its binary must start,
# train on the CPU, and say "no GPU found" for `--mode gpu`; the gpu-bundle target (the
# cuda build's bundle for a GPU machine) goes to GPU_BUNDLE_DIR when given: the one CUDA
# build of CI; --seed TARGET_DIR: the builds start from the dependencies the host compiled
# there (target-seed.sh), so CI compiles them once. run: `docker run artifact` (the quick profile) must reach the verdict of
# HOST_RESULTS_DIR (a quick run made on the host: its check.json) for every claim, and
# `artifact:paper paper` must build the PDF. What is specific to this machine stays here,
# never in the Dockerfile: a private Docker engine (started here, always stopped), stand-in
# base images (stand-in-bases.sh), Debian packages from deb.debian.org instead of the
# snapshot archive (DEBIAN_ARCHIVE), and MNIST from a loopback HTTP server over the files
# beside the clone (MNIST_MIRRORS). The engine's data root persists under
# $DPSTUDY_DOCKER_ROOT (default ~/.cache/dpstudy-docker), so BuildKit's cache mounts and
# layers make a second run cheap; delete it for a fresh-machine run.
set -euo pipefail
cd "$(dirname "$0")/../../.."

usage="usage: image-check.sh prepare | build [--seed TARGET_DIR] [GPU_BUNDLE_DIR] | run HOST_RESULTS_DIR"
phase="${1:?$usage}"
case "$phase" in
  prepare) ;;
  build)
    seed_dir=""
    if [ "${2:-}" = --seed ]; then
      seed_dir="${3:?$usage}"
      shift 2
    fi
    bundle_dir="${2:-}"
    ;;
  run)
    host_results="${2:?$usage}"
    [ -f "$host_results/check.json" ] || { echo "image-check: $host_results/check.json is missing" >&2; exit 2; }
    ;;
  *) echo "image-check: $phase: $usage" >&2; exit 2 ;;
esac
root="${DPSTUDY_DOCKER_ROOT:-$HOME/.cache/dpstudy-docker}"
mnist_dir="$(cd ../shared/data/mnist-full && pwd)"
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
artifact/docker/apt-install.sh image-check "${missing[@]}"
# Debian's client (20.10) drives BuildKit without the buildx plugin.
docker=/usr/bin/docker
export DOCKER_HOST="unix://$root/docker.sock" DOCKER_BUILDKIT=1

mkdir -p "$root/data" "$root/exec"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
# A TERM (CI stopping a background build) still stops the engine.
trap 'exit 143' TERM INT
# No bridge, no iptables: containers get loopback only, and builds that fetch use the host
# network (--network host).
dockerd --data-root "$root/data" --exec-root "$root/exec" -H "$DOCKER_HOST" --pidfile "$root/docker.pid" \
  --iptables=false --ip-masq=false --bridge=none --storage-driver=overlay2 >"$root/dockerd.log" 2>&1 &
pids+=($!)
for _ in $(seq 60); do "$docker" version >/dev/null 2>&1 && break; sleep 0.5; done
"$docker" version --format 'image-check: Docker engine {{.Server.Version}}' >&2

# The claim ids and outcomes of a check.json, one per line.
verdicts() {
  python3 - "$1" <<'PY'
import json, sys
for v in json.load(open(sys.argv[1]))["verdicts"]:
    print(v["id"], v["outcome"])
PY
}

# The stand-in bases (made once, then found), and the build arguments every phase passes.
base_args() {
  bases="$(PATH="$(dirname "$docker"):$PATH" artifact/docker/ci/stand-in-bases.sh dpstudy-ci)"
  mapfile -t bases <<<"$bases"
  # Stand-ins of earlier versions of stand-in-bases.sh only take space.
  "$docker" images --format '{{.Repository}}:{{.Tag}}' | grep -E '^dpstudy-ci/(debian|rust):' \
    | grep -vxF -e "${bases[0]}" -e "${bases[1]}" \
    | xargs -r "$docker" rmi >/dev/null || true
  build_args=(
    --network host
    --build-arg "RUNTIME_IMAGE=${bases[0]}"
    --build-arg "RUST_IMAGE=${bases[1]}"
    --build-arg DEBIAN_ARCHIVE=http://deb.debian.org
  )
}

# The stages that only download and install (no MNIST, no crate): the build finds them.
prepare_stages() {
  base_args
  for target in build-deps cuda-toolchain; do
    started=$SECONDS
    "$docker" build -q "${build_args[@]}" --target "$target" -t "dpstudy-ci/$target" . >/dev/null
    echo "image-check: prepared --target $target in $((SECONDS - started)) s" >&2
  done
}

build_images() {
  base_args

  # A free loopback port, then the server on it; the build fails loudly if it did not start.
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  python3 -m http.server "$port" --bind 127.0.0.1 --directory "$mnist_dir" >"$root/mnist-http.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 40); do curl -fsI "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.25; done
  curl -fsI "http://127.0.0.1:$port/" >/dev/null || { echo "image-check: the MNIST server did not start" >&2; exit 1; }

  # No revision argument: the images read it from the context's .git, as a user's
  # `docker build -t artifact .` does; each image must then say the clone's revision (as
  # build.rs says it: uncommitted changes to tracked files make it "-dirty").
  revision="$(git rev-parse --short=12 HEAD)"
  if [ -n "$(git status --porcelain --untracked-files=no)" ]; then revision="$revision-dirty"; fi
  build_args+=(--build-arg "MNIST_MIRRORS=http://127.0.0.1:$port")
  if [ -n "$seed_dir" ]; then
    seed="$(PATH="$(dirname "$docker"):$PATH" artifact/docker/ci/target-seed.sh "$seed_dir" dpstudy-ci)"
    build_args+=(--build-arg "TARGET_SEED=$seed")
  fi
  for target in cpu paper cuda baselines; do
    tag=artifact; [ "$target" = cpu ] || tag="artifact:$target"
    started=$SECONDS
    "$docker" build -q "${build_args[@]}" --target "$target" -t "$tag" . >/dev/null
    echo "image-check: built --target $target as $tag in $((SECONDS - started)) s," \
      "$("$docker" image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1e6}')" >&2
  done

  # The bundle, out of the gpu-bundle stage (Docker 20.10's client has no `build --output`:
  # tag the stage, create a container of it without starting it, and copy the file out).
  if [ -n "$bundle_dir" ]; then
    "$docker" build -q "${build_args[@]}" --target gpu-bundle -t artifact:gpu-bundle . >/dev/null
    container="$("$docker" create artifact:gpu-bundle /none)"
    mkdir -p "$bundle_dir"
    "$docker" cp "$container:/dpstudy-cuda.tar.xz" "$bundle_dir/"
    "$docker" rm "$container" >/dev/null
    echo "image-check: the GPU bundle: $bundle_dir/dpstudy-cuda.tar.xz ($(du -h "$bundle_dir/dpstudy-cuda.tar.xz" | cut -f1))" >&2
  fi

  # The cuda image without a GPU: the binary starts (the driver stand-in is loaded), trains on
  # the CPU, and `--mode gpu` names the reason it cannot run.
  for tag in artifact artifact:paper artifact:cuda artifact:baselines; do
    version="$("$docker" run --rm "$tag" --version)"
    echo "image-check: $tag: $version" >&2
    if [ "$version" != "dpstudy $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1) (revision $revision)" ]; then
      echo "image-check: $tag records another revision than the clone's ($revision)" >&2
      exit 1
    fi
  done
  "$docker" run --rm artifact:cuda train --mode seq --data synthetic --samples 200 --epochs 1 --iters 2 --quiet >/dev/null
  status=0
  gpu_error="$("$docker" run --rm artifact:cuda train --mode gpu --data synthetic --samples 200 --epochs 1 --iters 2 2>&1)" \
    || status=$?
  if [ "$status" -eq 0 ] || ! grep -q 'no GPU found' <<<"$gpu_error"; then
    echo "image-check: artifact:cuda --mode gpu without a GPU exited $status with: $gpu_error" >&2
    exit 1
  fi
  echo "image-check: artifact:cuda without a GPU: $gpu_error" >&2

  # The baselines image: the original's program over two ranks and PyTorch DDP over two
  # processes follow the sequential run's costs (synthetic data, a few steps).
  small=(--data synthetic --samples 600 --hidden 8 --epochs 1 --iters 3 --quiet)
  for mode in "seq" "original --ranks 2" "torch-ddp --ranks 2"; do
    # shellcheck disable=SC2086 # the mode's words are separate arguments
    "$docker" run --rm --shm-size=1g artifact:baselines train --mode $mode "${small[@]}" >"$root/baseline-${mode%% *}.json"
  done
  python3 - "$root"/baseline-{seq,original,torch-ddp}.json <<'PY'
import json, sys
seq, *others = (json.load(open(p)) for p in sys.argv[1:])
for run in others:
    mode, runtime = run["config"]["mode"], run["baseline"]
    worst = max(abs(a - b) / b for a, b in zip(run["step_costs"], seq["step_costs"]))
    assert run["ranks"] == 2 and worst <= 1e-9, f"{mode}: ranks {run['ranks']}, worst relative cost {worst:.1e}"
    print(f"image-check: artifact:baselines {mode} over 2 processes ({runtime['program']}, numpy {runtime['numpy']},"
          f" {'torch ' + runtime['torch'] if 'torch' in runtime else 'mpi4py ' + runtime['mpi4py']}): costs within"
          f" {worst:.0e} of dpstudy's sequential run", file=sys.stderr)
PY
}

run_images() {
  # What a user runs: the default command (the quick profile) into a mounted results folder.
  out="$(mktemp -d)"
  started=$SECONDS
  status=0
  "$docker" run --rm --shm-size=1g -v "$out:/artifact/results" artifact >"$out/docker-run.log" 2>&1 || status=$?
  tail -3 "$out/docker-run.log" >&2
  echo "image-check: docker run artifact (quick) exited $status in $((SECONDS - started)) s" >&2
  run_dir="$(find "$out" -mindepth 1 -maxdepth 1 -type d -name 'quick-*' -print -quit)"
  [ -n "$run_dir" ] && [ -f "$run_dir/check.json" ] || { echo "image-check: no check.json from the image's run" >&2; exit 1; }
  # Same verdict for every claim as the host's run (the measured figures differ, the verdicts
  # must not), except the claims of emulated hosts (T8): a container without NET_ADMIN and
  # iproute2 cannot make network namespaces, and says so; and the claims that compare with
  # the Python baselines, whose environment is the optional `baselines` target, not the
  # default image. Those are listed, not compared.
  uncomparable="$(python3 - "$run_dir/check.json" <<'PY'
import json, sys
for v in json.load(open(sys.argv[1]))["verdicts"]:
    if v["outcome"] == "not-run" and ("emulated hosts" in v["measured"] or "baseline Python" in v["measured"]):
        print(v["id"], v["measured"], sep="\t")
PY
)"
  if [ -n "$uncomparable" ]; then
    while IFS=$'\t' read -r id why; do
      echo "image-check: not compared: $id ($why)" >&2
    done <<<"$uncomparable"
  fi
  comparable() { verdicts "$1" | grep -vwF -f <(cut -f1 <<<"$uncomparable" | grep .) || true; }
  # A verdict differs when one side passed and the other failed, or one side ran the claim and
  # the other did not; an inconclusive claim (its interval holds the bound) contradicts
  # neither a pass nor a fail, and is listed.
  if ! python3 - <(comparable "$host_results/check.json") <(comparable "$run_dir/check.json") >&2 <<'PY'
import sys
host, image = (dict(line.split() for line in open(path) if line.strip()) for path in sys.argv[1:3])
bad = False
for claim in sorted(set(host) | set(image), key=lambda c: int(c.lstrip("C"))):
    h, i = host.get(claim, "absent"), image.get(claim, "absent")
    if h == i:
        continue
    if "inconclusive" in (h, i) and "not-run" not in (h, i) and "absent" not in (h, i):
        print(f"image-check: {claim}: {h} on the host, {i} in the image (inconclusive: not a difference)")
        continue
    print(f"image-check: {claim}: {h} on the host, {i} in the image")
    bad = True
sys.exit(1 if bad else 0)
PY
  then
    echo "image-check: the image's verdicts differ from the host's" >&2
    exit 1
  fi
  echo "image-check: verdicts equal the host run's: $(verdicts "$run_dir/check.json" | tr '\n' ' ')" >&2
  # The reviewer's page, compared with the expected results the image carries.
  grep -q 'Against <code>artifact/expected/quick</code>' "$run_dir/report.html" \
    || { echo "image-check: the image's report.html did not compare with artifact/expected/quick" >&2; exit 1; }
  echo "image-check: report.html ($(wc -c <"$run_dir/report.html") bytes) compared with artifact/expected/quick:" \
    "$(grep -o 'compare: [^<]*' "$run_dir/report.html" | head -1)" >&2
  # The same data and arithmetic as ours: no final cost or accuracy may be outside (timing
  # ratios may: a container on a busy host is another machine).
  if grep '^<tr class="OUTSIDE">' "$run_dir/report.html" | grep -E 'cost</td>|accuracy</td>' >&2; then
    echo "image-check: the image's run trained to other costs or accuracies than artifact/expected/quick (above)" >&2
    exit 1
  fi
  [ "$status" -eq 0 ] || exit "$status"

  # The paper from the image's own tables and figures.
  paper="$(mktemp -d)"
  cp -r paper/. "$paper/"
  "$docker" run --rm -v "$paper:/artifact/paper" artifact:paper paper >"$out/docker-paper.log" 2>&1 \
    || { tail -20 "$out/docker-paper.log" >&2; exit 1; }
  test -s "$paper/paper.pdf"
  echo "image-check: docker run artifact:paper paper built paper.pdf ($(wc -c <"$paper/paper.pdf") bytes)" >&2
  rm -rf "$out" "$paper"
}

case "$phase" in
  prepare) prepare_stages ;;
  build) build_images ;;
  run) run_images ;;
esac
