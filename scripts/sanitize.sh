#!/usr/bin/env bash
# The unit tests built with AddressSanitizer and UndefinedBehaviorSanitizer (any report
# fails the run), on everything but the tests that run whole real models, which take
# too long under the sanitizers on 2 cores and exercise the same code as the tiny
# models, and the chi-square tests of speculative sampling (thousands of completions
# each: statistics, checked by the plain build; the same sampling code runs here in
# SpeculativeSampling.ADrafterWithTheTargetsDistributionIsAlwaysAccepted); then the threaded tests (PEARL runner and pipeline, request worker, remote
# drafter, channels, KV shards) built with ThreadSanitizer. Needs scripts/setup.sh first
# (models, references). Build trees: build-asan/, build-tsan/.
set -euo pipefail
cd "$(dirname "$0")/.."
# -O1 without debug info: the sanitizers need no more, and it compiles in a fraction of the time.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="-O1" \
  -DTANDEM_SANITIZE=address,undefined -DTANDEM_CUDA=OFF >/dev/null
cmake --build build-asan -j "$(nproc)" --target tandem_unit_tests
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
build-asan/tests/tandem_unit_tests --gtest_brief=1 \
  --gtest_filter="${TANDEM_SANITIZE_FILTER:--Models/*:RealModels/*:Passkey*:*Qwen*:*RealPair*:Drafts/SpeculativeSampling.*:SpeculativeSampling.Broken*}"
# The sanitized `tandem` binary itself, as a cluster of processes (CAF, TLS, CURVE, HTTP):
# integration tests on the tiny model, which spawn build-asan/tandem. A child's report
# aborts it, which fails its test. (The HTTP abuse tests that bound memory per connection
# or per chunked body are left out: ASan's own redzones and quarantine exceed the bounds.)
cmake --build build-asan -j "$(nproc)" --target tandem tandem_integration_tests
build-asan/tests/tandem_integration_tests --gtest_brief=1 --gtest_filter="${TANDEM_SANITIZE_INTEGRATION_FILTER:-\
Cluster.SchedulerVerifierAndDrafterProcessesMatchGenerateAr:Cluster.AStrangerOnTheDrafterPort*:\
ControlTls.*:ControlPlain.*:Curve.*:Logging.*:Http.WithApiKeys*:Http.WithACertificate*:Http.OutOfRange*:\
HttpAbuse.Compressed*:HttpAbuse.Slow*:HttpAbuse.Oversized*:HttpAbuse.Continue*:HttpAbuse.ARequestId*:\
NodeIdentity.ASecond*:NodeIdentity.WithTls*:HttpAbuse.AStreaming*}"

# ThreadSanitizer: the tests where several threads share state. tests/tsan.supp lists the
# uninstrumented libraries whose own synchronisation TSan cannot see.
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="-O1" \
  -DTANDEM_SANITIZE=thread -DTANDEM_CUDA=OFF >/dev/null
cmake --build build-tsan -j "$(nproc)" --target tandem_unit_tests
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp" \
  build-tsan/tests/tandem_unit_tests --gtest_brief=1 \
  --gtest_filter="${TANDEM_TSAN_FILTER:-Pearl.*:PearlPipeline.*:RemoteDrafter.*:Channel.*:ShardPool.*:ShardIdle.*:ShardMessages.*:RequestWorker.*}"
