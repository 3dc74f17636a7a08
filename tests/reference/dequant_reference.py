"""Rows of real tensors dequantized by the `gguf` package, one tensor per type and model.

Output per model: dequant-<model>.json (which tensor, type, rows) and
dequant-<model>.bin (the float32 values, in the order listed).
"""
import sys
import pathlib

import gguf
import numpy as np

from common import REAL_MODELS, MODELS_DIR, up_to_date, write_json

ROWS = [0, 1, 7]  # first rows plus one further in


def main(out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in REAL_MODELS:
        model = MODELS_DIR / name
        manifest, binary = out_dir / f"dequant-{name}.json", out_dir / f"dequant-{name}.bin"
        if up_to_date(manifest, model, pathlib.Path(__file__)):
            continue
        reader = gguf.GGUFReader(str(model))
        seen, entries, chunks = set(), [], []
        for t in reader.tensors:
            if t.tensor_type in seen or len(t.shape) != 2:
                continue
            seen.add(t.tensor_type)
            values = gguf.quants.dequantize(t.data, t.tensor_type).reshape(int(t.shape[1]), int(t.shape[0]))
            rows = [r for r in ROWS + [int(t.shape[1]) - 1] if r < values.shape[0]]
            entries.append({"tensor": t.name, "type": t.tensor_type.name, "rows": rows, "cols": int(t.shape[0])})
            chunks.append(values[rows].astype(np.float32))
        np.concatenate([c.ravel() for c in chunks]).tofile(binary)
        write_json(manifest, {"model": name, "tensors": entries})
        print(f"dequant_reference: {name}: {[e['type'] for e in entries]}")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
