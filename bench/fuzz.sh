#!/usr/bin/env bash
# Fuzzes tandem's parsers with libFuzzer: GGUF and llama2.c loaders, tokenizers, client
# frames, token trees and verdicts, KV shard messages, HTTP requests and bodies, config files,
# chat templates and structured output's JSON schemas.
# Builds the targets with clang (AddressSanitizer and UBSan on every library) in
# build-fuzz/, then runs each for SECONDS (default 600), as many at once as there are
# cores, starting from the seed corpus in tests/fuzz/corpus/TARGET (inputs it finds go to
# build-fuzz/corpus/TARGET, crashes to build-fuzz/crashes/TARGET-*). Prints executions,
# coverage and findings per target; exits 1 if any target crashed.
#   bench/fuzz.sh [SECONDS] [TARGET...]
# Needs the models of scripts/setup.sh (the tokenizer target loads Qwen2.5's vocabulary).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(gguf llama2c tokenizer client_frame tree_wire shard_message http_body http_request config chat_template
  json_schema)

missing=""
for package in clang libclang-rt-14-dev; do dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"; done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "fuzz: installing$missing"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTANDEM_SANITIZE=fuzzer-no-link,address,undefined -DTANDEM_FUZZ=ON -DTANDEM_TESTS=OFF -DTANDEM_CUDA=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target make_seeds "${targets[@]/#/fuzz_}"
mkdir -p build-fuzz/logs build-fuzz/crashes
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  rm -f "build-fuzz/crashes/$t"-*  # this run's findings only
done

export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_one() {
  local t=$1
  # -rss_limit_mb and -malloc_limit_mb: an input that makes a loader allocate what the
  # bytes merely claim is a finding too; -timeout: so is one that takes 10 s.
  build-fuzz/tests/fuzz/fuzz_$t -max_total_time="$seconds" -timeout=10 -rss_limit_mb=3072 -malloc_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="build-fuzz/crashes/$t-" "build-fuzz/corpus/$t" "tests/fuzz/corpus/$t" \
    >"build-fuzz/logs/$t.log" 2>&1 || true
}
export -f run_one
export seconds
printf '%s\n' "${targets[@]}" | xargs -P "$(nproc)" -I{} bash -c 'run_one {}'

status=0
printf '%-14s %12s %8s %8s %8s  %s\n' target executions exec/s cov corpus findings
for t in "${targets[@]}"; do
  log="build-fuzz/logs/$t.log"
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1 || true)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.*corp: \([0-9]*\).*/\1/p' <<<"$last")
  crashes=$(find build-fuzz/crashes -name "$t-*" | wc -l)
  rate=$(( ${runs:-0} / (seconds > 0 ? seconds : 1) ))
  printf '%-14s %12s %8s %8s %8s  %s\n' "$t" "${runs:-?}" "$rate" "${cov:-?}" "${corp:-?}" "$crashes"
  [ "$crashes" = 0 ] || status=1
done
exit $status
