#include "spec/verify.h"

#include "kernels/ops.h"

namespace tandem {
namespace {

// Streams of uniform_random per position: attempts 0..kAttempts-1 decide children, the last draws the bonus.
constexpr int64_t kStreamsPerPosition = 1 << 12;

// Draws from the (possibly zeroed) distribution with total mass `mass`.
int32_t draw(const std::vector<std::pair<int32_t, double>>& dist, double mass, double u) {
  double r = u * mass;
  int32_t last = -1;
  for (const auto& [id, p] : dist) {
    if (p <= 0.0) continue;
    last = id;
    r -= p;
    if (r < 0.0) return id;
  }
  return last;  // rounding left r >= 0: the last token with mass
}

}  // namespace

Verdict verify_greedy(const TokenTree& tree, const float* root_logits, const float* node_logits, int32_t vocab) {
  Verdict verdict;
  int32_t node = -1;
  const float* logits = root_logits;
  for (;;) {
    int32_t want = int32_t(argmax(logits, vocab));
    int32_t next = -1;
    for (int32_t child : tree.children(node))
      if (tree[child].token == want) {
        next = child;
        break;
      }
    if (next < 0) {
      verdict.bonus = want;
      return verdict;
    }
    verdict.accepted.push_back(next);
    node = next;
    logits = node_logits + size_t(next) * size_t(vocab);
  }
}

}  // namespace tandem

namespace tandem {

Verdict verify_sampling(const TokenTree& tree, const float* root_logits, const float* node_logits, int32_t vocab,
                        const SamplingParams& params, int64_t first_pos) {
  Verdict verdict;
  int32_t node = -1;
  const float* logits = root_logits;
  for (int64_t pos = first_pos;; ++pos) {
    auto dist = sampling_distribution(logits, vocab, params);
    double mass = 1.0;  // of what is left of dist after rejections
    int32_t next = -1;
    int64_t attempt = 0;
    for (int32_t child : tree.children(node)) {
      double p = 0.0;
      for (auto& [id, q] : dist)
        if (id == tree[child].token) p = q;
      double u = uniform_random(params.seed, pos * kStreamsPerPosition + std::min(attempt++, kStreamsPerPosition - 2));
      if (u * mass < p) {
        next = child;
        break;
      }
      for (auto& [id, q] : dist)  // reject: this token cannot be the answer here
        if (id == tree[child].token) q = 0.0;
      mass -= p;
    }
    if (next < 0) {
      verdict.bonus =
          draw(dist, mass, uniform_random(params.seed, pos * kStreamsPerPosition + kStreamsPerPosition - 1));
      return verdict;
    }
    verdict.accepted.push_back(next);
    node = next;
    logits = node_logits + size_t(next) * size_t(vocab);
  }
}

}  // namespace tandem
