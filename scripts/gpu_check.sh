#!/usr/bin/env bash
# The GPU check, in two halves.
#
#   scripts/gpu_check.sh --prepare   here (Debian, after scripts/setup.sh): builds the lean GPU
#                                    binaries (build-lean/, CUDA runtime and libstdc++ linked
#                                    statically, no ICU/CAF/ZeroMQ/protobuf) and gathers them with
#                                    stories260K into gpu-check/ (git-ignored, about 10 MB).
#   scripts/gpu_check.sh             on a bare CUDA machine, with gpu-check/ carried along: runs the
#                                    gpu tests, then the GPU benchmark, and prints a short table.
#                                    Within 8 minutes (time limits 200 + 60 + 180 s); writes its logs and the benchmark's
#                                    JSON to $OUT when set (the device tool), else to gpu-check/out.
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--prepare" ]]; then
  set -e
  cmake -S . -B build-lean -DTANDEM_LEAN=ON -DTANDEM_NATIVE=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build-lean -j "$(nproc)" --target tandem_gpu_tests tandem_gpu_bench
  rm -rf gpu-check
  mkdir -p gpu-check/bin gpu-check/shared/data/models/stories260K
  cp build-lean/tests/gpu/tandem_gpu_tests build-lean/tests/gpu/tandem_gpu_bench gpu-check/bin/
  cp ../shared/data/models/stories260K/{model.bin,tokenizer.bin,greedy_llama2c.json} \
    gpu-check/shared/data/models/stories260K/
  du -sh gpu-check
  echo "carry gpu-check/ and run: bash scripts/gpu_check.sh"
  exit 0
fi

if [[ ! -x gpu-check/bin/tandem_gpu_tests ]]; then
  echo "gpu-check/bin is missing: run scripts/gpu_check.sh --prepare first, and carry gpu-check/" >&2
  exit 2
fi
out="${OUT:-gpu-check/out}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee "$out/gpu.txt"

export TANDEM_SHARED_DIR="$PWD/gpu-check/shared"
echo "== gpu tests"
timeout 200 gpu-check/bin/tandem_gpu_tests --gtest_brief=1 >"$out/gpu_tests.log" 2>&1
tests_rc=$?
tail -n 40 "$out/gpu_tests.log"

# Out-of-bounds accesses and races in the kernels, on a few small tests (Firecracker machines
# run compute-sanitizer; gVisor ones refuse the device, which is then said and skipped).
if command -v compute-sanitizer >/dev/null; then
  echo "== compute-sanitizer memcheck (small tests)"
  timeout 60 compute-sanitizer --tool memcheck --error-exitcode 3 gpu-check/bin/tandem_gpu_tests --gtest_brief=1 \
    --gtest_filter='Gpu/Models.GpuTree*/stories260K:Gpu/Models.GpuTree*/gemma3*:GpuGreedy.*' >"$out/memcheck.log" 2>&1
  echo "memcheck exit $? (log: memcheck.log)"
  tail -n 15 "$out/memcheck.log"
fi

echo "== GPU benchmark"
timeout 180 gpu-check/bin/tandem_gpu_bench --out "$out/gpu_bench.json" 2>&1 | tee "$out/gpu_bench.log"
bench_rc=${PIPESTATUS[0]}

echo "== gpu tests exit $tests_rc, benchmark exit $bench_rc"
[[ $tests_rc -eq 0 && $bench_rc -eq 0 ]]
