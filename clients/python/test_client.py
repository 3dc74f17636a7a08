"""The Python client and the OpenAI-compatible HTTP endpoint (through urllib, a real
HTTP client) against a real `tandem serve` process (stories260K): greedy output equals
`tandem generate`, streaming, errors and cancel; CURVE keys admit only authorized clients.

    test_client.py BUILD_DIR SHARED_DIR
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tandem_client import Client, ServerError, client_pb2  # noqa: E402


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(request, timeout=60)


def check_http(http, local):
    models = json.load(urllib.request.urlopen(http + "/v1/models", timeout=60))
    assert models["data"][0]["id"] == "stories260K", models
    body = {"prompt": "Once upon a time", "max_tokens": 50, "temperature": 0}
    answer = json.load(post(http + "/v1/completions", body))
    assert answer["choices"][0]["text"] == local["text"], answer
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 50, answer["usage"]
    # Streaming: server-sent events, one per token, then [DONE].
    pieces, done = [], False
    for line in post(http + "/v1/completions", dict(body, stream=True)):
        line = line.decode().strip()
        if line == "data: [DONE]":
            done = True
        elif line.startswith("data: "):
            pieces.append(json.loads(line[6:])["choices"][0]["text"])
    assert done and "".join(pieces) == local["text"], pieces
    for bad, status in (({"prompt": 5}, 400), ({"messages": [{"role": "user", "content": "hi"}]}, 400)):
        url = http + ("/v1/chat/completions" if "messages" in bad else "/v1/completions")
        try:
            post(url, bad)
            raise AssertionError(f"{bad} was accepted")
        except urllib.error.HTTPError as e:
            assert e.code == status, (bad, e.code)
            assert "error" in json.load(e), bad


def check_dead_server(tandem, endpoint_file):
    """A server killed mid-request: the client fails fast with a clear error instead of hanging."""
    model = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "models",
                         "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
    server = subprocess.Popen([tandem, "serve", "--model", model, "--draft-model", "none", "--threads", "1",
                               "--listen", "tcp://127.0.0.1:0", "--http", "", "--endpoint-file", endpoint_file],
                              stdout=subprocess.DEVNULL)
    try:
        for _ in range(300):
            if os.path.exists(endpoint_file) and open(endpoint_file).read().strip():
                break
            time.sleep(0.1)
        endpoint = open(endpoint_file).read().split()[0]
        with Client(endpoint, timeout_ms=3000) as client:
            # A conversation: system, user, assistant, user (the chat template of a real instruct model).
            conversation = [client_pb2.ChatTurn(role=r, content=c) for r, c in
                            (("system", "Answer with one word."), ("user", "Capital of France?"),
                             ("assistant", "Paris."), ("user", "And of Italy?"))]
            result = client.generate(messages=conversation, max_tokens=8, chat=True)
            assert result.finish_reason in ("stop", "length") and result.stats.prompt_tokens > 20, result
        with Client(endpoint, timeout_ms=3000) as client:
            request_id = client.submit("Write a long story about a dragon.", max_tokens=300, stream=True)
            replies = client.messages(request_id)
            next(replies)
            server.kill()  # kill -9 mid-stream
            start = time.monotonic()
            try:
                for _ in replies:
                    pass
                raise AssertionError("the stream went on after the server died")
            except TimeoutError as e:
                assert "silent" in str(e), e
            assert time.monotonic() - start < 10, "the client hung"
    finally:
        server.kill()
        server.wait(timeout=30)


def check_curve(tandem, model, tmp, local):
    """A server with CURVE keys answers a client holding an authorized key, and nobody else."""
    for name in ("server", "client", "stranger"):
        subprocess.run([tandem, "keys", "generate", "--out", os.path.join(tmp, name)], check=True,
                       stdout=subprocess.DEVNULL)
    assert os.stat(os.path.join(tmp, "client.key")).st_mode & 0o077 == 0, "a secret key readable by others"
    authorized = os.path.join(tmp, "authorized")
    with open(authorized, "w") as f:
        f.write(open(os.path.join(tmp, "client.pub")).read().split("public =")[1].strip() + " client\n")
    endpoint_file = os.path.join(tmp, "endpoint-curve")
    server = subprocess.Popen([tandem, "serve", "--model", model, "--draft-model", "none", "--threads", "1",
                               "--listen", "tcp://127.0.0.1:0", "--http", "", "--endpoint-file", endpoint_file,
                               "--curve-secret-key", os.path.join(tmp, "server.key"),
                               "--curve-authorized-keys", authorized], stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):
            if server.poll() is not None or os.path.exists(endpoint_file) and open(endpoint_file).read().strip():
                break
            time.sleep(0.1)
        assert server.poll() is None, server.communicate()[1]
        endpoint = open(endpoint_file).read().split()[0]
        server_pub = os.path.join(tmp, "server.pub")
        with Client(endpoint, timeout_ms=30_000, server_key_file=server_pub,
                    secret_key_file=os.path.join(tmp, "client.key")) as client:
            assert list(client.generate("Once upon a time", max_tokens=50).ids) == local["ids"]
        for keys in ({"server_key_file": server_pub, "secret_key_file": os.path.join(tmp, "stranger.key")}, {}):
            with Client(endpoint, timeout_ms=2000, **keys) as client:
                try:
                    client.generate("Once upon a time", max_tokens=5)
                    raise AssertionError(f"a client with {keys or 'no keys'} was answered")
                except TimeoutError:
                    pass
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
    assert "event=curve_refused" in errors and "not authorized" in errors, errors


def main():
    build, shared = sys.argv[1], sys.argv[2]
    tandem = os.path.join(build, "tandem")
    model = os.path.join(shared, "data/models/stories260K/model.bin")
    with tempfile.TemporaryDirectory() as tmp:
        endpoint_file = os.path.join(tmp, "endpoint")
        server = subprocess.Popen([tandem, "serve", "--model", model, "--draft-model", "none", "--threads", "1",
                                   "--listen", "tcp://127.0.0.1:0", "--http", "127.0.0.1:0",
                                   "--endpoint-file", endpoint_file])
        try:
            for _ in range(200):
                if os.path.exists(endpoint_file) and len(open(endpoint_file).read().split()) == 3:
                    break
                time.sleep(0.1)
            endpoint, http, _control = open(endpoint_file).read().split()
            local = json.loads(subprocess.check_output(
                [tandem, "generate", "--model", model, "--prompt", "Once upon a time", "--max-tokens", "50",
                 "--threads", "1", "--json"]))
            with Client(endpoint, timeout_ms=60_000) as client:
                result = client.generate("Once upon a time", max_tokens=50)
                assert list(result.ids) == local["ids"], (list(result.ids), local["ids"])
                assert result.text == local["text"], (result.text, local["text"])
                assert result.finish_reason == "length" and result.stats.generated_tokens == 50
                streamed = "".join(client.stream("Once upon a time", max_tokens=50))
                assert streamed == local["text"], streamed
                stop = local["text"][20:24]  # the output ends right before the first place it appears
                stopped = client.generate("Once upon a time", max_tokens=50, stop=["never there", stop])
                assert stopped.text == local["text"][:local["text"].find(stop)], (stopped.text, stop)
                assert stopped.finish_reason == "stop", stopped.finish_reason
                # Log probabilities, one per id, and output constrained to a JSON schema: the
                # stories model knows no JSON, yet what it writes follows the schema.
                scored = client.generate("Once upon a time", max_tokens=10, logprobs=True, top_logprobs=2)
                assert [l.id for l in scored.logprobs] == list(scored.ids) == local["ids"][:10], scored.logprobs
                assert all(len(l.top) == 2 and l.top[0].id == l.id for l in scored.logprobs), scored.logprobs
                shaped = client.generate("Once upon a time", max_tokens=60, response_format={
                    "type": "json_schema", "json_schema": {"name": "x", "schema": {
                        "type": "object", "properties": {"mood": {"enum": ["happy", "sad"]}}, "required": ["mood"],
                        "additionalProperties": False}}})
                assert shaped.finish_reason == "stop" and json.loads(shaped.text)["mood"] in ("happy", "sad"), shaped
                try:
                    client.generate(ids=[1, 100000], max_tokens=5)
                    raise AssertionError("an unknown token id was accepted")
                except ServerError as e:
                    assert e.code == "INVALID_ARGUMENT", e
                request_id = client.submit("The little dog", max_tokens=400, stream=True)
                replies = client.messages(request_id)
                next(replies)  # the first token: the request is running
                client.cancel(request_id)
                try:
                    for _ in replies:
                        pass
                    raise AssertionError("the cancelled request finished")
                except ServerError as e:
                    assert e.code == "CANCELLED", e
            check_http(http, local)
            check_curve(tandem, model, tmp, local)
            check_dead_server(tandem, os.path.join(tmp, "endpoint2"))
            print("python client and HTTP endpoint: all checks passed")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
