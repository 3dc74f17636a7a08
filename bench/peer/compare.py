#!/usr/bin/env python3
"""tandem and llama.cpp side by side on one machine: the same GGUF, threads, text and prompts.

    .venv/bin/python bench/peer/compare.py --limit 1 --max-tokens 64 --threads 2 --out bench/results/peer

Builds llama.cpp's tools (bench/peer/build.sh), then measures, alternating the two engines
--repeats times for the engine figures: decode, prefill of 128 and 512 tokens, and the
cost of one pass over 1, 2, 4, 8, 16 tokens in decode steps (llama-bench / tandem_bench);
perplexity over the first 8k tokens of the Spec-Bench turns, and each engine's mean KL
divergence there from tandem's exact `precise` path (llama-perplexity --kl-divergence /
tandem_perplexity --llama-kl-base); and every speculative mode of each on the stratified Spec-Bench
subset, greedy (tandem_spec_bench / llama-speculative-simple with the 0.5B draft model and
with n-grams). Prints one table of ratios and writes it (and the raw figures) under --out.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
DRAFT = ROOT / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
PASSES = [1, 2, 4, 8, 16]
LLAMA_SPEC = {  # name -> extra llama-speculative-simple arguments ("plain" runs llama-completion)
    "plain": [],
    "draft-simple (0.5B)": ["--spec-type", "draft-simple", "-md", str(DRAFT)],
    "ngram-simple": ["--spec-type", "ngram-simple"],
    "ngram-mod": ["--spec-type", "ngram-mod"],
}


def run(cmd, env=None, **kw):
    print("+", " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, text=True, capture_output=True, env=env, **kw)


def llama_env(bins):
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = str(bins) + ":" + env.get("LD_LIBRARY_PATH", "")
    return env


def llama_engine(bins, threads):
    """Decode, prefill and pass costs from llama-bench."""
    out = run([bins / "llama-bench", "-m", TARGET, "-t", threads, "-p", "128,512", "-n", 32, "-r", 3, "-o", "json"],
              env=llama_env(bins)).stdout
    rows = json.loads(out)
    fig = {}
    for r in rows:
        if r["n_gen"] > 0:
            fig["decode"] = r["avg_ts"]
        else:
            fig[f"prefill{r['n_prompt']}"] = r["avg_ts"]
    out = run([bins / "llama-bench", "-m", TARGET, "-t", threads, "-p", ",".join(map(str, PASSES)), "-n", 0,
               "-r", 5, "-o", "json"], env=llama_env(bins)).stdout
    seconds = {r["n_prompt"]: r["n_prompt"] / r["avg_ts"] for r in json.loads(out)}
    fig["passes"] = {k: seconds[k] / seconds[1] for k in PASSES}
    return fig


def tandem_engine(threads):
    """The same figures from tandem_bench (int8 path): one run per prefill length, decode and passes averaged."""
    fig, decode, passes = {}, [], {}
    for prompt in (128, 512):
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            run([ROOT / "build" / "tandem_bench", "--models", TARGET, "--threads", threads, "--matmul", "int8",
                 "--prompt-tokens", prompt, "--contexts", "", "--json", f.name])
            report = json.load(open(f.name))
        fig[f"prefill{prompt}"] = report["models"][0]["prefill_tps"]
        decode.append(report["models"][0]["decode_tps"])
        for b in report["batch_cost"]:
            passes.setdefault(b["tokens"], []).append(b["cost_in_decode_steps"])
    fig["decode"] = statistics.mean(decode)
    fig["passes"] = {1: 1.0, **{k: statistics.mean(v) for k, v in passes.items()}}
    return fig


def perplexities(bins, threads, text):
    """Perplexity of both engines on the same 8k tokens, and the mean KL divergence of each
    engine's default path from tandem's `precise` path (exact products of the GGUF's
    weights): tandem writes precise's log probabilities as llama-perplexity's KL base, and
    llama-perplexity then scores exactly those tokens against it."""
    with tempfile.TemporaryDirectory() as tmp:
        base, figures = Path(tmp) / "precise.kl", Path(tmp) / "tandem.json"
        run([ROOT / "build" / "tandem_perplexity", "--model", TARGET, "--text", text, "--tokens", 8192, "--ctx", 512,
             "--matmul", "precise,int8", "--threads", threads, "--llama-kl-base", base, "--json", figures])
        tandem = {p["matmul"]: p for p in json.loads(figures.read_text())["paths"]}
        out = run([bins / "llama-perplexity", "-m", TARGET, "--kl-divergence-base", base, "--kl-divergence",
                   "-c", 512, "-t", threads], env=llama_env(bins))
    log = out.stdout + out.stderr
    figure = lambda pattern: float(re.search(pattern, log).group(1))
    return {"llama.cpp": figure(r"Mean PPL\(Q\)\s*:\s*([0-9.]+)"), "llama.cpp_kl": figure(r"Mean\s+KLD:\s*([0-9.]+)"),
            "llama.cpp_same_top": figure(r"Same top p:\s*([0-9.]+)") / 100, "tandem": tandem}


def llama_decode(bins, threads, prompt, max_tokens, name):
    """Greedy decode of one prompt: (tokens, seconds, drafted, accepted)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
        f.write(prompt)
        f.flush()
        common = ["-m", TARGET, "-f", f.name, "-n", max_tokens, "-t", threads, "--temp", 0, "--seed", 1, "-c", 4096]
        if name == "plain":  # speculative-simple refuses --spec-type none: plain decoding is llama-completion
            out = run([bins / "llama-completion"] + common + ["-no-cnv"], env=llama_env(bins))
            log = out.stdout + out.stderr
            m = re.search(r"(?<!prompt )eval time =\s+([0-9.]+) ms /\s+(\d+) runs", log)
            return int(m.group(2)), float(m.group(1)) / 1e3, 0, 0
        out = run([bins / "llama-speculative-simple"] + common + ["-td", threads] + LLAMA_SPEC[name], env=llama_env(bins))
    log = out.stdout + out.stderr
    m = re.search(r"decoded\s+(\d+) tokens in\s+([0-9.]+) seconds", log)
    d = re.search(r"n_drafted = (\d+)", log)
    a = re.search(r"n_accept  = (\d+)", log)
    return int(m.group(1)), float(m.group(2)), int(d.group(1)) if d else 0, int(a.group(1)) if a else 0


