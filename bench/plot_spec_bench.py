"""Bar chart of speedup over AR per category and mode, from tandem_spec_bench --json."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main(json_path, png_path):
    summary = json.load(open(json_path))["summary"]
    modes = [m for m in summary if m != "ar"]
    categories = sorted(c for c in summary["ar"] if c != "all") + ["all"]
    width = 0.8 / max(1, len(modes))
    fig, ax = plt.subplots(figsize=(max(8, len(categories) * 0.9), 4.5))
    for i, mode in enumerate(modes):
        xs = [k + i * width for k in range(len(categories))]
        ax.bar(xs, [summary[mode].get(c, {}).get("speedup", 0) for c in categories], width, label=mode)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks([k + width * (len(modes) - 1) / 2 for k in range(len(categories))])
    ax.set_xticklabels(categories, rotation=30, ha="right")
    ax.set_ylabel("speedup over AR (decode time)")
    ax.set_title("Spec-Bench: speculative modes vs autoregressive, same run")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
