"""What the OpenAI-endpoint benchmarks share: starting tandem serve or llama-server on a free
port with the same model and threads, and one streamed chat request timed token by token."""
import os
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "models", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(engine, binary, port, threads, slots, context_per_slot=4096, extra=()):
    """The command line of one engine serving TARGET over HTTP with `slots` requests at once
    (llama-server's -np, tandem's --max-batch; tandem's per-client limits are raised to match,
    since every benchmark client comes from one address)."""
    if engine == "llama-server":
        return [binary, "-m", TARGET, "-t", str(threads), "-np", str(slots), "-c", str(context_per_slot * slots),
                "--host", "127.0.0.1", "--port", str(port), *extra]
    return [binary, "serve", "--http", f"127.0.0.1:{port}", "--listen", "tcp://127.0.0.1:0", "--threads",
            str(threads), "--max-batch", str(slots), "--max-client-requests", str(max(16, slots)), "--queue-limit",
            str(max(64, 2 * slots)), "--draft-model", "none", *extra]


def start_server(engine, command, port):
    """Starts one engine's HTTP server; returns the process once it answers."""
    ready = f"http://127.0.0.1:{port}/health" if engine == "llama-server" else f"http://127.0.0.1:{port}/ready"
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"{engine} exited early: {' '.join(command)}")
        try:
            if urllib.request.urlopen(ready, timeout=2).status == 200:
                return server
        except OSError:
            time.sleep(0.5)
    server.kill()
    sys.exit(f"{engine} did not come up")


def stop_server(server):
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()


def timed_chat(client, messages, max_tokens):
    """One greedy streamed chat request. Returns (text, seconds to the first token, seconds in
    all, the arrival time of each content chunk after the start, completion tokens, cached
    prompt tokens or None)."""
    start = time.monotonic()
    arrivals, text, usage = [], "", None
    stream = client.chat.completions.create(model="m", messages=messages, max_tokens=max_tokens, temperature=0,
                                            stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - start)
            text += chunk.choices[0].delta.content
        if chunk.usage:
            usage = chunk.usage
    total = time.monotonic() - start
    details = getattr(usage, "prompt_tokens_details", None) if usage else None
    return (text, arrivals[0] if arrivals else total, total, arrivals, usage.completion_tokens if usage else 0,
            getattr(details, "cached_tokens", None) if details else None)
