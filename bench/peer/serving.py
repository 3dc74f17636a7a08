"""Serving side by side: tandem serve against llama-server (built from the same
llama-cpp-python sdist by bench/peer/build.sh), both behind their OpenAI endpoints with the
same GGUF, threads and caches on, at several numbers of concurrent clients, in one run.

    .venv/bin/python bench/peer/serving.py --clients 1,4,16,64 --out bench/results/serving

Two workloads at each client count C, each engine started afresh for each (so no cache
carries over from the last count):
  new    every prompt new to the server: max(C, 8) Spec-Bench first turns (stratified over
         its categories), C requests in flight, --max-tokens each
  chat   max(C, 8) conversations of --turns turns, C in flight, every turn resending the
         whole history (turn 2 is Spec-Bench's second turn, later turns ask to go on),
         --chat-tokens each
Each server answers one short warm-up request first (not counted). Greedy everywhere. Figures per engine, workload and C: generated tokens per second (all
requests' completion tokens / wall time), time to first token p50 and p99, and inter-token
latency p50 and p99 (each request's (last token - first token) / (tokens - 1), as vLLM's
TPOT). Writes OUT.json, OUT.md (the tables) and OUT.png (the plots).
"""
import argparse
import json
import os
import statistics
import sys
import threading
import time

from openai import OpenAI

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from openai_servers import free_port, server_command, start_server, stop_server, timed_chat  # noqa: E402
from prefix_cache_bench import second_turns  # noqa: E402
from serve_bench import stratified_prompts  # noqa: E402

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
ENGINES = ("tandem", "llama-server")


def percentile(values, q):
    """The q-th percentile (0-100) by the nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


def inter_token_seconds(arrivals, tokens):
    """A request's mean gap between tokens after the first; None below two tokens."""
    return (arrivals[-1] - arrivals[0]) / (tokens - 1) if tokens > 1 and len(arrivals) > 1 else None


def in_parallel(clients, jobs):
    """Runs the callables in `jobs` on `clients` threads, each taking the next job when free;
    returns the wall time."""
    lock, queue = threading.Lock(), list(jobs)

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                job = queue.pop(0)
            job()

    began = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - began


def run_new(client, clients, prompts, max_tokens):
    rows, lock = [], threading.Lock()

    def ask(prompt):
        _, ttft, _, arrivals, tokens, _ = timed_chat(client, [SYSTEM, {"role": "user", "content": prompt}],
                                                     max_tokens)
        with lock:
            rows.append((ttft, inter_token_seconds(arrivals, tokens), tokens, None))

    wall = in_parallel(clients, [lambda p=p: ask(p) for p in prompts])
    return rows, wall


def run_chat(client, clients, firsts, seconds, turns, max_tokens):
    rows, lock = [], threading.Lock()

    def converse(first, second):
        messages = [SYSTEM]
        for turn in range(turns):
            messages.append({"role": "user", "content": first if turn == 0 else second if turn == 1 else "Go on."})
            text, ttft, _, arrivals, tokens, cached = timed_chat(client, messages, max_tokens)
            with lock:
                rows.append((ttft, inter_token_seconds(arrivals, tokens), tokens, turn + 1))
            messages.append({"role": "assistant", "content": text})

    wall = in_parallel(clients, [lambda a=a, b=b: converse(a, b) for a, b in zip(firsts, seconds)])
    return rows, wall


def summarize(rows, wall):
    ttft = [r[0] for r in rows]
    itl = [r[1] for r in rows if r[1] is not None]
    tokens = sum(r[2] for r in rows)
    later = [r[0] for r in rows if r[3] is not None and r[3] > 1]
    return {"requests": len(rows), "generated_tokens": tokens, "seconds": wall, "tokens_per_second": tokens / wall,
            "ttft_p50": percentile(ttft, 50), "ttft_p99": percentile(ttft, 99),
            "itl_p50": percentile(itl, 50), "itl_p99": percentile(itl, 99),
            "ttft_later_turns_p50": percentile(later, 50) if later else None}


def measure(engine, binary, workload, clients, args, prompts, seconds):
    count = max(clients, 8)
    port = free_port()
    # Conversations grow by --chat-tokens a turn; the slots must hold the longest.
    server = start_server(engine, server_command(engine, binary, port, args.threads, clients,
                                                 context_per_slot=2048), port)
    try:
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", timeout=3600)
        # A warm server, as in production: the first request pays for mapping the weights in.
        timed_chat(client, [SYSTEM, {"role": "user", "content": "Say hello."}], 2)
        if workload == "new":
            rows, wall = run_new(client, clients, prompts[:count], args.max_tokens)
        else:
            rows, wall = run_chat(client, clients, prompts[:count], seconds[:count], args.turns, args.chat_tokens)
    finally:
        stop_server(server)
    return summarize(rows, wall)


