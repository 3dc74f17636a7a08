"""Time to first token of `tandem serve` at one client, for one or two binaries side by side:
each round starts a fresh server per binary (the installed 1.5B target and 0.5B draft model),
streams one chat completion per prompt, one at a time, and times the first content chunk.
Rounds alternate the binaries so that a slower minute of the machine hits both.

    .venv/bin/python bench/ttft_bench.py --binary build/tandem --baseline /tmp/old/tandem --rounds 2

Prompts are Spec-Bench first turns (every prompt new to the server, so the prefix cache
does not answer them); the first of each round only warms the server up.
"""
import argparse
import http.client
import json
import os
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_server(binary, mode, threads, endpoint_file):
    server = subprocess.Popen([binary, "serve", "--listen", "tcp://127.0.0.1:0", "--http", "127.0.0.1:0",
                               "--endpoint-file", endpoint_file, "--mode", mode, "--threads", str(threads)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"{binary} serve exited with {server.returncode}")
        if os.path.exists(endpoint_file) and len(open(endpoint_file).read().splitlines()) >= 2:
            host, port = open(endpoint_file).read().splitlines()[1].replace("http://", "").rsplit(":", 1)
            return server, host, int(port)
        time.sleep(0.2)
    server.kill()
    raise SystemExit(f"{binary} serve did not start")


def first_token_seconds(host, port, prompt, max_tokens):
    body = json.dumps({"model": "tandem", "messages": [{"role": "user", "content": prompt}],
                       "max_tokens": max_tokens, "stream": True, "temperature": 0})
    connection = http.client.HTTPConnection(host, port, timeout=120)
    start = time.time()
    connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    if response.status != 200:
        raise SystemExit(f"HTTP {response.status}: {response.read()[:200]!r}")
    first = None
    for line in response:
        if first is None and line.startswith(b"data: {") and b'"content":"' in line:
            first = time.time() - start
    connection.close()
    if first is None:
        raise SystemExit("a completion streamed no content")
    return first


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "tandem"))
    parser.add_argument("--baseline", help="another tandem binary, measured in the same rounds")
    parser.add_argument("--mode", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompts", default=os.path.join(ROOT, "..", "shared", "data", "prompts", "spec_bench.jsonl"))
    parser.add_argument("--first", type=int, default=300, help="index of the first prompt used")
    parser.add_argument("--count", type=int, default=12, help="prompts per round (the first warms up)")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with open(args.prompts) as f:
        prompts = [json.loads(line)["turns"][0] for line in f][args.first:args.first + args.count]
    binaries = [args.binary] + ([args.baseline] if args.baseline else [])
    seconds = {b: [] for b in binaries}
    for round_ in range(args.rounds):
        for binary in binaries:
            with tempfile.TemporaryDirectory() as work:
                server, host, port = start_server(binary, args.mode, args.threads, os.path.join(work, "endpoints"))
                try:
                    times = [first_token_seconds(host, port, p, args.max_tokens) for p in prompts]
                finally:
                    server.terminate()
                    server.wait()
            seconds[binary] += times[1:]
            print(f"round {round_ + 1} {binary}: median {1000 * statistics.median(times[1:]):.1f} ms", flush=True)
    for binary in binaries:
        s = seconds[binary]
        print(f"{binary}: time to first token median {1000 * statistics.median(s):.1f} ms, "
              f"mean {1000 * statistics.mean(s):.1f} ms over {len(s)} requests")


if __name__ == "__main__":
    main()
