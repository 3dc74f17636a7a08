"""A Python client for `tandem serve`: protobuf messages over a ZeroMQ DEALER socket.

    from tandem_client import Client
    with Client("tcp://127.0.0.1:5555") as client:
        for piece in client.stream("Once upon a time", max_tokens=40):
            print(piece, end="", flush=True)
        result = client.generate("Write a haiku", chat=True, mode="chain")
        print(result.text, result.stats.tokens_per_pass)

client_pb2 is generated from proto/client.proto by the build (cmake target python_client).
"""
import itertools
import json
import os
import time

import zmq

from . import client_pb2

__all__ = ["Client", "ServerError", "client_pb2"]


class ServerError(RuntimeError):
    """The server ended a request with an error (code: a client_pb2.ErrorCode name)."""

    def __init__(self, code, message, request_id):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.request_id = code, message, request_id


def _read_key_file(path):
    """The 'public' (and 'secret') Z85 keys of a tandem key file, as bytes."""
    keys = {}
    with open(path) as f:
        for line in f:
            name, eq, value = line.partition("=")
            if eq and not name.strip().startswith("#"):
                keys[name.strip()] = value.strip().encode()
    if len(keys.get("public", b"")) != 40:
        raise ValueError(f"{path}: no 'public = <40 Z85 characters>' line")
    return keys


class Client:
    """One connection to a tandem server. Not thread-safe: use one Client per thread."""

    _ids = itertools.count()

    def __init__(self, endpoint, timeout_ms=5_000, server_key_file=None, secret_key_file=None):
        """timeout_ms: server silence after which a request fails with TimeoutError (a live
        server sends a heartbeat every second while it has a request of ours).
        server_key_file, secret_key_file: for a server with CURVE keys, its .pub file and
        this client's .key file (from `tandem keys generate`), which the server must list."""
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        if server_key_file or secret_key_file:
            if not (server_key_file and secret_key_file):
                raise ValueError("server_key_file and secret_key_file go together")
            mine = _read_key_file(secret_key_file)
            self._socket.curve_serverkey = _read_key_file(server_key_file)["public"]
            self._socket.curve_publickey = mine["public"]
            self._socket.curve_secretkey = mine["secret"]
        self._socket.connect(endpoint)
        self._timeout_ms = timeout_ms
        self._heartbeat_ms = 1000

    def close(self):
        self._socket.close()
        self._context.term()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def submit(self, prompt=None, ids=None, messages=None, max_tokens=0, temperature=0.0, top_k=0, top_p=1.0, seed=0,
               chat=False, mode="", stream=False, deadline_ms=0, request_id=None, heartbeat_ms=1000, stop=(), n=1,
               first_finish=False, logprobs=False, top_logprobs=0, response_format=None):
        """Sends a request and returns its id; read the replies with messages(request_id).

        stop: a string or a list of strings; the output ends before the first of them.
        n: samples of the prompt, sharing its cache (the final's `choices`; chunks carry an
        `index`); first_finish: answer with the first of them to finish.
        logprobs: each token's log probability (the final's and chunks' `logprobs`), with
        top_logprobs alternatives; response_format: OpenAI's dict ({"type": "json_schema",
        "json_schema": {"schema": ...}}) to constrain the output to JSON."""
        message = client_pb2.ClientMessage()
        r = message.submit
        r.request_id = request_id or f"py-{os.getpid()}-{next(self._ids)}"
        if ids is not None:
            r.ids.ids.extend(ids)
        elif messages is not None:
            r.messages.extend(messages)  # client_pb2.ChatTurn(role=..., content=...)
        else:
            r.text = prompt
        r.chat, r.max_tokens, r.mode, r.stream, r.deadline_ms = chat, max_tokens, mode, stream, deadline_ms
        r.stop.extend([stop] if isinstance(stop, str) else stop)
        r.n, r.first_finish = n, first_finish
        r.logprobs, r.top_logprobs = logprobs, top_logprobs
        if response_format is not None:
            r.response_format_json = json.dumps(response_format)
        # The server cancels the request if this client stays silent for three intervals;
        # messages() sends the heartbeats while it waits.
        r.heartbeat_ms = heartbeat_ms
        self._heartbeat_ms = heartbeat_ms or 1000
        r.sampling.temperature, r.sampling.top_k, r.sampling.top_p, r.sampling.seed = temperature, top_k, top_p, seed
        self._socket.send(message.SerializeToString())
        return r.request_id

    def cancel(self, request_id):
        message = client_pb2.ClientMessage()
        message.cancel.request_id = request_id
        self._socket.send(message.SerializeToString())

    def messages(self, request_id):
        """Yields the request's ServerMessages up to its final one; raises ServerError on an error."""
        heartbeat = client_pb2.ClientMessage()
        heartbeat.heartbeat.SetInParent()
        silent_since = last_sent = time.monotonic()
        while True:
            if (time.monotonic() - last_sent) * 1000 >= self._heartbeat_ms:
                try:  # never blocks: a server that refused our key leaves no connection to queue on
                    self._socket.send(heartbeat.SerializeToString(), zmq.NOBLOCK)
                except zmq.Again:
                    pass
                last_sent = time.monotonic()
            if not self._socket.poll(self._heartbeat_ms):
                if (time.monotonic() - silent_since) * 1000 > self._timeout_ms:
                    raise TimeoutError(f"the server has been silent for {self._timeout_ms} ms: it is gone")
                continue
            silent_since = time.monotonic()
            reply = client_pb2.ServerMessage.FromString(self._socket.recv())
            kind = reply.WhichOneof("kind")
            if kind == "heartbeat":
                continue
            if kind == "error":
                if reply.error.request_id in ("", request_id):
                    raise ServerError(client_pb2.ErrorCode.Name(reply.error.code), reply.error.message,
                                      reply.error.request_id)
                continue
            if getattr(reply, kind).request_id != request_id:
                continue  # a reply to an earlier, abandoned request
            yield reply
            if kind == "final":
                return

    def generate(self, prompt=None, **settings):
        """Generates and returns the FinalResult (ids, text, finish_reason, stats)."""
        request_id = self.submit(prompt, **settings)
        for reply in self.messages(request_id):
            if reply.WhichOneof("kind") == "final":
                return reply.final
        raise RuntimeError("the stream ended without a final message")

    def stream(self, prompt=None, **settings):
        """Generates, yielding text pieces as the server decides tokens."""
        request_id = self.submit(prompt, stream=True, **settings)
        for reply in self.messages(request_id):
            if reply.WhichOneof("kind") == "chunk":
                yield reply.chunk.text
