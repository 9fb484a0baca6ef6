#!/usr/bin/env bash
# The GPU checks and tables, on a machine with an NVIDIA GPU and no Rust toolchain: it runs
# the binary artifact/gpu/build.sh made elsewhere, with the CUDA 13 libraries that the
# machine's PyTorch installation carries.
#   artifact/gpu/run-on-device.sh OUTDIR
# Environment: DPSTUDY_BUNDLE (default target-cuda/bin/dpstudy-cuda.tar.xz) or DPSTUDY_BIN,
# DPSTUDY_DATA_DIR (the MNIST
# test files; default ../shared/data/mnist, else shared/data/mnist).
# Writes into OUTDIR: the weight comparisons, the T1/T7 results, and the N = 70,000 step
# times of dpstudy's GPU trainer beside PyTorch's (f32 and f64, H = 50, 400, 1600) with the
# arithmetic floor and what each of the GPU path's optimisations buys, measured in this one
# run.
#
# From this project's machine, through the device tool (about 5 minutes there): CI leaves
# the bundle in ~/.cache/dpstudy-gpu-bundle (the Dockerfile's gpu-bundle stage), then
#   mkdir -p target-cuda/bin data
#   cp ~/.cache/dpstudy-gpu-bundle/dpstudy-cuda.tar.xz target-cuda/bin/ && cp -r ../shared/data/mnist data/
# and run, carrying target-cuda/bin and data/mnist:
#   DPSTUDY_DATA_DIR=data/mnist artifact/gpu/run-on-device.sh /tmp/gpu; tar -C /tmp/gpu -czf $OUT/gpu.tgz .
# Back here, `dpstudy merge CPU_RUN GPU_RUN --out DIR` sets the GPU cells beside this
# machine's CPU cells (GPU_RUN: the results/quick-* folder inside gpu.tgz).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:?usage: run-on-device.sh OUTDIR}"
mkdir -p "$out"
# The bundle artifact/gpu/build.sh packs (binary + non-CUDA libraries), else a binary.
bundle="${DPSTUDY_BUNDLE:-target-cuda/bin/dpstudy-cuda.tar.xz}"
if [ -f "$bundle" ]; then
  mkdir -p "$out/bin" && tar -C "$out/bin" -xJf "$bundle"
  bin="$out/bin/dpstudy"
  export LD_LIBRARY_PATH="$out/bin/lib:${LD_LIBRARY_PATH:-}"
else
  bin="${DPSTUDY_BIN:-target-cuda/bin/dpstudy}"
fi
data="${DPSTUDY_DATA_DIR:-}"
[ -n "$data" ] || for d in ../shared/data/mnist shared/data/mnist; do [ -f "$d/t10k-images-idx3-ubyte.gz" ] && data="$d" && break; done
[ -n "$data" ] || { echo "run-on-device: no MNIST test files found; set DPSTUDY_DATA_DIR" >&2; exit 1; }

# The CUDA 13 libraries (cublas, curand, nvrtc) inside PyTorch's wheels; the driver's
# libcuda.so.1 is on the system path.
libs="$(python3 - <<'PY'
import glob, os, site, torch
roots = site.getsitepackages() + [os.path.dirname(os.path.dirname(torch.__file__))]
dirs = {os.path.dirname(p) for r in roots for p in glob.glob(r + "/nvidia/**/lib*.so.*", recursive=True)}
dirs.add(os.path.join(os.path.dirname(torch.__file__), "lib"))
print(":".join(sorted(dirs)))
PY
)"
export LD_LIBRARY_PATH="$libs:${LD_LIBRARY_PATH:-}"
export DPSTUDY_CACHE_DIR="$out/cache" OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/nvidia-smi.txt"
"$bin" --version

