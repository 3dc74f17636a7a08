#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

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

double uniform_random(uint64_t seed, int64_t position) {
  uint64_t bits = splitmix64(splitmix64(seed) ^ uint64_t(position));
  return double(bits >> 11) * 0x1.0p-53;
}

int32_t sample_token(const float* logits, int32_t n, const SamplingParams& params, int64_t position) {
  if (params.temperature <= 0.0f) return int32_t(argmax(logits, n));

  // Candidates by falling logit (ties: lower id first), cut to top-k.
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  auto higher = [&](int32_t a, int32_t b) { return logits[a] != logits[b] ? logits[a] > logits[b] : a < b; };
  int32_t k = params.top_k > 0 ? std::min(params.top_k, n) : n;
  std::partial_sort(order.begin(), order.begin() + k, order.end(), higher);
  order.resize(size_t(k));

  // Softmax with temperature, in double, over the candidates.
  std::vector<double> probs(static_cast<size_t>(k));
  double max_logit = logits[order[0]], total = 0.0;
  for (int32_t i = 0; i < k; ++i)
    total += probs[size_t(i)] = std::exp((double(logits[order[size_t(i)]]) - max_logit) / params.temperature);
  for (double& p : probs) p /= total;

  // Nucleus: the smallest prefix whose mass reaches top_p.
  int32_t keep = k;
  if (params.top_p < 1.0f) {
    double mass = 0.0;
    for (int32_t i = 0; i < k; ++i) {
      mass += probs[size_t(i)];
      if (mass >= params.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double kept_mass = std::accumulate(probs.begin(), probs.begin() + keep, 0.0);
  double r = uniform_random(params.seed, position) * kept_mass;
  for (int32_t i = 0; i < keep; ++i) {
    r -= probs[size_t(i)];
    if (r < 0.0) return order[size_t(i)];
  }
  return order[size_t(keep - 1)];
}

}  // namespace tandem
