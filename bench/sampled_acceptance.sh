#!/bin/bash
# Tokens per verifier pass of sampled requests (temperature 1): Qwen2.5-Coder-0.5B drafting
# a fixed 4 tokens for the 1.5B, one line per (prompt, mode, binary, seed). Give two builds
# to compare them on the same requests, e.g. before and after a change to the sampling rule:
#
#   bench/sampled_acceptance.sh build/tandem /tmp/old/build/tandem
set -euo pipefail
cd "$(dirname "$0")/.."
binaries=("${@:-build/tandem}")
prompts=("Write a Python function that checks whether a string is a palindrome, ignoring case and punctuation, with a docstring and two examples."
         "Write a short story about a lighthouse keeper who finds a message in a bottle.")
echo "prompt mode binary seed tokens_per_pass passes acceptance"
for p in 0 1; do
  for mode in chain tree; do
    for bin in "${binaries[@]}"; do
      for seed in 1 2 3 4 5 6; do
        "$bin" generate --model models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf \
            --draft-model models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf --chat --prompt "${prompts[$p]}" \
            --mode "$mode" --draft-tokens 4 --adaptive false --temperature 1.0 --seed "$seed" --max-tokens 64 \
            --json 2>/dev/null |
          python3 -c "import json,sys; s=json.load(sys.stdin)['stats']['speculation']; \
print('$p $mode $bin $seed', round(s['tokens_per_pass'], 3), s['verifier_passes'], round(s['acceptance_rate'], 3))"
      done
    done
  done
done
