"""Cluster throughput: PEARL across processes against plain decoding on the same machine.

Setups, each measured in this run with the same Spec-Bench prompts and 1, 4, 16 clients:
  serve-ar      `tandem serve`, every request plain decoding, all cores (the baseline)
  cluster-pearl scheduler + verifier node pinned to core 0 + drafter node pinned to core 1;
                requests in chain mode: the drafter drafts ahead while the verifier verifies
  cluster-ar    the same three processes, requests in plain decoding (the drafter idles)
  verifiers-2-drafters-1, verifiers-2-drafters-2
                scheduler + two verifier nodes (pinned to cores 0 and 1) + one drafter node
                serving both, or one drafter for each (drafters unpinned); requests in chain
                mode. On 2 cores every process shares the cores: this compares what one
                shared drafter costs and saves against one each, not more hardware.

    .venv/bin/python bench/cluster_bench.py --clients 1,4,16 --requests 16 --max-tokens 48 \\
        --json bench/results/cluster_bench.json

Prompts are taken round-robin across Spec-Bench categories (a stratified subset).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_bench import load_arguments, run_load, stratified_prompts  # noqa: E402


def wait_for_lines(path, count, processes):
    while not (os.path.exists(path) and len(open(path).read().split()) >= count):
        if any(p.poll() is not None for p in processes):
            sys.exit(f"a tandem process exited early (see {path})")
        time.sleep(0.2)
    return open(path).read().split()


def wait_for_members(http, verifiers, drafters):
    import urllib.request
    for _ in range(600):
        health = json.load(urllib.request.urlopen(http + "/health"))
        if health["verifiers"] == verifiers and health["drafters"] == drafters:
            return
        time.sleep(0.2)
    sys.exit(f"the nodes did not join: {health}")


def start(tmp, setup, args):
    """Starts a setup's processes; returns (client endpoint, processes, request mode)."""
    log = open(os.path.join(tmp, setup + ".log"), "w")
    if setup == "serve-ar":
        ep = os.path.join(tmp, "serve.ep")
        server = subprocess.Popen([args.tandem, "serve", "--listen", "tcp://127.0.0.1:0", "--http", "",
                                   "--endpoint-file", ep, "--max-batch", "16", "--queue-limit", "256"],
                                  stdout=log, stderr=log)
        return wait_for_lines(ep, 1, [server])[0], [server], "ar"
    ep = os.path.join(tmp, setup + ".ep")
    if setup.startswith("verifiers-"):
        return start_shared(tmp, setup, args, log)
    scheduler = subprocess.Popen([args.tandem, "node", "--role", "scheduler", "--listen", "tcp://127.0.0.1:0",
                                  "--http", "127.0.0.1:0", "--control", "127.0.0.1:0", "--endpoint-file", ep],
                                 stdout=log, stderr=log)
    endpoint, http, control = wait_for_lines(ep, 3, [scheduler])
    verifier = subprocess.Popen(["taskset", "-c", "0", args.tandem, "node", "--role", "verifier", "--scheduler",
                                 control, "--threads", "1", "--max-batch", "16", "--queue-limit", "256",
                                 "--draft-tokens", str(args.draft_tokens)], stdout=log, stderr=log)
    drafter = subprocess.Popen(["taskset", "-c", "1", args.tandem, "node", "--role", "drafter", "--scheduler",
                                control, "--listen", "tcp://127.0.0.1:0", "--threads", "1"], stdout=log, stderr=log)
    wait_for_members(http, 1, 1)
    return endpoint, [verifier, drafter, scheduler], "chain" if setup == "cluster-pearl" else "ar"


def start_shared(tmp, setup, args, log):
    """verifiers-V-drafters-D: V verifier nodes and D drafter nodes behind one scheduler."""
    _, verifiers, _, drafters = setup.split("-")
    ep = os.path.join(tmp, setup + ".ep")
    scheduler = subprocess.Popen([args.tandem, "node", "--role", "scheduler", "--listen", "tcp://127.0.0.1:0",
                                  "--http", "127.0.0.1:0", "--control", "127.0.0.1:0", "--endpoint-file", ep],
                                 stdout=log, stderr=log)
    endpoint, http, control = wait_for_lines(ep, 3, [scheduler])
    processes = []
    for v in range(int(verifiers)):
        processes.append(subprocess.Popen(
            ["taskset", "-c", str(v % os.cpu_count()), args.tandem, "node", "--role", "verifier", "--name", f"v{v}",
             "--scheduler", control, "--threads", "1", "--max-batch", "16", "--queue-limit", "256",
             "--draft-tokens", str(args.draft_tokens)], stdout=log, stderr=log))
    for d in range(int(drafters)):
        processes.append(subprocess.Popen(
            [args.tandem, "node", "--role", "drafter", "--name", f"d{d}", "--scheduler", control, "--listen",
             "tcp://127.0.0.1:0", "--threads", "1"], stdout=log, stderr=log))
    wait_for_members(http, int(verifiers), int(drafters))
    return endpoint, processes + [scheduler], "chain"


def main():
    p = load_arguments(__doc__)
    p.add_argument("--draft-tokens", type=int, default=5)
    p.add_argument("--setups", default="serve-ar,cluster-pearl,cluster-ar")
    p.add_argument("--json", default="")
    args = p.parse_args()

    prompts = stratified_prompts(args.prompts, args.requests)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for setup in args.setups.split(","):
            endpoint, processes, mode = start(tmp, setup, args)
            try:
                results[setup] = []
                for clients in [int(c) for c in args.clients.split(",")]:
                    row = run_load(endpoint, prompts, clients, args.max_tokens, [mode])
                    results[setup].append(row)
                    print(f"{setup:14s} {clients:3d} clients: {row['tokens_per_second']:5.2f} generated tok/s "
                          f"(+{row['prompt_tokens_per_second']:.1f} prompt tok/s), mean latency "
                          f"{row['mean_latency_seconds']:.1f} s; per request decoding {row['decode_tokens_per_second_per_request']:.2f} "
                          f"tok/s, {row['tokens_per_pass']:.2f} tokens/pass", flush=True)
            finally:
                for process in processes:
                    process.terminate()
                    process.wait(timeout=60)
    base = {row["clients"]: row["tokens_per_second"] for row in results.get("serve-ar", [])}
    for setup, rows in results.items():
        for row in rows:
            if row["clients"] in base:
                row["vs_serve_ar"] = row["tokens_per_second"] / base[row["clients"]]
    print("\n| setup | " + " | ".join(f"{r['clients']} clients" for r in next(iter(results.values()))) + " |")
    print("|---|" + "---|" * len(next(iter(results.values()))))
    for setup, rows in results.items():
        cells = [f"{r['tokens_per_second']:.2f} tok/s" + (f" ({r['vs_serve_ar']:.2f}x)" if "vs_serve_ar" in r else "")
                 for r in rows]
        print(f"| {setup} | " + " | ".join(cells) + " |")
    if args.json:
        json.dump({"max_tokens": args.max_tokens, "requests": args.requests, "setups": results},
                  open(args.json, "w"), indent=2)


if __name__ == "__main__":
    main()