def seconds_text(v):
    return "-" if v is None else f"{v:.2f}"


def tables(results, client_counts):
    lines = []
    for workload in ("new", "chat"):
        lines.append(f"\n**{workload}**\n")
        lines.append("| clients | engine | generated tok/s | TTFT p50 / p99, s | inter-token p50 / p99, s | "
                     "tandem / llama-server tok/s |")
        lines.append("|---|---|---|---|---|---|")
        for c in client_counts:
            mine = {e: results.get(f"{e}/{workload}/{c}") for e in ENGINES}
            for engine, r in mine.items():
                if r is None:
                    continue
                ratio = ""
                if engine == "tandem" and mine["llama-server"]:
                    ratio = f"{r['tokens_per_second'] / mine['llama-server']['tokens_per_second']:.2f}x"
                lines.append(f"| {c} | {engine} | {r['tokens_per_second']:.1f} | {seconds_text(r['ttft_p50'])} / "
                             f"{seconds_text(r['ttft_p99'])} | {seconds_text(r['itl_p50'])} / "
                             f"{seconds_text(r['itl_p99'])} | {ratio} |")
    return "\n".join(lines) + "\n"


def plot(results, client_counts, png_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    panels = [("new", "tokens_per_second", "every prompt new: generated tok/s"),
              ("new", "ttft_p50", "every prompt new: TTFT p50, s"),
              ("chat", "tokens_per_second", "multi-turn chat: generated tok/s"),
              ("chat", "ttft_p50", "multi-turn chat: TTFT p50, s")]
    for ax, (workload, key, title) in zip(axes, panels):
        for engine in ENGINES:
            points = [(c, results[f"{engine}/{workload}/{c}"][key]) for c in client_counts
                      if f"{engine}/{workload}/{c}" in results]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=engine)
        ax.set_xscale("log", base=2)
        ax.set_xticks(client_counts)
        ax.set_xticklabels([str(c) for c in client_counts])
        ax.set_xlabel("concurrent clients")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tandem", default=os.path.join(ROOT, "build", "tandem"))
    p.add_argument("--llama-server", default=os.path.join(HERE, "build", "llama.cpp", "bin", "llama-server"))
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--prompts", default=os.path.join(ROOT, "..", "shared", "data", "prompts", "spec_bench.jsonl"))
    p.add_argument("--clients", default="1,4,16,64")
    p.add_argument("--workloads", default="new,chat")
    p.add_argument("--max-tokens", type=int, default=64, help="tokens per request of the new-prompt workload")
    p.add_argument("--chat-tokens", type=int, default=32, help="tokens per turn of the chat workload")
    p.add_argument("--turns", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "serving"))
    args = p.parse_args()
    client_counts = [int(c) for c in args.clients.split(",")]
    engines = args.engines.split(",")
    if "llama-server" in engines and not os.path.exists(args.llama_server):
        sys.exit(f"no llama-server at {args.llama_server}: run bench/peer/build.sh first")
    most = max(max(client_counts), 8)
    prompts = stratified_prompts(args.prompts, most)
    seconds = second_turns(args.prompts, most)
    results = {}
    for workload in args.workloads.split(","):
        for c in client_counts:
            for engine in engines:
                binary = args.llama_server if engine == "llama-server" else args.tandem
                r = measure(engine, binary, workload, c, args, prompts, seconds)
                results[f"{engine}/{workload}/{c}"] = r
                print(f"{workload:4s} {c:3d} clients {engine:12s} {r['tokens_per_second']:6.1f} tok/s  TTFT p50 "
                      f"{seconds_text(r['ttft_p50'])} p99 {seconds_text(r['ttft_p99'])} s  inter-token p50 "
                      f"{seconds_text(r['itl_p50'])} p99 {seconds_text(r['itl_p99'])} s", flush=True)
                os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
                json.dump({"clients": client_counts, "max_tokens": args.max_tokens, "chat_tokens": args.chat_tokens,
                           "turns": args.turns, "threads": args.threads, "results": results},
                          open(args.out + ".json", "w"), indent=2)
    open(args.out + ".md", "w").write(tables(results, client_counts))
    plot(results, client_counts, args.out + ".png")
    print(tables(results, client_counts))


if __name__ == "__main__":
    main()
