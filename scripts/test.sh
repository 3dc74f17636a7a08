#!/usr/bin/env bash
# The whole test suite on a fresh machine (what CI runs): install what is missing, build
# (warnings are errors), check the formatting, run ctest, run the GPU tests on the SIMT
# emulator, then the sanitizer builds (AddressSanitizer with UndefinedBehaviorSanitizer,
# ThreadSanitizer).
#
#   scripts/test.sh            everything (CI; about 30 minutes on 2 cores)
#   scripts/test.sh --quick    the unit tier alone (a few minutes): what to run while working
#
# Other arguments go to ctest (e.g. -R Pearl, -L integration). Tiers: docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
if [ "${1:-}" = --quick ]; then quick=1; shift; fi
scripts/setup.sh
scripts/check_format.sh
if [ $quick = 1 ]; then
  (cd build && ctest --no-tests=error --output-on-failure -j "$(nproc)" -L '^unit$' "$@")
  exit 0
fi
(cd build && ctest --no-tests=error --output-on-failure -j "$(nproc)" "$@")
scripts/emulated_gpu.sh
scripts/sanitize.sh
