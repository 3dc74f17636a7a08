#!/usr/bin/env python3
"""Passkey retrieval at several context lengths, with the target's committed attention
segments on 1 and 2 in-process KV shards (`tandem generate --shards N`).

A five-digit key is hidden a quarter of the way into filler text and asked for at
the end (the idea of llama.cpp's passkey example; our own text). Prints one row per
(length, shards): whether the answer holds the key, and whether the ids equal the
1-shard run's.

    .venv/bin/python bench/passkey_bench.py --lengths 2000,4000,8000 --shards 1,2
"""
import argparse
import json
import random
import subprocess

FILLER = ("The river runs past the old mill. Birds sing in the morning. The road is long and quiet. "
          "Clouds drift over the hills. ")
TOKENS_PER_FILLER = 28  # about, for the Qwen tokenizer


def prompt(key, tokens):
    repeats = max(4, tokens // TOKENS_PER_FILLER)
    before = repeats // 4
    text = "Somewhere in the long text below there is a pass key. Remember it; you will be asked for it.\n"
    text += FILLER * before
    text += f"\nThe pass key is {key}. Keep it in mind: {key} is the pass key.\n"
    text += FILLER * (repeats - before)
    return text + "\nWhat is the pass key? The pass key is"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tandem", default="build/tandem")
    p.add_argument("--model", default="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    p.add_argument("--lengths", default="2000,4000,8000")
    p.add_argument("--shards", default="1,2")
    p.add_argument("--threads", default="2")
    args = p.parse_args()
    rng = random.Random(7)
    print("| context tokens | shards | answer | key found | ids equal to 1 shard | prefill tok/s |")
    print("|---|---|---|---|---|---|")
    for length in [int(x) for x in args.lengths.split(",")]:
        key = str(rng.randrange(10000, 99999))
        text = prompt(key, length)
        first_ids = None
        for shards in [int(x) for x in args.shards.split(",")]:
            out = subprocess.run([args.tandem, "generate", "--json", "--model", args.model, "--threads", args.threads,
                                  "--shards", str(shards), "--max-tokens", "8", "--max-context", str(2 * length + 1024),
                                  "--prompt", text], capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"tandem generate failed at {length} tokens, {shards} shard(s): {out.stderr.strip()}")
            result = json.loads(out.stdout)
            first_ids = first_ids or result["ids"]
            stats = result["stats"]
            print(f"| {stats['prompt_tokens']} | {shards} | {result['text'].strip()!r} | {key in result['text']} | "
                  f"{result['ids'] == first_ids} | {stats['prefill_tokens_per_second']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
