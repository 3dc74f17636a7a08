"""Serving throughput: a real `tandem serve` process, N concurrent clients (Python
client, one thread each) sending Spec-Bench first turns, total generated tokens per
second for each N, measured in the same run with the same prompts.

    .venv/bin/python bench/serve_bench.py --clients 1,4,16 --requests 16 --max-tokens 48 \
        --json bench/results/serve_bench.json

`--mode ar,ar,ar,pearl` gives request i the mode (i mod 4) of that list: a quarter of
the requests PEARL, sent among the others.

Prompts are taken round-robin across Spec-Bench categories (a stratified subset).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
from tandem_client import Client  # noqa: E402


def stratified_prompts(path, count):
    by_category = {}
    for line in open(path):
        if line.strip():
            item = json.loads(line)
            by_category.setdefault(item["category"], []).append(item["turns"][0])
    prompts, round_ = [], 0
    while len(prompts) < count:
        for category in sorted(by_category):
            if round_ < len(by_category[category]) and len(prompts) < count:
                prompts.append(by_category[category][round_])
        round_ += 1
    return prompts


def run_load(endpoint, prompts, clients, max_tokens, modes):
    """Sends every prompt once, spread over `clients` concurrent connections; prompt i
    in modes[i % len(modes)]."""
    results, lock, next_index = [], threading.Lock(), [0]

    def worker():
        with Client(endpoint, timeout_ms=1_800_000) as client:
            while True:
                with lock:
                    if next_index[0] >= len(prompts):
                        return
                    prompt = prompts[next_index[0]]
                    mode = modes[next_index[0] % len(modes)]
                    next_index[0] += 1
                start = time.monotonic()
                final = client.generate(prompt, chat=True, max_tokens=max_tokens, mode=mode)
                with lock:
                    results.append((final.stats.generated_tokens, time.monotonic() - start,
                                    final.stats.prompt_tokens, final.stats.decode_seconds,
                                    final.stats.tokens_per_pass, mode))

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    tokens, prompt_tokens = sum(r[0] for r in results), sum(r[2] for r in results)
    per_mode = {}
    for mode in sorted(set(modes)):
        mine = [r for r in results if r[5] == mode]
        per_mode[mode] = {"requests": len(mine), "tokens": sum(r[0] for r in mine),
                          "mean_latency_seconds": sum(r[1] for r in mine) / max(1, len(mine)),
                          "tokens_per_pass": sum(r[4] for r in mine) / max(1, len(mine))}
    return {"per_mode": per_mode, "clients": clients, "requests": len(results), "tokens": tokens, "prompt_tokens": prompt_tokens,
            "seconds": wall, "tokens_per_second": tokens / wall, "prompt_tokens_per_second": prompt_tokens / wall,
            "mean_latency_seconds": sum(r[1] for r in results) / len(results),
            # Each request's own decoding speed (prompt excluded), averaged over requests.
            "decode_tokens_per_second_per_request": sum(r[0] / r[3] for r in results if r[3] > 0) / len(results),
            "tokens_per_pass": sum(r[4] for r in results) / len(results)}


def load_arguments(description):
    """The arguments every serving benchmark takes."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tandem", default=os.path.join(ROOT, "build", "tandem"))
    p.add_argument("--prompts", default=os.path.join(ROOT, "..", "shared", "data", "prompts", "spec_bench.jsonl"))
    p.add_argument("--clients", default="1,4,16", help="comma-separated numbers of concurrent clients")
    p.add_argument("--requests", type=int, default=16, help="prompts sent at each concurrency")
    p.add_argument("--max-tokens", type=int, default=48)
    return p


def main():
    p = load_arguments(__doc__)
    p.add_argument("--mode", default="ar", help="mode of every request, or a comma-separated list taken in turn")
    p.add_argument("--max-batch", type=int, default=16)
    p.add_argument("--json", default="")
    args = p.parse_args()

    prompts = stratified_prompts(args.prompts, args.requests)
    with tempfile.TemporaryDirectory() as tmp:
        endpoint_file = os.path.join(tmp, "endpoint")
        server = subprocess.Popen([args.tandem, "serve", "--listen", "tcp://127.0.0.1:0", "--http", "",
                                   "--endpoint-file", endpoint_file, "--max-batch", str(args.max_batch),
                                   "--queue-limit", "256"], stdout=subprocess.DEVNULL)
        try:
            while not (os.path.exists(endpoint_file) and open(endpoint_file).read().strip()):
                if server.poll() is not None:
                    sys.exit("tandem serve exited early")
                time.sleep(0.2)
            endpoint = open(endpoint_file).read().split()[0]
            rows = []
            for clients in [int(c) for c in args.clients.split(",")]:
                row = run_load(endpoint, prompts, clients, args.max_tokens, args.mode.split(","))
                rows.append(row)
                print(f"{clients:3d} clients: {row['tokens_per_second']:6.1f} generated tok/s total "
                      f"(+{row['prompt_tokens_per_second']:.1f} prompt tok/s), mean latency "
                      f"{row['mean_latency_seconds']:.1f} s ({row['requests']} requests, {row['tokens']} tokens)",
                      flush=True)
                for mode, m in row["per_mode"].items():
                    print(f"      {mode}: {m['requests']} requests, mean latency {m['mean_latency_seconds']:.1f} s, "
                          f"{m['tokens_per_pass']:.2f} tokens per pass", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=60)
    if args.json:
        json.dump({"mode": args.mode, "max_tokens": args.max_tokens, "max_batch": args.max_batch, "runs": rows},
                  open(args.json, "w"), indent=2)


if __name__ == "__main__":
    main()
