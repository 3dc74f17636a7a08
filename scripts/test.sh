#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is missing, build, run ctest, run
# the GPU tests on the SIMT emulator, then the unit tests again under AddressSanitizer and
# UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
(cd build && ctest --output-on-failure -j "$(nproc)" "$@")
scripts/emulated_gpu.sh
scripts/sanitize.sh
