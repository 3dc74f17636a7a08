#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build, start the server
# (`tandem serve`: Qwen2.5-Coder-1.5B verifying, 0.5B drafting), submit a real prompt
# through the client, show the answer and its speculation statistics, stop the server.
# Extra arguments go to `tandem generate --server` (e.g. --mode lookup, --json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
PROMPT=${TANDEM_PROMPT:-"Write a Python function that returns the n-th Fibonacci number, with a short docstring."}

work=$(mktemp -d)
build/tandem serve --listen tcp://127.0.0.1:0 --http 127.0.0.1:0 --endpoint-file "$work/endpoints" \
  > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 600); do  # loading the models takes seconds
  [ -s "$work/endpoints" ] && break
  kill -0 $server 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$work/endpoints" ] || { echo "run.sh: tandem serve did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
cat "$work/serve.log"
build/tandem generate --server "$(head -n 1 "$work/endpoints")" --chat --prompt "$PROMPT" \
  --max-tokens "${TANDEM_MAX_TOKENS:-96}" --mode chain "$@"
