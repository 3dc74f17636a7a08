"""Logits from a short, independent numpy forward of each model (llama, qwen2, gemma3).

Plain float32 numpy: weights dequantized by the `gguf` package, causal softmax
attention over the whole sequence at once, no segments, no cache. Output per
model: forward-<model>.json with the prompts' token ids, and forward-<model>.bin
with float32 logits [prompt][position][vocab].
"""
import json
import sys
import pathlib

import gguf
import numpy as np

from common import REAL_MODELS, MODELS_DIR, up_to_date, write_json

PROMPT_TOKENS = 20
PROMPTS = [0, 150]  # indices into the Spec-Bench turns (a writing and a different-category prompt)
LONG_TOKENS = 600   # gemma3 also gets a prompt longer than its 512-position sliding window
LONG_KEPT = 4       # of which only the last positions' logits are kept


class Weights:
    def __init__(self, path):
        self.reader = gguf.GGUFReader(path)
        self.tensors = {t.name: t for t in self.reader.tensors}
        self.meta = {k: f.contents() for k, f in self.reader.fields.items()
                     if not k.startswith("tokenizer.ggml.")}

    def get(self, name):
        t = self.tensors[name]
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        return values.reshape([int(d) for d in reversed(t.shape)])

    def has(self, name):
        return name in self.tensors


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, positions, theta, interleaved):
    """x: [T, heads, head_dim]."""
    d = x.shape[-1]
    freqs = theta ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    angles = positions[:, None].astype(np.float64) * freqs[None, :]
    cos, sin = np.cos(angles)[:, None, :].astype(np.float32), np.sin(angles)[:, None, :].astype(np.float32)
    if interleaved:
        a, b = x[..., 0::2], x[..., 1::2]
    else:
        a, b = x[..., : d // 2], x[..., d // 2:]
    ra, rb = a * cos - b * sin, a * sin + b * cos
    out = np.empty_like(x)
    if interleaved:
        out[..., 0::2], out[..., 1::2] = ra, rb
    else:
        out[..., : d // 2], out[..., d // 2:] = ra, rb
    return out


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def forward(w, prompts):
    arch = w.meta["general.architecture"]
    p = lambda key: w.meta[f"{arch}.{key}"]
    n_layers, n_heads, n_kv = p("block_count"), p("attention.head_count"), p("attention.head_count_kv")
    eps, theta = p("attention.layer_norm_rms_epsilon"), w.meta.get(f"{arch}.rope.freq_base", 10000.0)
    interleaved = arch == "llama"
    gemma = arch == "gemma3"
    window = w.meta.get(f"{arch}.attention.sliding_window", 0)
    emb = w.get("token_embd.weight")
    xs = [emb[np.array(ids)] * (np.float32(np.sqrt(emb.shape[1])) if gemma else 1) for ids in prompts]
    for layer in range(n_layers):
        # gemma3: five sliding-window layers (RoPE base 10000), then one global layer.
        local = gemma and window and (layer + 1) % 6 != 0
        layer_theta = 10000.0 if local else theta
        g = lambda n: w.get(f"blk.{layer}.{n}")
        wq, wk, wv, wo = g("attn_q.weight"), g("attn_k.weight"), g("attn_v.weight"), g("attn_output.weight")
        bias = arch == "qwen2"
        bq, bk, bv = (g("attn_q.bias"), g("attn_k.bias"), g("attn_v.bias")) if bias else (0, 0, 0)
        attn_norm, ffn_norm = g("attn_norm.weight"), g("ffn_norm.weight")
        gate, up, down = g("ffn_gate.weight"), g("ffn_up.weight"), g("ffn_down.weight")
        for i, x in enumerate(xs):
            t = x.shape[0]
            pos = np.arange(t)
            h = rms_norm(x, attn_norm, eps)
            q = (h @ wq.T + bq).reshape(t, n_heads, -1)
            k = (h @ wk.T + bk).reshape(t, n_kv, -1)
            v = (h @ wv.T + bv).reshape(t, n_kv, -1)
            if gemma:
                q, k = rms_norm(q, g("attn_q_norm.weight"), eps), rms_norm(k, g("attn_k_norm.weight"), eps)
            q, k = rope(q, pos, layer_theta, interleaved), rope(k, pos, layer_theta, interleaved)
            hd = q.shape[-1]
            rep = n_heads // n_kv
            k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
            scores = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd)
            scores = scores + np.triu(np.full((t, t), -np.inf, dtype=np.float32), 1)
            if local:
                scores = scores + np.tril(np.full((t, t), -np.inf, dtype=np.float32), -window)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            att = np.einsum("hts,shd->thd", scores, v).reshape(t, -1)
            o = att @ wo.T
            x = x + (rms_norm(o, g("post_attention_norm.weight"), eps) if gemma else o)
            h = rms_norm(x, ffn_norm, eps)
            a = h @ gate.T
            f = ((gelu_tanh(a) if gemma else a / (1 + np.exp(-a))) * (h @ up.T)) @ down.T
            x = x + (rms_norm(f, g("post_ffw_norm.weight"), eps) if gemma else f)
            xs[i] = x
    out = w.get("output.weight") if w.has("output.weight") else emb
    norm = w.get("output_norm.weight")
    return [rms_norm(x, norm, eps) @ out.T for x in xs]


def main(out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in REAL_MODELS:
        model = MODELS_DIR / name
        manifest, binary = out_dir / f"forward-{name}.json", out_dir / f"forward-{name}.bin"
        tokens = out_dir / f"tokens-{name}.json"
        if up_to_date(manifest, model, tokens, pathlib.Path(__file__)):
            continue
        ids = json.loads(tokens.read_text())["ids"]
        prompts = [ids[i][:PROMPT_TOKENS] for i in PROMPTS]
        weights = Weights(str(model))
        if weights.meta.get("gemma3.attention.sliding_window"):
            prompts.append([t for turn in ids for t in turn][:LONG_TOKENS])
        logits = forward(weights, prompts)
        # Positions whose logits are kept: all of a short prompt, the last few of a long one.
        kept = [list(range(len(p))) if len(p) <= PROMPT_TOKENS else list(range(len(p) - LONG_KEPT, len(p)))
                for p in prompts]
        np.concatenate([l[k].astype(np.float32).ravel() for l, k in zip(logits, kept)]).tofile(binary)
        write_json(manifest, {"model": name, "prompts": prompts, "positions": kept, "vocab": int(logits[0].shape[1])})
        print(f"forward_reference: {name}: {len(prompts)} prompts of {[len(p) for p in prompts]} tokens")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