# 1. Parity: 50 iterations on the 10,000 real images, GPU against the CPU trainer, for the
#    GPU path as it runs by default and with candle's own operations and layout instead of
#    the fused kernels and aligned inputs (src/model/gpu_options.rs). Should the default
#    fail, the rest runs without the optimisation that broke it, and tuning.txt says so.
tol_f64=1e-9 tol_f32=1e-3
for dtype in f64 f32; do
  "$bin" train --mode seq --dtype "$dtype" --data-dir "$data" --samples 10000 --epochs 5 --iters 10 \
    --quiet --out "$out/parity-seq-$dtype.json" --save-weights "$out/parity-seq-$dtype.safetensors"
done
parity() { # OFF-LIST NAME: trains on the GPU with DPSTUDY_GPU_OFF=OFF-LIST, compares both dtypes
  local ok=0
  for dtype in f64 f32; do
    DPSTUDY_GPU_OFF="$1" "$bin" train --mode gpu --dtype "$dtype" --data-dir "$data" --samples 10000 --epochs 5 \
      --iters 10 --quiet --out "$out/parity-gpu-$2-$dtype.json" --save-weights "$out/parity-gpu-$2-$dtype.safetensors" || ok=1
    local tol="tol_$dtype"
    echo "GPU path with DPSTUDY_GPU_OFF='$1', $dtype:" | tee -a "$out/parity.txt"
    python3 artifact/gpu/compare_weights.py "$out/parity-gpu-$2-$dtype.safetensors" "$out/parity-seq-$dtype.safetensors" \
      "${!tol}" | tee -a "$out/parity.txt" || ok=1
  done
  return $ok
}
parity "align,fuse" unfused || echo "run-on-device: the GPU path fails parity even without fused kernels" >&2
off=""
for candidate in "" "fuse" "align,fuse"; do
  if parity "$candidate" "off-${candidate//,/-}"; then off="$candidate"; break; fi
  echo "run-on-device: parity FAILED with DPSTUDY_GPU_OFF='$candidate'" | tee -a "$out/parity.txt" >&2
  off="align,fuse"
done
export DPSTUDY_GPU_OFF="$off"
echo "DPSTUDY_GPU_OFF='$off' for the step table's first dpstudy column and for T1/T7" | tee "$out/tuning.txt"

# 2. The step at N = 70,000 for H = 50, 400, 1600 in f32 and f64: dpstudy's GPU trainer
#    (as it runs, then with each optimisation off and with all off) and PyTorch one after
#    the other in this command (synthetic data of the study's shape), beside the floor: the
#    step's FLOPs over the GPU's peak for the dtype.
variants=("$off" pool events align fuse "pool,events,align,fuse")
mkdir -p "$out/step"
for dtype in f32 f64; do
  for hidden in 50 400 1600; do
    for i in "${!variants[@]}"; do
      DPSTUDY_GPU_OFF="${variants[$i]}" "$bin" train --mode gpu --dtype "$dtype" --data synthetic --samples 70000 \
        --hidden "$hidden" --epochs 3 --iters 20 --quiet --out "$out/step/step-gpu$i-$dtype-h$hidden.json" \
        || echo "run-on-device: step run DPSTUDY_GPU_OFF='${variants[$i]}' $dtype H=$hidden failed" >&2
    done
    python3 artifact/baselines/torch_step.py --samples 70000 --hidden "$hidden" --dtype "$dtype" \
      > "$out/step/step-torch-$dtype-h$hidden.json"
  done
done
python3 artifact/gpu/step_table.py "$out" "${variants[@]}" | tee "$out/step.txt"

# 3. T1 and T7 with the GPU cells filled, and T3 (strong scaling) up to P = 4 on this
#    machine's cores, as the study's 4 processes (quick profile, the 10,000 real images).
"$bin" reproduce --profile quick --tables "${TABLES:-T1,T3,T7}" --data-dir "$data" --results-dir "$out/results" \
  --max-ranks "${MAX_RANKS:-4}" --no-paper || echo "run-on-device: reproduce exited $?" >&2
echo "run-on-device: done; results in $out" >&2
