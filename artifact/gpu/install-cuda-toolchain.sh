#!/usr/bin/env bash
# Installs what building dpstudy with `--features cuda` needs beyond install-deps.sh, from
# Debian and PyPI only (no NVIDIA installer, no NVIDIA image): g++ (nvcc's host compiler),
# python3-venv, xz (build.sh packs the bundle with it), and NVIDIA's CUDA 13.0 wheels (nvcc, headers, the runtime, cuBLAS, cuRAND,
# NVRTC) in a virtual environment.
#   artifact/gpu/install-cuda-toolchain.sh VENV
# Used by artifact/gpu/build.sh on a host and by the Dockerfile's cuda-build stage. CUDA
# 13.0 exactly: driver 580 supports PTX up to CUDA 13.0, and candle loads its kernels as PTX.
set -euo pipefail

venv="${1:?usage: install-cuda-toolchain.sh VENV}"
missing=()
command -v g++ >/dev/null || missing+=(g++)
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v xz >/dev/null || missing+=(xz-utils)
"$(dirname "$0")/../docker/apt-install.sh" install-cuda-toolchain "${missing[@]}"

[ -x "$venv/bin/pip" ] || { rm -rf "$venv" && python3 -m venv "$venv"; }
"$venv/bin/pip" install -q \
  "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-crt==13.0.*" "nvidia-cuda-runtime==13.0.*" \
  "nvidia-cuda-nvrtc==13.0.*" "nvidia-cublas==13.0.*" "nvidia-curand==10.4.0.*" "nvidia-nvvm==13.0.*" \
  "nvidia-cuda-cccl==13.0.*"
"$venv/bin/pip" freeze | grep -i '^nvidia' | tr '\n' ' ' | sed 's/^/install-cuda-toolchain: /; s/ $/\n/' >&2
