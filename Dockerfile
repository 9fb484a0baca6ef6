# The dpstudy artifact, pinned:
#   docker build -t artifact .                       # target `cpu` (the default)
#   docker run --shm-size=1g -v "$PWD/results:/artifact/results" artifact reproduce
#   docker build --target paper -t artifact:paper .  # plus the LaTeX toolchain
#   docker build --target baselines -t artifact:baselines .   # plus numpy, mpi4py, PyTorch
#   docker build --target cuda --build-arg CUDA_COMPUTE_CAP=90 -t artifact:cuda .   # H100/H200
#   docker run --gpus all --shm-size=1g -v "$PWD/results:/artifact/results" artifact:cuda reproduce
#
# Every RUN step calls a script of artifact/docker/ or artifact/gpu/; each stage copies only
# the scripts it runs, so that a change elsewhere keeps its layers cached. The file needs
# BuildKit (the default builder of Docker 23 and later; with Docker 20.10 set
# DOCKER_BUILDKIT=1) for its cache mounts, and nothing newer than the Dockerfile syntax built
# into Docker 20.10: no `# syntax` line (which would pull a frontend image) and no
# `ADD --checksum` (the data stage checks the MNIST files itself). Base images are pinned by
# digest; artifact/docker/resolve-digests.sh re-resolves them (it needs network and docker
# buildx). The digests below are the ones public Dockerfiles and lock files on GitHub
# record for these exact tags (found with a code search in November 2026; no registry is
# reachable from where this file was written):
#   rust:1.95.0-slim-bookworm               several public Dockerfiles, one "pinned 2026-08-05"
#   debian:bookworm-20260824-slim           public Dockerfiles and a Go integration test
# The cuda target needs no NVIDIA image: NVIDIA's CUDA 13.0 wheels on PyPI bring nvcc and
# the libraries (artifact/gpu/install-cuda-toolchain.sh), so it builds on the same two bases
# and is built and run (without a GPU) by CI; the driver comes from the host (--gpus all).
ARG RUST_IMAGE=rust:1.95.0-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082
ARG RUNTIME_IMAGE=debian:bookworm-20260824-slim@sha256:88200866dfff7ea7f5cbcb6ec7c8a701889efe6fe859fe64d6990e4b07ea4171
# Debian packages come from this snapshot of the archive (snapshot.debian.org).
ARG DEBIAN_SNAPSHOT=20261120T000000Z
# Where else to get Debian packages, when snapshot.debian.org cannot be reached (a base URL
# holding debian/ and debian-security/, such as http://deb.debian.org); empty: the snapshot.
ARG DEBIAN_ARCHIVE=
# Where to get the MNIST files: base URLs, space-separated, each serving the published .gz
# files or the decompressed ones (checked against the published SHA-256 either way);
# empty: the public mirrors.
ARG MNIST_MIRRORS=
# An image holding a cargo target directory (release/...) to start the crate's builds from;
# scratch: an empty one, as for any user. CI passes the target directory its host tests
# compiled (artifact/docker/ci/target-seed.sh), so the dependencies compile once per run.
ARG TARGET_SEED=scratch

# ---- target-seed: the first content of the build stages' target-directory cache ------------
FROM ${TARGET_SEED} AS target-seed

# ---- build-deps: the Rust image with the build's system packages --------------------------
# Its own stage (as cuda-toolchain below), so that what is only downloaded and installed
# can be built before the crate, while something else keeps the CPU busy (CI does).
FROM ${RUST_IMAGE} AS build-deps
ARG DEBIAN_SNAPSHOT
ARG DEBIAN_ARCHIVE
COPY artifact/docker/apt-install.sh artifact/docker/debian-snapshot.sh artifact/docker/install-deps.sh /src/artifact/docker/
RUN DEBIAN_ARCHIVE="$DEBIAN_ARCHIVE" /src/artifact/docker/debian-snapshot.sh "$DEBIAN_SNAPSHOT" \
    && /src/artifact/docker/install-deps.sh

# ---- build: the CPU binary --------------------------------------------------------------
FROM build-deps AS build
WORKDIR /src
COPY . .
# The revision every result of the image records: build.rs reads it from the context's .git
# (with "-dirty" for uncommitted changes), or from the DPSTUDY_GIT_REVISION argument where
# given; with neither, the build stops and says so instead of recording "unknown".
ARG DPSTUDY_GIT_REVISION=
ENV DPSTUDY_GIT_REVISION=${DPSTUDY_GIT_REVISION} DPSTUDY_REQUIRE_REVISION=1
# The crate registry and the target directory persist between builds of this machine; a new
# target directory starts as the target-seed stage. The registry sits where rustup puts it for
# root, as on CI's machine: cargo's fingerprints hold the absolute paths of the dependencies'
# sources, so a seed compiled there is fresh here only with the same path.
ENV CARGO_HOME=/root/.cargo
RUN --mount=type=cache,target=/root/.cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,from=target-seed,sharing=locked \
    artifact/docker/build.sh /out --strip

# ---- data: the four MNIST files, each checked against its published SHA-256 --------------
FROM ${RUNTIME_IMAGE} AS data
ARG DEBIAN_SNAPSHOT
ARG DEBIAN_ARCHIVE
ARG MNIST_MIRRORS
COPY artifact/docker/apt-install.sh artifact/docker/debian-snapshot.sh artifact/docker/install-fetch-deps.sh \
    artifact/docker/fetch-mnist.sh /src/artifact/docker/
