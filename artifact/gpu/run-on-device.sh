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
# arithmetic floor, measured in this one run.
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

# 1. Parity: 50 iterations on the 10,000 real images, GPU against the CPU trainer.
for dtype in f64 f32; do
  for mode in seq gpu; do
    "$bin" train --mode "$mode" --dtype "$dtype" --data-dir "$data" --samples 10000 --epochs 5 --iters 10 \
      --quiet --out "$out/parity-$mode-$dtype.json" --save-weights "$out/parity-$mode-$dtype.safetensors"
  done
done
tol_f64=1e-9 tol_f32=1e-3
python3 artifact/gpu/compare_weights.py "$out/parity-gpu-f64.safetensors" "$out/parity-seq-f64.safetensors" $tol_f64 | tee "$out/parity.txt"
python3 artifact/gpu/compare_weights.py "$out/parity-gpu-f32.safetensors" "$out/parity-seq-f32.safetensors" $tol_f32 | tee -a "$out/parity.txt"

# 2. The step at N = 70,000 for H = 50, 400, 1600 in f32 and f64: dpstudy's GPU trainer and
#    PyTorch one after the other in this command (synthetic data of the study's shape),
#    beside the floor: the step's FLOPs over the GPU's peak for the dtype.
for dtype in f32 f64; do
  for hidden in 50 400 1600; do
    "$bin" train --mode gpu --dtype "$dtype" --data synthetic --samples 70000 --hidden "$hidden" --epochs 3 \
      --iters 20 --quiet --out "$out/step-gpu-$dtype-h$hidden.json"
    python3 artifact/baselines/torch_step.py --samples 70000 --hidden "$hidden" --dtype "$dtype" \
      > "$out/step-torch-$dtype-h$hidden.json"
  done
done
python3 - "$out" <<'PY' | tee "$out/step.txt"
import json, statistics, subprocess, sys
out = sys.argv[1]
name = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "--id=0"],
                      capture_output=True, text=True).stdout.strip()
# Dense peak TFLOP/s (NVIDIA's data sheets): FP32 without tensor cores, FP64 with them.
peaks = {"H200": (67.0, 67.0), "H100 80GB HBM3": (67.0, 67.0), "H100 PCIe": (51.0, 51.0), "A100": (19.5, 19.5)}
peak = next((v for k, v in peaks.items() if k in name), None)
n = 70000
print(f"{name}; N = {n}; medians of epochs 2-3 of 20 steps (dpstudy) and of torch_step.py's timed steps")
print("| dtype | H | dpstudy ms | PyTorch ms | dpstudy / PyTorch | floor ms |")
print("| --- | --- | --- | --- | --- | --- |")
for dtype in ("f32", "f64"):
    for h in (50, 400, 1600):
        r = json.load(open(f"{out}/step-gpu-{dtype}-h{h}.json"))
        steps = [(e["ranks"][0]["compute_s"] + e["ranks"][0]["update_s"]) / e["iterations"] for e in r["epochs"][1:]]
        ours = statistics.median(steps)
        torch = json.load(open(f"{out}/step-torch-{dtype}-h{h}.json"))["median_step_s"]
        # Forward (x W1^T, a1 W2^T) and backward (d2^T a1, d2 W2, d1^T x): 2 n (2 * 401 H + 3 * 10 (H + 1)).
        flops = 2 * n * (2 * 401 * h + 3 * 10 * (h + 1))
        floor = f"{flops / (peak[0 if dtype == 'f32' else 1] * 1e12) * 1e3:.3f}" if peak else "unknown GPU"
        print(f"| {dtype} | {h} | {ours * 1e3:.3f} | {torch * 1e3:.3f} | {ours / torch:.2f} | {floor} |")
PY

# 3. T1 and T7 with the GPU cells filled (quick profile, the 10,000 real images).
"$bin" reproduce --profile quick --tables T1,T7 --data-dir "$data" --results-dir "$out/results" \
  --max-ranks "${MAX_RANKS:-4}" --paper-dir "$out/paper" || echo "run-on-device: reproduce exited $?" >&2
echo "run-on-device: done; results in $out" >&2