def llama_speculative(bins, threads, prompts, max_tokens):
    """Greedy decode tok/s of each llama.cpp way over the same prompts (sum of tokens / sum of seconds)."""
    figures = {}
    for name in LLAMA_SPEC:
        tokens = seconds = drafted = accepted = 0
        for p in prompts:
            t, s, d, a = llama_decode(bins, threads, p["text"], max_tokens, name)
            tokens, seconds, drafted, accepted = tokens + t, seconds + s, drafted + d, accepted + a
        figures[name] = {"tok_s": tokens / seconds, "acceptance": accepted / drafted if drafted else 0.0}
    return figures


def tandem_speculative(threads, limit, max_tokens):
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        run([ROOT / "build" / "tandem_spec_bench", "--limit", limit, "--max-tokens", max_tokens, "--threads", threads,
             "--modes", "ar,chain,tree,pearl,lookup,recycle", "--json", f.name], cwd=ROOT)
        report = json.load(open(f.name))
    figures = {}
    for r in report["runs"]:
        f = figures.setdefault(r["mode"], {"tokens": 0, "seconds": 0.0, "same": 0, "n": 0})
        f["tokens"] += r["generated_tokens"]
        f["seconds"] += r["decode_seconds"]
        f["same"] += bool(r["same_as_ar"])
        f["n"] += 1
    return {m: {"tok_s": f["tokens"] / f["seconds"], "same_as_ar": f"{f['same']}/{f['n']}"} for m, f in figures.items()}


