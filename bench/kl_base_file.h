#pragma once
// llama.cpp's llama-perplexity measures KL divergence against a "base" file of log
// probabilities (--kl-divergence-base). tandem_perplexity writes its reference path's
// log probabilities in that format, so llama.cpp's own path can be measured against
// the same reference on the same tokens, and measures its paths the same way.
//
// Layout, little-endian: "_logits_", uint32 ctx, int32 vocab, int32 chunks, int32
// tokens[chunks * ctx]; then, per chunk, one row per scored token (ctx - 1 - ctx/2):
// 2 * ((vocab + 1) / 2) + 4 uint16, the first four holding float scale and float
// min_log_prob, then per token round((log_prob - min_log_prob) / scale), 0 at or below
// min_log_prob, which lies at most 16 below the largest log probability.
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace tandem {

/// One row of log probabilities as the base file stores it (16 bits each).
struct QuantizedLogProbs {
  float scale = 0, min_log_prob = 0;
  std::vector<uint16_t> steps;
  float at(size_t token) const { return scale * float(steps[token]) + min_log_prob; }
};

/// `log_probs` (a log-softmax) quantized as the base file stores them.
QuantizedLogProbs quantize_log_probs(const std::vector<double>& log_probs);

/// KL(base || p) as llama-perplexity sums it: over tokens whose base log probability is
/// above -16, exp(base) * (base - log_probs).
double kl_from_base(const QuantizedLogProbs& base, const std::vector<double>& log_probs);

/// Writes a base file: the header at construction, then each scored row in order.
class KlBaseWriter {
 public:
  KlBaseWriter(const std::string& path, int64_t ctx, int32_t vocab, int64_t chunks, const std::vector<int32_t>& tokens);
  void add(const QuantizedLogProbs& row);

 private:
  std::ofstream out_;
  int32_t vocab_;
};

}  // namespace tandem
