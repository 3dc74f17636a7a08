#!/usr/bin/env python3
"""Install the corpus the draft vocabulary is counted over into models/corpus/ (git-ignored).

FR-Spec cuts the draft model's classifier to the tokens a corpus uses most (`tandem vocab`).
The corpus comes from pinned, hashed PyPI packages (scripts/corpus-packages.txt):
  django-docs/    Django's documentation: English technical prose with code examples;
  django-code/    Django's Python source;
  english.txt     wordfreq's English word frequencies written out as text: each of its
                  words repeated in proportion to its frequency (a quarter of them
                  capitalised, as at the start of a sentence or in a name), so that a
                  token count over it follows running English text.
A second run finds the stamp and does nothing.
"""
import gzip
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import zipfile

import msgpack

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS_DIR = pathlib.Path(os.environ.get("TANDEM_MODELS_DIR", ROOT / "models"))
CORPUS_DIR = MODELS_DIR / "corpus"
DOWNLOADS = ROOT / ".cache" / "corpus"
PACKAGES = ROOT / "scripts" / "corpus-packages.txt"
STAMP = CORPUS_DIR / ".installed"

DJANGO = "Django-4.2.17"
# Occurrences per unit of frequency: about 3 million words, as many tokens as Django's text.
ENGLISH_WORDS = 2_000_000


def download():
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
                    "--disable-pip-version-check", "--no-binary", "django", "-r", str(PACKAGES),
                    "-d", str(DOWNLOADS)], check=True)


def unpack_django(out):
    with tarfile.open(DOWNLOADS / f"{DJANGO}.tar.gz") as tar:
        for member in tar.getmembers():
            path = pathlib.PurePosixPath(member.name)
            if not member.isfile() or len(path.parts) < 3 or ".." in path.parts:
                continue
            top, suffix = path.parts[1], path.suffix
            if (top, suffix) not in (("docs", ".txt"), ("django", ".py")):
                continue
            target = out / f"django-{'docs' if top == 'docs' else 'code'}" / pathlib.Path(*path.parts[2:])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(member).read())


def write_english(out):
    wheel = next(DOWNLOADS.glob("wordfreq-3.1.1-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        packed = gzip.decompress(zf.read("wordfreq/data/large_en.msgpack.gz"))
    buckets = msgpack.unpackb(packed, raw=False)[1:]  # bucket i: words of frequency 10^(-i/100)
    with open(out / "english.txt", "w", encoding="utf-8") as f:
        for i, words in enumerate(buckets):
            repeats = max(1, round(10 ** (-i / 100) * ENGLISH_WORDS))
            for word in words:
                capital = word[:1].upper() + word[1:]
                f.write(f" {word}" * repeats + f" {capital}" * max(1, repeats // 4) + "\n")


def main():
    if STAMP.exists() and STAMP.read_text() == PACKAGES.read_text():
        print(f"install_corpus: corpus present in {CORPUS_DIR}")
        return
    download()
    partial = CORPUS_DIR.with_name("corpus.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    unpack_django(partial)
    write_english(partial)
    shutil.rmtree(CORPUS_DIR, ignore_errors=True)
    partial.rename(CORPUS_DIR)
    STAMP.write_text(PACKAGES.read_text())
    print(f"install_corpus: corpus installed in {CORPUS_DIR}")


if __name__ == "__main__":
    main()
