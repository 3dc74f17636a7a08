"""Soak: mixed traffic for a bounded time against a 3-process cluster with every key on.

    .venv/bin/python bench/soak/soak.py --minutes 30 --json bench/results/soak.json

Starts a scheduler, a verifier and a drafter node (`tandem node`) with the cluster's
certificates on the control plane, CURVE keys on the ZeroMQ client port, an API key and
HTTPS on the HTTP port. Then, until the time is up, --clients threads send a mix of:
ZeroMQ requests in every mode (streaming or not), requests cancelled while they run,
clients that vanish mid-request, garbage frames, a stranger with an unknown key, HTTPS
requests (streaming or not), HTTPS clients that hang up mid-stream and malformed bodies.
Every --kill-every seconds the drafter is killed (SIGKILL) and a new one started.

It checks, and exits 1 if one fails:
  - every request the soak waited for was answered exactly once (one final or one error,
    nothing after it), and only cancelled ones with CANCELLED;
  - greedy outputs are identical for the same prompt, whatever the mode or the drafter's fate;
  - the anonymous memory (RssAnon) of the scheduler and verifier after warm-up stays
    within --rss-slack (or --rss-slack-kb) of where it was when warm-up ended (the heap
    bytes malloc has handed out, from /health, are reported beside it: flat heap under a
    growing RssAnon is fragmentation, a growing heap a leak);
  - after the traffic stops, live requests and KV cache bytes go back to zero.
"""
import argparse
import atexit
import concurrent.futures
import faulthandler
import http.client
import json
import os
import random
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

import zmq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
from tandem_client import _read_key_file, client_pb2  # noqa: E402

MODES = ["ar", "chain", "tree", "pearl", "lookup", "recycle"]
PROMPTS = ["Once upon a time", "Lily and Tom went to the park", "The little dog was sad because",
           "One day, a big bird", "Tim had a red ball", "The sun was hot and", "Mom said to Sue",
           "There was a tiny cat who"]


