// Tokenizers of both kinds (SentencePiece stories260K, byte-level BPE Qwen2.5): encode
// arbitrary bytes with and without special tokens, and decode arbitrary ids.
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz_input.h"
#include "model/model.h"

namespace {
const tandem::Model& model(bool byte_level) {
  static auto stories = tandem::Model::load(tandem::fuzz::stories_model());
  static auto qwen = tandem::Model::load(tandem::fuzz::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"));
  return byte_level ? *qwen : *stories;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const tandem::Tokenizer& tokenizer = model(data[0] & 1).tokenizer();
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::vector<int32_t> ids = tokenizer.encode(text, data[0] & 2, data[0] & 4);
  for (int32_t id : ids)
    if (id < 0 || id >= tokenizer.vocab_size()) __builtin_trap();  // encode must give valid ids
  (void)tokenizer.decode(ids);
  std::vector<int32_t> raw((size - 1) / 4);
  if (!raw.empty()) std::memcpy(raw.data(), data + 1, raw.size() * 4);
  try {
    (void)tokenizer.decode(raw);  // ids from a peer: out-of-range ones must throw, not read past the table
  } catch (const std::out_of_range&) {}
  return 0;
}
