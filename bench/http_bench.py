"""The HTTP front door under abuse and load (issue 27), for one or more `tandem` binaries side
by side in one run: this build's and, with --baseline, another (such as a build of the last
commit with the cpp-httplib server). Each figure comes from a fresh `tandem serve` on the tiny
stories260K model, so the figures are the server's, not the model's.

    .venv/bin/python bench/http_bench.py --binary build/tandem --baseline /tmp/old/build/tandem \
        --json bench/results/http_bench.json

Figures per binary:
  solo            /health and a tiny completion (8 tokens) alone: median and p99 latency
  slow headers    the same while N connections each send one header line a second, forever
  idle keep-alive the same while M connections that each made one request stay open and
                  silent; the server's resident memory per such connection
  gzip bomb       growth of the server's peak memory for a 1 MB gzip body inflating to 1 GiB
  chunked flood   growth of its peak memory for a 100 MB chunked body
  throughput      requests per second on /health and on tiny completions (1 token), wrk with
                  16 keep-alive connections for 10 s (wrk from Debian's packages, installed
                  here if missing)
"""
import argparse
import gzip
import http.client
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "..", "shared", "data", "models", "stories260K", "model.bin")
TINY = json.dumps({"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0})


class Serve:
    """A `tandem serve` process on 127.0.0.1 with HTTP, stopped on exit."""

    def __init__(self, binary, extra=()):
        self.folder = tempfile.mkdtemp(prefix="http-bench-")
        endpoint_file = os.path.join(self.folder, "endpoints")
        self.process = subprocess.Popen(
            [binary, "serve", "--model", MODEL, "--draft-model", "none", "--threads", "1", "--listen",
             "tcp://127.0.0.1:0", "--http", "127.0.0.1:0", "--max-client-requests", "64", "--queue-limit", "64",
             "--endpoint-file", endpoint_file, *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            if os.path.exists(endpoint_file):
                lines = open(endpoint_file).read().split()
                if len(lines) >= 2:
                    self.port = int(lines[1].rsplit(":", 1)[1])
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{binary} serve did not start")

    def memory_kb(self, field):
        for line in open(f"/proc/{self.process.pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return -1

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def timed(port, method, path, body=None, timeout=2.0):
    """Seconds for one request on a new connection, or None if it failed or timed out."""
    start = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        response = c.getresponse()
        response.read()
        c.close()
        return time.monotonic() - start if response.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None


def latencies(port, samples=20):
    """Median and p99 (ms) of /health and of a tiny completion; failures (no answer within
    2 s) counted."""
    out = {}
    for name, method, path, body in (("health", "GET", "/health", None), ("completion", "POST", "/v1/completions", TINY)):
        times = [timed(port, method, path, body) for _ in range(samples)]
        ok = sorted(t * 1000 for t in times if t is not None)
        out[name] = {"median_ms": round(statistics.median(ok), 2) if ok else None,
                     "p99_ms": round(ok[min(len(ok) - 1, int(0.99 * len(ok)))], 2) if ok else None,
                     "failed": len(times) - len(ok)}
    return out


def solo(binary):
    with Serve(binary) as serve:
        return latencies(serve.port)


def open_connections(port, count, seconds=30):
    """Up to `count` connections, opened within `seconds` (a server whose backlog is full
    leaves connects hanging: the count opened says so)."""
    sockets, deadline = [], time.monotonic() + seconds
    while len(sockets) < count and time.monotonic() < deadline:
        try:
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=0.5))
        except OSError:
            pass
    return sockets


def slow_headers(binary, connections):
    with Serve(binary) as serve:
        sockets = open_connections(serve.port, connections)
        stop = threading.Event()

        def trickle():
            for s in sockets:
                try:
                    s.send(b"GET /health HTTP/1.1\r\n")
                except OSError:
                    pass
            line = 0
            while not stop.wait(1.0):
                line += 1
                for s in sockets:
                    try:
                        s.send(b"X-Slow-%d: yes\r\n" % line)
                    except OSError:
                        pass

        thread = threading.Thread(target=trickle)
        thread.start()
        time.sleep(1.5)
        result = latencies(serve.port)
        stop.set()
        thread.join()
        for s in sockets:
            s.close()
        result["connections"] = len(sockets)
        return result


def idle_keep_alive(binary, connections):
    with Serve(binary) as serve:
        before = serve.memory_kb("VmRSS")
        sockets, served, deadline = [], 0, time.monotonic() + 60
        for s in open_connections(serve.port, connections):
            sockets.append(s)
            try:  # one request each (within a minute for them all), then silence
                s.settimeout(max(0.01, min(1.0, deadline - time.monotonic())))
                s.send(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
                served += 1 if s.recv(4096).startswith(b"HTTP/1.1 200") else 0
            except OSError:
                pass
        grown = serve.memory_kb("VmRSS") - before
        result = latencies(serve.port)
        result.update({"connections": len(sockets), "answered_first_request": served,
                       "rss_kb_per_connection": round(grown / max(1, len(sockets)), 2)})
        for s in sockets:
            s.close()
        return result


def body_growth(binary, head, body_chunks, timeout=60):
    """Peak memory growth (KB) of a server sent `head` and then the chunks, and its answer's status line."""
    with Serve(binary) as serve:
        before = serve.memory_kb("VmHWM")
        s = socket.create_connection(("127.0.0.1", serve.port), timeout=timeout)
        start = time.monotonic()
        try:
            s.sendall(head)
            for chunk in body_chunks:
                s.sendall(chunk)
        except OSError:
            pass
        try:
            status = s.recv(200).split(b"\r\n")[0].decode()
        except OSError as e:
            status = f"no answer ({e.__class__.__name__})"
        seconds = time.monotonic() - start
        s.close()
        time.sleep(0.5)
        return {"peak_growth_mb": round((serve.memory_kb("VmHWM") - before) / 1024, 1), "status": status,
                "seconds": round(seconds, 2)}


def gzip_bomb(binary):
    bomb = gzip.compress(bytes(1 << 30), compresslevel=9)
    head = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(bomb))
    result = body_growth(binary, head, [bomb])
    result["body_bytes"] = len(bomb)
    return result


def chunked_flood(binary, megabytes=100):
    head = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"100000\r\n" + b"a" * (1 << 20) + b"\r\n"
    return body_growth(binary, head, [chunk] * megabytes)


def wrk_rate(port, path, body=None):
    script = None
    if body:
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        script.write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n'
                     % json.dumps(body))
        script.close()
    command = ["wrk", "-t2", "-c16", "-d10s", "--latency"] + (["-s", script.name] if script else [])
    out = subprocess.run(command + [f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None


def throughput(binary):
    if not shutil.which("wrk"):
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
    tiny = json.dumps({"prompt": "Once upon a time", "max_tokens": 1, "temperature": 0})
    with Serve(binary) as serve:
        return {"health_rps": wrk_rate(serve.port, "/health"),
                "completion_rps": wrk_rate(serve.port, "/v1/completions", tiny)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "tandem"))
    parser.add_argument("--baseline", help="another tandem binary, measured in the same run")
    parser.add_argument("--slow", type=int, default=1000, help="slow-header connections")
    parser.add_argument("--idle", type=int, default=10000, help="idle keep-alive connections")
    parser.add_argument("--sections", default="solo,slow headers,idle keep-alive,throughput,gzip bomb,chunked flood",
                        help="which to measure, comma-separated")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    binaries = {"this build": args.binary}
    if args.baseline:
        binaries["baseline"] = args.baseline
    figures = {name: {} for name in binaries}
    sections = [("solo", solo),
                ("slow headers", lambda b: slow_headers(b, args.slow)),
                ("idle keep-alive", lambda b: idle_keep_alive(b, args.idle)),
                ("throughput", throughput),
                ("gzip bomb", gzip_bomb),
                ("chunked flood", chunked_flood)]
    for section, measure in sections:
        if section not in args.sections.split(","):
            continue
        for name, binary in binaries.items():  # side by side, section by section
            figures[name][section] = measure(binary)
            print(f"{section:16} {name:11} {json.dumps(figures[name][section])}", flush=True)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        json.dump(figures, open(args.json, "w"), indent=2)


if __name__ == "__main__":
    main()
