#!/usr/bin/env bash
# The `sanitize` tier: the tests again in sanitizer builds, where any report fails its test.
# Every test of a sanitizer build carries the label `sanitize` besides its tier.
#
#   build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer): the unit tier, but for the
#     chi-square tests of speculative sampling (thousands of completions each: statistics,
#     checked by the plain build; the same sampling code runs here in
#     SpeculativeSampling.ADrafterWithTheTargetsDistributionIsAlwaysAccepted); then the
#     sanitized `tandem` binary itself as a cluster of processes (CAF, TLS, CURVE, HTTP):
#     integration tests on the tiny model, one at a time. A child's report aborts it, which
#     fails its test. (The HTTP abuse tests that bound memory per connection or per chunked
#     body are left out: ASan's own redzones and quarantine exceed the bounds.)
#   build-tsan/ (ThreadSanitizer): the unit tests where several threads share state (PEARL
#     runner and pipeline, request worker, remote drafter, channels, KV shards).
#
# The real-model tier is left out: whole real models take too long under the sanitizers on 2
# cores and exercise the same code as the tiny models. Needs scripts/setup.sh first. Each
# selection is a ctest regular expression that TANDEM_ASAN_UNIT_EXCLUDED, TANDEM_ASAN_INTEGRATION and
# TANDEM_TSAN_UNIT replace.
set -euo pipefail
cd "$(dirname "$0")/.."

asan_unit_excluded=${TANDEM_ASAN_UNIT_EXCLUDED:-'^(Drafts/SpeculativeSampling\.|SpeculativeSampling\.Broken)'}
asan_integration=${TANDEM_ASAN_INTEGRATION:-'^(Cluster\.SchedulerVerifierAndDrafterProcessesMatchGenerateAr|Cluster\.AStrangerOnTheDrafterPort|ControlTls\.|ControlPlain\.|Curve\.|Logging\.|Http\.WithApiKeys|Http\.WithACertificate|Http\.OutOfRange|HttpAbuse\.(Compressed|Slow|Oversized|Continue|ARequestId|AStreaming)|NodeIdentity\.(ASecond|WithTls))'}
tsan_unit=${TANDEM_TSAN_UNIT:-'^(Pearl|AheadEngine|RemoteDrafter|Channel|ShardPool|ShardIdle|ShardMessages|RequestWorker)\.'}

# A sanitizer build tree: -O1 without debug info (the sanitizers need no more, and it
# compiles in a fraction of the time), no CUDA. Warnings are not errors here: the plain
# build already makes them errors, and at -O1 with the sanitizers' instrumentation GCC 12
# reports -Wmaybe-uninitialized inside Boost.Beast's own headers.
configure() {
  cmake -S . -B "$1" -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="-O1" -DTANDEM_SANITIZE="$2" \
    -DTANDEM_CUDA=OFF -DTANDEM_WERROR=OFF >/dev/null
}

configure build-asan address,undefined
cmake --build build-asan -j "$(nproc)" --target tandem tandem_unit_tests tandem_integration_tests
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-asan --no-tests=error --output-on-failure -j "$(nproc)" -L '^sanitize$' -L '^unit$' -E "$asan_unit_excluded"
ctest --test-dir build-asan --no-tests=error --output-on-failure -L '^sanitize$' -L '^integration$' -R "$asan_integration"

# tests/tsan.supp lists the uninstrumented libraries whose own synchronisation TSan cannot see.
configure build-tsan thread
cmake --build build-tsan -j "$(nproc)" --target tandem_unit_tests
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp" \
  ctest --test-dir build-tsan --no-tests=error --output-on-failure -j "$(nproc)" -L '^sanitize$' -L '^unit$' -R "$tsan_unit"
