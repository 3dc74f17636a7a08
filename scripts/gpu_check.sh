#!/usr/bin/env bash
# The GPU check, in two halves.
#
#   scripts/gpu_check.sh --prepare   here (Debian, after scripts/setup.sh): builds the lean GPU
#                                    binaries (build-lean/, CUDA runtime and libstdc++ linked
#                                    statically, no ICU/CAF/ZeroMQ/protobuf) and gathers them with
#                                    stories260K into gpu-check/ (git-ignored, about 10 MB).
#   scripts/gpu_check.sh             on a bare CUDA machine, with gpu-check/ carried along: runs the
#                                    gpu tests (the NCCL link tests among them), then the GPU
#                                    benchmark and the link benchmark (ZeroMQ against NCCL), and
#                                    prints short tables. Within 8 minutes (time limits 200 + 50 +
#                                    160 + 40 s); writes its logs and the benchmarks' JSON to $OUT
#                                    when set (the device tool), else to gpu-check/out.
# libnccl is not carried (200 MB): the machine's own is used, or the one PyTorch's
# nvidia-nccl wheel installs (TANDEM_NCCL_LIBRARY points at it).
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--prepare" ]]; then
  set -e
  cmake -S . -B build-lean -DTANDEM_LEAN=ON -DTANDEM_NATIVE=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build-lean -j "$(nproc)" --target tandem_gpu_tests tandem_gpu_bench tandem_link_bench
  rm -rf gpu-check
  mkdir -p gpu-check/bin gpu-check/lib gpu-check/shared/data/models/stories260K
  cp build-lean/tests/gpu/{tandem_gpu_tests,tandem_gpu_bench,tandem_link_bench} gpu-check/bin/
  # libzmq and what it needs beyond glibc and libstdc++ (which every machine has), for the link benchmark.
  ldd build-lean/tests/gpu/tandem_link_bench | awk '$3 ~ /^\// {print $3}' |
    grep -vE '/(libc|libm|libpthread|libdl|librt|libresolv|libgcc_s|libstdc\+\+|ld-linux[^/]*)\.so' |
    xargs -r -I{} cp -L {} gpu-check/lib/
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
# NCCL: the machine's libnccl.so.2 if the loader finds one, else PyTorch's wheel's copy.
if ! ldconfig -p 2>/dev/null | grep -q 'libnccl.so.2 '; then
  wheel_nccl=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))' 2>/dev/null)
  [[ -f "$wheel_nccl" ]] && export TANDEM_NCCL_LIBRARY="$wheel_nccl"
fi
echo "libnccl: ${TANDEM_NCCL_LIBRARY:-libnccl.so.2 from the loader path}"
echo "== gpu tests"
timeout 200 gpu-check/bin/tandem_gpu_tests --gtest_brief=1 >"$out/gpu_tests.log" 2>&1
tests_rc=$?
tail -n 40 "$out/gpu_tests.log"

# Out-of-bounds accesses and races in the kernels, on a few small tests (Firecracker machines
# run compute-sanitizer; gVisor ones refuse the device, which is then said and skipped).
if command -v compute-sanitizer >/dev/null; then
  echo "== compute-sanitizer memcheck (small tests)"
  timeout 50 compute-sanitizer --tool memcheck --error-exitcode 3 gpu-check/bin/tandem_gpu_tests --gtest_brief=1 \
    --gtest_filter='Gpu/Models.GpuTree*/stories260K:Gpu/Models.GpuTree*/gemma3*:GpuGreedy.*' >"$out/memcheck.log" 2>&1
  echo "memcheck exit $? (log: memcheck.log)"
  tail -n 15 "$out/memcheck.log"
fi

echo "== GPU benchmark"
timeout 160 gpu-check/bin/tandem_gpu_bench --out "$out/gpu_bench.json" 2>&1 | tee "$out/gpu_bench.log"
bench_rc=${PIPESTATUS[0]}

echo "== link benchmark (ZeroMQ against NCCL)"
# A verifier pass's time for the share a tree's round trip takes: the 1.5B model's decode step just measured.
pass_ms=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["qwen2.5-1.5b-shape"]["decode_ms"])' "$out/gpu_bench.json" 2>/dev/null || echo 0)
LD_LIBRARY_PATH="$PWD/gpu-check/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" timeout 40 gpu-check/bin/tandem_link_bench --quick --pass-ms "$pass_ms" --out "$out/link_bench.json" 2>&1 | tee "$out/link_bench.log"
link_rc=${PIPESTATUS[0]}

echo "== gpu tests exit $tests_rc, benchmark exit $bench_rc, link benchmark exit $link_rc"
[[ $tests_rc -eq 0 && $bench_rc -eq 0 && $link_rc -eq 0 ]]
