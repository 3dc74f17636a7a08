#include "speculation/verify.h"

#include <algorithm>
#include <functional>

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

namespace {

// Point masses: child x is accepted with probability p(x); a rejected x leaves p, which is
// renormalised. Returns the accepted child or -1, leaving in `dist` (of total `mass`)
// what the bonus is drawn from.
int32_t accept_point_masses(const TokenTree& tree, const std::vector<int32_t>& children,
                            std::vector<std::pair<int32_t, double>>& dist, double& mass,
                            const std::function<double(int64_t)>& uniform) {
  int64_t attempt = 0;
  for (int32_t child : children) {
    double p = 0.0;
    for (auto& [id, q] : dist)
      if (id == tree[child].token) p = q;
    if (uniform(attempt++) * mass < p) return child;
    for (auto& [id, q] : dist)  // reject: this token cannot be the answer here
      if (id == tree[child].token) q = 0.0;
    mass -= p;
  }
  return -1;
}

// Recursive rejection sampling (SpecInfer; Recursive Speculative Decoding): child i was
// drawn from q without the children before it. It is accepted with probability
// min(1, p(x)/q(x)), p and q normalised; on rejection p becomes the normalised residual
// max(0, p - q), which is 0 at x, and x leaves q. Whatever q is, the token that comes out
// (a child, or the bonus drawn from the last p) is distributed exactly as the target's p.
// `dist` comes in as p and leaves as the bonus's distribution.
int32_t accept_by_ratio(const TokenTree& tree, const std::vector<int32_t>& children, const Proposal& proposal,
                        int32_t vocab, std::vector<std::pair<int32_t, double>>& dist, double& mass,
                        const std::function<double(int64_t)>& uniform) {
  std::vector<double> p(size_t(vocab), 0.0), q(size_t(vocab), 0.0);
  for (const auto& [id, prob] : dist) p[size_t(id)] = prob;
  double q_mass = 0.0;
  for (const auto& [id, prob] : proposal) q_mass += q[size_t(id)] = prob;
  int64_t attempt = 0;
  for (int32_t child : children) {
    const int32_t x = tree[child].token;
    const double u = uniform(attempt++);
    if (u * q[size_t(x)] < p[size_t(x)] * q_mass) return child;  // u < p(x) / (q(x) / q_mass)
    double residual = 0.0;
    for (int32_t id = 0; id < vocab; ++id)
      residual += p[size_t(id)] = std::max(0.0, p[size_t(id)] - q[size_t(id)] / q_mass);
    // A residual of (nearly) nothing means rejecting had (nearly) no chance: p stays.
    if (residual <= 1e-12) return -1;
    for (double& v : p) v /= residual;
    q_mass -= q[size_t(x)];
    q[size_t(x)] = 0.0;
    if (q_mass <= 0.0) break;  // every token q held was drafted and rejected
  }
  dist.clear();
  for (int32_t id = 0; id < vocab; ++id)
    if (p[size_t(id)] > 0.0) dist.push_back({id, p[size_t(id)]});
  mass = 1.0;
  return -1;
}

}  // namespace

Verdict verify_sampling(const TokenTree& tree, const float* root_logits, const float* node_logits, int32_t vocab,
                        const SamplingParams& params, int64_t first_pos) {
  Verdict verdict;
  int32_t node = -1;
  const float* logits = root_logits;
  for (int64_t pos = first_pos;; ++pos) {
    auto dist = sampling_distribution(logits, vocab, params);
    double mass = 1.0;  // of what is left of dist after rejections
    auto uniform = [&](int64_t attempt) {
      return uniform_random(params.seed, pos * kStreamsPerPosition + std::min(attempt, kStreamsPerPosition - 2));
    };
    const std::vector<int32_t> children = tree.children(node);
    const Proposal* proposal = tree.proposal(node);
    const int32_t next = proposal ? accept_by_ratio(tree, children, *proposal, vocab, dist, mass, uniform)
                                  : accept_point_masses(tree, children, dist, mass, uniform);
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