class Tally:
    """Counts shared by every traffic thread, and the violations found."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = Counter()
        self.violations = []
        self.reference = {}  # (prompt, max_tokens) -> greedy ids, the first answer seen
        self.http_reference = {}  # (prompt, max_tokens) -> text

    def add(self, what, n=1):
        with self.lock:
            self.counts[what] += n

    def violation(self, text):
        with self.lock:
            self.violations.append(text)
            print("VIOLATION:", text, flush=True)

    def check_output(self, table, key, value, label):
        with self.lock:
            expected = table.setdefault(key, value)
        if expected != value:
            self.violation(f"{label}: output for {key} differs from the first answer")


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def read_lines(path, count, process, timeout=120):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if os.path.exists(path):
            lines = open(path).read().split("\n")
            if len([x for x in lines if x]) >= count:
                return lines
        if process.poll() is not None:
            sys.exit(f"a tandem process exited early (status {process.returncode})")
        time.sleep(0.2)
    sys.exit(f"{path}: not written in {timeout} s")


def anon_rss_kb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


class Cluster:
    """The three processes and their keys."""

    def __init__(self, args, tmp):
        self.args, self.tmp = args, tmp
        t = args.tandem
        run([t, "keys", "ca", "--out", f"{tmp}/ca"])
        run([t, "keys", "cert", "--ca", f"{tmp}/ca", "--out", f"{tmp}/node", "--name", "127.0.0.1",
             "--node", "*/*"])
        for name in ("server", "client", "stranger"):
            run([t, "keys", "generate", "--out", f"{tmp}/{name}"])
        public = _read_key_file(f"{tmp}/client.pub")["public"].decode()
        open(f"{tmp}/authorized", "w").write(f"{public} soak-client\n")
        self.api_key = "sk-soak-" + secrets.token_hex(12)
        self.tls = [] if args.plain_control else [
            "--cluster-ca", f"{tmp}/ca.crt", "--cluster-cert", f"{tmp}/node.crt", "--cluster-key", f"{tmp}/node.key"]
        self.log = open(f"{tmp}/cluster.log", "w")
        self.scheduler = self.verifier = self.drafter = None
        atexit.register(self.stop)  # whatever ends the soak, no process is left behind
        self.ssl = ssl.create_default_context(cafile=f"{tmp}/ca.crt")
        self.scheduler = self.start("scheduler", [
            "--model", args.model, "--listen", "tcp://127.0.0.1:0", "--http", "127.0.0.1:0",
            "--control", "127.0.0.1:0", "--curve-secret-key", f"{tmp}/server.key",
            "--curve-authorized-keys", f"{tmp}/authorized", "--api-keys", self.api_key,
            "--http-tls-cert", f"{tmp}/node.crt", "--http-tls-key", f"{tmp}/node.key",
            "--endpoint-file", f"{tmp}/scheduler.ep"])
        self.endpoint, self.http, self.control = read_lines(f"{tmp}/scheduler.ep", 3, self.scheduler)[:3]
        self.wait_health(lambda h: True, 60, "the scheduler does not answer /health")
        self.verifier = self.start("verifier", [
            "--model", args.model, "--draft-model", args.draft_model, "--scheduler", self.control,
            "--threads", "1", "--drafter-timeout-ms", "3000", "--queue-limit", "256",
            "--endpoint-file", f"{tmp}/verifier.ep"])
        self.verifier_http = read_lines(f"{tmp}/verifier.ep", 2, self.verifier)[1]
        self.drafter_starts = 0
        if not self.start_drafter():
            self.stop()
            sys.exit(f"the drafter did not join (see {tmp}/cluster.log)")

    def start(self, role, flags):
        env = dict(os.environ)
        if self.args.no_thread_cache:
            # glibc keeps freed blocks in a cache per thread, which its heap figure counts as in use.
            env["GLIBC_TUNABLES"] = "glibc.malloc.tcache_count=0"
        return subprocess.Popen([self.args.tandem, "node", "--role", role, "--heartbeat-ms", "200"] + self.tls + flags,
                                stdout=self.log, stderr=self.log, env=env)

    def start_drafter(self):
        self.drafter = self.start("drafter", ["--draft-model", self.args.draft_model, "--scheduler", self.control,
                                              "--listen", "tcp://127.0.0.1:0", "--threads", "1"])
        self.drafter_starts += 1
        return self.wait_health(lambda h: h["drafters"] == 1 and h["verifiers"] == 1, 120, "the drafter did not join")

    def touch_http_workers(self, calls=512):
        """Serves /health from every HTTP worker thread of the scheduler and the verifier (128 each by
        default), so that each thread's first-use memory (its malloc cache and OpenSSL's per-thread
        state, ~20 KB with TLS) is in before the warm-up figure rather than creeping in over the run."""
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            for address in (None, self.verifier_http):
                list(pool.map(lambda _: self.health(address), range(calls)))

    def kill_drafter(self):
        self.drafter.send_signal(signal.SIGKILL)
        self.drafter.wait()

    def health(self, address=None):
        host_port = (address or self.http).split("//")[1]
        host, port = host_port.rsplit(":", 1)
        if (address or self.http).startswith("https"):
            conn = http.client.HTTPSConnection(host, int(port), context=self.ssl, timeout=10)
        else:
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/health")
        return json.loads(conn.getresponse().read())

    def wait_health(self, condition, timeout, failure, address=None):
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            try:
                if condition(self.health(address)):
                    return True
            except OSError:
                pass
            time.sleep(0.5)
        print(failure, flush=True)
        return False

    def stop(self):
        running = [p for p in (self.drafter, self.verifier, self.scheduler) if p and p.poll() is None]
        for p in running:
            p.terminate()
        for p in running:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()


class ZmqClient:
    """One CURVE DEALER connection that remembers which requests it has seen end."""

    def __init__(self, context, cluster, key="client"):
        mine, server = _read_key_file(f"{cluster.tmp}/{key}.key"), _read_key_file(f"{cluster.tmp}/server.pub")
        self.socket = context.socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.curve_serverkey, self.socket.curve_publickey = server["public"], mine["public"]
        self.socket.curve_secretkey = mine["secret"]
        self.socket.connect(cluster.endpoint)
        self.ended = set()

    def send(self, message, seconds=10):
        """Sends without blocking (a DEALER with no connected peer would wait forever); False if it could not."""
        return self.send_bytes(message.SerializeToString(), seconds)

    def send_bytes(self, data, seconds=10):
        end = time.monotonic() + seconds
        while True:
            try:
                self.socket.send(data, zmq.NOBLOCK)
                return True
            except zmq.Again:
                if time.monotonic() > end:
                    return False
                time.sleep(0.01)

    def exchange(self, tally, request_id, submit, cancel_after_s=None, timeout_s=180):
        """Sends `submit`, heartbeats, reads to its final or error; returns that message (None if silent)."""
        if not self.send(submit):
            tally.violation(f"request {request_id}: could not be sent for 10 s")
            return None
        heartbeat = client_pb2.ClientMessage()
        heartbeat.heartbeat.SetInParent()
        start = last_beat = time.monotonic()
        cancelled = False
        while time.monotonic() - start < timeout_s:
            now = time.monotonic()
            if now - last_beat > 0.5:
                self.send(heartbeat)
                last_beat = now
            if cancel_after_s is not None and not cancelled and now - start > cancel_after_s:
                cancel = client_pb2.ClientMessage()
                cancel.cancel.request_id = request_id
                self.send(cancel)
                cancelled = True
            if not self.socket.poll(100):
                continue
            reply = client_pb2.ServerMessage.FromString(self.socket.recv())
            kind = reply.WhichOneof("kind")
            if kind == "heartbeat":
                continue
            rid = getattr(reply, kind).request_id
            if rid != request_id:
                self.stray(tally, rid, kind)
                continue
            if kind in ("final", "error"):
                self.ended.add(request_id)
                return reply
        return None

    def stray(self, tally, rid, kind):
        """A reply that is not for the request being waited for: after an end, it is a second answer."""
        if rid in self.ended:
            tally.violation(f"request {rid}: a {kind} after its final or error")
        elif rid:
            tally.violation(f"request {rid}: a {kind} for a request never sent on this connection")

    def drain(self, tally, seconds=3):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.socket.poll(100):
                reply = client_pb2.ServerMessage.FromString(self.socket.recv())
                kind = reply.WhichOneof("kind")
                if kind != "heartbeat":
                    self.stray(tally, getattr(reply, kind).request_id, kind)

    def close(self):
        self.socket.close(0)


def submit_message(request_id, prompt, max_tokens, mode, stream, heartbeat_ms=1000):
    m = client_pb2.ClientMessage()
    r = m.submit
    r.request_id, r.text, r.max_tokens, r.mode, r.stream, r.heartbeat_ms = (
        request_id, prompt, max_tokens, mode, stream, heartbeat_ms)
    return m


class Traffic:
    """What one traffic thread does until the deadline."""

    def __init__(self, index, cluster, tally, deadline, seed, only=()):
        self.index, self.cluster, self.tally, self.deadline, self.only = index, cluster, tally, deadline, only
        self.random = random.Random(seed)
        self.context = zmq.Context()
        self.client = ZmqClient(self.context, cluster)
        self.n = 0

    def next_id(self):
        self.n += 1
        return f"t{self.index}-{self.n}"

    def run(self):
        actions = [(self.zmq_request, 45), (self.zmq_cancel, 10), (self.zmq_vanish, 5), (self.zmq_garbage, 5),
                   (self.stranger, 3), (self.http_request, 22), (self.http_vanish, 5), (self.http_garbage, 5)]
        if self.only:
            actions = [(f, w) for f, w in actions if f.__name__ in self.only]
        choices, weights = zip(*actions)
        while time.monotonic() < self.deadline:
            action = self.random.choices(choices, weights)[0]
            try:
                action()
            except (OSError, http.client.HTTPException) as e:
                self.tally.add(f"{action.__name__}: transport error")
                self.tally.violation(f"{action.__name__}: {type(e).__name__}: {e}")
                time.sleep(1)
        self.client.drain(self.tally)
        self.context.destroy(linger=0)

    def pick(self):
        return self.random.choice(PROMPTS), self.random.choice([16, 48])

    def zmq_request(self):
        prompt, max_tokens = self.pick()
        mode, stream = self.random.choice(MODES), self.random.random() < 0.5
        rid = self.next_id()
        reply = self.client.exchange(self.tally, rid, submit_message(rid, prompt, max_tokens, mode, stream))
        self.tally.add("zmq requests")
        if reply is None:
            self.tally.violation(f"request {rid} ({mode}): no answer in 180 s")
        elif reply.WhichOneof("kind") == "error":
            self.tally.violation(f"request {rid} ({mode}): {client_pb2.ErrorCode.Name(reply.error.code)}: "
                                 f"{reply.error.message}")
        else:
            self.tally.add(f"finished in {mode}")
            self.tally.add("generated tokens", len(reply.final.ids))
            self.tally.check_output(self.tally.reference, (prompt, max_tokens), list(reply.final.ids), f"{rid} ({mode})")

    def zmq_cancel(self):
        prompt, _ = self.pick()
        rid = self.next_id()
        mode = self.random.choice(MODES)
        reply = self.client.exchange(self.tally, rid, submit_message(rid, prompt, 200, mode, True),
                                     cancel_after_s=self.random.uniform(0, 0.3))
        self.tally.add("zmq cancels")
        if reply is None:
            self.tally.violation(f"cancelled request {rid}: no answer")
        elif reply.WhichOneof("kind") == "error" and reply.error.code != client_pb2.CANCELLED:
            self.tally.violation(f"cancelled request {rid}: {client_pb2.ErrorCode.Name(reply.error.code)}")
        else:
            self.tally.add("cancel: cancelled" if reply.WhichOneof("kind") == "error" else "cancel: finished first")

    def zmq_vanish(self):
        """A client that submits and disappears: the server cancels after three silent heartbeats."""
        gone = ZmqClient(self.context, self.cluster)
        prompt, _ = self.pick()
        gone.send(submit_message(self.next_id(), prompt, 400, self.random.choice(MODES), True, heartbeat_ms=300), 1)
        time.sleep(self.random.uniform(0, 0.2))
        gone.close()
        self.tally.add("zmq vanished clients")

    def zmq_garbage(self):
        # A leading 0 byte is field number 0, which protobuf never parses: the frame is garbage for sure.
        if not self.client.send_bytes(b"\x00" + os.urandom(self.random.randint(0, 2000))):
            self.tally.violation("a garbage frame could not be sent for 10 s")
            return
        start = time.monotonic()
        while time.monotonic() - start < 10:
            if not self.client.socket.poll(100):
                continue
            reply = client_pb2.ServerMessage.FromString(self.client.socket.recv())
            kind = reply.WhichOneof("kind")
            if kind == "error" and reply.error.request_id == "":
                self.tally.add("garbage frames answered MALFORMED" if reply.error.code == client_pb2.MALFORMED
                               else "garbage frames answered otherwise")
                return
            if kind != "heartbeat":
                self.client.stray(self.tally, getattr(reply, kind).request_id, kind)
        self.tally.violation("a garbage frame got no answer")

    def stranger(self):
        """A client whose key the server does not know: nothing comes back."""
        other = ZmqClient(self.context, self.cluster, key="stranger")
        other.send(submit_message("stranger", "Once upon a time", 8, "ar", False), seconds=0.5)
        if other.socket.poll(1000):
            self.tally.violation("a stranger's request was answered")
        other.close()
        self.tally.add("strangers ignored")

    def https(self, timeout=180):
        host, port = self.cluster.http.split("//")[1].rsplit(":", 1)
        return http.client.HTTPSConnection(host, int(port), context=self.cluster.ssl, timeout=timeout)

    def http_request(self):
        prompt, max_tokens = self.pick()
        stream = self.random.random() < 0.5
        body = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": stream,
                "mode": self.random.choice(MODES)}
        conn = self.https()
        conn.request("POST", "/v1/completions", json.dumps(body),
                     {"Authorization": f"Bearer {self.cluster.api_key}", "Content-Type": "application/json"})
        res = conn.getresponse()
        data = res.read().decode()
        conn.close()
        self.tally.add("http requests")
        if res.status != 200:
            self.tally.violation(f"HTTPS request: status {res.status}: {data[:200]}")
            return
        if stream:
            events = [line[6:] for line in data.split("\n") if line.startswith("data: ")]
            if not events or events[-1] != "[DONE]":
                self.tally.violation("HTTPS stream without its [DONE]")
                return
            text = "".join(json.loads(e)["choices"][0]["text"] for e in events[:-1])
        else:
            text = json.loads(data)["choices"][0]["text"]
        self.tally.check_output(self.tally.http_reference, (prompt, max_tokens), text, "HTTPS " + body["mode"])

    def http_vanish(self):
        conn = self.https(timeout=30)
        body = {"prompt": self.pick()[0], "max_tokens": 400, "temperature": 0, "stream": self.random.random() < 0.5}
        conn.request("POST", "/v1/completions", json.dumps(body),
                     {"Authorization": f"Bearer {self.cluster.api_key}", "Content-Type": "application/json"})
        time.sleep(self.random.uniform(0.05, 0.5))
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
        self.tally.add("http vanished clients")

    def http_garbage(self):
        conn = self.https(timeout=30)
        conn.request("POST", "/v1/completions", os.urandom(self.random.randint(1, 3000)),
                     {"Authorization": f"Bearer {self.cluster.api_key}", "Content-Type": "application/json"})
        res = conn.getresponse()
        res.read()
        conn.close()
        self.tally.add(f"http garbage answered {res.status}")
        if res.status != 400:
            self.tally.violation(f"a garbage HTTPS body got {res.status}, not 400")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tandem", default=os.path.join(ROOT, "build", "tandem"))
    p.add_argument("--model", default=os.path.join(ROOT, "..", "shared", "data", "models", "stories260K", "model.bin"))
    p.add_argument("--draft-model", default="", help="default: --model")
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--clients", type=int, default=6)
    p.add_argument("--kill-every", type=float, default=300, help="seconds between drafter kills")
    p.add_argument("--warmup-fraction", type=float, default=0.2)
    p.add_argument("--rss-slack", type=float, default=0.10, help="allowed growth of RssAnon after warm-up")
    p.add_argument("--rss-slack-kb", type=int, default=4096, help="... or this many kB, whichever is more")
    p.add_argument("--heap-slack-kb", type=int, default=1024,
                   help="allowed growth of the heap from after warm-up to the end, traffic over (or --rss-slack)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--only", default="", help="comma-separated traffic kinds to send (e.g. zmq_request,http_request)")
    p.add_argument("--plain-control", action="store_true",
                   help="control plane without TLS (to tell its memory from the rest; loopback only)")
    p.add_argument("--no-thread-cache", action="store_true",
                   help="turn glibc's per-thread malloc cache off in the nodes, so the heap figure is what is live")
    p.add_argument("--json", default="")
    p.add_argument("--log", default="", help="keep the three processes' log here")
    args = p.parse_args()
    args.draft_model = args.draft_model or args.model

    tally = Tally()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(args, tmp)
        cluster.touch_http_workers()
        start = time.monotonic()
        deadline = start + args.minutes * 60
        # (seconds, scheduler RssAnon kB, verifier RssAnon kB, scheduler live requests,
        #  scheduler heap kB, verifier heap kB): heap = what malloc has handed out and not had back
        samples = []
        stop_monitor = threading.Event()

        def monitor():
            while not stop_monitor.wait(10):
                try:
                    scheduler, verifier = cluster.health(), cluster.health(cluster.verifier_http)
                    live = scheduler["live_requests"]
                    heap = (scheduler["heap_allocated_bytes"] // 1024, verifier["heap_allocated_bytes"] // 1024)
                except (OSError, KeyError, ValueError):
                    live, heap = -1, (-1, -1)
                samples.append((round(time.monotonic() - start), anon_rss_kb(cluster.scheduler.pid),
                                anon_rss_kb(cluster.verifier.pid), live) + heap)

        def chaos():
            while time.monotonic() + args.kill_every < deadline:
                time.sleep(args.kill_every)
                cluster.kill_drafter()
                tally.add("drafter kills")
                time.sleep(3)
                if not cluster.start_drafter():
                    tally.violation("a restarted drafter did not join")

        threads = [threading.Thread(target=Traffic(i, cluster, tally, deadline, args.seed * 100 + i,
                                                        args.only.split(",") if args.only else ()).run)
                   for i in range(args.clients)]
        threads += [threading.Thread(target=monitor, daemon=True), threading.Thread(target=chaos, daemon=True)]
        for t in threads:
            t.start()
        for t in threads[:args.clients]:
            t.join(timeout=max(0, deadline - time.monotonic()) + 300)
            if t.is_alive():
                tally.violation("a traffic thread is stuck 5 minutes past the end (stacks below)")
                faulthandler.dump_traceback()
                break
        elapsed = time.monotonic() - start
        settled = cluster.wait_health(lambda h: h["live_requests"] == 0 and h["kv_cache_bytes"] == 0, 60,
                                      "the scheduler still has live requests") and \
            cluster.wait_health(lambda h: h["live_requests"] == 0 and h["kv_cache_bytes"] == 0, 60,
                                "the verifier still has live requests or KV bytes", cluster.verifier_http)
        end_health = {"scheduler": cluster.health(), "verifier": cluster.health(cluster.verifier_http)}
        stop_monitor.set()
        final_rss = (anon_rss_kb(cluster.scheduler.pid), anon_rss_kb(cluster.verifier.pid))
        cluster.stop()
        log = open(f"{tmp}/cluster.log").read()
        refused = log.count("event=curve_refused")
        if args.log:
            open(args.log, "w").write(log)

    if not settled:
        tally.violation("live requests or KV bytes did not return to zero")
    warm = [s for s in samples if s[0] >= args.warmup_fraction * args.minutes * 60]
    rss = {}
    for i, name in ((1, "scheduler"), (2, "verifier")):
        after_warmup = warm[0][i] if warm else samples[0][i]
        peak = max(s[i] for s in warm) if warm else final_rss[i - 1]
        heap = [s[i + 3] for s in (warm or samples)]
        rss[name] = {"after_warmup_kb": after_warmup, "peak_after_warmup_kb": peak, "end_kb": final_rss[i - 1],
                     "heap_after_warmup_kb": heap[0], "heap_last_kb": heap[-1]}
        # Once the traffic is over and every request freed, what malloc still has handed out
        # must be about what it had after warm-up: anything more was kept per request.
        heap_end = end_health[name]["heap_allocated_bytes"] // 1024
        rss[name]["heap_end_kb"] = heap_end
        if heap_end > heap[0] + max(heap[0] * args.rss_slack, args.heap_slack_kb):
            tally.violation(f"{name} heap grew from {heap[0]} kB after warm-up to {heap_end} kB at the end")
        if peak > after_warmup + max(after_warmup * args.rss_slack, args.rss_slack_kb):
            tally.violation(f"{name} RssAnon grew from {after_warmup} kB to {peak} kB after warm-up")
    result = {"minutes": round(elapsed / 60, 1), "clients": args.clients, "model": args.model,
              "counts": dict(tally.counts), "curve_refusals_logged": refused, "rss_anon": rss,
              "end_health": end_health, "samples": samples, "violations": tally.violations,
              "drafter_starts": cluster.drafter_starts}
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))
    if args.json:
        json.dump(result, open(args.json, "w"), indent=2)
    print("soak:", "PASSED" if not tally.violations else f"FAILED ({len(tally.violations)} violations)")
    sys.exit(1 if tally.violations else 0)


if __name__ == "__main__":
    main()
