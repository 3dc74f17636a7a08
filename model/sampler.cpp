#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/ops.h"

namespace tandem {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

double uniform_random(uint64_t seed, int64_t stream) {
  uint64_t bits = splitmix64(splitmix64(seed) ^ uint64_t(stream));
  return double(bits >> 11) * 0x1.0p-53;
}

std::vector<std::pair<int32_t, double>> sampling_distribution(const float* logits, int32_t n,
                                                              const SamplingParams& params) {
  // Candidates by falling logit (ties: lower id first), cut to top-k.
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  auto higher = [&](int32_t a, int32_t b) { return logits[a] != logits[b] ? logits[a] > logits[b] : a < b; };
  int32_t k = params.top_k > 0 ? std::min(params.top_k, n) : n;
  std::partial_sort(order.begin(), order.begin() + k, order.end(), higher);
  order.resize(size_t(k));

  // Softmax with temperature, in double, over the candidates.
  std::vector<std::pair<int32_t, double>> dist(static_cast<size_t>(k));
  double max_logit = logits[order[0]], total = 0.0;
  for (int32_t i = 0; i < k; ++i) {
    double p = std::exp((double(logits[order[size_t(i)]]) - max_logit) / params.temperature);
    dist[size_t(i)] = {order[size_t(i)], p};
    total += p;
  }
  for (auto& [id, p] : dist) p /= total;

  // Nucleus: the smallest prefix whose mass reaches top_p, renormalized.
  if (params.top_p < 1.0f) {
    double mass = 0.0;
    for (size_t i = 0; i < dist.size(); ++i) {
      mass += dist[i].second;
      if (mass >= params.top_p) {
        dist.resize(i + 1);
        break;
      }
    }
    for (auto& [id, p] : dist) p /= mass;
  }
  return dist;
}

TokenLogprobs token_logprobs(const float* logits, int32_t n, const SamplingParams& params, int32_t token, int top_n) {
  TokenLogprobs out;
  out.id = token;
  top_n = std::clamp(top_n, 0, n);
  if (params.temperature > 0.0f) {
    const auto dist = sampling_distribution(logits, n, params);
    out.logprob = kLeastLogprob;
    for (const auto& [id, p] : dist)
      if (id == token) out.logprob = std::max(kLeastLogprob, std::log(p));
    for (size_t i = 0; i < dist.size() && int(i) < top_n; ++i)
      out.top.emplace_back(dist[i].first, std::max(kLeastLogprob, std::log(dist[i].second)));
    return out;
  }
  // log softmax in double: logit - max - log(sum of exp(logit - max)).
  const double max_logit = *std::max_element(logits, logits + n);
  double total = 0.0;
  for (int32_t i = 0; i < n; ++i) total += std::exp(double(logits[i]) - max_logit);
  const double offset = max_logit + std::log(total);
  auto logprob = [&](int32_t id) { return std::max(kLeastLogprob, double(logits[id]) - offset); };
  out.logprob = logprob(token);
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + top_n, order.end(),
                    [&](int32_t a, int32_t b) { return logits[a] != logits[b] ? logits[a] > logits[b] : a < b; });
  for (int i = 0; i < top_n; ++i) out.top.emplace_back(order[size_t(i)], logprob(order[size_t(i)]));
  return out;
}

int32_t sample_token(const float* logits, int32_t n, const SamplingParams& params, int64_t position) {
  if (params.temperature <= 0.0f) return int32_t(argmax(logits, n));
  auto dist = sampling_distribution(logits, n, params);
  double r = uniform_random(params.seed, position);
  for (const auto& [id, p] : dist) {
    r -= p;
    if (r < 0.0) return id;
  }
  return dist.back().first;
}

}  // namespace tandem
