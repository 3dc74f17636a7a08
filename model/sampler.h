#pragma once
// Choosing the next token from logits: greedy, or temperature with top-k / top-p.
#include <cstdint>
#include <utility>
#include <vector>

namespace tandem {

/// The largest temperature a request may ask for (OpenAI's documented range is 0 to 2).
constexpr float kMaxTemperature = 2.0f;

/// How to pick tokens. temperature <= 0 means greedy.
struct SamplingParams {
  float temperature = 0.0f;
  int top_k = 0;       // 0: no limit
  float top_p = 1.0f;  // 1: no nucleus cut
  uint64_t seed = 0;
};

/// A uniform number in [0, 1) that depends only on (seed, stream): reproducible, no shared state.
/// Plain sampling uses the token's position as the stream.
double uniform_random(uint64_t seed, int64_t stream);

/// The distribution sampling draws from (temperature > 0): (token, probability) pairs by
/// falling probability (ties: lower id first), cut to top-k and top-p, summing to 1.
std::vector<std::pair<int32_t, double>> sampling_distribution(const float* logits, int32_t n,
                                                              const SamplingParams& params);

/// A chosen token's log probability and the most likely tokens (by falling probability, ties:
/// lower id first), each with its own.
struct TokenLogprobs {
  int32_t id = -1;
  double logprob = 0.0;
  std::vector<std::pair<int32_t, double>> top;
};

/// Log probabilities under the distribution `params` samples from (temperature > 0: after
/// temperature, top-k and top-p; greedy: the model's softmax, temperature 1). A token outside
/// that distribution gets kLeastLogprob, as OpenAI shows impossible tokens.
constexpr double kLeastLogprob = -9999.0;
TokenLogprobs token_logprobs(const float* logits, int32_t n, const SamplingParams& params, int32_t token, int top_n);

/// Picks a token from `n` logits for the token at `position`. Greedy ties go to the lowest id.
int32_t sample_token(const float* logits, int32_t n, const SamplingParams& params, int64_t position);

}  // namespace tandem
