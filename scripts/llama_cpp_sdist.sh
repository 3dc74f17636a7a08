#!/usr/bin/env bash
# Downloads the pinned llama-cpp-python sdist from PyPI (sha256-checked) into .cache/ once,
# and prints its path. What uses it: bench/peer/build.sh (llama.cpp, for the side-by-side
# benchmarks) and scripts/install_chat_templates.sh (model families' chat templates, as test data).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.3.36
SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
DIR=.cache/llama-cpp-sdist
SDIST=$DIR/llama_cpp_python-$VERSION.tar.gz
mkdir -p "$DIR"
if [ ! -f "$SDIST" ]; then
  python3 -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$DIR" >&2
fi
echo "$SHA256  $SDIST" | sha256sum --check --quiet
echo "$(pwd)/$SDIST"
