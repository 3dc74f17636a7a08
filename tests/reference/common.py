"""Shared helpers for the reference scripts: where models are and how outputs are written."""
import json
import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODELS_DIR = pathlib.Path(os.environ.get("TANDEM_MODELS_DIR", ROOT / "models"))
SPEC_BENCH = ROOT.parent / "shared" / "data" / "prompts" / "spec_bench.jsonl"

# Every installed model: tandem runs them all.
REAL_MODELS = [
    "smollm2-135m-instruct-q4_1.gguf",
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    "gemma-3-270m-q4_k_m.gguf",
]


def up_to_date(output: pathlib.Path, *inputs: pathlib.Path) -> bool:
    """True when `output` exists and is newer than every input."""
    if not output.exists():
        return False
    made = output.stat().st_mtime
    return all(p.stat().st_mtime < made for p in inputs)


def write_json(path: pathlib.Path, data) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.rename(path)


def spec_bench_texts():
    """Every turn of every Spec-Bench prompt, in file order."""
    texts = []
    with open(SPEC_BENCH) as f:
        for line in f:
            texts.extend(json.loads(line)["turns"])
    return texts
