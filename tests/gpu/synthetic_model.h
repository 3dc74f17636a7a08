#pragma once
// Models with random weights in real shapes, written as GGUF from a seed: small ones of
// each architecture and type for the GPU tests, and the shapes of Qwen2.5 1.5B and 7B
// (Q4_K) for the GPU benchmark, made on the GPU machine itself (nothing that large travels).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "gguf_builder.h"
#include "kernels/dtype.h"

namespace tandem::test {

/// The shape and types of a synthetic model.
struct SyntheticShape {
  std::string architecture = "llama";  // llama, qwen2 or gemma3
  int64_t dim = 256, hidden = 512, layers = 2, heads = 4, kv_heads = 2, head_dim = 64, vocab = 512;
  DType matrices = DType::Q4_K;   // every layer matrix
  DType embedding = DType::Q6_K;  // token embedding (and output when untied)
  bool tied = true;
  int64_t sliding_window = 0;  // gemma3: local layers see this many positions
  uint64_t seed = 1;
};

/// The Qwen2.5 1.5B shape (28 layers, 1536 wide, 151,936 tokens), weights random.
inline SyntheticShape qwen25_1_5b_shape() {
  return {"qwen2", 1536, 8960, 28, 12, 2, 128, 151936, DType::Q4_K, DType::Q6_K, true, 0, 15};
}
/// The Qwen2.5 7B shape (28 layers, 3584 wide, untied output).
inline SyntheticShape qwen25_7b_shape() {
  return {"qwen2", 3584, 18944, 28, 28, 4, 128, 152064, DType::Q4_K, DType::Q6_K, false, 0, 7};
}

namespace synthetic {

// IEEE half of a float of half's range (subnormals included: K-format scales are tiny).
inline uint16_t to_half(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint32_t sign = (bits >> 16) & 0x8000;
  const int exponent = int((bits >> 23) & 0xff) - 127 + 15;
  if (exponent <= 0) return uint16_t(sign | uint32_t(std::lround(std::fabs(f) * 16777216.0f)));  // units of 2^-24
  return uint16_t(sign | uint32_t(exponent) << 10 | ((bits >> 13) & 0x3ff));
}

struct Random {
  uint64_t state;
  uint64_t next() {  // splitmix64
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform() { return float(next() >> 40) / float(1 << 24) * 2.0f - 1.0f; }  // [-1, 1)
};

// A [rows][cols] matrix of `type` whose values are about `scale` in size.
inline std::string matrix_bytes(DType type, int64_t rows, int64_t cols, float scale, Random& random) {
  const DTypeInfo info = dtype_info(type);
  const size_t bytes = row_bytes(type, cols) * size_t(rows);
  std::string data(bytes, '\0');
  if (type == DType::F32 || type == DType::F16 || type == DType::BF16) {
    for (int64_t i = 0; i < rows * cols; ++i) {
      const float v = random.uniform() * scale;
      if (type == DType::F32) {
        std::memcpy(&data[size_t(i) * 4], &v, 4);
      } else {
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        const uint16_t h = type == DType::F16 ? to_half(v) : uint16_t(bits >> 16);
        std::memcpy(&data[size_t(i) * 2], &h, 2);
      }
    }
    return data;
  }
  for (size_t i = 0; i + 8 <= bytes; i += 8) {
    const uint64_t r = random.next();
    std::memcpy(&data[i], &r, 8);
  }
  // Random quants reach this many steps of a block's scale (K formats: 6- or 8-bit sub-scales
  // times the quant), so scale / reach keeps values about `scale` in size.
  float reach = 8;
  switch (type) {
    case DType::Q4_1: reach = 15; break;
    case DType::Q5_0: reach = 16; break;
    case DType::Q5_1: reach = 31; break;
    case DType::Q8_0: reach = 127; break;
    case DType::Q4_K: reach = 63 * 15; break;
    case DType::Q5_K: reach = 63 * 31; break;
    case DType::Q6_K: reach = 127 * 32; break;
    default: break;
  }
  const float step = scale / reach;
  const std::vector<size_t> offsets = fp16_field_offsets(type);  // random bytes there could be NaN
  for (size_t block = 0; block < bytes / size_t(info.block_bytes); ++block)
    for (size_t k = 0; k < offsets.size(); ++k) {
      const float v = k == 0 ? step * (0.5f + 0.5f * std::fabs(random.uniform())) : step * 0.25f;
      const uint16_t h = to_half(v);
      std::memcpy(&data[block * size_t(info.block_bytes) + offsets[k]], &h, 2);
    }
  return data;
}

inline std::string floats_bytes(int64_t n, float center, float spread, Random& random) {
  std::string data(size_t(n) * 4, '\0');
  for (int64_t i = 0; i < n; ++i) {
    const float v = center + spread * random.uniform();
    std::memcpy(&data[size_t(i) * 4], &v, 4);
  }
  return data;
}

}  // namespace synthetic

/// Writes a synthetic model of `shape` to `path` and returns the path. Its vocabulary is
/// GPT-2's 256 byte tokens followed by "tok256", "tok257", ...
inline std::string write_synthetic_model(const SyntheticShape& s, const std::string& path) {
  using namespace synthetic;
  Random random{s.seed};
  GgufBuilder b;
  const std::string& a = s.architecture;
  b.kv_string("general.architecture", a);
  b.kv_string("general.name", "synthetic " + a);
  b.kv_u32(a + ".embedding_length", uint32_t(s.dim));
  b.kv_u32(a + ".feed_forward_length", uint32_t(s.hidden));
  b.kv_u32(a + ".block_count", uint32_t(s.layers));
  b.kv_u32(a + ".attention.head_count", uint32_t(s.heads));
  b.kv_u32(a + ".attention.head_count_kv", uint32_t(s.kv_heads));
  b.kv_u32(a + ".attention.key_length", uint32_t(s.head_dim));
  b.kv_u32(a + ".context_length", 32768);
  b.kv_f32(a + ".attention.layer_norm_rms_epsilon", 1e-6f);
  b.kv_f32(a + ".rope.freq_base", 1000000.0f);
  if (s.sliding_window > 0) b.kv_u32(a + ".attention.sliding_window", uint32_t(s.sliding_window));
  b.kv_string("tokenizer.ggml.model", "gpt2");
  b.kv_string("tokenizer.ggml.pre", "gpt2");
  std::vector<std::string> tokens;
  int next = 256;
  for (int byte = 0; byte < 256; ++byte) {
    const bool direct = (byte >= '!' && byte <= '~') || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae);
    const int cp = direct ? byte : next++;
    std::string t;
    if (cp < 0x80) {
      t += char(cp);
    } else {
      t += char(0xc0 | (cp >> 6));
      t += char(0x80 | (cp & 0x3f));
    }
    tokens.push_back(t);
  }
  for (int64_t i = 256; i < s.vocab; ++i) tokens.push_back("tok" + std::to_string(i));
  b.kv_strings("tokenizer.ggml.tokens", tokens);
  b.kv_i32s("tokenizer.ggml.token_type", std::vector<int32_t>(size_t(s.vocab), 1));
  b.kv_strings("tokenizer.ggml.merges", {});
  b.kv_u32("tokenizer.ggml.eos_token_id", 0);

