"""The Python client against a real `tandem serve` process (stories260K):
greedy output equals `tandem generate`, streaming, errors and cancel.

    test_client.py BUILD_DIR SHARED_DIR
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tandem_client import Client, ServerError  # noqa: E402


def main():
    build, shared = sys.argv[1], sys.argv[2]
    tandem = os.path.join(build, "tandem")
    model = os.path.join(shared, "data/models/stories260K/model.bin")
    with tempfile.TemporaryDirectory() as tmp:
        endpoint_file = os.path.join(tmp, "endpoint")
        server = subprocess.Popen([tandem, "serve", "--model", model, "--draft-model", "none", "--threads", "1",
                                   "--listen", "tcp://127.0.0.1:0", "--endpoint-file", endpoint_file])
        try:
            for _ in range(200):
                if os.path.exists(endpoint_file) and open(endpoint_file).read().strip():
                    break
                time.sleep(0.1)
            endpoint = open(endpoint_file).read().strip()
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
            print("python client: all checks passed")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
