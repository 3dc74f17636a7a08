#!/usr/bin/env python3
"""Writes the Spec-Bench turns of ../shared/data/prompts/spec_bench.jsonl, in file order,
joined by blank lines: the fixed text that tandem_perplexity and llama-perplexity score."""
import json
import sys
from pathlib import Path

source = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "prompts" / "spec_bench.jsonl"
turns = [t for line in source.read_text().splitlines() if line.strip() for t in json.loads(line)["turns"]]
Path(sys.argv[1]).write_text("\n\n".join(turns) + "\n")
