#!/usr/bin/env bash
# Builds llama.cpp's llama-bench, llama-perplexity, llama-speculative-simple and llama-server
# from the llama.cpp tree vendored in the llama-cpp-python sdist on PyPI (pinned and
# sha256-checked by scripts/llama_cpp_sdist.sh), into bench/peer/build/ (git-ignored). Prints
# the folder of the binaries.
# Only for the side-by-side benchmarks (bench/peer/compare.py, bench/prefix_cache_bench.py);
# nothing of it is linked into tandem.
set -euo pipefail
cd "$(dirname "$0")"
WORK=build
SDIST=$(../../scripts/llama_cpp_sdist.sh)
SRC=$WORK/$(basename "$SDIST" .tar.gz)/vendor/llama.cpp
mkdir -p "$WORK"
[ -d "$SRC" ] || tar -xzf "$SDIST" -C "$WORK"
# As a new user builds it: native CPU features, OpenMP threads, no network features.
# But no AMX: on this project's Sapphire Rapids VMs ggml's AMX matmul crashes at the
# first batch (SIGSEGV in ggml_backend_amx_mul_mat), and tandem uses no AMX either.
# GCC lets explicit -mno-* options win over -march=native whatever their order.
NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
cmake -S "$SRC" -B "$WORK/llama.cpp" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DCMAKE_C_FLAGS="$NO_AMX" -DCMAKE_CXX_FLAGS="$NO_AMX" \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=ON >/dev/null
cmake --build "$WORK/llama.cpp" -j "$(nproc)" --target llama-bench llama-perplexity llama-speculative-simple llama-completion \
  llama-server >&2
echo "$(pwd)/$WORK/llama.cpp/bin"
