#!/usr/bin/env bash
# The cluster on emulated GPUs (a TANDEM_CUDA_EMU build, two emulated devices): a scheduler,
# a verifier on cuda:0 and a drafter on cuda:1, three real processes. The scheduler must
# pair them over NCCL (the host transport), a chain request must give what the CPU gives
# alone, and the banners must say the devices are emulated.
#   cluster_test.sh TANDEM_BINARY MODEL
set -euo pipefail
tandem=$1
model=$2
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
export TANDEM_EMU_DEVICES=2
fail() {
  echo "FAILED: $*"
  for f in "$work"/*.out; do echo "--- $f"; cat "$f"; done
  exit 1
}

"$tandem" models --dir "$work" 2>&1 | grep -q 'cuda:0 (tandem SIMT emulator on the CPU, emulated' ||
  fail "tandem models does not list the emulated device"

"$tandem" node --role scheduler --model "$model" --listen tcp://127.0.0.1:0 --http 127.0.0.1:0 \
  --control 127.0.0.1:0 --endpoint-file "$work/scheduler" >"$work/scheduler.out" 2>&1 &
for _ in $(seq 100); do [ -s "$work/scheduler" ] && [ "$(wc -l <"$work/scheduler")" -ge 3 ] && break; sleep 0.1; done
zmq=$(sed -n 1p "$work/scheduler")
http=$(sed -n 2p "$work/scheduler")
control=$(sed -n 3p "$work/scheduler")
[ -n "$control" ] || fail "the scheduler did not start"
"$tandem" node --role verifier --name v1 --model "$model" --device cuda:0 --mode chain --scheduler "$control" \
  --heartbeat-ms 200 >"$work/verifier.out" 2>&1 &
"$tandem" node --role drafter --name d1 --draft-model "$model" --device cuda:1 --listen tcp://127.0.0.1:0 \
  --scheduler "$control" --heartbeat-ms 200 >"$work/drafter.out" 2>&1 &

health=""
for _ in $(seq 100); do
  health=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
    "$http/health" 2>/dev/null || true)
  echo "$health" | grep -q '"link":"nccl"' && break
  sleep 0.2
done
echo "$health" | grep -q '"drafter":"d1","link":"nccl"' || fail "no NCCL pair: $health"
grep -q 'cuda:0 (emulated).*links: nccl' "$work/verifier.out" || fail "the verifier's banner does not say emulated"

expected=$("$tandem" generate --model "$model" --device cpu --prompt "Once upon a time" --max-tokens 32 2>/dev/null)
got=$("$tandem" generate --server "$zmq" --mode chain --prompt "Once upon a time" --max-tokens 32 2>"$work/client.out")
[ "$got" = "$expected" ] || fail "chain over NCCL on emulated GPUs gave '$got', the CPU alone '$expected'"
grep -q "% of [1-9][0-9]* drafts accepted" "$work/client.out" || fail "nothing was drafted: $(cat "$work/client.out")"
echo "emulated cluster: scheduler paired cuda:0 and cuda:1 over NCCL; chain output equals the CPU's; $(tail -1 "$work/client.out")"
