"""Multi-turn chat through the OpenAI endpoint, with and without the prefix cache, and
llama-server's (which keeps each slot's prompt) when one is given: C conversations at once,
each T turns, every turn resending the whole history. Reports time to first token per turn
(the prefill a cache saves) and generated tokens per second, each engine in the same run.

    .venv/bin/python bench/prefix_cache_bench.py --conversations 4 --turns 4 --max-tokens 32 \
        --json bench/results/prefix_cache.json [--llama-server PATH/llama-server] [--tandem-flags '--shards 2 ...']

Turn 1 of conversation i is the first turn of Spec-Bench's prompt i (stratified across
categories), turn 2 its second turn, later turns ask to go on. Greedy, so every engine
answers each turn the same way on its own and the histories stay comparable.
"""
import argparse
import json
import os
import statistics
import sys
import threading
import time

from openai import OpenAI

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from openai_servers import free_port, server_command, start_server, stop_server, timed_chat  # noqa: E402
from serve_bench import stratified_prompts  # noqa: E402


def second_turns(path, count):
    """Spec-Bench's second turns in the order stratified_prompts takes the first ones."""
    by_first = {}
    for line in open(path):
        if line.strip():
            item = json.loads(line)
            by_first[item["turns"][0]] = item["turns"][1] if len(item["turns"]) > 1 else "Go on."
    return [by_first[p] for p in stratified_prompts(path, count)]


def converse(client, first, second, turns, max_tokens, record):
    """One conversation: each turn streams its answer; records (turn, seconds to the first
    token, seconds in all, completion tokens, cached prompt tokens or None)."""
    messages = [{"role": "system", "content": "You are a helpful assistant."}]
    for turn in range(turns):
        messages.append({"role": "user", "content": first if turn == 0 else second if turn == 1 else "Go on."})
        text, first_token, total, _, tokens, cached = timed_chat(client, messages, max_tokens)
        record(turn + 1, first_token, total, tokens, cached)
        messages.append({"role": "assistant", "content": text})


def run(engine, args, firsts, seconds):
    port = free_port()
    binary = args.llama_server if engine == "llama-server" else args.tandem
    extra = args.tandem_flags.split() if engine.startswith("tandem") else []
    extra += ["--prefix-cache-bytes", "0"] if engine == "tandem-no-cache" else []
    server = start_server(engine, server_command(engine.split("-no-cache")[0], binary, port, args.threads,
                                                 args.conversations, extra=extra), port)
    rows, lock = [], threading.Lock()
    try:
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", timeout=1800)

        def record(*row):
            with lock:
                rows.append(row)

        began = time.monotonic()
        threads = [threading.Thread(target=converse, args=(client, firsts[i], seconds[i], args.turns,
                                                            args.max_tokens, record))
                   for i in range(args.conversations)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - began
    finally:
        stop_server(server)
    per_turn = {}
    for turn in range(1, args.turns + 1):
        mine = [r for r in rows if r[0] == turn]
        cached = [r[4] for r in mine if r[4] is not None]
        per_turn[turn] = {"ttft_p50_seconds": statistics.median(r[1] for r in mine),
                          "ttft_max_seconds": max(r[1] for r in mine),
                          "cached_tokens_mean": statistics.mean(cached) if cached else None}
    tokens = sum(r[3] for r in rows)
    later = [r[1] for r in rows if r[0] > 1]
    return {"engine": engine, "seconds": wall, "generated_tokens": tokens, "tokens_per_second": tokens / wall,
            "ttft_p50_later_turns_seconds": statistics.median(later) if later else None, "per_turn": per_turn}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tandem", default=os.path.join(ROOT, "build", "tandem"))
    p.add_argument("--llama-server", default="", help="a llama-server binary to compare with (none: tandem only)")
    p.add_argument("--prompts", default=os.path.join(ROOT, "..", "shared", "data", "prompts", "spec_bench.jsonl"))
    p.add_argument("--conversations", type=int, default=4)
    p.add_argument("--turns", type=int, default=4)
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default="")
    p.add_argument("--tandem-flags", default="",
                   help="more flags for tandem serve, e.g. '--shards 2 --shard-min-context 0 --segment 64' "
                        "to keep every prompt's keys and values on KV shards")
    args = p.parse_args()
    firsts = stratified_prompts(args.prompts, args.conversations)
    seconds = second_turns(args.prompts, args.conversations)
    engines = ["tandem", "tandem-no-cache"] + (["llama-server"] if args.llama_server else [])
    results = []
    for engine in engines:
        r = run(engine, args, firsts, seconds)
        results.append(r)
        turns = ", ".join(f"turn {t}: {v['ttft_p50_seconds']:.2f} s"
                          + (f" ({v['cached_tokens_mean']:.0f} cached)" if v["cached_tokens_mean"] is not None else "")
                          for t, v in r["per_turn"].items())
        print(f"{engine:16s} {r['tokens_per_second']:5.1f} tok/s, time to first token p50 {turns}", flush=True)
    if args.json:
        json.dump({"conversations": args.conversations, "turns": args.turns, "max_tokens": args.max_tokens,
                   "threads": args.threads, "results": results}, open(args.json, "w"), indent=2)


if __name__ == "__main__":
    main()
