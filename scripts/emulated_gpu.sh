#!/usr/bin/env bash
# The GPU half on this CPU: builds kernels/cuda, the tandem binary and the GPU tests against
# the SIMT emulator (-DTANDEM_CUDA_EMU=ON, in build-emu/; kernels/cuda/README.md) and runs
# every test labelled gpu or emu there, the cluster on two emulated GPUs included. Each GPU
# test prints "[  device  ] emulated: ..." in its output.
#   scripts/emulated_gpu.sh [ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-emu -DCMAKE_BUILD_TYPE=Release -DTANDEM_CUDA_EMU=ON -DTANDEM_LEAN=OFF >/dev/null
cmake --build build-emu -j "$(nproc)" --target tandem tandem_gpu_tests tandem_emu_tests tandem_nccl_host
start=$(date +%s)
(cd build-emu && ctest --no-tests=error --output-on-failure -j "$(nproc)" -L 'gpu|emu' "$@")
echo "emulated GPU tests: $(($(date +%s) - start)) s"