RUN DEBIAN_ARCHIVE="$DEBIAN_ARCHIVE" /src/artifact/docker/debian-snapshot.sh "$DEBIAN_SNAPSHOT" \
    && /src/artifact/docker/install-fetch-deps.sh && /src/artifact/docker/fetch-mnist.sh /mnist $MNIST_MIRRORS

# ---- base: what every runtime image holds ------------------------------------------------
FROM ${RUNTIME_IMAGE} AS cpu-base
ARG DEBIAN_SNAPSHOT
ARG DEBIAN_ARCHIVE
COPY artifact/docker/apt-install.sh artifact/docker/debian-snapshot.sh artifact/docker/install-runtime-deps.sh \
    artifact/docker/install-paper-deps.sh /artifact/artifact/docker/
RUN DEBIAN_ARCHIVE="$DEBIAN_ARCHIVE" /artifact/artifact/docker/debian-snapshot.sh "$DEBIAN_SNAPSHOT" \
    && /artifact/artifact/docker/install-runtime-deps.sh
# All four MNIST files, checked against their published SHA-256 in the data stage: the test
# pair alone in data/mnist, the default (the quick profile reads pool `test`, the 10,000 test
# images, wherever it finds them), all four in data/mnist-full, for `--profile full-short
# --data-dir /artifact/data/mnist-full` (pool `all`).
COPY --from=data /mnist/t10k-* /artifact/data/mnist/
COPY --from=data /mnist/ /artifact/data/mnist-full/
COPY artifact/experiments.toml artifact/claims.toml /artifact/artifact/
# The expected results, which report.html compares a run with (artifact/expected/PROFILE).
COPY artifact/expected/ /artifact/artifact/expected/
COPY paper/ /artifact/paper/
WORKDIR /artifact
# Open MPI as root (containers run as root), and without the CMA single-copy mechanism
# that Docker's default seccomp profile blocks (ranks would fail at the first large
# message). Give the container shared memory for the ranks: --shm-size=1g.
ENV DPSTUDY_DATA_DIR=/artifact/data/mnist \
    DPSTUDY_CACHE_DIR=/artifact/cache \
    OMPI_ALLOW_RUN_AS_ROOT=1 \
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
    OMPI_MCA_btl_vader_single_copy_mechanism=none
ENTRYPOINT ["dpstudy"]
CMD ["reproduce", "--profile", "quick"]

# ---- paper: the CPU image plus latexmk and TeX Live (`dpstudy paper`) ----------------------
FROM cpu-base AS paper
RUN /artifact/artifact/docker/install-paper-deps.sh
COPY --from=build /out/dpstudy /usr/local/bin/dpstudy

# ---- cuda-build: the binary with --features cuda, from NVIDIA's CUDA wheels on PyPI ------
# (cuda-toolchain: build-deps plus nvcc and the CUDA libraries, about 3 GB of wheels)
FROM build-deps AS cuda-toolchain
COPY artifact/gpu/install-cuda-toolchain.sh /src/artifact/gpu/
RUN /src/artifact/gpu/install-cuda-toolchain.sh /opt/cuda-wheels

FROM cuda-toolchain AS cuda-build
WORKDIR /src
COPY . .
# Compute capability of the target GPU: 90 for H100 and H200, 80 for A100.
ARG CUDA_COMPUTE_CAP=90
ARG DPSTUDY_GIT_REVISION=
ENV CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP} DPSTUDY_GIT_REVISION=${DPSTUDY_GIT_REVISION} DPSTUDY_REQUIRE_REVISION=1 \
    DPSTUDY_CUDA_VENV=/opt/cuda-wheels CARGO_TARGET_DIR=/src/target CARGO_HOME=/root/.cargo
# The same cache mounts as the CPU build: the dependencies both builds share compile once.
RUN --mount=type=cache,target=/root/.cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,from=target-seed,sharing=locked \
    artifact/gpu/build.sh /out

# ---- gpu-bundle: only the bundle for a GPU machine without Docker ---------------------------
#   docker build --target gpu-bundle -o OUTDIR .   # OUTDIR/dpstudy-cuda.tar.xz (buildx, Docker 23+)
FROM scratch AS gpu-bundle
COPY --from=cuda-build /out/dpstudy-cuda.tar.xz /

# ---- cuda: the CPU image plus the CUDA binary and the CUDA libraries it loads ---------------
FROM cpu-base AS cuda
COPY --from=cuda-build /out/cuda-lib/ /usr/local/lib/dpstudy/cuda/
COPY --from=cuda-build /out/no-driver/ /usr/local/lib/dpstudy/no-driver/
COPY --from=cuda-build /out/dpstudy /usr/local/lib/dpstudy/dpstudy
COPY artifact/docker/cuda-entrypoint.sh /usr/local/bin/dpstudy

# ---- baselines: the CPU image plus the baselines' Python environment ----------------------
# numpy, mpi4py and PyTorch from PyPI, pinned (artifact/baselines/requirements.txt; about
# 4.7 GB, PyPI's torch wheel brings NVIDIA's libraries along), so that `reproduce` runs the
# baseline cells too: `docker build --target baselines -t artifact:baselines .`
FROM cpu-base AS baselines
COPY artifact/baselines/install.sh artifact/baselines/requirements.txt /artifact/artifact/baselines/
RUN --mount=type=cache,target=/root/.cache/pip,sharing=locked \
    /artifact/artifact/baselines/install.sh /opt/dpstudy-python
ENV DPSTUDY_PYTHON=/opt/dpstudy-python/bin/python3
COPY --from=build /out/dpstudy /usr/local/bin/dpstudy

# ---- cpu: the default target ---------------------------------------------------------------
FROM cpu-base AS cpu
COPY --from=build /out/dpstudy /usr/local/bin/dpstudy
