#!/bin/sh
# `dpstudy` in the cuda image. The binary links the NVIDIA driver's libcuda.so.1, which
# only a GPU container has (Docker's --gpus mounts it from the host). Without it, this
# loads dpstudy's stand-in instead (artifact/gpu/libcuda-stub.sh), so that everything but
# `--mode gpu` runs and `--mode gpu` says that there is no GPU. The CUDA libraries from
# the wheels the binary was built with sit beside it.
lib=/usr/local/lib/dpstudy
path="$lib/cuda"
if ! /sbin/ldconfig -p | grep -q '[[:space:]]libcuda\.so\.1[[:space:]]'; then
  path="$path:$lib/no-driver"
fi
export LD_LIBRARY_PATH="$path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$lib/dpstudy" "$@"