  const int64_t q_dim = s.heads * s.head_dim, kv_dim = s.kv_heads * s.head_dim;
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols, DType type, float scale) {
    b.tensor(name, {cols, rows}, type, matrix_bytes(type, rows, cols, scale, random));
  };
  auto floats = [&](const std::string& name, int64_t n, float center, float spread) {
    b.tensor(name, {n}, DType::F32, floats_bytes(n, center, spread, random));
  };
  // Weights about 1/sqrt(fan-in), so activations keep their size through the layers.
  auto scale_for = [](int64_t fan_in) { return 1.7f / std::sqrt(float(fan_in)); };
  // gemma3 multiplies its embedding by sqrt(dim) and its norms weigh (1 + w) in the file's
  // convention converted to w; either way values near 1 keep it tame.
  matrix("token_embd.weight", s.vocab, s.dim, s.embedding, a == "gemma3" ? 1.0f / std::sqrt(float(s.dim)) : 1.0f);
  floats("output_norm.weight", s.dim, 1.0f, 0.1f);
  if (!s.tied) matrix("output.weight", s.vocab, s.dim, s.embedding, scale_for(s.dim));
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    floats(p + "attn_norm.weight", s.dim, 1.0f, 0.1f);
    matrix(p + "attn_q.weight", q_dim, s.dim, s.matrices, scale_for(s.dim));
    matrix(p + "attn_k.weight", kv_dim, s.dim, s.matrices, scale_for(s.dim));
    matrix(p + "attn_v.weight", kv_dim, s.dim, s.matrices, scale_for(s.dim));
    matrix(p + "attn_output.weight", s.dim, q_dim, s.matrices, scale_for(q_dim));
    if (a == "qwen2") {
      floats(p + "attn_q.bias", q_dim, 0.0f, 0.5f);
      floats(p + "attn_k.bias", kv_dim, 0.0f, 0.5f);
      floats(p + "attn_v.bias", kv_dim, 0.0f, 0.1f);
    }
    if (a == "gemma3") {
      floats(p + "attn_q_norm.weight", s.head_dim, 1.0f, 0.1f);
      floats(p + "attn_k_norm.weight", s.head_dim, 1.0f, 0.1f);
      floats(p + "post_attention_norm.weight", s.dim, 1.0f, 0.1f);
      floats(p + "post_ffw_norm.weight", s.dim, 1.0f, 0.1f);
    }
    floats(p + "ffn_norm.weight", s.dim, 1.0f, 0.1f);
    matrix(p + "ffn_gate.weight", s.hidden, s.dim, s.matrices, scale_for(s.dim));
    matrix(p + "ffn_up.weight", s.hidden, s.dim, s.matrices, scale_for(s.dim));
    matrix(p + "ffn_down.weight", s.dim, s.hidden, s.matrices, scale_for(s.hidden));
  }
  return b.write(path);
}

}  // namespace tandem::test