def table(engine_t, engine_l, ppl, spec_t, spec_l, args):
    lines = [f"tandem vs llama.cpp (llama-cpp-python 0.3.36's vendored tree), {TARGET.name}, {args.threads} threads, "
             f"same machine, same run; engine figures alternated {args.repeats}x (mean).", "",
             "| measure | tandem | llama.cpp | tandem / llama.cpp |", "|---|---|---|---|"]

    def row(name, t, l, better_low=False, fmt="{:.2f}"):
        ratio = (l / t) if better_low else (t / l)
        lines.append(f"| {name} | {fmt.format(t)} | {fmt.format(l)} | {ratio:.2f}x |")

    row("decode tok/s", engine_t["decode"], engine_l["decode"])
    row("prefill 128 tok/s", engine_t["prefill128"], engine_l["prefill128"])
    row("prefill 512 tok/s", engine_t["prefill512"], engine_l["prefill512"])
    for k in PASSES[1:]:
        row(f"pass over {k} tokens, in decode steps (lower is better)", engine_t["passes"][k], engine_l["passes"][k],
            better_low=True)
    row("perplexity, Spec-Bench text, 8k tokens (int8 default; lower is better)", ppl["tandem"]["int8"]["perplexity"],
        ppl["llama.cpp"], better_low=True, fmt="{:.4f}")
    if "llama.cpp_kl" in ppl:
        row("mean KL divergence from tandem's exact `precise` path, same tokens (lower is better)",
            ppl["tandem"]["int8"]["mean_kl_16bit_reference"], ppl["llama.cpp_kl"], better_low=True, fmt="{:.6f}")
        row("same top token as `precise`", 100 * ppl["tandem"]["int8"]["same_top"], 100 * ppl["llama.cpp_same_top"],
            fmt="{:.2f}%")
    best_t = max(spec_t, key=lambda m: spec_t[m]["tok_s"])
    best_l = max(spec_l, key=lambda m: spec_l[m]["tok_s"])
    row("plain decoding on the Spec-Bench subset, tok/s", spec_t["ar"]["tok_s"], spec_l["plain"]["tok_s"])
    row(f"best way on the Spec-Bench subset, tok/s (tandem {best_t}, llama.cpp {best_l})", spec_t[best_t]["tok_s"],
        spec_l[best_l]["tok_s"])
    lines += ["", "| engine | mode | tok/s | vs its own plain decoding | note |", "|---|---|---|---|---|"]
    for m, f in spec_t.items():
        lines.append(f"| tandem | {m} | {f['tok_s']:.2f} | {f['tok_s'] / spec_t['ar']['tok_s']:.2f}x | "
                     f"output = AR: {f['same_as_ar']} |")
    for m, f in spec_l.items():
        lines.append(f"| llama.cpp | {m} | {f['tok_s']:.2f} | {f['tok_s'] / spec_l['plain']['tok_s']:.2f}x | "
                     f"acceptance {100 * f['acceptance']:.0f}% |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=1, help="Spec-Bench prompts per category (13 categories)")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2, help="alternations of the engine figures")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: engine, perplexity, speculative")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "peer"))
    ap.add_argument("--resume", action="store_true",
                    help="keep the sections already in --out's JSON (delete a key there to measure it again)")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    bins = Path(run([ROOT / "bench" / "peer" / "build.sh"]).stdout.strip().splitlines()[-1])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = json.loads(out.with_suffix(".json").read_text()) if args.resume and out.with_suffix(".json").exists() else {}
    for engine in ("tandem_engine", "llama_engine"):  # JSON turned the pass sizes into strings
        if engine in raw:
            raw[engine]["passes"] = {int(k): v for k, v in raw[engine]["passes"].items()}
    if "tandem_engine" in raw:
        skip.add("engine")
    if "perplexity" in raw:
        skip.add("perplexity")
    save = lambda: out.with_suffix(".json").write_text(json.dumps(raw, indent=2))
    if "engine" not in skip:
        runs_t, runs_l = [], []
        for _ in range(args.repeats):
            runs_l.append(llama_engine(bins, args.threads))
            runs_t.append(tandem_engine(args.threads))
        mean = lambda runs, key: statistics.mean(r[key] for r in runs)
        raw["tandem_engine"] = {k: mean(runs_t, k) for k in ("decode", "prefill128", "prefill512")}
        raw["tandem_engine"]["passes"] = {k: statistics.mean(r["passes"][k] for r in runs_t) for k in PASSES}
        raw["llama_engine"] = {k: mean(runs_l, k) for k in ("decode", "prefill128", "prefill512")}
        raw["llama_engine"]["passes"] = {k: statistics.mean(r["passes"][k] for r in runs_l) for k in PASSES}
        save()
    if "perplexity" not in skip:
        text = Path(tempfile.mkdtemp()) / "spec_bench.txt"
        run([sys.executable, ROOT / "bench" / "peer" / "spec_bench_text.py", text])
        raw["perplexity"] = perplexities(bins, args.threads, text)
        save()
    if "speculative" not in skip:
        prompts_file = Path(tempfile.mkdtemp()) / "prompts.jsonl"
        run([ROOT / "build" / "tandem_spec_bench", "--limit", args.limit, "--write-prompts", prompts_file], cwd=ROOT)
        prompts = [json.loads(line) for line in prompts_file.read_text().splitlines()]
        if "tandem_speculative" not in raw:
            raw["tandem_speculative"] = tandem_speculative(args.threads, args.limit, args.max_tokens)
            save()
        if "llama_speculative" not in raw:
            raw["llama_speculative"] = llama_speculative(bins, args.threads, prompts, args.max_tokens)
            save()
    if all(k in raw for k in ("tandem_engine", "perplexity", "tandem_speculative", "llama_speculative")):
        md = table(raw["tandem_engine"], raw["llama_engine"], raw["perplexity"], raw["tandem_speculative"],
                   raw["llama_speculative"], args)
        out.with_suffix(".md").write_text(md + "\n")
        print(md)
    else:
        out.with_suffix(".md").unlink(missing_ok=True)  # a table from an earlier full run would read as this one's
        print(json.dumps(raw, indent=2))


if __name__ == "__main__":
    main()
