#pragma once
// Pre-tokenizers of byte-level BPE vocabularies: split text into the pieces that
// BPE then works on, exactly as each model family's regular expression does.
#include <string_view>
#include <vector>

namespace tandem {

/// Which split a vocabulary was trained with (GGUF `tokenizer.ggml.pre`).
enum class PreTokenizer {
  Gpt2,    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  SmolLm,  // every digit alone, then the GPT-2 split on the rest
  Qwen2,   // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|
           // ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
};

/// The pre-tokenizer for a GGUF `tokenizer.ggml.pre` name; unknown names fall back to Gpt2.
PreTokenizer pretokenizer_from_name(std::string_view name, bool* known = nullptr);

/// Splits text into pieces (views into `text`), in order, covering all of it.
std::vector<std::string_view> pretokenize(PreTokenizer kind, std::string_view text);

}  // namespace tandem
