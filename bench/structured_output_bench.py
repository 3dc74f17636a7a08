"""Structured output's cost and speculation under it: six JSON tasks through the OpenAI
endpoint of one `tandem serve` (Qwen2.5-Coder-1.5B, the 0.5B drafter), each asked with its
JSON schema as response_format and without one, in modes ar, chain and auto; and, given
--llama-server, the same through llama-server (its schema-to-grammar conversion) on the same
model and threads, in the same run. Reports generated tokens per second of decoding (tandem's
decode_seconds; llama-server's `timings.predicted_ms`) and tokens per verifier pass, and
whether every constrained answer parses and has its schema's required keys.

    .venv/bin/python bench/structured_output_bench.py --threads 2 --max-tokens 128 \
        --json bench/results/structured_output.json [--llama-server bench/peer/build/llama.cpp/bin/llama-server]
"""
import argparse
import json
import os
import sys
import time

from openai import OpenAI

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from openai_servers import TARGET, free_port, server_command, start_server, stop_server  # noqa: E402

DRAFT = os.path.join(ROOT, "models", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")


def obj(properties, required=None):
    return {"type": "object", "properties": properties, "required": required or list(properties),
            "additionalProperties": False}


STRING, INTEGER, NUMBER, BOOLEAN = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}
TASKS = [
    ("Describe a fictional software engineer as JSON: name, age, favourite languages.",
     obj({"name": STRING, "age": INTEGER,
          "languages": {"type": "array", "items": {"enum": ["python", "c++", "rust", "go", "java"]}}})),
    ("List three products of a hardware shop as JSON with name, price and stock.",
     obj({"products": {"type": "array", "maxItems": 3,
                       "items": obj({"name": STRING, "price": NUMBER, "in_stock": BOOLEAN})}})),
    ("Give a recipe for pancakes as JSON: title, ingredients and steps.",
     obj({"title": STRING, "ingredients": {"type": "array", "items": STRING},
          "steps": {"type": "array", "items": STRING}})),
    ("Classify the sentiment of 'The build finally passes and it is fast.' as JSON.",
     obj({"label": {"enum": ["positive", "negative", "neutral"]}, "confidence": NUMBER, "reason": STRING})),
    ("Review this code as JSON issues with line, severity and message: def f(x): return x/0",
     obj({"issues": {"type": "array", "items": obj({"line": INTEGER, "severity": {"enum": ["low", "high"]},
                                                    "message": STRING})}})),
    ("Describe a team meeting as JSON: title, date, attendees with name and role.",
     obj({"title": STRING, "date": STRING,
          "attendees": {"type": "array", "items": obj({"name": STRING, "role": {"enum": ["lead", "dev", "pm"]}})}})),
]


def ask(client, prompt, schema, mode, max_tokens):
    extra = {"mode": mode}
    kwargs = {}
    if schema:
        kwargs["response_format"] = {"type": "json_schema", "json_schema": {"name": "task", "schema": schema}}
    start = time.monotonic()
    answer = client.chat.completions.create(model="m", messages=[{"role": "user", "content": prompt}],
                                            max_tokens=max_tokens, temperature=0, extra_body=extra, **kwargs)
    wall = time.monotonic() - start
    if "tandem" in answer.model_extra:
        stats = answer.model_extra["tandem"]
        decode, passes = stats["decode_seconds"], stats["verifier_passes"]
    else:  # llama-server: one token a pass; its own decode time
        decode, passes = answer.model_extra["timings"]["predicted_ms"] / 1000, answer.usage.completion_tokens
    return answer.choices[0].message.content, answer.choices[0].finish_reason, answer.usage.completion_tokens, \
        decode, passes, wall


def valid(text, schema):
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(value, dict) and all(key in value for key in schema["required"])


def measure(client, engine, modes, max_tokens, rows):
    ask(client, TASKS[0][0], TASKS[0][1], modes[0], 8)  # warm up
    for mode in modes:
        for constrained in (True, False):
            tokens = seconds = passes = 0
            valid_count, outputs = 0, []
            for prompt, schema in TASKS:
                text, finish, n, decode, p, _ = ask(client, prompt, schema if constrained else None, mode, max_tokens)
                tokens, seconds, passes = tokens + n, seconds + decode, passes + p
                valid_count += constrained and finish == "stop" and valid(text, schema)
                outputs.append(text)
            row = {"engine": engine, "mode": mode, "constrained": constrained, "tokens": tokens,
                   "decode_seconds": round(seconds, 3), "tok_per_s": round(tokens / seconds, 2),
                   "tokens_per_pass": round(tokens / max(passes, 1), 2),
                   "valid": f"{valid_count}/{len(TASKS)}" if constrained else "-", "outputs": outputs}
            rows.append(row)
            print(f"{engine:>12} {mode:>6} {'schema' if constrained else 'free':>6}: {row['tok_per_s']:7.2f} tok/s, "
                  f"{row['tokens_per_pass']:.2f} tokens/pass, {tokens} tokens, complete and valid {row['valid']}",
                  flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tandem", default=os.path.join(ROOT, "build", "tandem"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--modes", default="ar,chain,auto")
    parser.add_argument("--llama-server", help="llama-server to run the same tasks on, after tandem")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    port = free_port()
    command = [args.tandem, "serve", "--model", TARGET, "--draft-model", DRAFT, "--threads", str(args.threads),
               "--http", f"127.0.0.1:{port}", "--listen", "tcp://127.0.0.1:0", "--prefix-cache-bytes", "0"]
    server = start_server("tandem", command, port)
    rows = []
    try:
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", timeout=1800)
        measure(client, "tandem", args.modes.split(","), args.max_tokens, rows)
    finally:
        stop_server(server)
    if args.llama_server:
        port = free_port()
        server = start_server("llama-server", server_command("llama-server", args.llama_server, port, args.threads, 1),
                              port)
        try:
            client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", timeout=1800)
            measure(client, "llama-server", ["plain"], args.max_tokens, rows)
        finally:
            stop_server(server)
    same = {}
    for row in rows:
        if row["constrained"] and row["engine"] == "tandem":
            same.setdefault("outputs", row["outputs"])
            row["same_as_first_mode"] = row["outputs"] == same["outputs"]
    print("constrained greedy output the same in every mode:", all(r.get("same_as_first_mode", True) for r in rows))
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "max_tokens": args.max_tokens, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
