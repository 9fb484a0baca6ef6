#!/usr/bin/env bash
# Builds dpstudy with `--features cuda` on a machine without a GPU or a CUDA installation:
# NVIDIA's CUDA 13.0 wheels from PyPI provide nvcc, the headers and the libraries to link
# against; the binary then runs where a driver and the CUDA 13 libraries are present (the
# H100 machine: driver 580, the libraries inside its PyTorch).
#   artifact/gpu/build.sh [OUTDIR]      (default: target-cuda/bin)
# OUTDIR gets the binary, dpstudy-cuda.tar.xz (binary and non-CUDA libraries, for the GPU
# machine), cuda-lib/ (the CUDA libraries it loads) and no-driver/ (a driver stand-in), the
# last two for the Dockerfile's cuda image. The Dockerfile's cuda-build stage runs this.
# Environment: CUDA_COMPUTE_CAP (default 90: H100/H200), DPSTUDY_CUDA_VENV (where the
# wheels go; default ~/.cache/dpstudy-cuda-venv), CARGO_TARGET_DIR (default target-cuda).
set -euo pipefail
cd "$(dirname "$0")/../.."

out="${1:-target-cuda/bin}"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
venv="${DPSTUDY_CUDA_VENV:-$HOME/.cache/dpstudy-cuda-venv}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target-cuda}"

artifact/docker/install-deps.sh
artifact/gpu/install-cuda-toolchain.sh "$venv"

# The wheels install into site-packages/nvidia/cu13 (bin, include, lib); assemble a
# CUDA_HOME with the layout build scripts expect, and unversioned .so names to link with.
site="$("$venv/bin/python" -c 'import site; print(site.getsitepackages()[0])')"
cu="$(find "$site/nvidia" -maxdepth 2 -name bin -path '*nvidia/*' -printf '%h\n' -quit)"
[ -x "$cu/bin/nvcc" ] || { echo "gpu/build: nvcc not found under $site/nvidia" >&2; exit 1; }
mkdir -p "$CARGO_TARGET_DIR"
home="$(realpath "$CARGO_TARGET_DIR")/cuda-home"
rm -rf "$home" && mkdir -p "$home/lib64"
ln -s "$cu/bin" "$home/bin"
ln -s "$cu/include" "$home/include"
if [ -d "$cu/nvvm" ]; then ln -s "$cu/nvvm" "$home/nvvm"; fi
for lib in "$cu"/lib/*.so.*; do
  base="$(basename "$lib")"
  ln -sf "$lib" "$home/lib64/$base"
  ln -sf "$lib" "$home/lib64/${base%%.so.*}.so"
done
# libcuda.so belongs to the driver and is in no wheel: link against a stand-in with the
# driver's soname (libcuda-stub.sh says how it is used).
cargo fetch --locked >/dev/null
cudarc="$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -maxdepth 2 -type d -name 'cudarc-*' | sort | tail -1)"
artifact/gpu/libcuda-stub.sh "$cudarc" "$home/lib64/libcuda.so"
export CUDA_HOME="$home" CUDA_PATH="$home" CUDA_ROOT="$home"
export PATH="$CUDA_HOME/bin:$PATH" LIBRARY_PATH="$CUDA_HOME/lib64:${LIBRARY_PATH:-}"
nvcc --version | tail -2

cargo build --release --locked --features cuda
install -D -m 0755 "$CARGO_TARGET_DIR/release/dpstudy" "$out/dpstudy"
strip "$out/dpstudy"

# The GPU machine has the driver and PyTorch's CUDA libraries but maybe not Open MPI: bundle
# the libraries the binary needs that are neither system nor CUDA ones, and pack binary and
# libraries small enough to carry there (run-on-device.sh unpacks it).
rm -rf "$out/lib" "$out/cuda-lib" "$out/no-driver" && mkdir -p "$out/lib" "$out/cuda-lib" "$out/no-driver"
libs="$(LD_LIBRARY_PATH="$CUDA_HOME/lib64" ldd "$out/dpstudy" | awk '$2 == "=>" && $3 ~ /^\// {print $3}')"
grep -vE '/(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|ld-linux[^/]*|libcuda|libcudart|libcublas|libcublasLt|libcurand|libnvrtc)\.so' \
  <<<"$libs" | while read -r lib; do cp -L "$lib" "$out/lib/"; done
tar -C "$out" -cJf "$out/dpstudy-cuda.tar.xz" dpstudy lib
# For a machine without PyTorch (the cuda image): the CUDA libraries the binary loads, from
# the same wheels it was linked against, and the driver stand-in for when there is no GPU.
grep -F "$CUDA_HOME/lib64/" <<<"$libs" | grep -v '/libcuda\.so' | while read -r lib; do cp -L "$lib" "$out/cuda-lib/"; done
cp "$home/lib64/libcuda.so" "$out/no-driver/libcuda.so.1"
echo "gpu/build: $out/dpstudy (compute capability $CUDA_COMPUTE_CAP); bundle $out/dpstudy-cuda.tar.xz" \
  "($(du -h "$out/dpstudy-cuda.tar.xz" | cut -f1): the binary and $(ls "$out/lib" | wc -l) libraries);" \
  "CUDA libraries in $out/cuda-lib ($(du -sh "$out/cuda-lib" | cut -f1))" >&2
