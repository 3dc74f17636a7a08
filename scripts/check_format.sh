#!/usr/bin/env bash
# Fails, listing the differences, when a C++ or CUDA source differs from .clang-format.
# `scripts/check_format.sh --fix` rewrites them instead.
set -euo pipefail
cd "$(dirname "$0")/.."
# Tracked sources and new ones not yet added (a new file must not slip past the check).
mapfile -t sources < <(git ls-files --cached --others --exclude-standard '*.cpp' '*.h' '*.cu' | sort -u)
if [ "${1:-}" = --fix ]; then
  clang-format -i "${sources[@]}"
  exit 0
fi
if ! clang-format --dry-run --Werror "${sources[@]}"; then
  echo "check_format: the files above differ from .clang-format; scripts/check_format.sh --fix rewrites them" >&2
  exit 1
fi
