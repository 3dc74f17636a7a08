#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build, and generate
# an answer to a real Spec-Bench prompt with the default real model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
PROMPT=${TANDEM_PROMPT:-"Write a Python function that returns the n-th Fibonacci number, with a short docstring."}
exec build/tandem generate --chat --prompt "$PROMPT" --max-tokens "${TANDEM_MAX_TOKENS:-96}" "$@"
