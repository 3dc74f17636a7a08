"""Token ids of every Spec-Bench turn from Hugging Face `tokenizers`, built from each GGUF vocabulary.

The tokenizer is assembled by transformers' own GGUF converter (vocabulary, merges,
control and user-defined tokens; for Gemma, merges in vocabulary order). transformers does not know the "smollm" pre-tokenizer, so for it
we set the split that SmolLM2's tokenizer.json declares: every digit alone, then the
GPT-2 byte-level regex.
"""
import sys
import pathlib

import gguf
from tokenizers import pre_tokenizers
from transformers.integrations.gguf.gguf_tokenizer_mapping import convert_gguf_tokenizer

from common import REAL_MODELS, MODELS_DIR, spec_bench_texts, up_to_date, write_json

FIELDS = {
    "tokenizer.ggml.model": "tokenizer_type",
    "tokenizer.ggml.pre": "pre_tokenizer_type",
    "tokenizer.ggml.tokens": "tokens",
    "tokenizer.ggml.token_type": "token_type",
    "tokenizer.ggml.merges": "merges",
    "tokenizer.ggml.scores": "scores",
    "tokenizer.ggml.bos_token_id": "bos_token_id",
    "tokenizer.ggml.eos_token_id": "eos_token_id",
}


def reference_tokenizer(path):
    reader = gguf.GGUFReader(path)
    tokenizer_dict = {name: reader.fields[key].contents() for key, name in FIELDS.items() if key in reader.fields}
    architecture = reader.fields["general.architecture"].contents()
    tokenizer, _ = convert_gguf_tokenizer(architecture, tokenizer_dict)
    if tokenizer_dict.get("pre_tokenizer_type") == "smollm":
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True),
             pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    return tokenizer


def main(out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    texts = spec_bench_texts()
    for name in REAL_MODELS:
        model = MODELS_DIR / name
        out = out_dir / f"tokens-{name}.json"
        if up_to_date(out, model, pathlib.Path(__file__)):
            continue
        tokenizer = reference_tokenizer(str(model))
        ids = [enc.ids for enc in tokenizer.encode_batch(texts, add_special_tokens=False)]
        write_json(out, {"model": name, "texts": texts, "ids": ids})
        print(f"tokenizer_reference: {name}: {len(texts)} texts")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
