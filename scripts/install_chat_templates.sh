#!/usr/bin/env bash
# The chat templates of the main GGUF model families (Qwen, Llama 3, Gemma, Mistral, Phi,
# DeepSeek, ...) into models/chat-templates/, for tests/reference/chat_template_check.py: the
# llama.cpp tree in the pinned llama-cpp-python sdist keeps them as the models publish them.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=models/chat-templates
SDIST=$(scripts/llama_cpp_sdist.sh)
[ -f "$OUT/.installed" ] && [ "$(cat "$OUT/.installed")" = "$SDIST" ] && exit 0
rm -rf "$OUT" && mkdir -p "$OUT"
tar -xzf "$SDIST" -C "$OUT" --strip-components=5 --wildcards '*/vendor/llama.cpp/models/templates/*.jinja'
echo "$SDIST" > "$OUT/.installed"
echo "setup: $(ls "$OUT"/*.jinja | wc -l) chat templates in $OUT"
