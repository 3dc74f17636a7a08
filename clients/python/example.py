"""Streams one answer from a running `tandem serve`, then prints its statistics.

    PYTHONPATH=clients/python .venv/bin/python clients/python/example.py tcp://127.0.0.1:5555 "Write a haiku"
"""
import sys

from tandem_client import Client


def main():
    endpoint = sys.argv[1] if len(sys.argv) > 1 else "tcp://127.0.0.1:5555"
    prompt = sys.argv[2] if len(sys.argv) > 2 else "Write a Python function that reverses a string."
    with Client(endpoint) as client:
        for piece in client.stream(prompt, chat=True, max_tokens=96):
            print(piece, end="", flush=True)
        print()
        result = client.generate(prompt, chat=True, max_tokens=96)
        s = result.stats
        print(f"{s.generated_tokens} tokens, {s.generated_tokens / max(s.decode_seconds, 1e-9):.1f} tok/s, "
              f"mode {s.mode}, {s.tokens_per_pass:.2f} tokens per pass", file=sys.stderr)


if __name__ == "__main__":
    main()
