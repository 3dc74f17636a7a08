#!/usr/bin/env bash
# Long-context decode with the committed KV segments on separate, pinned shard
# processes (tandem node --role shard), against none, side by side in one run:
#   none, 1 thread     the verifier alone on CPU 0
#   none, 2 threads    the verifier alone on CPUs 0-1 (every core this machine has)
#   1 shard process    the verifier (1 thread) on CPU 0, the shard (1 thread) on CPU 1
#   2 shard processes  the verifier on CPU 0, both shards on CPU 1
# tandem_bench prints decode tok/s, attention's share of the step and the bytes sent to
# and received from the shards per step. Needs CPUs 0 and 1; MODEL, CONTEXTS override.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-qwen2.5-coder-1.5b-instruct-q4_k_m.gguf}
CONTEXTS=${CONTEXTS:-1024,4096,16384}
PIDS=()
WORK=$(mktemp -d)
trap 'kill "${PIDS[@]}" 2>/dev/null; wait; rm -rf "$WORK"' EXIT

start_shard() {  # CPU NAME: starts a shard on a free port; its endpoint is in $WORK/NAME
  taskset -c "$1" build/tandem node --role shard --scheduler '' --threads 1 --listen tcp://127.0.0.1:0 \
    --http 127.0.0.1:0 --endpoint-file "$WORK/$2.tmp" >"$WORK/$2.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do [ -s "$WORK/$2.tmp" ] && break; sleep 0.1; done
  head -1 "$WORK/$2.tmp" >"$WORK/$2"
  [ -s "$WORK/$2" ] || { echo "shard $2 did not start:"; cat "$WORK/$2.log"; exit 1; }
}
bench() {  # CPUS THREADS [tandem_bench flags...]
  local cpus=$1 threads=$2
  shift 2
  taskset -c "$cpus" build/tandem_bench --models "$MODEL" --matmul int8 --threads "$threads" --sections contexts \
    --contexts "$CONTEXTS" "$@" | grep '^| [^m-]'
}

start_shard 1 a
start_shard 1 b
A=$(cat "$WORK/a") B=$(cat "$WORK/b")
echo "| model | matmul | threads | KV shards | decode tok/s (attention share; KB sent/received per step) at: $CONTEXTS |"
bench 0 1 --shards 0
bench 0 1 --shards "" --kv-shards "$A"
bench 0 1 --shards "" --kv-shards "$A,$B"
bench 0-1 2 --shards 0
bench 0 1 --shards 0
