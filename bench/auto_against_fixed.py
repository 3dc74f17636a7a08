"""Issue 30's per-category aims for `auto`, from one or more tandem_spec_bench --json files.

For each category: auto's speed-up over AR, auto against the best fixed mode of the same run
(and which mode that was), auto's tokens per pass and AR's time per token (the machine's
speed then: see docs/reports/2026-12-06-auto-by-memory-regime.md); then how many categories
meet both aims (auto >= 1.0x AR, auto >= 0.97x the best fixed mode), in all and split by
the memory's speed (AR below --fast-below ms a token: fast). One column per file. Other auto
runs in a file (auto:fr:untimed) are not fixed modes; name one with --auto to judge it.

  python3 bench/auto_against_fixed.py run1.json run2.json [--auto auto:fr] [--fast-below 17]
"""
import argparse
import json

AR_AIM, BEST_AIM = 1.0, 0.97


def standing(summary, auto, category):
    """(auto's speed-up over AR, auto over the best fixed mode, that mode, auto's tokens per pass)."""
    fixed = {m: s[category]["speedup"] for m, s in summary.items()
             if m != "ar" and not m.startswith("auto") and category in s}
    if not fixed:
        raise SystemExit(f"no fixed speculative mode beside {auto} in category {category}")
    best = max(fixed, key=fixed.get)
    mine = summary[auto][category]
    return mine["speedup"], mine["speedup"] / fixed[best], best, mine["tokens_per_pass"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="tandem_spec_bench --json files")
    parser.add_argument("--auto", default="auto:fr", help="the auto run's mode name")
    parser.add_argument("--fast-below", type=float, default=17.0,
                        help="AR ms per token below which a category ran with fast memory")
    args = parser.parse_args()
    summaries = [json.load(open(path))["summary"] for path in args.runs]
    for path, summary in zip(args.runs, summaries):
        if args.auto not in summary:
            raise SystemExit(f"{path}: no '{args.auto}' run (modes: {', '.join(summary)})")
    categories = sorted(c for c in summaries[0][args.auto] if c != "all") + ["all"]
    print("| category | " + " | ".join(args.runs) + " |")
    print("|---|" + "---|" * len(args.runs))
    met = [[0, 0] for _ in summaries]
    by_regime = {"slow": [0, 0, 0], "fast": [0, 0, 0]}  # category-runs, >= AR aim, >= best aim
    for category in categories:
        cells = []
        for k, summary in enumerate(summaries):
            over_ar, over_best, best, per_pass = standing(summary, args.auto, category)
            ar_ms = summary["ar"][category].get("ar_ms_per_token")  # absent before 2026-12-06
            if category != "all":
                met[k][0] += over_ar >= AR_AIM
                met[k][1] += over_best >= BEST_AIM
                if ar_ms:
                    counts = by_regime["fast" if ar_ms < args.fast_below else "slow"]
                    counts[0] += 1
                    counts[1] += over_ar >= AR_AIM
                    counts[2] += over_best >= BEST_AIM
            regime = f" / AR {ar_ms:.1f} ms" if ar_ms else ""
            cells.append(f"{over_ar:.2f} / {over_best:.2f} ({best}) / {per_pass:.2f}{regime}")
        print(f"| {category} | " + " | ".join(cells) + " |")
    total = len(categories) - 1
    print(f"| categories >= {AR_AIM:.2f}x AR / >= {BEST_AIM:.2f}x best fixed (of {total}) | "
          + " | ".join(f"{a} / {b}" for a, b in met) + " |")
    for regime, (runs, ar_met, best_met) in by_regime.items():
        if runs:
            print(f"| {regime} memory: category-runs / >= AR / >= best fixed | {runs} / {ar_met} / {best_met} |")
    print(f"\nEach cell: {args.auto} over AR / over the best fixed mode (that mode) / tokens per pass"
          " / AR's time per token, which tells how fast the machine ran that category.")


if __name__ == "__main__":
    main()
