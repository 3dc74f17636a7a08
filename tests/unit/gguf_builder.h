#pragma once
// Writes small GGUF files for tests, valid or deliberately broken.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "kernels/dtype.h"

namespace tandem::test {

/// Builds a GGUF v3 file in memory, one metadata entry or tensor at a time.
class GgufBuilder {
 public:
  void kv_string(const std::string& key, const std::string& v) {
    key_type(key, 8);
    str(v);
    ++kv_count_;
  }
  void kv_u32(const std::string& key, uint32_t v) {
    key_type(key, 4);
    pod(v);
    ++kv_count_;
  }
  void kv_f32(const std::string& key, float v) {
    key_type(key, 6);
    pod(v);
    ++kv_count_;
  }
  void kv_bool(const std::string& key, bool v) {
    key_type(key, 7);
    pod(uint8_t(v));
    ++kv_count_;
  }
  void kv_strings(const std::string& key, const std::vector<std::string>& v) {
    key_type(key, 9);
    pod(uint32_t(8));
    pod(uint64_t(v.size()));
    for (const auto& s : v) str(s);
    ++kv_count_;
  }
  void kv_i32s(const std::string& key, const std::vector<int32_t>& v) {
    key_type(key, 9);
    pod(uint32_t(5));
    pod(uint64_t(v.size()));
    for (int32_t x : v) pod(x);
    ++kv_count_;
  }
  /// Appends raw metadata bytes (for broken entries); counts as one entry.
  void kv_raw(const std::string& bytes) {
    meta_ += bytes;
    ++kv_count_;
  }

  /// Adds an F32 tensor (shape in GGML order) filled with a deterministic pattern.
  void tensor_f32(const std::string& name, const std::vector<int64_t>& shape, float scale = 0.02f) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    std::vector<float> values(static_cast<size_t>(n));
    uint32_t state = uint32_t(tensors_.size() * 7919 + 17);
    for (auto& v : values) {
      state = state * 1664525u + 1013904223u;
      v = (float(state >> 8) / float(1 << 24) - 0.5f) * 2.0f * scale;
    }
    tensor(name, shape, DType::F32, std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
  }
  /// Adds a tensor with given raw data.
  void tensor(const std::string& name, const std::vector<int64_t>& shape, DType type, const std::string& data,
              uint32_t type_id_override = 0, int64_t offset_override = -1) {
    tensors_.push_back({name, shape, type_id_override ? type_id_override : uint32_t(type), data, offset_override});
  }

  /// The whole file.
  std::string bytes(uint32_t version = 3) const {
    std::string out = "GGUF";
    append(out, version);
    append(out, uint64_t(tensors_.size()));
    append(out, uint64_t(kv_count_));
    out += meta_;
    uint64_t offset = 0;
    std::vector<uint64_t> offsets;
    for (const auto& t : tensors_) {
      append(out, uint64_t(t.name.size()));
      out += t.name;
      append(out, uint32_t(t.shape.size()));
      for (auto d : t.shape) append(out, uint64_t(d));
      append(out, t.type_id);
      append(out, t.offset_override >= 0 ? uint64_t(t.offset_override) : offset);
      offsets.push_back(offset);
      offset += (t.data.size() + 31) / 32 * 32;
    }
    out.resize((out.size() + 31) / 32 * 32, '\0');
    size_t data_start = out.size();
    for (size_t i = 0; i < tensors_.size(); ++i) {
      out.resize(data_start + offsets[i], '\0');
      out += tensors_[i].data;
    }
    return out;
  }

  /// Writes the file and returns its path.
  std::string write(const std::string& path, uint32_t version = 3) const {
    std::ofstream(path, std::ios::binary) << bytes(version);
    return path;
  }

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    uint32_t type_id;
    std::string data;
    int64_t offset_override;
  };
  template <typename T>
  static void append(std::string& out, T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  template <typename T>
  void pod(T v) {
    append(meta_, v);
  }
  void str(const std::string& s) {
    pod(uint64_t(s.size()));
    meta_ += s;
  }
  void key_type(const std::string& key, uint32_t type) {
    str(key);
    pod(type);
  }

  std::string meta_;
  uint64_t kv_count_ = 0;
  std::vector<Tensor> tensors_;
};

/// Byte offsets of the fp16 scale fields (scale, and min where there is one) in one block of a
/// quantized type: random bytes there could be NaN, so tests making random blocks overwrite them.
inline std::vector<size_t> fp16_field_offsets(DType type) {
  switch (type) {
    case DType::Q6_K: return {208};  // d sits after ql, qh and scales
    case DType::Q4_1:
    case DType::Q5_1:
    case DType::Q4_K:
    case DType::Q5_K: return {0, 2};  // d, then m / dmin
    default: return {0};
  }
}

/// Options for a tiny generated llama model.
struct TinyModelOptions {
  std::string skip_tensor;      // leave this tensor out
  std::string misshape_tensor;  // give this tensor a wrong shape
  std::string architecture = "llama";
};

/// A complete, valid tiny llama-architecture model with a 256-token byte-level vocabulary.
inline GgufBuilder tiny_llama(const TinyModelOptions& options = {}) {
  const int64_t dim = 32, hidden = 64, vocab = 256, heads = 4, kv_heads = 2, head_dim = dim / heads;
  GgufBuilder b;
  b.kv_string("general.architecture", options.architecture);
  b.kv_string("general.name", "tiny");
  b.kv_u32("llama.embedding_length", dim);
  b.kv_u32("llama.feed_forward_length", hidden);
  b.kv_u32("llama.block_count", 2);
  b.kv_u32("llama.attention.head_count", heads);
  b.kv_u32("llama.attention.head_count_kv", kv_heads);
  b.kv_u32("llama.context_length", 256);
  b.kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  b.kv_string("tokenizer.ggml.model", "gpt2");
  b.kv_string("tokenizer.ggml.pre", "gpt2");
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  // GPT-2's byte alphabet: printable bytes map to themselves, the rest to U+0100 onwards.
  int next = 256;
  for (int byte = 0; byte < 256; ++byte) {
    bool direct = (byte >= '!' && byte <= '~') || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae);
    int cp = direct ? byte : next++;
    std::string s;
    if (cp < 0x80)
      s += char(cp);
    else {
      s += char(0xc0 | (cp >> 6));
      s += char(0x80 | (cp & 0x3f));
    }
    tokens.push_back(s);
    types.push_back(1);
  }
  b.kv_strings("tokenizer.ggml.tokens", tokens);
  b.kv_i32s("tokenizer.ggml.token_type", types);
  b.kv_strings("tokenizer.ggml.merges", {});
  b.kv_u32("tokenizer.ggml.eos_token_id", 0);
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float scale = 0.2f) {
    if (name == options.skip_tensor) return;
    if (name == options.misshape_tensor) shape[0] += 32;
    b.tensor_f32(name, shape, scale);
  };
  add("token_embd.weight", {dim, vocab}, 1.0f);
  add("output_norm.weight", {dim}, 1.0f);
  for (int l = 0; l < 2; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", {dim}, 1.0f);
    add(p + "attn_q.weight", {dim, heads * head_dim});
    add(p + "attn_k.weight", {dim, kv_heads * head_dim});
    add(p + "attn_v.weight", {dim, kv_heads * head_dim});
    add(p + "attn_output.weight", {heads * head_dim, dim});
    add(p + "ffn_norm.weight", {dim}, 1.0f);
    add(p + "ffn_gate.weight", {dim, hidden});
    add(p + "ffn_up.weight", {dim, hidden});
    add(p + "ffn_down.weight", {hidden, dim});
  }
  return b;
}

}  // namespace tandem::test
