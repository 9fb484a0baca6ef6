#!/usr/bin/env bash
# Builds dpstudy with `--features cuda` on a machine without a GPU or a CUDA installation:
# NVIDIA's CUDA 13.0 wheels from PyPI provide nvcc, the headers and the libraries to link
# against; the binary then runs where a driver and the CUDA 13 libraries are present (the
# H100 machine: driver 580, the libraries inside its PyTorch).
#   artifact/gpu/build.sh [OUTDIR]      (default: target-cuda/bin)
# Environment: CUDA_COMPUTE_CAP (default 90: H100/H200), DPSTUDY_CUDA_VENV (where the
# wheels go; default ~/.cache/dpstudy-cuda-venv), CARGO_TARGET_DIR (default target-cuda).
# CUDA 13.0 exactly: driver 580 supports PTX up to CUDA 13.0, and candle loads its kernels
# as PTX.
set -euo pipefail
cd "$(dirname "$0")/../.."

out="${1:-target-cuda/bin}"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
venv="${DPSTUDY_CUDA_VENV:-$HOME/.cache/dpstudy-cuda-venv}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target-cuda}"

artifact/docker/install-deps.sh
if [ ! -x "$venv/bin/pip" ]; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    echo "gpu/build: installing python3-venv" >&2
    sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -q && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q python3-venv
    rm -rf "$venv" && python3 -m venv "$venv"
  fi
fi
"$venv/bin/pip" install -q \
  "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-crt==13.0.*" "nvidia-cuda-runtime==13.0.*" \
  "nvidia-cuda-nvrtc==13.0.*" "nvidia-cublas==13.0.*" "nvidia-curand==10.4.0.*" "nvidia-nvvm==13.0.*" \
  "nvidia-cuda-cccl==13.0.*"

# The wheels install into site-packages/nvidia/cu13 (bin, include, lib); assemble a
# CUDA_HOME with the layout build scripts expect, and unversioned .so names to link with.
site="$("$venv/bin/python" -c 'import site; print(site.getsitepackages()[0])')"
cu="$(find "$site/nvidia" -maxdepth 2 -name bin -path '*nvidia/*' -printf '%h\n' | head -1)"
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
# libcuda.so belongs to the driver and is in no wheel. Link against a stub that defines the
# driver API's names (from cudarc's bindings) with the driver's soname, libcuda.so.1; at run
# time the real driver library is loaded in its place (what CUDA's own stubs do).
cargo fetch --locked >/dev/null
cudarc="$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -maxdepth 2 -type d -name 'cudarc-*' | sort | tail -1)"
grep -hoE '^[[:space:]]+fn cu[A-Za-z0-9_]+\(' "$cudarc/src/driver/sys/mod.rs" | sed -E 's/^[[:space:]]+fn ([A-Za-z0-9_]+)\(/void \1(void) {}/' \
  | sort -u > "$home/libcuda-stub.c"
cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$home/lib64/libcuda.so" "$home/libcuda-stub.c"
export CUDA_HOME="$home" CUDA_PATH="$home" CUDA_ROOT="$home"
export PATH="$CUDA_HOME/bin:$PATH" LIBRARY_PATH="$CUDA_HOME/lib64:${LIBRARY_PATH:-}"
nvcc --version | tail -2

cargo build --release --locked --features cuda
install -D -m 0755 "$CARGO_TARGET_DIR/release/dpstudy" "$out/dpstudy"
strip "$out/dpstudy"

# The GPU machine has the driver and PyTorch's CUDA libraries but maybe not Open MPI: bundle
# the libraries the binary needs that are neither system nor CUDA ones, and pack binary and
# libraries small enough to carry there (run-on-device.sh unpacks it).
rm -rf "$out/lib" && mkdir -p "$out/lib"
LD_LIBRARY_PATH="$CUDA_HOME/lib64" ldd "$out/dpstudy" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' \
  | grep -vE '/(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|ld-linux[^/]*|libcuda|libcudart|libcublas|libcublasLt|libcurand|libnvrtc)\.so' \
  | while read -r lib; do cp -L "$lib" "$out/lib/"; done
tar -C "$out" -cJf "$out/dpstudy-cuda.tar.xz" dpstudy lib
echo "gpu/build: $out/dpstudy (compute capability $CUDA_COMPUTE_CAP); bundle $out/dpstudy-cuda.tar.xz" \
  "($(du -h "$out/dpstudy-cuda.tar.xz" | cut -f1): the binary and $(ls "$out/lib" | wc -l) libraries)" >&2
