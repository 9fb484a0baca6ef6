#!/usr/bin/env bash
# Installs the system packages dpstudy needs to build and run, if they are missing:
# a C compiler, pkg-config, Open MPI (mpirun, and the headers the mpi crate binds to) and
# libclang (the mpi crate generates its bindings with bindgen), git (build.rs records the
# source's revision). Debian/Ubuntu (apt).
# Idempotent: does nothing when everything is present. Used by the README, CI and Docker.
set -euo pipefail

missing=()
command -v cc >/dev/null || missing+=(gcc)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v git >/dev/null || missing+=(git)
command -v mpirun >/dev/null || missing+=(openmpi-bin)
command -v mpicc >/dev/null || missing+=(libopenmpi-dev)
# libclang itself, not libclang-cpp (which other packages bring and bindgen cannot use).
compgen -G "/usr/lib/llvm-*/lib/libclang.so*" >/dev/null || compgen -G "/usr/lib/*/libclang-[0-9]*.so*" >/dev/null \
  || missing+=(libclang-dev)

"$(dirname "$0")/apt-install.sh" install-deps "${missing[@]}"
